//! WebDriver servers (chromedriver, geckodriver) and the browser sessions opened through them with
//! `fantoccini`, with the flags and prefs each browser needs to run WebRTC headless and offline.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::process::Command;

use super::profile_template;
use crate::net::netns::{NetNs, TcpForwarder};
use crate::process::ChildGroup;
use crate::provision::BrowserInstall;
use crate::scenario::{HostCandidates, PeerKind};

/// How long a WebDriver server may take to accept connections.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long opening a browser session may take (Firefox needs a few seconds on a busy machine).
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The browser behind a peer, as the report names it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct BrowserInfo {
    /// The peer kind (`chromium`).
    pub kind: PeerKind,
    /// The version the WebDriver session reported.
    pub version: String,
    /// `navigator.userAgent`.
    pub user_agent: String,
    /// The driver's version.
    pub driver_version: String,
    /// The remote WebDriver endpoint the session was opened on (`--webdriver`); absent for a
    /// driver the harness started itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Where a browser kind's sessions are opened.
#[derive(Debug, Clone)]
pub enum DriverEndpoint {
    /// A driver the harness starts on this machine, for a browser it found or installed.
    Local(BrowserInstall),
    /// A W3C WebDriver endpoint somewhere else (`--webdriver KIND=URL`): a Selenium Grid hub, or
    /// a chromedriver / geckodriver on another machine.
    Remote {
        /// The browser kind it serves.
        kind: PeerKind,
        /// Its URL (`http://grid:4444`).
        url: String,
    },
}

impl DriverEndpoint {
    /// The browser kind.
    pub fn kind(&self) -> PeerKind {
        match self {
            DriverEndpoint::Local(install) => install.kind,
            DriverEndpoint::Remote { kind, .. } => *kind,
        }
    }
}

/// A WebDriver server for one browser kind: one the harness started, or a remote endpoint.
pub struct DriverService {
    kind: PeerKind,
    /// The local browser and driver; `None` for a remote endpoint (it knows its own browser).
    install: Option<BrowserInstall>,
    url: String,
    /// The driver process the harness started (`None` for a remote endpoint).
    process: Option<Mutex<ChildGroup>>,
    profiles: Option<tempfile::TempDir>,
    sessions: AtomicU64,
    /// The network namespace the driver (and so its browsers) runs in, with the forwarder that
    /// leads to it from the root namespace's loopback.
    namespace: Option<(NetNs, TcpForwarder)>,
    /// `run --browser-logs`: the file the driver and its browsers write their own logs to,
    /// WebRTC's included ([`BROWSER_LOG_LEVELS`]).
    log_file: Option<PathBuf>,
}

/// What a browser logs with `run --browser-logs`: Chromium's (and WebRTC's) INFO and VERBOSE1
/// lines of its ICE, DTLS and port allocation code (`p2p/`) and of the peer connection (`pc/`);
/// Firefox's MOZ_LOG modules for ICE (`nicer`, `webrtc_ice`) and JSEP, at debug level.
pub const BROWSER_LOG_LEVELS: (&str, &str) = (
    "--vmodule=*/p2p/*=1,*/pc/*=1",
    "nicer:4,webrtc_ice:4,jsep:4",
);

impl DriverService {
    /// Starts the kind's driver on a free loopback port and waits until it answers.
    pub async fn start(install: BrowserInstall) -> Result<DriverService, String> {
        DriverService::start_in(install, None, None).await
    }

    /// As [`DriverService::start`], with the driver inside `ns` when given: the browsers it starts
    /// then see only that namespace's network. The harness reaches the driver through a
    /// [`TcpForwarder`]. With `log_file`, the driver and its browsers log into it, WebRTC's own
    /// lines included.
    pub async fn start_in(
        install: BrowserInstall,
        ns: Option<NetNs>,
        log_file: Option<PathBuf>,
    ) -> Result<DriverService, String> {
        // In a namespace the driver listens on the port the forwarder has in the root namespace:
        // geckodriver refuses requests whose Host header names another port.
        let forwarder = match &ns {
            None => None,
            Some(ns) => Some(
                TcpForwarder::same_port(ns.clone())
                    .await
                    .map_err(|e| format!("cannot forward to a driver in {}: {e}", ns.name()))?,
            ),
        };
        let port = match &forwarder {
            None => free_port().map_err(|e| format!("no free port for the driver: {e}"))?,
            Some(forwarder) => forwarder.local_addr().port(),
        };
        let mut command = match &ns {
            None => Command::new(&install.driver),
            Some(ns) => ns.command(&install.driver),
        };
        match install.kind {
            PeerKind::Firefox => command.args(["--host", "127.0.0.1", "--port", &port.to_string()]),
            _ => command.arg(format!("--port={port}")),
        };
        match &log_file {
            None => {
                command
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
            }
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let copy = file
                    .try_clone()
                    .map_err(|e| format!("cannot share {}: {e}", path.display()))?;
                match install.kind {
                    // geckodriver passes Firefox's output on, and Firefox reads MOZ_LOG.
                    PeerKind::Firefox => command.env("MOZ_LOG", BROWSER_LOG_LEVELS.1),
                    // chromedriver otherwise drops the browser's stderr.
                    _ => command.arg("--enable-chrome-logs"),
                };
                command.stdout(copy).stderr(file);
            }
        }
        let name = install
            .driver
            .file_name()
            .map_or("driver".into(), |n| n.to_string_lossy().into_owned());
        let process = ChildGroup::spawn(&name, command).map_err(|e| e.to_string())?;
        let profiles = tempfile::Builder::new()
            .prefix("profiles-")
            .tempdir_in(crate::leftovers::run_folder()?)
            .map_err(|e| format!("cannot create a folder for browser profiles: {e}"))?;
        let driver_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let service = DriverService {
            kind: install.kind,
            install: Some(install),
            url: format!("http://{driver_addr}"),
            process: Some(Mutex::new(process)),
            profiles: Some(profiles),
            sessions: AtomicU64::new(0),
            namespace: ns.zip(forwarder),
            log_file,
        };
        service.wait_ready(driver_addr).await?;
        Ok(service)
    }

    /// A remote WebDriver endpoint for `kind`, once it answers `GET /status`.
    pub async fn remote(kind: PeerKind, url: &str) -> Result<DriverService, String> {
        let url = url.trim_end_matches('/').to_string();
        check_remote_status(&url).await?;
        Ok(DriverService {
            kind,
            install: None,
            url,
            process: None,
            profiles: None,
            sessions: AtomicU64::new(0),
            namespace: None,
            log_file: None,
        })
    }

    /// Starts the driver of a local `endpoint` (logging into `log_file`, if any), or checks a
    /// remote one.
    pub async fn for_endpoint(
        endpoint: &DriverEndpoint,
        ns: Option<NetNs>,
        log_file: Option<PathBuf>,
    ) -> Result<DriverService, String> {
        match endpoint {
            DriverEndpoint::Local(install) => {
                DriverService::start_in(install.clone(), ns, log_file).await
            }
            DriverEndpoint::Remote { kind, url } => DriverService::remote(*kind, url).await,
        }
    }

    /// The browser kind this server drives.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Whether the driver process is still running (a remote endpoint is assumed to be; a session
    /// that fails says otherwise).
    pub fn is_running(&self) -> bool {
        self.process
            .as_ref()
            .is_none_or(|p| p.lock().unwrap().exit_status().is_none())
    }

    /// The driver's executable, for messages.
    fn driver_name(&self) -> String {
        match &self.install {
            Some(install) => install.driver.display().to_string(),
            None => self.url.clone(),
        }
    }

    /// Waits until the driver accepts connections at `addr` (inside its namespace, if any: the
    /// forwarder would accept on the driver's behalf).
    async fn wait_ready(&self, addr: SocketAddr) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            let accepted = match &self.namespace {
                None => tokio::net::TcpStream::connect(addr).await.is_ok(),
                Some((ns, _)) => ns.connect_tcp(addr, Duration::from_secs(1)).await.is_ok(),
            };
            if accepted {
                return Ok(());
            }
            if let Some(status) = self
                .process
                .as_ref()
                .and_then(|p| p.lock().unwrap().exit_status())
            {
                return Err(format!(
                    "{} exited before it was ready ({status})",
                    self.driver_name()
                ));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "{} did not accept connections within {}s",
                    self.driver_name(),
                    DRIVER_READY_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a browser (one session, a fresh profile) with the flags the harness needs.
    /// `page_origin`: where the peer page is served, when that is not loopback (`--advertise-
    /// address`): browsers then treat it as a secure origin, as they do loopback, so that
    /// `getUserMedia` works on it.
    pub async fn new_session(
        &self,
        hosts: HostCandidates,
        page_origin: Option<&str>,
    ) -> Result<(Client, BrowserInfo), String> {
        // rustls's process-wide provider: ring, the one back-end linked (webrtc-rs uses it too).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        // A remote endpoint makes its own profile on its own machine.
        let profile = match (&self.profiles, &self.install) {
            (Some(profiles), Some(install)) => {
                let profile = profiles.path().join(format!("session-{n}"));
                let template = match install.kind {
                    PeerKind::Firefox => profile_template::firefox_template(install, |folder| {
                        warm_up_profile(install.clone(), folder)
                    }),
                    _ => None,
                };
                match template {
                    Some(template) => profile_template::copy_profile(&template, &profile),
                    None => std::fs::create_dir_all(&profile),
                }
                .map_err(|e| format!("cannot make the profile {}: {e}", profile.display()))?;
                Some(profile)
            }
            _ => None,
        };
        self.open_session(profile, hosts, page_origin).await
    }

    /// Opens a session in `profile` (a local browser's profile folder; `None` for a remote
    /// endpoint).
    async fn open_session(
        &self,
        profile: Option<PathBuf>,
        hosts: HostCandidates,
        page_origin: Option<&str>,
    ) -> Result<(Client, BrowserInfo), String> {
        let local = self.install.as_ref().zip(profile.as_deref());
        let capabilities = match self.kind {
            PeerKind::Firefox => firefox_capabilities(local, hosts, page_origin),
            _ => chromium_capabilities(local, hosts, page_origin, self.log_file.is_some()),
        };
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are a JSON object literal")
        };
        let driver = self.kind();
        let client = with_timeout(SESSION_TIMEOUT, "opening a browser session", async {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("reading the system's TLS roots: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&self.url)
                .await
                .map_err(|e| format!("the {driver} driver refused a session: {e}"))
        })
        .await?;
        let reported = |path: &[&str]| {
            let mut value = Value::Object(client.capabilities()?.clone());
            for key in path {
                value = value.get(key)?.clone();
            }
            value.as_str().map(str::to_string)
        };
        let version = reported(&["browserVersion"])
            .or_else(|| self.install.as_ref().map(|i| i.browser_version.clone()))
            .unwrap_or_else(|| "unknown".into());
        // chromedriver's version is in `chrome.chromedriverVersion` (`131.0… (hash)`),
        // geckodriver's in `moz:geckodriverVersion`.
        let driver_version = self
            .install
            .as_ref()
            .map(|i| i.driver_version.clone())
            .or_else(|| reported(&["chrome", "chromedriverVersion"]))
            .or_else(|| reported(&["moz:geckodriverVersion"]))
            .map(|v| v.split(' ').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "unknown".into());
        // A browser that has just started can be slow to run its first script on a busy machine.
        let user_agent = with_timeout(SESSION_TIMEOUT, "reading the user agent", async {
            client
                .execute("return navigator.userAgent", vec![])
                .await
                .map_err(|e| e.to_string())
        })
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string();
        Ok((
            client,
            BrowserInfo {
                kind: self.kind(),
                version,
                user_agent,
                driver_version,
                endpoint: self.process.is_none().then(|| self.url.clone()),
            },
        ))
    }
}

impl Drop for DriverService {
    fn drop(&mut self) {
        if let Some(process) = &self.process {
            process.lock().unwrap().kill();
        }
    }
}

/// How long a remote endpoint may take to answer `GET /status`.
const REMOTE_STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that a remote WebDriver endpoint answers `GET /status` with `ready: true` (W3C
/// WebDriver §8.3), naming the URL and what went wrong otherwise.
async fn check_remote_status(url: &str) -> Result<(), String> {
    let unreachable =
        |why: String| format!("the remote WebDriver endpoint {url} cannot be used: {why}");
    let uri: hyper::Uri = format!("{url}/status")
        .parse()
        .map_err(|e| unreachable(format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(unreachable("only http:// endpoints are supported".into()));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| unreachable("no host in the URL".into()))?
        .clone();
    let host_port = match authority.port_u16() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    let body = with_timeout(REMOTE_STATUS_TIMEOUT, "asking for its status", async {
        use http_body_util::BodyExt;
        let stream = tokio::net::TcpStream::connect(&host_port)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = hyper::Request::get(uri.path())
            .header(hyper::header::HOST, authority.as_str())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    })
    .await
    .map_err(unreachable)?;
    let (status, body) = body;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    match json.as_ref().and_then(|j| j["value"]["ready"].as_bool()) {
        Some(true) => Ok(()),
        Some(false) => Err(unreachable(format!(
            "it is not ready: {}",
            json.as_ref()
                .and_then(|j| j["value"]["message"].as_str())
                .unwrap_or_default()
        ))),
        None => Err(unreachable(format!(
            "`GET /status` did not answer as WebDriver does (HTTP {status})"
        ))),
    }
}

/// Opens a first session of `install`'s browser in the new profile `folder` and closes it (the
/// browser quits), so that the profile holds what the browser makes on its first start.
async fn warm_up_profile(install: BrowserInstall, folder: PathBuf) -> Result<(), String> {
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let service = DriverService::start(install).await?;
    let (client, _) = service
        .open_session(Some(folder), HostCandidates::Ip, None)
        .await?;
    with_timeout(SESSION_TIMEOUT, "closing the first session", async {
        client.close().await.map_err(|e| e.to_string())
    })
    .await
}

/// Chromium's capabilities; `local`: the browser binary and the profile folder of a driver the
/// harness started (a remote endpoint uses its own).
fn chromium_capabilities(
    local: Option<(&BrowserInstall, &std::path::Path)>,
    hosts: HostCandidates,
    page_origin: Option<&str>,
    logging: bool,
) -> Value {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        // Offline machine: no update checks, sync or component downloads.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
        // Received audio plays in an <audio> element without a user gesture.
        "--autoplay-policy=no-user-gesture-required",
        // Every case runs in a window of one shared browser: none may be throttled as hidden.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    // A case's page must unload when its window moves on to the next case (shared_browser.rs),
    // not wait in the back-forward cache.
    let mut disabled_features = vec!["BackForwardCache"];
    match hosts {
        HostCandidates::Ip => {
            // Plain IP host candidates instead of mDNS names.
            disabled_features.push("WebRtcHideLocalIpsWithMdns");
            // Camera and microphone granted without asking.
            args.push("--use-fake-ui-for-media-stream".into());
        }
        // As for a user who has not granted camera or microphone: a granted media permission
        // lets a page enumerate local addresses, and Chromium then skips mDNS names altogether.
        HostCandidates::Mdns => {}
    }
    // One flag: of several `--disable-features`, Chromium would honour only the last.
    args.push(format!(
        "--disable-features={}",
        disabled_features.join(",")
    ));
    if logging {
        // Every process (the renderer runs WebRTC) logs to the stderr the driver passes on.
        args.extend([
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            BROWSER_LOG_LEVELS.0.into(),
        ]);
    }
    if let Some(origin) = page_origin {
        args.push(format!(
            "--unsafely-treat-insecure-origin-as-secure={origin}"
        ));
    }
    let mut options = json!({ "args": args });
    if let Some((install, profile)) = local {
        options["binary"] = json!(install.browser);
        if let Some(args) = options["args"].as_array_mut() {
            args.push(json!(format!("--user-data-dir={}", profile.display())));
        }
    }
    json!({
        "browserName": "chrome",
        "goog:chromeOptions": options,
    })
}

/// Firefox's capabilities; `local` as for [`chromium_capabilities`].
fn firefox_capabilities(
    local: Option<(&BrowserInstall, &std::path::Path)>,
    hosts: HostCandidates,
    page_origin: Option<&str>,
) -> Value {
    let mut options = json!({
            "args": ["-headless"],
            "prefs": {
                "media.navigator.streams.fake": true,
                "media.navigator.permission.disabled": true,
                // Received audio plays in an <audio> element without a user gesture (0: allowed).
                "media.autoplay.default": 0,
                "media.autoplay.blocking_policy": 0,
                "media.peerconnection.ice.obfuscate_host_addresses": hosts == HostCandidates::Mdns,
                // Offline machine: nothing may phone home or download plugins.
                "app.update.enabled": false,
                "app.update.auto": false,
                "browser.shell.checkDefaultBrowser": false,
                "browser.safebrowsing.malware.enabled": false,
                "browser.safebrowsing.phishing.enabled": false,
                "datareporting.policy.dataSubmissionEnabled": false,
                "toolkit.telemetry.enabled": false,
                "network.captive-portal-service.enabled": false,
                "network.connectivity-service.enabled": false,
                "extensions.update.enabled": false,
                "media.gmp-manager.updateEnabled": false,
                "network.dns.disablePrefetch": true,
                // A case's page must unload when its window moves on to the next case
                // (shared_browser.rs), not wait in the back-forward cache.
                "browser.sessionhistory.max_total_viewers": 0,
                "fission.bfcacheInParent": false,
                // Cases share one browser in separate windows: keep timers of every window exact.
                "dom.min_background_timeout_value": 4,
                "dom.timeout.enable_budget_timer_throttling": false,
                // The page's timestamps (state timelines, step and phase times) to the
                // microsecond, as Chromium's: by default Firefox rounds them to whole
                // milliseconds with jitter, a few percent of a 15 ms connection.
                "privacy.reduceTimerPrecision": false,
            },
    });
    if page_origin.is_some() {
        // The page on a non-loopback http:// origin: camera and microphone still allowed.
        options["prefs"]["media.devices.insecure.enabled"] = json!(true);
        options["prefs"]["media.getusermedia.insecure.enabled"] = json!(true);
    }
    if let Some((install, profile)) = local {
        options["binary"] = json!(install.browser);
        if let Some(args) = options["args"].as_array_mut() {
            args.extend([json!("-profile"), json!(profile)]);
        }
    }
    json!({
        "browserName": "firefox",
        "moz:firefoxOptions": options,
    })
}

/// Runs `work`, turning a timeout into an error that says what took too long.
pub async fn with_timeout<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(format!("{what} took longer than {}s", limit.as_secs_f64())))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
