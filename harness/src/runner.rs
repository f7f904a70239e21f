//! Running cases: setting up what they need, playing each pairing, and emitting events that
//! reporters consume.

mod case_files;
mod early_end;
mod kept_browsers;
mod network;
mod watch;

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use crate::clock::epoch_ms;
use crate::decide::{Decision, Problem, ProblemKind, decide};
use crate::ice_servers::{self, IceServerUse, IceServers, ServerNeed};
use crate::net::netns::NetNs;
use crate::net::{IceServer, TurnError};
use crate::observe::Observations;
use crate::outcome::{
    Artifact, CandidateSets, CaseResult, PeerPlace, Phases, RunSummary, Sides,
    relative_transitions, round_ms,
};
use crate::page_server::PageServer;
use crate::peer::browser::BrowserPeer;
use crate::peer::external::{self, ExternalKind, ExternalPeer, catalogue};
use crate::peer::native::NativePeer;
use crate::peer::{
    BROWSER_LOG_LEVELS, DriverEndpoint, Peer, PeerPlan, Role, SharedBrowser, Window,
};
use crate::plan::Case;
use crate::provision::{self, BrowserInstall, ProvisionError};
use crate::relay::{Relay, RelayConfig};
use crate::report::{Reporter, RunEvent, RunInfo, UnplayedCase};
use crate::scenario::{HostCandidates, KnownFailure, LintLevel, PeerKind};
use crate::sdp::check::SdpSnapshots;
use crate::verdict::{self, SideView};

use crate::capture::Capture;
use kept_browsers::KeptBrowsers;
use network::{CaseNetwork, NetworkSetupError};
use watch::{Watched, watch};

/// How long starting both peers (a browser session, the page, joining the room) may take. It is
/// separate from the scenario's time limit, which is about connecting.
const PEER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a run could not start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A browser or driver is missing or unfit.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The relay or the page server could not listen.
    #[error("cannot start the {what}: {source}")]
    Listen {
        /// Which server.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A WebDriver server did not start.
    #[error("cannot start the WebDriver server for {kind}: {reason}")]
    Driver {
        /// The browser kind.
        kind: PeerKind,
        /// What went wrong.
        reason: String,
    },
    /// A STUN/TURN server the scenarios need did not start.
    #[error(transparent)]
    IceServer(#[from] TurnError),
    /// An external peer kind is not in the catalogue (`peers/`, the project file).
    #[error("peer kind `{0}` is not known here (see `rtc-interop doctor`)")]
    UnknownKind(PeerKind),
    /// `--capture` could not start capturing.
    #[error("cannot capture packets: {0}")]
    Capture(String),
}

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Install missing browsers and drivers instead of stopping.
    pub install: bool,
    /// How many cases run at the same time.
    pub jobs: usize,
    /// Where the accepted SDP snapshots are and what to do with differences; `None`: no checks.
    pub snapshots: Option<SdpSnapshots>,
    /// How many times a failed case is played again (`--retries`); one that then passes is
    /// `flaky`.
    pub retries: u32,
    /// How many times every case is played (`--repeat`), to measure how often each passes.
    pub repeat: u32,
    /// Play only this part of the selection (`--shard K/N`).
    pub shard: Option<crate::shard::ShardPlan>,
    /// Browser kinds whose sessions go to a W3C WebDriver endpoint elsewhere (`--webdriver
    /// KIND=URL`) instead of a driver the harness starts.
    pub remote_drivers: BTreeMap<PeerKind, String>,
    /// The address remote browsers reach this machine on (`--advertise-address`): the relay, page
    /// server and STUN/TURN servers listen where they can reach them, and URLs name it.
    pub advertise: Option<IpAddr>,
    /// `--capture`: the run's folder, where each case's packets and bug bundle are written.
    pub case_files: Option<PathBuf>,
    /// `--browser-logs`: each case's browsers are its own, and their logs go into its files.
    pub browser_logs: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            install: true,
            jobs: default_jobs(),
            snapshots: None,
            retries: 0,
            repeat: 1,
            shard: None,
            remote_drivers: BTreeMap::new(),
            advertise: None,
            case_files: None,
            browser_logs: false,
        }
    }
}

/// One case more than there are cores. A case is mostly waiting (for the network, a peer's timer,
/// media to flow), now that browsers are started once and their windows reused: with one case per
/// core the default matrix kept 2 cores 61 % busy here, and one more case raised that to 81 % and
/// the run from 0.87 to 1.03 cases per second, with no more failures (docs/benchmark.md, "Cases
/// per second of a run").
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

/// A browser as a run needs it: its kind, and how it presents host candidates.
pub type BrowserKey = (PeerKind, HostCandidates);

/// The servers and browsers a run shares between its cases.
pub struct Environment {
    relay: Relay,
    pages: PageServer,
    browsers: HashMap<BrowserKey, Arc<SharedBrowser>>,
    /// Every browser kind the run provisioned, for cases that start a browser of their own.
    installs: HashMap<PeerKind, BrowserInstall>,
    /// Every external kind the run provisioned, with the version its stack reported.
    externals: HashMap<PeerKind, ExternalInstall>,
    /// Browser kinds on remote WebDriver endpoints.
    remote_drivers: BTreeMap<PeerKind, String>,
    /// Whether missing servers (coturn) may be installed for cases that start their own.
    install: bool,
    snapshots: Option<SdpSnapshots>,
    ice_servers: IceServers,
    /// Random, per environment: the first part of every room name, so that a local process that
    /// knows the run id and the case names still cannot join a live case.
    room_secret: String,
    /// `--capture`: the tcpdump that records each `[network]` case inside its namespaces.
    tcpdump: Option<PathBuf>,
    /// `--browser-logs`: where each case's browsers (its own, not the shared ones) log.
    browser_logs: Option<PathBuf>,
    /// Browsers of `[network]` cases, in their namespaces, kept for the next such case.
    kept_browsers: KeptBrowsers,
}

impl Environment {
    /// Starts the relay and page server, and one browser for each key in `browsers` (installing
    /// missing browsers and drivers first when the settings allow it). No STUN/TURN server: see
    /// [`Environment::for_cases`].
    pub async fn prepare(
        browsers: &BTreeSet<BrowserKey>,
        settings: &RunSettings,
    ) -> Result<Environment, SetupError> {
        Environment::prepare_with(browsers, &BTreeSet::new(), settings).await
    }

    /// Everything `cases` need: the shared browsers and the STUN/TURN servers their scenarios
    /// name. `[network]` cases start their own browsers and servers inside their network, so for
    /// them the run only provisions the browser kinds.
    pub async fn for_cases(
        cases: &[Case],
        settings: &RunSettings,
    ) -> Result<Environment, SetupError> {
        sweep_leftovers().await;
        let (in_networks, on_host): (Vec<Case>, Vec<Case>) = cases
            .iter()
            .cloned()
            .partition(|c| c.scenario.network.is_some());
        if !in_networks.is_empty() {
            network::prepare_run(&in_networks, settings.install).await?;
        }
        Environment::prepare_all(
            &browsers_needed(cases),
            &kinds_needed(cases),
            &ice_servers::servers_needed(&on_host),
            settings,
        )
        .await
    }

    /// Starts the relay and page server, the browsers and, at the same time, the STUN/TURN
    /// `servers`. If any of them fails, the others are stopped again.
    pub async fn prepare_with(
        browsers: &BTreeSet<BrowserKey>,
        servers: &BTreeSet<ServerNeed>,
        settings: &RunSettings,
    ) -> Result<Environment, SetupError> {
        sweep_leftovers().await;
        let kinds = browsers.iter().map(|(kind, _)| *kind).collect();
        Environment::prepare_all(browsers, &kinds, servers, settings).await
    }

    /// As [`Environment::prepare_with`], provisioning also the browser `kinds` no shared browser
    /// needs.
    async fn prepare_all(
        browsers: &BTreeSet<BrowserKey>,
        kinds: &BTreeSet<PeerKind>,
        servers: &BTreeSet<ServerNeed>,
        settings: &RunSettings,
    ) -> Result<Environment, SetupError> {
        let (environment, ice_servers) = tokio::join!(
            Environment::start_browsers(browsers, kinds, settings),
            async {
                match settings.advertise {
                    Some(ip) => IceServers::start_on(ip, servers, settings.install).await,
                    None => IceServers::start(servers, settings.install).await,
                }
            }
        );
        match (environment, ice_servers) {
            (Ok(mut environment), Ok(ice_servers)) => {
                environment.ice_servers = ice_servers;
                Ok(environment)
            }
            (Ok(environment), Err(e)) => {
                environment.shutdown().await;
                Err(e.into())
            }
            (Err(e), Ok(ice_servers)) => {
                ice_servers.close().await;
                Err(e)
            }
            (Err(e), Err(_)) => Err(e),
        }
    }

    async fn start_browsers(
        browsers: &BTreeSet<BrowserKey>,
        kinds: &BTreeSet<PeerKind>,
        settings: &RunSettings,
    ) -> Result<Environment, SetupError> {
        // Remote browsers must reach the relay and pages: then they listen on every interface and
        // their URLs name the advertised address.
        let bind = match settings.advertise {
            None => Ipv4Addr::LOCALHOST,
            Some(_) => Ipv4Addr::UNSPECIFIED,
        };
        let mut relay = Relay::start(SocketAddr::from((bind, 0)), RelayConfig::default())
            .await
            .map_err(|source| SetupError::Listen {
                what: "signaling relay",
                source,
            })?;
        if let Some(ip) = settings.advertise {
            relay.advertise(ip);
        }
        let pages = PageServer::start_for(settings.advertise)
            .await
            .map_err(|source| SetupError::Listen {
                what: "page server",
                source,
            })?;
        let mut installs = HashMap::new();
        let mut externals = HashMap::new();
        for &kind in kinds {
            let install = settings.install;
            if let PeerKind::External(name) = kind {
                let external = catalogue::find(name).ok_or(SetupError::UnknownKind(kind))?;
                let stack = external.clone();
                let version = tokio::task::spawn_blocking(move || {
                    provision::ensure_external(&stack, install)
                })
                .await
                .map_err(|e| SetupError::Driver {
                    kind,
                    reason: format!("provisioning stopped: {e}"),
                })??;
                externals.insert(
                    kind,
                    ExternalInstall {
                        kind: external,
                        version,
                    },
                );
                continue;
            }
            if !kind.is_browser() || settings.remote_drivers.contains_key(&kind) {
                continue;
            }
            let found = tokio::task::spawn_blocking(move || provision::ensure(kind, install))
                .await
                .map_err(|e| SetupError::Driver {
                    kind,
                    reason: format!("provisioning stopped: {e}"),
                })??;
            installs.insert(kind, found);
        }
        // Browsers start concurrently: Firefox alone takes a few seconds.
        let page_origin = pages.non_loopback_origin();
        let started = futures_util::future::join_all(browsers.iter().map(|&(kind, hosts)| {
            let endpoint = match settings.remote_drivers.get(&kind) {
                Some(url) => DriverEndpoint::Remote {
                    kind,
                    url: url.clone(),
                },
                None => DriverEndpoint::Local(installs[&kind].clone()),
            };
            let page_origin = page_origin.clone();
            async move {
                let browser = SharedBrowser::start(endpoint, hosts, page_origin)
                    .await
                    .map_err(|reason| SetupError::Driver { kind, reason })?;
                Ok::<_, SetupError>(((kind, hosts), Arc::new(browser)))
            }
        }))
        .await;
        let browsers = started.into_iter().collect::<Result<HashMap<_, _>, _>>()?;
        Ok(Environment {
            relay,
            pages,
            browsers,
            installs,
            externals,
            remote_drivers: settings.remote_drivers.clone(),
            install: settings.install,
            snapshots: settings.snapshots.clone(),
            ice_servers: IceServers::none(),
            room_secret: room_secret(),
            tcpdump: None,
            browser_logs: None,
            kept_browsers: KeptBrowsers::default(),
        })
    }

    /// `room` behind this environment's secret (`<secret>/<room>`).
    fn private_room(&self, room: &str) -> String {
        format!("{}/{room}", self.room_secret)
    }

    /// Checks later cases' SDP against these snapshots instead (`None`: no checks).
    pub fn set_snapshots(&mut self, snapshots: Option<SdpSnapshots>) {
        self.snapshots = snapshots;
    }

    /// Captures the packets of `[network]` cases in their namespaces with `tcpdump`.
    pub fn capture_networks_with(&mut self, tcpdump: PathBuf) {
        self.tcpdump = Some(tcpdump);
    }

    /// Gives every case's browser peers browsers of their own, which log (WebRTC's lines
    /// included) into a file per case and peer in `folder`.
    pub fn keep_browser_logs_in(&mut self, folder: PathBuf) {
        self.browser_logs = Some(folder);
    }

    /// The log file of the browser playing `role` in the case in `room` (`None`: no browser, or
    /// no `--browser-logs`).
    fn browser_log(&self, room: &str, role: Role, kind: PeerKind) -> Option<PathBuf> {
        let folder = self.browser_logs.as_ref()?;
        let case = room.rsplit('/').next().unwrap_or(room);
        // A browser on a remote WebDriver endpoint is not this machine's to log.
        self.installs
            .contains_key(&kind)
            .then(|| folder.join(format!("{case}-{}-{kind}.log", role.as_str())))
    }

    /// The case's browser logs that were written, as artifacts to move into its folder.
    fn browser_log_artifacts(&self, case: &Case, room: &str) -> Vec<Artifact> {
        [
            (Role::Offerer, case.offerer),
            (Role::Answerer, case.answerer),
        ]
        .into_iter()
        .filter_map(|(role, kind)| {
            let file = self.browser_log(room, role, kind)?;
            let lines = std::fs::read(&file).ok()?.split(|b| *b == b'\n').count();
            let what = match kind {
                PeerKind::Firefox => format!("MOZ_LOG={}", BROWSER_LOG_LEVELS.1),
                _ => BROWSER_LOG_LEVELS.0.to_string(),
            };
            Some(Artifact {
                name: format!("{}-{kind}.log", role.as_str()),
                path: file.to_string_lossy().into_owned(),
                about: format!(
                    "{lines} line(s): the {} ({kind}) browser's and driver's own log, WebRTC's \
                         included ({what})",
                    role.as_str()
                ),
            })
        })
        .collect()
    }

    /// The relay every case of this environment signals through.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Calls `window.rtcInteropLoopback.<function>(options)` in a fresh window of the run's `kind`
    /// browser (the benchmark's in-page floors: two connections in one page) and returns what it
    /// resolved with, or why it did not.
    pub async fn in_page(
        &self,
        kind: PeerKind,
        function: &str,
        options: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let browser = self.loopback_browser(kind)?;
        let (window, _) = browser.open_window(&self.pages.loopback_url()).await?;
        let measured = loopback_call(browser, &window, function, options).await;
        browser.close_window(&window).await;
        measured
    }

    /// A data echo between two windows of the run's `kind` browser, one connection in each, its
    /// signaling through the relay room `room_url` (the benchmark's floor of two pages): the
    /// answering window joins first (`echoAnswerer`), then the offering one plays the echo
    /// (`dataEcho` with `remote_answerer`). Returns what each resolved with: the offering
    /// window's times, and the answering window's own (`echoAnswererMarks`).
    pub async fn echo_between_two_windows(
        &self,
        kind: PeerKind,
        room_url: &str,
        timeout_ms: u64,
    ) -> Result<(serde_json::Value, serde_json::Value), String> {
        let browser = self.loopback_browser(kind)?;
        let (answering, _) = browser.open_window(&self.pages.loopback_url()).await?;
        let offering = browser.open_window(&self.pages.loopback_url()).await;
        let measured = async {
            let (offering, _) = offering.as_ref().map_err(Clone::clone)?;
            let room = serde_json::json!({ "relay_url": room_url });
            loopback_call(browser, &answering, "echoAnswerer", room).await?;
            let options = serde_json::json!({
                "relay_url": room_url,
                "remote_answerer": true,
                "timeout_ms": timeout_ms,
            });
            let offerer = loopback_call(browser, offering, "dataEcho", options).await?;
            let answerer = loopback_call(
                browser,
                &answering,
                "echoAnswererMarks",
                serde_json::Value::Null,
            )
            .await?;
            Ok((offerer, answerer))
        }
        .await;
        if let Ok((window, _)) = &offering {
            browser.close_window(window).await;
        }
        browser.close_window(&answering).await;
        measured
    }

    /// The run's shared `kind` browser, for loopback pages.
    fn loopback_browser(&self, kind: PeerKind) -> Result<&Arc<SharedBrowser>, String> {
        self.browsers
            .get(&(kind, HostCandidates::Ip))
            .ok_or_else(|| format!("no {kind} browser was started"))
    }

    /// How long each browser took to start.
    pub fn browser_startups(&self) -> Vec<(BrowserKey, crate::peer::Startup)> {
        let mut startups: Vec<_> = self
            .browsers
            .iter()
            .map(|(key, browser)| (*key, browser.startup()))
            .collect();
        startups.sort_by_key(|(key, _)| *key);
        startups
    }

    /// How many windows each shared browser has open now (idle ones included).
    pub async fn open_windows(&self) -> Vec<(BrowserKey, Option<usize>)> {
        let mut counts = Vec::new();
        for (key, browser) in &self.browsers {
            counts.push((*key, browser.open_windows().await));
        }
        counts.sort_by_key(|(key, _)| *key);
        counts
    }

    /// The STUN/TURN servers of this environment.
    pub fn ice_servers(&self) -> &IceServers {
        &self.ice_servers
    }

    /// Quits every browser and stops the drivers and the STUN/TURN servers.
    pub async fn shutdown(&self) {
        futures_util::future::join_all(self.browsers.values().map(|b| b.shutdown())).await;
        self.kept_browsers.shutdown().await;
        self.ice_servers.close().await;
    }

    /// The kept browsers `[network]` cases use, unless each case's browser logs must be its own.
    fn keep_browsers(&self) -> Option<(&KeptBrowsers, &HashMap<PeerKind, BrowserInstall>)> {
        self.browser_logs
            .is_none()
            .then_some((&self.kept_browsers, &self.installs))
    }

    /// The peer a case on the host network gets for `kind` in `role`, as [`Environment::run_case`]
    /// makes it: for tests that watch a real peer through [`Environment::run_case_with`].
    pub fn host_peer(&self, kind: PeerKind, role: Role, case: &Case, room: &str) -> Box<dyn Peer> {
        self.make_peer(kind, role, case, room, None)
    }

    fn make_peer(
        &self,
        kind: PeerKind,
        role: Role,
        case: &Case,
        room: &str,
        network: Option<&CaseNetwork>,
    ) -> Box<dyn Peer> {
        if let PeerKind::External(_) = kind {
            let namespace = network.map(|n| n.namespace(role).clone());
            return Box::new(self.external(kind).peer(namespace));
        }
        let log = self.browser_log(room, role, kind);
        if let Some(network) = network {
            let page = self.pages.peer_page();
            return network.make_peer(kind, role, case, &self.installs, page, log);
        }
        match kind {
            PeerKind::Native => Box::new(NativePeer::new(case.scenario.native_profile)),
            browser @ (PeerKind::Chromium | PeerKind::Firefox) if log.is_some() => {
                Box::new(BrowserPeer::own_browser(
                    self.installs[&browser].clone(),
                    case.scenario.host_candidates,
                    None,
                    log,
                    self.pages.peer_page(),
                ))
            }
            browser @ (PeerKind::Chromium | PeerKind::Firefox) => {
                let shared = self.browsers[&(browser, case.scenario.host_candidates)].clone();
                Box::new(BrowserPeer::new(shared, self.pages.peer_page()))
            }
            PeerKind::External(_) => unreachable!("handled above"),
        }
    }

    /// The provisioned external `kind`; one the run did not provision (a test's own cases) is
    /// taken from the catalogue as it is.
    fn external(&self, kind: PeerKind) -> ExternalInstall {
        if let Some(found) = self.externals.get(&kind) {
            return found.clone();
        }
        let PeerKind::External(name) = kind else {
            unreachable!("only external kinds are looked up")
        };
        let external = catalogue::find(name).unwrap_or_else(|| {
            panic!("peer kind `{kind}` was selected without being in the catalogue")
        });
        ExternalInstall {
            kind: external,
            version: "unknown version".into(),
        }
    }

    /// Why this case cannot be played by its external kinds, if one declared a feature it needs
    /// unsupported.
    fn unsupported(&self, case: &Case) -> Option<String> {
        case.kinds().into_iter().find_map(|kind| match kind {
            PeerKind::External(_) => {
                external::unsupported_reason(&self.external(kind).kind, &case.scenario)
            }
            _ => match self.remote_drivers.get(&kind) {
                Some(url) if case.scenario.network.is_some() => Some(format!(
                    "{kind} runs on the remote WebDriver {url}, and a `[network]` case puts its \
                     browser inside this machine's network namespaces"
                )),
                _ => None,
            },
        })
    }

    /// Plays one case in relay room `room` and judges it. A `[network]` case first gets its
    /// network, which is removed again afterwards; where namespaces are unavailable (not root) the
    /// case is skipped, with the reason.
    pub async fn run_case(&self, case: &Case, room: &str) -> CaseResult {
        let room = &self.private_room(room);
        if let Some(reason) = self.unsupported(case) {
            let played = self.not_played(room, epoch_ms(), reason.clone());
            return judge(case, played, None, Some(&format!("unsupported: {reason}")));
        }
        let Some(spec) = &case.scenario.network else {
            let played = self.play(case, room, None).await;
            let mut result = judge(case, played, self.snapshots.as_ref(), None);
            result.artifacts = self.browser_log_artifacts(case, room);
            return result;
        };
        let started_at_ms = epoch_ms();
        let ports = [
            self.relay.local_addr().port(),
            self.pages.local_addr().port(),
        ];
        let keep = self.keep_browsers();
        match CaseNetwork::build(case, spec, &ports, self.install, keep).await {
            Ok(network) => {
                let captures = self.capture_namespaces(&network).await;
                let mut played = self.play(case, room, Some(&network)).await;
                let mut artifacts = Vec::new();
                for (namespace, capture) in captures {
                    match capture {
                        Ok(capture) => artifacts.push(case_files::namespace_capture(
                            &namespace,
                            capture.file().to_path_buf(),
                            capture.stop().await,
                        )),
                        Err(e) => played.problems.push(Problem::new(
                            ProblemKind::Setup,
                            format!("cannot capture in {namespace}: {e}"),
                        )),
                    }
                }
                let leftovers = network.tear_down(keep.map(|(kept, _)| kept)).await;
                if !leftovers.is_empty() {
                    played.problems.push(Problem::new(
                        ProblemKind::Cleanup,
                        format!("cleaning up its network: {}", leftovers.join("; ")),
                    ));
                }
                let mut result = judge(case, played, self.snapshots.as_ref(), None);
                artifacts.extend(self.browser_log_artifacts(case, room));
                result.artifacts = artifacts;
                result
            }
            Err(NetworkSetupError::Failed(reason)) => {
                let played = self.not_played(room, started_at_ms, reason);
                judge(case, played, None, None)
            }
            Err(NetworkSetupError::Unavailable(reason)) => {
                let played = self.not_played(room, started_at_ms, reason.clone());
                let skipped = format!("network namespaces are unavailable: {reason}");
                judge(case, played, None, Some(&skipped))
            }
        }
    }

    /// `--capture`: a tcpdump on every interface of every namespace of `network`, so that the
    /// NATs' rewriting and the STUN/TURN traffic are visible on both sides of each.
    async fn capture_namespaces(
        &self,
        network: &CaseNetwork,
    ) -> Vec<(String, Result<Capture, String>)> {
        let Some(tcpdump) = &self.tcpdump else {
            return Vec::new();
        };
        let folder = match crate::leftovers::run_folder() {
            Ok(folder) => folder,
            Err(e) => return vec![("the run folder".into(), Err(e))],
        };
        futures_util::future::join_all(network.all_namespaces().iter().map(|ns| async move {
            let file = folder.join(format!("{}.pcap", ns.name()));
            (
                ns.name().to_string(),
                Capture::start(tcpdump, "any", file, Some(ns)).await,
            )
        }))
        .await
    }

    /// The evidence of a case whose peers never started, because of `problem`.
    fn not_played(&self, room: &str, started_at_ms: f64, problem: String) -> Evidence {
        Evidence {
            started_at_ms,
            peers_started_at_ms: None,
            observed: Sides::default(),
            browsers: Vec::new(),
            signaling: self.relay.take_trace(room).entries,
            ice_servers: Vec::new(),
            network: None,
            problems: vec![Problem::new(ProblemKind::Setup, problem)],
            check_expectations: false,
        }
    }

    /// Plays one case, inside `network` when given.
    async fn play(&self, case: &Case, room: &str, network: Option<&CaseNetwork>) -> Evidence {
        let peers = Sides {
            offerer: self.make_peer(case.offerer, Role::Offerer, case, room, network),
            answerer: self.make_peer(case.answerer, Role::Answerer, case, room, network),
        };
        self.play_peers(case, room, network, peers).await
    }

    /// Plays one case on the host network with the given peers instead of the ones its kinds
    /// make — scripted peers (`peer::scripted`) test the runner, verdicts and reports without
    /// browsers — and judges it.
    pub async fn run_case_with(
        &self,
        case: &Case,
        room: &str,
        peers: Sides<Box<dyn Peer>>,
    ) -> CaseResult {
        let played = self.play_peers(case, room, None, peers).await;
        judge(case, played, self.snapshots.as_ref(), None)
    }

    /// Plays one case with `peers`, inside `network` when given.
    async fn play_peers(
        &self,
        case: &Case,
        room: &str,
        network: Option<&CaseNetwork>,
        mut peers: Sides<Box<dyn Peer>>,
    ) -> Evidence {
        let started_at_ms = epoch_ms();
        self.relay.trace_room(room);
        if case.scenario.signaling_delay_ms > 0 {
            let delay = Duration::from_millis(case.scenario.signaling_delay_ms.into());
            self.relay.set_delay(room, delay);
        }
        let mut problems: Vec<Problem> = Vec::new();
        let ice_servers = network.map_or(&self.ice_servers, CaseNetwork::ice_servers);
        let case_name = room.rsplit('/').next().unwrap_or(room);
        let ice = ice_servers
            .for_case(&case.scenario.ice, case_name)
            .unwrap_or_else(|e| {
                problems.push(Problem::new(ProblemKind::Setup, e));
                Default::default()
            });
        let plans = Sides {
            offerer: self.plan(case, room, Role::Offerer, &ice.servers),
            answerer: self.plan(case, room, Role::Answerer, &ice.servers),
        };

        let mut observed = Sides::<Observations>::default();
        if problems.is_empty() {
            let start = async {
                tokio::join!(
                    peers.offerer.start(&plans.offerer),
                    peers.answerer.start(&plans.answerer)
                )
            };
            match tokio::time::timeout(PEER_START_TIMEOUT, start).await {
                Err(_) => problems.push(Problem::new(
                    ProblemKind::Setup,
                    format!(
                        "the peers did not start within {}s",
                        PEER_START_TIMEOUT.as_secs()
                    ),
                )),
                Ok((first, second)) => problems.extend(
                    [first, second]
                        .into_iter()
                        .filter_map(Result::err)
                        .map(|e| Problem::new(ProblemKind::Setup, e.to_string())),
                ),
            }
        }
        let peers_started_at_ms = problems.is_empty().then(epoch_ms);
        // Expectations are only worth checking once both peers were playing.
        let mut check_expectations = problems.is_empty();
        // The scenario's limit is for connecting, so it starts once both peers are in the room.
        let deadline = Instant::now() + case.scenario.time_limit();
        if problems.is_empty() {
            let stopped_on_a_step = |o: &Observations| !o.finished || o.failed_step().is_some();
            match watch(case, &mut peers, deadline, &mut observed).await {
                // Not connecting is what such a scenario expects; the verdict checks it.
                Ok(_) if !case.scenario.expect.connects => {}
                Ok(Watched::Decided(why)) => problems.push(Problem::new(
                    ProblemKind::Timeout,
                    last_states(
                        &format!("ended before its time limit: {why}"),
                        case,
                        &observed,
                    ),
                )),
                Ok(Watched::TimedOut) => problems.push(Problem::new(
                    ProblemKind::Timeout,
                    last_states(
                        &format!("timed out after {}s", case.scenario.time_limit_secs),
                        case,
                        &observed,
                    ),
                )),
                // Whether a side's step limit or the case's ran out first is a matter of
                // milliseconds: either way the failure says where both sides stood.
                Ok(Watched::Finished)
                    if stopped_on_a_step(&observed.offerer)
                        || stopped_on_a_step(&observed.answerer) =>
                {
                    problems.push(Problem::new(
                        ProblemKind::Timeout,
                        last_states("a step failed", case, &observed),
                    ))
                }
                Ok(Watched::Finished) => {}
                Err(e) => {
                    problems.push(Problem::new(ProblemKind::Setup, e.to_string()));
                    check_expectations = false;
                }
            }
        }
        let browsers = [peers.offerer.browser(), peers.answerer.browser()]
            .into_iter()
            .flatten()
            .collect();
        tokio::join!(peers.offerer.close(), peers.answerer.close());
        ice_servers.release(&ice).await;
        let signaling = self.relay.take_trace(room);
        if signaling.dropped > 0 {
            problems.push(Problem::new(
                ProblemKind::Setup,
                format!(
                    "the relay recorded only the first {} signaling messages; {} more are missing \
                     from the trace",
                    signaling.entries.len(),
                    signaling.dropped
                ),
            ));
        }

        Evidence {
            started_at_ms,
            peers_started_at_ms,
            observed,
            browsers,
            signaling: signaling.entries,
            ice_servers: ice.used,
            network: network.map(CaseNetwork::places),
            problems,
            check_expectations,
        }
    }

    fn plan(&self, case: &Case, room: &str, role: Role, ice_servers: &[IceServer]) -> PeerPlan {
        peer_plan(case, role, self.relay.room_url(room), ice_servers)
    }
}

/// What the peer playing `role` in `case` is given: joining `signal_url`, with `ice_servers`.
pub fn peer_plan(
    case: &Case,
    role: Role,
    signal_url: String,
    ice_servers: &[IceServer],
) -> PeerPlan {
    PeerPlan {
        id: peer_id(case, role),
        role,
        signal_url,
        ice_transport_policy: case.scenario.ice.transport_policy,
        ice_servers: ice_servers.to_vec(),
        steps: case.scenario.steps(),
        echo_message: format!("rtc-interop echo probe {}", case.slug()),
        ice_mode: case.scenario.ice_mode.of(role == Role::Offerer),
        perfect_negotiation: case.scenario.perfect_negotiation,
        media: case.scenario.expect.media_for(role == Role::Offerer),
    }
}

/// 16 random bytes in hex, from the OS's generator.
fn room_secret() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The OS generator does not fail on Linux; a fixed secret would only make rooms guessable.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id a case's peer signs its messages with (`offerer-chromium`).
fn peer_id(case: &Case, role: Role) -> String {
    let kind = match role {
        Role::Offerer => case.offerer,
        Role::Answerer => case.answerer,
    };
    format!("{}-{kind}", role.as_str())
}

/// `<why>: offerer (native) last saw ICE `checking`, connection `connecting`; answerer …`.
fn last_states(why: &str, case: &Case, observed: &Sides<Observations>) -> String {
    let last = |role: &str, kind: PeerKind, obs: &Observations| {
        format!(
            "{role} ({kind}) last saw ICE `{}`, connection `{}`",
            obs.final_ice_state().unwrap_or("(none)"),
            obs.final_connection_state().unwrap_or("(none)")
        )
    };
    format!(
        "{why}: {}; {}",
        last("offerer", case.offerer, &observed.offerer),
        last("answerer", case.answerer, &observed.answerer)
    )
}

/// What a case left behind for judging.
struct Evidence {
    started_at_ms: f64,
    peers_started_at_ms: Option<f64>,
    observed: Sides<Observations>,
    browsers: Vec<crate::peer::BrowserInfo>,
    signaling: Vec<crate::relay::TraceEntry>,
    ice_servers: Vec<IceServerUse>,
    network: Option<Sides<PeerPlace>>,
    /// What went wrong while playing (not starting, timing out, cleaning up).
    problems: Vec<Problem>,
    /// Whether both peers were playing, so that their expectations are worth checking.
    check_expectations: bool,
}

fn judge(
    case: &Case,
    evidence: Evidence,
    snapshots: Option<&SdpSnapshots>,
    skipped: Option<&str>,
) -> CaseResult {
    let Evidence {
        started_at_ms,
        peers_started_at_ms,
        observed,
        browsers,
        mut signaling,
        ice_servers,
        network,
        mut problems,
        check_expectations,
    } = evidence;
    let mut errors = observed.map(|o| o.errors.clone());
    let candidates = Sides {
        offerer: CandidateSets::parse(&observed.offerer, &mut errors.offerer),
        answerer: CandidateSets::parse(&observed.answerer, &mut errors.answerer),
    };
    let planned_steps = case.scenario.steps().len();
    let candidate_messages = |role: Role| {
        let id = peer_id(case, role);
        signaling
            .iter()
            .filter(|e| e.kind == "candidate" && e.sender.as_deref() == Some(id.as_str()))
            .count()
    };
    let sides = Sides {
        offerer: SideView::new(
            "offerer",
            case.offerer,
            &observed.offerer,
            &candidates.offerer,
        )
        .placed(network.as_ref().map(|n| &n.offerer))
        .planned(
            planned_steps,
            case.scenario.ice_mode.of(true),
            candidate_messages(Role::Offerer),
        ),
        answerer: SideView::new(
            "answerer",
            case.answerer,
            &observed.answerer,
            &candidates.answerer,
        )
        .placed(network.as_ref().map(|n| &n.answerer))
        .planned(
            planned_steps,
            case.scenario.ice_mode.of(false),
            candidate_messages(Role::Answerer),
        ),
    };
    if check_expectations {
        problems.extend(
            verdict::unmet(&case.scenario.expect, &sides)
                .into_iter()
                .map(|text| Problem::new(ProblemKind::Expectation, text)),
        );
    }
    if check_expectations && case.scenario.expect.offers_cross {
        problems.extend(
            verdict::offers_crossed(&signaling)
                .err()
                .map(|why| Problem::new(ProblemKind::Expectation, why)),
        );
    }
    let lint = crate::lint::lint(&signaling);
    if case.scenario.expect.signaling_lint == LintLevel::Strict {
        problems.extend(lint.iter().map(|f| {
            Problem::new(
                ProblemKind::Lint,
                format!("signaling lint: {}", f.sentence()),
            )
        }));
    }
    let descriptions = observed.map(|o| o.local_descriptions.clone());
    let snapshots = crate::sdp::check::check_case(snapshots, case, &descriptions);
    problems.extend(
        snapshots
            .iter()
            .flat_map(|check| check.problems())
            .map(|text| Problem::new(ProblemKind::Snapshot, text)),
    );
    let known = known_failure_for(case, &problems);
    let Decision { status, failure } = decide(&problems, known, skipped);
    let time_to_connected_ms = match (
        observed.offerer.offer_created_at_ms,
        observed.offerer.ice_connected_at_ms(),
        observed.answerer.ice_connected_at_ms(),
    ) {
        (Some(offer), Some(a), Some(b)) => Some(round_ms(a.max(b) - offer)),
        _ => None,
    };
    let echo_round_trip_ms = observed
        .offerer
        .first_channel()
        .and_then(|d| d.echo.as_ref())
        .and_then(|e| e.round_trip_ms())
        .map(round_ms);
    let phases = Phases::from_observations(&observed, started_at_ms, peers_started_at_ms);
    for entry in &mut signaling {
        entry.at_ms = round_ms(entry.at_ms - started_at_ms);
    }
    let relative = |pick: fn(&Observations) -> &Vec<crate::observe::Transition>| {
        observed.map(|o| relative_transitions(pick(o), started_at_ms))
    };
    let shift = |t: Option<f64>| t.map(|t| round_ms(t - started_at_ms));
    let channels = observed.map(|o| {
        o.channels
            .iter()
            .cloned()
            .map(|mut d| {
                d.opened_at_ms = shift(d.opened_at_ms);
                d.closed_at_ms = shift(d.closed_at_ms);
                if let Some(echo) = d.echo.as_mut() {
                    echo.sent_at_ms = round_ms(echo.sent_at_ms - started_at_ms);
                    echo.received_at_ms = shift(echo.received_at_ms);
                }
                d
            })
            .collect()
    });
    let steps = observed.map(|o| {
        o.steps
            .iter()
            .cloned()
            .map(|mut s| {
                s.started_at_ms = round_ms(s.started_at_ms - started_at_ms);
                s.ended_at_ms = shift(s.ended_at_ms);
                s
            })
            .collect()
    });
    let tracks = observed.map(|o| {
        o.tracks
            .iter()
            .cloned()
            .map(|t| t.relative_to(started_at_ms))
            .collect()
    });
    let sdp = observed.map(|o| {
        o.local_descriptions
            .iter()
            .map(|d| crate::observe::Description {
                at_ms: round_ms(d.at_ms - started_at_ms),
                ..d.clone()
            })
            .collect()
    });
    CaseResult {
        scenario: case.scenario.name.clone(),
        pairing: case.pairing(),
        index: 0,
        repetition: case.repetition,
        attempts: Vec::new(),
        offerer: case.offerer,
        answerer: case.answerer,
        status,
        failure,
        started_at_ms,
        duration_ms: round_ms(epoch_ms() - started_at_ms),
        time_to_connected_ms,
        echo_round_trip_ms,
        phases,
        native_profile: case
            .kinds()
            .contains(&PeerKind::Native)
            .then_some(case.scenario.native_profile),
        browsers,
        ice_states: relative(|o| &o.ice_connection_states),
        connection_states: relative(|o| &o.connection_states),
        gathering_states: relative(|o| &o.ice_gathering_states),
        candidates,
        selected_pair: observed.map(|o| o.selected_pair.clone()),
        signaling_states: relative(|o| &o.signaling_states),
        channels,
        tracks,
        steps,
        sdp,
        snapshots,
        errors,
        console: observed.map(|o| o.console.clone()),
        stats: observed.map(|o| o.stats.clone()),
        signaling,
        lint,
        problems,
        ice_servers,
        network,
        artifacts: Vec::new(),
    }
}

/// The shared browsers `cases` need (`[network]` cases start browsers of their own).
pub fn browsers_needed(cases: &[Case]) -> BTreeSet<BrowserKey> {
    cases
        .iter()
        .filter(|case| case.scenario.network.is_none())
        .flat_map(|case| {
            case.kinds()
                .into_iter()
                .filter(|k| k.is_browser())
                .map(|k| (k, case.scenario.host_candidates))
        })
        .collect()
}

/// The scenario's known failure for this case: of the entries covering its pairing, the first
/// whose symptom its problems show (a pairing may fail in more than one known way: `*:native`
/// for one stack's bug, `gstreamer:*` for another's), else the first.
fn known_failure_for<'a>(case: &'a Case, problems: &[Problem]) -> Option<&'a KnownFailure> {
    let covering: Vec<&KnownFailure> = case
        .scenario
        .known_failures
        .iter()
        .filter(|k| k.covers(case.offerer, case.answerer))
        .collect();
    let shown = |k: &&KnownFailure| {
        problems
            .iter()
            .any(|p| p.kind.known_failure_may_explain() && k.explains(&p.text))
    };
    covering
        .iter()
        .copied()
        .find(|k| k.symptom.is_some() && shown(k))
        .or(covering.first().copied())
}

/// Every kind `cases` need that is provisioned: the browsers, shared or not, and the external
/// stacks.
pub fn kinds_needed(cases: &[Case]) -> BTreeSet<PeerKind> {
    cases
        .iter()
        .flat_map(|case| case.kinds())
        .filter(|k| k.is_browser() || matches!(k, PeerKind::External(_)))
        .collect()
}

/// An external kind, provisioned: what a case needs to start one of its peers.
#[derive(Debug, Clone)]
pub struct ExternalInstall {
    /// The kind, as the catalogue has it.
    pub kind: Arc<ExternalKind>,
    /// The version its stack reported.
    pub version: String,
}

impl ExternalInstall {
    /// A peer of this kind, in `namespace` when given.
    fn peer(&self, namespace: Option<NetNs>) -> ExternalPeer {
        ExternalPeer::new(self.kind.clone(), self.version.clone(), namespace)
    }
}

/// What a run played.
#[derive(Debug)]
pub struct RunOutcome {
    /// The finished cases' results, in the order of the cases.
    pub results: Vec<CaseResult>,
    /// The cases an interruption left unfinished (empty when the run ran to its end).
    pub unplayed: Vec<UnplayedCase>,
}

/// Prepares what `cases` need and runs them, up to `settings.jobs` at a time, telling `reporters`
/// as it goes, until every case has run or `interrupt` resolves (Ctrl-C): then the cases still
/// running are abandoned, and the reports cover the finished ones and list the others.
pub async fn run(
    run: RunInfo,
    cases: &[Case],
    settings: &RunSettings,
    reporters: &mut [Box<dyn Reporter>],
    interrupt: impl Future<Output = ()>,
) -> Result<RunOutcome, SetupError> {
    let mut run = run;
    let ordered = run_order(cases, settings.repeat);
    run.selected_cases = ordered.len();
    // `--shard`: this run's part of the whole selection's run order, each case keeping its
    // position in it (`index`), by which merged shard reports are put back in order.
    let (positions, cases): (Vec<usize>, Vec<Case>) = match &settings.shard {
        None => ordered.into_iter().enumerate().unzip(),
        Some(plan) => {
            run.shard = Some(plan.info());
            let keys: Vec<(String, String)> = ordered
                .iter()
                .map(|c| (c.scenario.name.clone(), c.pairing_label()))
                .collect();
            plan.keeps(&keys)
                .into_iter()
                .zip(ordered.into_iter().enumerate())
                .filter_map(|(keep, case)| keep.then_some(case))
                .unzip()
        }
    };
    let tcpdump = match &settings.case_files {
        None => None,
        Some(_) => {
            let install = settings.install;
            match tokio::task::spawn_blocking(move || provision::tcpdump(install)).await {
                Ok(Ok(tcpdump)) => Some(tcpdump),
                Ok(Err(e)) => return Err(SetupError::Capture(e.to_string())),
                Err(e) => return Err(SetupError::Capture(format!("finding tcpdump stopped: {e}"))),
            }
        }
    };
    // webrtc-rs's log, kept for each case's native.log.
    let native_log = tcpdump.as_ref().map(|_| crate::native_log::start_tap());
    let mut environment = Environment::for_cases(&cases, settings).await?;
    if settings.browser_logs {
        let folder = crate::leftovers::run_folder().map(|f| f.join("browser-logs"));
        match folder.and_then(|f| {
            std::fs::create_dir_all(&f)
                .map(|()| f)
                .map_err(|e| e.to_string())
        }) {
            Ok(folder) => environment.keep_browser_logs_in(folder),
            Err(e) => {
                environment.shutdown().await;
                return Err(SetupError::Capture(format!(
                    "no folder for the browser logs: {e}"
                )));
            }
        }
    }
    // One capture of loopback for the whole run; each case's packets are cut from it afterwards
    // (cases run concurrently, and a browser's ports are known only from its candidates).
    // `[network]` cases are captured inside their namespaces.
    let capture = match &tcpdump {
        None => None,
        Some(tcpdump) => {
            environment.capture_networks_with(tcpdump.clone());
            let started = match crate::leftovers::run_folder() {
                Ok(folder) => {
                    Capture::start(tcpdump, "lo", folder.join("loopback.pcap"), None).await
                }
                Err(e) => Err(e),
            };
            match started {
                Ok(capture) => Some(capture),
                Err(e) => {
                    environment.shutdown().await;
                    return Err(SetupError::Capture(e));
                }
            }
        }
    };
    let phases = cases
        .iter()
        .take_while(|c| c.scenario.network.is_none())
        .count();
    let cases = &cases;
    emit(reporters, &RunEvent::Started { run: &run, cases });
    let interrupt =
        futures_util::FutureExt::shared(futures_util::FutureExt::boxed_local(interrupt));
    let mut played = Vec::with_capacity(cases.len());
    for phase in [&cases[..phases], &cases[phases..]] {
        played.extend(
            environment
                .run_cases_until(
                    &run.run_id,
                    phase,
                    settings.jobs,
                    settings.retries,
                    reporters,
                    interrupt.clone(),
                )
                .await,
        );
        if played.iter().any(Option::is_none) {
            // Interrupted: the other phase is not started.
            played.resize(cases.len(), None);
            break;
        }
    }
    environment.shutdown().await;
    let capture = match capture {
        Some(capture) => {
            let file = capture.file().to_path_buf();
            let dropped = capture.stop().await;
            Some((file, dropped))
        }
        None => None,
    };
    let (mut results, mut unplayed) = (Vec::new(), Vec::new());
    let windows: Vec<_> = played.iter().flatten().map(case_files::window).collect();
    let recordings = case_files::RunRecordings {
        capture: capture.as_ref().map(|(file, _)| file.as_path()),
        dropped: capture.as_ref().and_then(|(_, dropped)| *dropped),
        native_log: native_log.as_deref(),
    };
    for ((case, result), index) in cases.iter().zip(played).zip(positions) {
        match result {
            Some(mut result) => {
                result.index = index;
                if let Some(folder) = &settings.case_files {
                    let beside = case_files::played_beside(&result, &windows);
                    case_files::write_case_files(folder, recordings, beside, case, &mut result);
                }
                results.push(result);
            }
            None => unplayed.push(UnplayedCase::of(case, index)),
        }
    }
    let summary = RunSummary::of(&results);
    emit(
        reporters,
        &RunEvent::Finished {
            results: &results,
            summary: &summary,
            unplayed: &unplayed,
        },
    );
    Ok(RunOutcome { results, unplayed })
}

/// The order a run plays `cases` repeated `repeat` times. A `[network]` case puts links of its
/// topology into the root namespace, where the browsers of other cases gather candidates on them,
/// and those links vanish when the case ends (a browser's selected pair with them). So cases in
/// networks run after the others, never beside them.
pub fn run_order(cases: &[Case], repeat: u32) -> Vec<Case> {
    let (on_host, in_networks): (Vec<Case>, Vec<Case>) = crate::plan::repeat(cases, repeat)
        .into_iter()
        .partition(|c| c.scenario.network.is_none());
    [on_host, in_networks].concat()
}

impl Environment {
    /// Plays `case`, and again (up to `retries` times, each in a room of its own) while it fails.
    async fn run_case_with_retries(&self, case: &Case, room: &str, retries: u32) -> CaseResult {
        let mut failed = Vec::new();
        let mut result = self.run_case(case, room).await;
        while result.may_retry() && failed.len() < retries as usize {
            failed.push(result);
            let retry_room = format!("{room}-retry{}", failed.len());
            result = self.run_case(case, &retry_room).await;
        }
        result.after_attempts(failed)
    }
}

/// Removes what harness processes that died left behind (browsers, drivers, coturn, temporary
/// folders, network namespaces), so that a killed run never weighs on the next; says what it
/// removed.
async fn sweep_leftovers() {
    let removed = tokio::task::spawn_blocking(crate::leftovers::sweep)
        .await
        .unwrap_or_default();
    for line in removed.lines() {
        eprintln!("rtc-interop: left by an earlier run that died: {line}");
    }
}

impl Environment {
    /// Runs `cases`, up to `jobs` at a time, each in its own relay room under `run_id`, telling
    /// `reporters` as cases start and finish. Results come back in the order of `cases`.
    pub async fn run_cases(
        &self,
        run_id: &str,
        cases: &[Case],
        jobs: usize,
        reporters: &mut [Box<dyn Reporter>],
    ) -> Vec<CaseResult> {
        self.run_cases_until(run_id, cases, jobs, 0, reporters, std::future::pending())
            .await
            .into_iter()
            .map(|r| r.expect("every case ran"))
            .collect()
    }

    /// As [`Environment::run_cases`], playing a failed case up to `retries` more times, and
    /// stopping when `interrupt` resolves: cases still running then are dropped, and their
    /// results (as those of cases never started) are `None`.
    pub async fn run_cases_until(
        &self,
        run_id: &str,
        cases: &[Case],
        jobs: usize,
        retries: u32,
        reporters: &mut [Box<dyn Reporter>],
        interrupt: impl Future<Output = ()>,
    ) -> Vec<Option<CaseResult>> {
        let jobs = jobs.max(1);
        let mut pending = futures_util::stream::iter(cases.iter().enumerate())
            .map(|(index, case)| async move {
                let room = format!("{run_id}/{index}-{}", case.slug());
                (
                    index,
                    self.run_case_with_retries(case, &room, retries).await,
                )
            })
            .buffer_unordered(jobs);
        let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
        // The stream starts cases in order as slots free up; report them the same way.
        let announce = |reporters: &mut [Box<dyn Reporter>], index: usize| {
            if let Some(case) = cases.get(index) {
                emit(reporters, &RunEvent::CaseStarted { case, index });
            }
        };
        for index in 0..jobs {
            announce(reporters, index);
        }
        let mut next = jobs;
        let mut interrupt = std::pin::pin!(interrupt);
        loop {
            let (index, result) = tokio::select! {
                finished = pending.next() => match finished {
                    Some(finished) => finished,
                    None => break,
                },
                () = &mut interrupt => break,
            };
            emit(reporters, &RunEvent::CaseFinished { result: &result });
            results[index] = Some(result);
            announce(reporters, next);
            next += 1;
        }
        results
    }
}

fn emit(reporters: &mut [Box<dyn Reporter>], event: &RunEvent<'_>) {
    for reporter in reporters.iter_mut() {
        if let Err(e) = reporter.on_event(event) {
            eprintln!("rtc-interop: the {} report failed: {e}", reporter.name());
        }
    }
}

/// Calls `window.rtcInteropLoopback.<function>(options)` in `window` (a loopback page) and
/// returns what it resolved with, or why it did not.
async fn loopback_call(
    browser: &SharedBrowser,
    window: &Window,
    function: &str,
    options: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let measured = browser
        .execute(
            window,
            &format!(
                "return window.rtcInteropLoopback.{function}(arguments[0])\
                 .then(r => r, e => ({{ error: String(e) }}))"
            ),
            vec![options],
        )
        .await?;
    match measured.get("error").and_then(|e| e.as_str()) {
        Some(error) => Err(format!("{} in-page {function}: {error}", browser.kind())),
        None => Ok(measured),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn room_secrets_are_random_128_bit_hex() {
        let (a, b) = (super::room_secret(), super::room_secret());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
