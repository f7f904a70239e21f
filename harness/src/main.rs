//! The `rtc-interop` command line: a thin layer over the library.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rtc_interop::bench::BenchSettings;
use rtc_interop::net::TurnServerKind;
use rtc_interop::outcome::RunSummary;
use rtc_interop::peer::external::{catalogue, schema};
use rtc_interop::peer::{Role, standalone};
use rtc_interop::plan::{self, Case, Selection};
use rtc_interop::relay::{Relay, RelayConfig};
use rtc_interop::relay_bench::RelayBenchSettings;
use rtc_interop::remote::RemoteBrowsers;
use rtc_interop::report::{
    self, HtmlReport, JsonReport, JunitReport, ReportDocument, Reporter, TerminalReport,
};
use rtc_interop::report_bench::ReportBenchSettings;
use rtc_interop::runner::{self, RunSettings};
use rtc_interop::scenario::{NativeProfile, PeerKind};
use rtc_interop::sdp::check::{self, SdpSnapshots};
use rtc_interop::sdp::compare;
use rtc_interop::sdp::snapshot::SnapshotMode;
use rtc_interop::{ice_servers, process, provision, scenario, shard};
use tokio::signal::unix::{self, Signal, SignalKind};

/// Headless WebRTC interop testing: every pairing of browsers and webrtc-rs, judged on evidence.
#[derive(Parser)]
#[command(name = "rtc-interop", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Add your own program as a peer kind: `NAME=PROGRAM [ARG…]` (repeatable; split on
    /// whitespace). It is started per side with `--plan FILE --observations FILE`
    /// (docs/external-peers.md). `[peers.NAME]` tables in ./rtc-interop.toml do the same.
    #[arg(long = "peer-command", value_name = "NAME=PROGRAM", global = true)]
    peer_commands: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios in every pairing and write reports.
    Run {
        #[command(flatten)]
        cases: CaseArgs,
        /// Folder the reports go to (a subfolder per run, `latest` points at the newest).
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// How many runs' reports to keep (this one included); older run folders are removed.
        #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
        keep_reports: u32,
        /// Stop instead of installing a missing browser or driver.
        #[arg(long)]
        no_install: bool,
        /// How many cases run at the same time (default: one more than the number of cores).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// SDP snapshots that are missing or differ: `update` writes `.snap.new` for `cargo insta
        /// review`, `check` only compares (CI), `accept` writes `.snap`, `off` skips them.
        /// Default: from INSTA_UPDATE and CI, as insta decides.
        #[arg(long, value_name = "MODE", value_parser = check::parse_mode)]
        snapshots: Option<SnapshotMode>,
        /// Run every STUN/TURN server the scenarios name as this kind: `embedded` or `coturn`.
        #[arg(long, value_name = "KIND", value_parser = ice_servers::parse_server_kind)]
        turn: Option<TurnServerKind>,
        /// Play every selected case N times and report each pairing's pass rate: flakiness
        /// measured, not guessed.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        repeat: u32,
        /// Play a failed case up to N more times; one that then passes is reported `flaky`
        /// (never plain passed; in JUnit with its failed attempts as `flakyFailure`).
        #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10))]
        retries: u32,
        /// Play only part K of N of the selected cases (`--shard 2/4`), for a CI job matrix: the
        /// same selection puts each case in the same shard on every machine. `merge` combines
        /// the shards' reports.
        #[arg(long, value_name = "K/N", value_parser = shard::parse_shard)]
        shard: Option<shard::Shard>,
        /// Balance `--shard` by the case durations of this earlier report (a run folder or its
        /// report.json) instead of by count.
        #[arg(long, value_name = "REPORT", requires = "shard")]
        shard_durations: Option<PathBuf>,
        /// Open a browser kind's sessions on this W3C WebDriver endpoint instead of a driver the
        /// harness starts: `chromium=http://grid:4444` (repeatable, per kind; a Selenium Grid 4
        /// hub or a chromedriver/geckodriver elsewhere). Needs `--advertise-address`. Also
        /// `[webdriver]` in ./rtc-interop.toml.
        #[arg(long = "webdriver", value_name = "KIND=URL")]
        webdrivers: Vec<String>,
        /// The address of this machine that remote browsers reach: the relay, page server and
        /// STUN/TURN servers listen there, and the URLs browsers get name it. Also
        /// `advertise_address` in ./rtc-interop.toml.
        #[arg(long, value_name = "IP")]
        advertise_address: Option<std::net::IpAddr>,
        /// Record each case's packets (a pcap cut from a capture of loopback, by the ports of the
        /// case's candidates) and a bug bundle (scenario, command line, versions, report entry,
        /// consoles, capture) into the run's folder, linked from report.html. Needs tcpdump.
        #[arg(long)]
        capture: bool,
        /// With --capture: each case's browsers are its own (not the run's shared ones), and
        /// their own logs, WebRTC's ICE, DTLS and negotiation lines included, go into the case's
        /// files and bundle (`offerer-chromium.log`, …). Slower: a browser starts per case.
        #[arg(long, requires = "capture")]
        browser_logs: bool,
    },
    /// Rebuild report.html and junit.xml of a run from its report.json (a run from another
    /// machine or an older version, or a merged one).
    Report {
        /// The run's folder (`reports/<run>`), or its report.json.
        run: PathBuf,
    },
    /// Combine the reports of the shards of one run (`run --shard K/N`) into the report of the
    /// whole selection: report.json, report.html and junit.xml.
    Merge {
        /// The shards' run folders (or their report.json files).
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<PathBuf>,
        /// The folder the merged report is written to.
        #[arg(long)]
        out: PathBuf,
        /// Merge even reports of different rtc-interop or scenario versions, different
        /// selections, or with shards missing.
        #[arg(long)]
        force: bool,
    },
    /// Print the cases a run would execute, one per line.
    List {
        #[command(flatten)]
        cases: CaseArgs,
    },
    /// Measure where a case's time goes, per pairing (medians, and ratios against native→native).
    Bench {
        /// Warm iterations per pairing and native profile.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Only this pairing, `offerer:answerer` (repeatable).
        #[arg(long = "pairing")]
        pairings: Vec<String>,
        /// Stop instead of installing a missing browser or driver.
        #[arg(long)]
        no_install: bool,
        #[command(subcommand)]
        what: Option<BenchCommand>,
    },
    /// Show every peer kind with its browser and driver versions, and whether it is ready.
    Doctor,
    /// Remove what runs that died (kill -9, a crash) left behind: browsers, drivers, coturn,
    /// temporary folders and network namespaces of harness processes that are gone and used
    /// the same $TMPDIR. Live runs are left alone. Every run does this when it starts.
    Clean,
    /// Install the browsers and drivers that are missing (Debian packages, geckodriver), and
    /// cargo-insta for reviewing SDP snapshots.
    Install {
        /// Only these kinds (comma-separated); default: every browser kind and every shipped
        /// external stack (`peers/`), and the tools.
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
    },
    /// Print the plan (JSON) an external peer is given for a scenario: what your own program
    /// reads (docs/external-peers.md). The room URL and STUN/TURN servers are filled in by a run.
    Plan {
        /// The scenario's name.
        scenario: String,
        /// Which side's plan.
        #[arg(long, default_value = "offerer", value_parser = parse_role)]
        role: Role,
        /// Folder with the scenario files.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
    },
    /// Print the JSON Schema of the external-peer contract: `plan` or `observations`.
    Schema {
        /// `plan` or `observations`.
        #[arg(value_parser = ["plan", "observations"])]
        which: String,
    },
    /// Join a signaling room as a webrtc-rs peer, connect, echo on a data channel, and print what
    /// it observed as JSON: test your own app against webrtc-rs by hand.
    Peer {
        #[command(subcommand)]
        kind: PeerCommand,
    },
    /// Session descriptions across peer kinds.
    Sdp {
        #[command(subcommand)]
        command: SdpCommand,
    },
    /// Run the signaling relay on its own.
    Relay {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Require this token: clients connect with `?token=TOKEN` (else HTTP 401).
        #[arg(long)]
        token: Option<String>,
        /// Also accept WebSocket upgrades from this web origin, e.g. `https://app.example`
        /// (repeatable; `*`: any). Loopback origins and the relay's own address are always allowed.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The standalone relay against a minimal Node `ws` relay, both driven by the same Node load
    /// generator: messages per second, round trips, burst latency, memory.
    Relay {
        /// Rounds of the throughput and burst measurements (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Seconds of ping-pong per round.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Where a run's wall time went: cases per second over the whole run, and for host and
    /// `[network]` cases apart, with the time their peers took to start (from its report.json).
    Matrix {
        /// The run (its folder or report.json).
        #[arg(long, default_value = "reports/latest")]
        from: PathBuf,
    },
    /// How long report.html takes to open in Chromium and Firefox: a report of `--cases` cases
    /// grown from a run's report, against that run's own report (medians, ratios).
    Report {
        /// The run to grow the big report from (its folder or report.json).
        #[arg(long, default_value = "reports/latest")]
        from: PathBuf,
        /// Cases in the big report.
        #[arg(long, default_value_t = 5000)]
        cases: usize,
        /// Openings of each report in each browser (medians are reported).
        #[arg(long, default_value_t = 5)]
        openings: usize,
    },
}

#[derive(Subcommand)]
enum PeerCommand {
    /// A native (webrtc-rs) peer.
    Native {
        /// The room to join: `ws://HOST:PORT/<room>` on a server speaking the documented protocol.
        #[arg(long, required_unless_present = "plan")]
        signal: Option<String>,
        /// Play this plan instead (docs/external-peers.md): the native peer as a program of the
        /// external-peer contract, reporting into `--observations`.
        #[arg(long, requires = "observations", conflicts_with_all = ["signal", "offer", "answer"])]
        plan: Option<PathBuf>,
        /// Where to write the observations of `--plan` (JSON, rewritten as they change).
        #[arg(long, requires = "plan")]
        observations: Option<PathBuf>,
        /// Make the offer (and open the data channel) when the other peer says hello.
        #[arg(long, conflicts_with = "answer")]
        offer: bool,
        /// Answer the other peer's offer (the default), wait for one message on the channel and
        /// echo it.
        #[arg(long)]
        answer: bool,
        /// webrtc-rs settings: `default` or `fast`.
        #[arg(long, default_value = "default", value_parser = parse_profile)]
        profile: NativeProfile,
        /// The data channel's label: the offerer opens it, the answerer waits for a message on it.
        #[arg(long, default_value = "echo")]
        label: String,
        /// How long to wait for the connection (and the echo), in seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout_secs: f64,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "offerer" => Ok(Role::Offerer),
        "answerer" => Ok(Role::Answerer),
        other => Err(format!(
            "unknown role `{other}` (there are: offerer, answerer)"
        )),
    }
}

fn parse_profile(text: &str) -> Result<NativeProfile, String> {
    match text {
        "default" => Ok(NativeProfile::Default),
        "fast" => Ok(NativeProfile::Fast),
        other => Err(format!(
            "unknown profile `{other}` (there are: default, fast)"
        )),
    }
}

#[derive(Subcommand)]
enum SdpCommand {
    /// Print, per scenario, every peer kind's offer and answer features side by side, with the
    /// rows that differ marked `*`: from the accepted snapshots, or from a run's report.json.
    Compare {
        /// Folder with the scenario files; the accepted snapshots are in its `snapshots/`.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Only scenarios with this name (repeatable; `*` and `?` globs allowed).
        #[arg(long = "scenario", value_name = "NAME")]
        scenario_names: Vec<String>,
        /// Compare the descriptions of this run (`reports/latest/report.json`) instead.
        #[arg(long, value_name = "REPORT_JSON")]
        report: Option<PathBuf>,
    },
}

/// Which scenarios and pairings to take.
#[derive(Args)]
struct CaseArgs {
    /// Folder with the scenario files.
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
    /// Only scenarios with this name (repeatable; `*` and `?` globs allowed).
    #[arg(long = "scenario", value_name = "NAME")]
    scenario_names: Vec<String>,
    /// Pairings of these peer kinds (comma-separated: `chromium,native,aiortc`; `all`: every
    /// kind there is). Default: the built-in kinds, native, chromium and firefox.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Only this pairing, `offerer:answerer` (repeatable: `--pairing firefox:native`); `*` for
    /// either side: `--pairing 'aiortc:*' --pairing '*:aiortc'` is every pairing with aiortc.
    #[arg(long = "pairing")]
    pairings: Vec<String>,
}

/// Exit codes: all passed, a case failed, the run could not start.
const EXIT_FAILED: u8 = 1;
const EXIT_SETUP: u8 = 2;
/// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Writes a line to stdout. A closed pipe (`rtc-interop list | head`) ends the program quietly,
/// as it does any Unix tool, instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        stdout_or_quiet_exit(|w| writeln!(w, $($arg)*))
    };
}

/// As `out!`, without the newline.
macro_rules! out_part {
    ($($arg:tt)*) => {
        stdout_or_quiet_exit(|w| write!(w, $($arg)*))
    };
}

fn stdout_or_quiet_exit(
    write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) {
    if let Err(e) = write(&mut std::io::stdout().lock())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = register_user_kinds(&cli.peer_commands) {
        eprintln!("rtc-interop: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    // webrtc-rs logs through `log`: silent unless RUST_LOG asks (`RUST_LOG=rtc_dtls=debug`);
    // `run --capture` also keeps it for each case's native.log.
    rtc_interop::native_log::install();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtc-interop: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    // A run stops at the first Ctrl-C on its own, writing the reports of the cases that finished;
    // every other command is simply cancelled. A second Ctrl-C stops at once. SIGTERM (`kill`,
    // `timeout`, a cancelled CI job) and SIGHUP (the terminal went) do the same: without them
    // the harness died at once and the browsers its drivers had started stayed up until the
    // next run swept them away.
    let finishes_on_interrupt = matches!(cli.command, Command::Run { .. });
    let code = runtime.block_on(async {
        let (interrupt, interrupted) = tokio::sync::watch::channel(false);
        let mut stops = match StopSignals::watch(&cli.command) {
            Ok(stops) => stops,
            Err(e) => {
                eprintln!("rtc-interop: cannot watch for Ctrl-C and SIGTERM: {e}");
                return ExitCode::from(EXIT_SETUP);
            }
        };
        tokio::spawn(async move {
            let name = stops.next().await;
            eprintln!(
                "rtc-interop: interrupted ({name}); stopping browsers and drivers (Ctrl-C again \
                 to stop at once)"
            );
            let _ = interrupt.send(true);
            stops.next().await;
            process::kill_all();
            std::process::exit(EXIT_INTERRUPTED.into());
        });
        let mut watched = interrupted.clone();
        let interrupt = async move {
            let _ = watched.wait_for(|yes| *yes).await;
        };
        if finishes_on_interrupt {
            execute(cli.command, interrupt).await
        } else {
            tokio::select! {
                code = execute(cli.command, std::future::pending()) => code,
                () = interrupt => {
                    process::kill_all();
                    ExitCode::from(EXIT_INTERRUPTED)
                }
            }
        }
    });
    // Anything a cancelled case left behind.
    process::kill_all();
    code
}

/// The signals that ask the harness to stop: Ctrl-C (SIGINT), and SIGTERM and SIGHUP unless the
/// command handles SIGTERM itself (`peer --plan`: its contract is to write its observations and
/// go).
struct StopSignals {
    interrupt: Signal,
    terminate: Option<Signal>,
    hang_up: Option<Signal>,
}

impl StopSignals {
    /// Starts listening (from now on these signals no longer end the process by themselves).
    fn watch(command: &Command) -> std::io::Result<StopSignals> {
        let own_sigterm = matches!(command, Command::Peer { .. });
        let listen = |kind: SignalKind| (!own_sigterm).then(|| unix::signal(kind)).transpose();
        Ok(StopSignals {
            interrupt: unix::signal(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hang_up: listen(SignalKind::hangup())?,
        })
    }

    /// The next of them to arrive, by name.
    async fn next(&mut self) -> &'static str {
        async fn arrival(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => _ = signal.recv().await,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C",
            () = arrival(&mut self.terminate) => "SIGTERM",
            () = arrival(&mut self.hang_up) => "SIGHUP",
        }
    }
}

/// Adds the user's own peer kinds: `[peers.<name>]` of ./rtc-interop.toml, then `--peer-command`.
fn register_user_kinds(commands: &[String]) -> Result<(), String> {
    let project = Path::new(catalogue::PROJECT_FILE);
    let mut kinds = if project.is_file() {
        catalogue::read_project_file(project)?
    } else {
        Vec::new()
    };
    for command in commands {
        kinds.push(catalogue::parse_peer_command(command)?);
    }
    kinds.into_iter().try_for_each(catalogue::register)
}

/// Runs `command`; `interrupt` resolves on Ctrl-C (a run then finishes its reports).
async fn execute(command: Command, interrupt: impl Future<Output = ()>) -> ExitCode {
    match command {
        Command::Run {
            cases,
            reports,
            keep_reports,
            no_install,
            jobs,
            snapshots,
            turn,
            repeat,
            retries,
            shard,
            shard_durations,
            webdrivers,
            advertise_address,
            capture,
            browser_logs,
        } => {
            let remote = match RemoteBrowsers::configure(
                Path::new(catalogue::PROJECT_FILE),
                &webdrivers,
                advertise_address,
            ) {
                Ok(remote) => remote,
                Err(e) => {
                    eprintln!("rtc-interop: {e}");
                    return ExitCode::from(EXIT_SETUP);
                }
            };
            if let Some(ip) = remote.advertise
                && !rtc_interop::net::addrs::is_this_machine(ip)
            {
                eprintln!(
                    "rtc-interop: --advertise-address {ip} is not an address of this machine (the \
                     relay, page server and STUN/TURN servers must listen on it)"
                );
                return ExitCode::from(EXIT_SETUP);
            }
            let mode = match snapshots.map_or_else(SnapshotMode::from_env, Ok) {
                Ok(mode) => mode,
                Err(e) => {
                    eprintln!("rtc-interop: {e}");
                    return ExitCode::from(EXIT_SETUP);
                }
            };
            let durations = match shard_durations.as_deref().map(shard::Durations::read) {
                None => None,
                Some(Ok(durations)) => Some(durations),
                Some(Err(e)) => {
                    eprintln!("rtc-interop: --shard-durations: {e}");
                    return ExitCode::from(EXIT_SETUP);
                }
            };
            let settings = RunSettings {
                install: !no_install,
                jobs: jobs.unwrap_or_else(runner::default_jobs),
                snapshots: Some(SdpSnapshots::for_scenarios(&cases.scenarios, mode)),
                retries,
                repeat,
                shard: shard.map(|shard| shard::ShardPlan { shard, durations }),
                remote_drivers: remote.drivers,
                advertise: remote.advertise,
                case_files: None,
                browser_logs,
            };
            run(
                cases,
                reports,
                keep_reports as usize,
                settings,
                turn,
                capture,
                interrupt,
            )
            .await
        }
        Command::List { cases } => list(cases),
        Command::Report { run } => rerender(&run),
        Command::Merge { runs, out, force } => merge(&runs, &out, force),
        Command::Bench {
            what: Some(BenchCommand::Relay { rounds, seconds }),
            ..
        } => {
            let settings = RelayBenchSettings {
                rounds: rounds.max(1),
                seconds: seconds.clamp(1, 600),
            };
            bench_relay(settings).await
        }
        Command::Bench {
            what: Some(BenchCommand::Matrix { from }),
            ..
        } => match rtc_interop::matrix_bench::run(&from) {
            Ok(text) => {
                out_part!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rtc-interop: {e}");
                ExitCode::from(EXIT_SETUP)
            }
        },
        Command::Bench {
            what:
                Some(BenchCommand::Report {
                    from,
                    cases,
                    openings,
                }),
            no_install,
            ..
        } => {
            let settings = ReportBenchSettings {
                from,
                cases: cases.max(1),
                iterations: openings.max(1),
                install: !no_install,
            };
            bench_report(settings).await
        }
        Command::Bench {
            iterations,
            pairings,
            no_install,
            what: None,
        } => {
            let pairings = match pairings.iter().map(|p| plan::parse_pairing(p)).collect() {
                Ok(pairings) => pairings,
                Err(e) => {
                    eprintln!("rtc-interop: {e}");
                    return ExitCode::from(EXIT_SETUP);
                }
            };
            let settings = BenchSettings {
                iterations: iterations.max(1),
                pairings,
                install: !no_install,
            };
            bench(settings).await
        }
        Command::Doctor => doctor().await,
        Command::Clean => clean().await,
        Command::Install { peers } => install(peers).await,
        Command::Plan {
            scenario,
            role,
            scenarios,
        } => print_plan(&scenarios, &scenario, role),
        Command::Schema { which } => {
            let schema = match which.as_str() {
                "plan" => schema::plan_schema(),
                _ => schema::observations_schema(),
            };
            out!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("a schema is JSON")
            );
            ExitCode::SUCCESS
        }
        Command::Peer {
            kind:
                PeerCommand::Native {
                    plan: Some(plan),
                    observations: Some(observations),
                    profile,
                    ..
                },
        } => native_plan(&plan, &observations, profile).await,
        Command::Peer {
            kind:
                PeerCommand::Native {
                    signal,
                    offer,
                    answer: _,
                    profile,
                    label,
                    timeout_secs,
                    ..
                },
        } => {
            let role = if offer { Role::Offerer } else { Role::Answerer };
            let timeout = Duration::from_secs_f64(timeout_secs.clamp(0.1, 3600.0));
            let signal = signal.unwrap_or_default();
            native_peer(&signal, role, profile, &label, timeout).await
        }
        Command::Sdp {
            command:
                SdpCommand::Compare {
                    scenarios,
                    scenario_names,
                    report,
                },
        } => sdp_compare(&scenarios, &scenario_names, report.as_deref()),
        Command::Relay {
            listen,
            token,
            allow_origins,
        } => relay(listen, token, allow_origins).await,
    }
}

/// The selected cases, or the reason on stderr; `turn` replaces every STUN/TURN server kind.
fn load_cases(args: &CaseArgs, turn: Option<TurnServerKind>) -> Result<Vec<Case>, ExitCode> {
    let mut loaded = scenario::load_dir(&args.scenarios).map_err(|e| {
        eprintln!("rtc-interop: {e}");
        ExitCode::from(EXIT_SETUP)
    })?;
    if let Some(kind) = turn {
        for (_, s) in &mut loaded {
            s.ice.use_server_kind(kind);
        }
    }
    let setup_error = |e: String| {
        eprintln!("rtc-interop: {e}");
        ExitCode::from(EXIT_SETUP)
    };
    let mut kinds = plan::parse_kinds(&args.peers).map_err(setup_error)?;
    let pairings: Vec<plan::PairingPattern> = args
        .pairings
        .iter()
        .map(|p| plan::parse_pairing_pattern(p))
        .collect::<Result<_, _>>()
        .map_err(setup_error)?;
    // A pairing names its kinds: `--pairing aiortc:native` needs no `--peers` besides.
    if args.peers.is_empty() {
        for kind in pairings.iter().flat_map(plan::PairingPattern::kinds) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let cases: Vec<Case> = loaded
        .into_iter()
        .flat_map(|(_, s)| plan::expand(&Arc::new(s), &kinds))
        .collect();
    let selection = Selection {
        scenarios: args.scenario_names.clone(),
        peers: Vec::new(),
        pairings,
    };
    let selected = selection.apply(cases).map_err(setup_error)?;
    if selected.is_empty() {
        eprintln!("rtc-interop: the selection leaves no case to run");
        return Err(ExitCode::from(EXIT_SETUP));
    }
    Ok(selected)
}

async fn run(
    args: CaseArgs,
    reports: PathBuf,
    keep_reports: usize,
    mut settings: RunSettings,
    turn: Option<TurnServerKind>,
    capture: bool,
    interrupt: impl Future<Output = ()>,
) -> ExitCode {
    let cases = match load_cases(&args, turn) {
        Ok(cases) => cases,
        Err(code) => return code,
    };
    let (run_id, folder) = match report::create_run_folder(&reports) {
        Ok(created) => created,
        Err(e) => {
            eprintln!(
                "rtc-interop: cannot create a run folder in {}: {e}",
                reports.display()
            );
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(TerminalReport::new()),
        Box::new(JsonReport::new(folder.join("report.json"))),
        Box::new(JunitReport::new(folder.join("junit.xml"))),
        Box::new(HtmlReport::new(folder.join("report.html"))),
    ];
    if capture {
        settings.case_files = Some(folder.clone());
    }
    let run_info = report::RunInfo::new(&run_id, &cases);
    match runner::run(run_info, &cases, &settings, &mut reporters, interrupt).await {
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
        Ok(outcome) => {
            // Only a run whose reports are all written becomes `latest`; an interrupted run's
            // are written, but they are not the whole run.
            match report::prune_runs(&reports, keep_reports) {
                Ok(removed) if !removed.is_empty() => eprintln!(
                    "rtc-interop: removed {} old run(s) from {} (--keep-reports {keep_reports})",
                    removed.len(),
                    reports.display()
                ),
                Ok(_) => {}
                Err(e) => eprintln!("rtc-interop: cannot prune {}: {e}", reports.display()),
            }
            if outcome.unplayed.is_empty()
                && let Err(e) = report::mark_latest(&reports, &run_id)
            {
                eprintln!(
                    "rtc-interop: cannot point {} at this run: {e}",
                    reports.join("latest").display()
                );
            }
            eprintln!("rtc-interop: reports in {}", folder.display());
            if !outcome.unplayed.is_empty() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else if RunSummary::of(&outcome.results).fails_run() {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

async fn bench(settings: BenchSettings) -> ExitCode {
    eprintln!(
        "rtc-interop: benchmarking ({} warm iteration(s) per pairing and profile) …",
        settings.iterations
    );
    match rtc_interop::bench::run(&settings).await {
        Ok(report) => {
            out_part!(
                "{}",
                rtc_interop::bench::render(&report, settings.iterations)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

async fn bench_report(settings: ReportBenchSettings) -> ExitCode {
    eprintln!(
        "rtc-interop: benchmarking report.html: {} cases grown from {} …",
        settings.cases,
        settings.from.display()
    );
    match rtc_interop::report_bench::run(&settings).await {
        Ok(rows) => {
            out_part!("{}", rtc_interop::report_bench::render(&rows, &settings));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

async fn bench_relay(settings: RelayBenchSettings) -> ExitCode {
    eprintln!("rtc-interop: benchmarking the relay against a Node `ws` relay …");
    let measured = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || rtc_interop::relay_bench::run(&settings)).await
    };
    match measured {
        Ok(Ok(figures)) => {
            out_part!("{}", rtc_interop::relay_bench::render(&figures, &settings));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
        Err(e) => {
            eprintln!("rtc-interop: the relay bench stopped: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

fn rerender(run: &Path) -> ExitCode {
    let file = ReportDocument::file_of(run);
    let folder = file.parent().unwrap_or(Path::new("."));
    let written = ReportDocument::read(&file).and_then(|document| {
        document
            .render_into(folder)
            .map_err(|e| format!("cannot write the reports into {}: {e}", folder.display()))
    });
    match written {
        Ok(()) => {
            eprintln!(
                "rtc-interop: report.html and junit.xml rebuilt in {}",
                folder.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

fn merge(runs: &[PathBuf], out: &Path, force: bool) -> ExitCode {
    let merged = runs
        .iter()
        .map(|run| {
            let file = ReportDocument::file_of(run);
            let mut document = ReportDocument::read(&file)?;
            // Its cases' files stay where they are; the merged report links them from `out`.
            document.move_file_links(file.parent().unwrap_or(Path::new(".")), out);
            Ok((run.display().to_string(), document))
        })
        .collect::<Result<Vec<_>, String>>()
        .and_then(|parts| {
            let run_id = out
                .file_name()
                .map_or("merged".into(), |n| n.to_string_lossy().into_owned());
            report::merge(&run_id, parts, force)
        })
        .and_then(|document| {
            document
                .render_into(out)
                .map_err(|e| format!("cannot write the reports into {}: {e}", out.display()))?;
            Ok(document)
        });
    match merged {
        Ok(document) => {
            out_part!("{}", report::table(&document.cases));
            let summary = document.summary();
            eprintln!(
                "rtc-interop: merged {} report(s) into {}: {} case(s), {} passed, {} failed",
                runs.len(),
                out.display(),
                summary.total,
                summary.passed,
                summary.failed
            );
            if summary.fails_run() {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

fn list(args: CaseArgs) -> ExitCode {
    match load_cases(&args, None) {
        Ok(cases) => {
            for case in cases {
                out!("{case}");
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn clean() -> ExitCode {
    let removed = tokio::task::spawn_blocking(rtc_interop::leftovers::sweep)
        .await
        .unwrap_or_default();
    if removed.is_empty() {
        out!("nothing left behind by earlier runs");
    }
    for line in removed.lines() {
        out!("{line}");
    }
    if removed.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

async fn doctor() -> ExitCode {
    let mut all_ready = true;
    out!(
        "native    ready      webrtc-rs {} (built in)",
        rtc_interop::WEBRTC_RS_VERSION
    );
    for kind in PeerKind::CORE.into_iter().filter(|k| k.is_browser()) {
        match tokio::task::spawn_blocking(move || provision::locate(kind)).await {
            Ok(Ok(found)) => out!(
                "{kind:<9} ready      {} {} ({}), driver {} ({})",
                kind,
                found.browser_version,
                found.browser.display(),
                found.driver_version,
                found.driver.display()
            ),
            Ok(Err(e)) => {
                all_ready = false;
                out!(
                    "{kind:<9} not ready  {}",
                    e.to_string().replace('\n', "\n                     ")
                );
            }
            Err(e) => {
                all_ready = false;
                out!("{kind:<9} not ready  the check stopped: {e}");
            }
        }
    }
    // External stacks: optional, so informational like the tools below (`--peers` picks them).
    for external in catalogue::all() {
        let name = external.name.as_str();
        let origin = if external.shipped { "shipped" } else { "yours" };
        let stack = external.clone();
        match tokio::task::spawn_blocking(move || provision::locate_external(&stack)).await {
            Ok(Ok(version)) => out!(
                "{name:<9} ready      {version} ({origin}: {})",
                external.about
            ),
            Ok(Err(e)) => out!(
                "{name:<9} missing    {}",
                e.to_string().replace('\n', "\n                     ")
            ),
            Err(e) => out!("{name:<9} unknown    the check stopped: {e}"),
        }
    }
    for problem in catalogue::problems() {
        out!("{:<9} broken     {problem}", "peers/");
    }
    // What some scenarios and reviews need besides the peers; informational, the exit code is
    // about the built-in peers.
    out!();
    let tools: [(&str, &str, LocateTool); 3] = [
        (
            "cargo-insta",
            "reviewing SDP snapshots",
            provision::locate_cargo_insta,
        ),
        (
            "coturn",
            "`turn = { server = \"coturn\" }`, `--turn coturn`",
            provision::locate_coturn,
        ),
        ("tcpdump", "`run --capture`", provision::locate_tcpdump),
    ];
    for (name, for_what, locate) in tools {
        match tokio::task::spawn_blocking(locate).await {
            Ok(Ok(path)) => out!("{name:<11} ready      {} (for {for_what})", path.display()),
            Ok(Err(e)) => out!("{name:<11} missing    {e} (needed for {for_what})"),
            Err(e) => out!("{name:<11} unknown    the check stopped: {e}"),
        }
    }
    match rtc_interop::net::netns::check_available() {
        Ok(()) => out!(
            "{:<11} ready      root, ip and nft found (for [network] scenarios)",
            "namespaces"
        ),
        Err(e) => out!(
            "{:<11} missing    {e} ([network] scenarios are skipped)",
            "namespaces"
        ),
    }
    if all_ready {
        ExitCode::SUCCESS
    } else {
        out!("\nrtc-interop install   installs what is missing");
        ExitCode::from(EXIT_FAILED)
    }
}

/// Finds a tool without installing it: `provision::locate_coturn`.
type LocateTool = fn() -> Result<PathBuf, provision::ProvisionError>;

/// Finds a tool, installing it first when asked: `provision::cargo_insta`, `provision::coturn`.
type EnsureTool = fn(bool) -> Result<PathBuf, provision::ProvisionError>;

async fn install(peers: Vec<String>) -> ExitCode {
    let everything = peers.is_empty();
    let kinds = if everything {
        catalogue::every_kind()
    } else {
        match plan::parse_kinds(&peers) {
            Ok(kinds) => kinds,
            Err(e) => {
                eprintln!("rtc-interop: {e}");
                return ExitCode::from(EXIT_SETUP);
            }
        }
    };
    for problem in catalogue::problems() {
        eprintln!("rtc-interop: skipping a broken peer manifest: {problem}");
    }
    // What `cargo install` builds (geckodriver, cargo-insta) compiles while the packages below
    // download; joined before the browsers, whose check needs geckodriver.
    let firefox = kinds.contains(&PeerKind::Firefox);
    let from_crates =
        tokio::task::spawn_blocking(move || provision::install_from_crates(firefox, everything));
    for kind in &kinds {
        let PeerKind::External(name) = *kind else {
            continue;
        };
        let Some(external) = catalogue::find(name) else {
            continue;
        };
        let joined =
            tokio::task::spawn_blocking(move || provision::ensure_external(&external, true)).await;
        match install_step(&kind.to_string(), joined) {
            Ok(version) => eprintln!("rtc-interop: {kind} ready: {version}"),
            Err(code) => return code,
        }
    }
    if let Err(code) = install_step("crates.io tools", from_crates.await) {
        return code;
    }
    for kind in kinds.into_iter().filter(|k| k.is_browser()) {
        let joined = tokio::task::spawn_blocking(move || provision::ensure(kind, true)).await;
        match install_step(&kind.to_string(), joined) {
            Ok(found) => eprintln!(
                "rtc-interop: {kind} ready: {} {}, driver {}",
                found.browser.display(),
                found.browser_version,
                found.driver_version
            ),
            Err(code) => return code,
        }
    }
    // The tools beside the browsers: cargo-insta for reviewing SDP snapshots, coturn for
    // scenarios (and tests) that run the external TURN server, nftables for the NATs of
    // `[network]` scenarios.
    let tools: [(&str, EnsureTool); 4] = [
        ("cargo-insta", provision::cargo_insta),
        ("coturn", provision::coturn),
        ("nftables", provision::nftables),
        ("tcpdump", provision::tcpdump),
    ];
    for (name, ensure) in tools.into_iter().filter(|_| everything) {
        match install_step(
            name,
            tokio::task::spawn_blocking(move || ensure(true)).await,
        ) {
            Ok(path) => eprintln!("rtc-interop: {name} ready: {}", path.display()),
            Err(code) => return code,
        }
    }
    ExitCode::SUCCESS
}

/// One `install` step, run on a blocking thread: what it found, or the exit code once it has
/// said (naming `what`) why it stopped.
fn install_step<T>(
    what: &str,
    joined: Result<Result<T, provision::ProvisionError>, tokio::task::JoinError>,
) -> Result<T, ExitCode> {
    match joined {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => {
            eprintln!("rtc-interop: {what}: {e}");
            Err(ExitCode::from(EXIT_SETUP))
        }
        Err(e) => {
            eprintln!("rtc-interop: {what}: installing stopped: {e}");
            Err(ExitCode::from(EXIT_SETUP))
        }
    }
}

/// `plan`: the plan a scenario gives one side, as an external program receives it.
fn print_plan(scenarios: &Path, name: &str, role: Role) -> ExitCode {
    let loaded = match scenario::load_dir(scenarios) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let Some((_, found)) = loaded.into_iter().find(|(_, s)| s.name == name) else {
        eprintln!(
            "rtc-interop: no scenario `{name}` in {}",
            scenarios.display()
        );
        return ExitCode::from(EXIT_SETUP);
    };
    let case = Case {
        scenario: Arc::new(found),
        offerer: PeerKind::Native,
        answerer: PeerKind::Native,
        repetition: None,
    };
    let plan = runner::peer_plan(&case, role, "ws://127.0.0.1:PORT/ROOM".into(), &[]);
    out!(
        "{}",
        serde_json::to_string_pretty(&plan).expect("a plan is JSON")
    );
    ExitCode::SUCCESS
}

/// `peer native --plan`: the native peer as a program of the external-peer contract.
async fn native_plan(plan: &Path, observations: &Path, profile: NativeProfile) -> ExitCode {
    let read = std::fs::read(plan)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    let plan: rtc_interop::peer::PeerPlan = match read {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("rtc-interop: {}: {e}", plan.display());
            return ExitCode::from(EXIT_SETUP);
        }
    };
    eprintln!(
        "rtc-interop: native {} joining {} …",
        plan.role.as_str(),
        plan.signal_url
    );
    match standalone::play_plan(&plan, profile, observations).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

async fn native_peer(
    signal: &str,
    role: Role,
    profile: NativeProfile,
    label: &str,
    timeout: Duration,
) -> ExitCode {
    eprintln!("rtc-interop: native {} joining {signal} …", role.as_str());
    match standalone::play(signal, role, profile, label, timeout).await {
        Ok(outcome) => {
            let json = serde_json::to_string_pretty(&outcome).expect("outcomes serialize");
            out!("{json}");
            if outcome.completed {
                return ExitCode::SUCCESS;
            }
            let obs = &outcome.observations;
            let why = match obs.failed_step() {
                Some(step) => format!(
                    "step {} ({}): {}",
                    step.index + 1,
                    step.kind,
                    step.error.as_deref().unwrap_or_default()
                ),
                None => format!(
                    "not done within {}s (last connection state: {})",
                    timeout.as_secs_f64(),
                    obs.final_connection_state().unwrap_or("(none)")
                ),
            };
            eprintln!("rtc-interop: {why}");
            ExitCode::from(EXIT_FAILED)
        }
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// `sdp compare`: the accepted snapshots' (or a run's) descriptions side by side, per scenario.
fn sdp_compare(scenarios: &Path, names: &[String], report: Option<&Path>) -> ExitCode {
    let (source, described) = match report {
        Some(path) => (path.to_path_buf(), compare::from_report(path)),
        None => {
            let dir = scenarios.join(check::SNAPSHOT_FOLDER);
            let described = compare::from_snapshots(&dir);
            (dir, described)
        }
    };
    let described: Vec<compare::Described> = match described {
        Ok(list) => list
            .into_iter()
            .filter(|d| {
                names.is_empty() || names.iter().any(|n| plan::wildcard_match(n, &d.scenario))
            })
            .collect(),
        Err(e) => {
            eprintln!("rtc-interop: {}: {e}", source.display());
            return ExitCode::from(EXIT_SETUP);
        }
    };
    if described.is_empty() {
        eprintln!(
            "rtc-interop: {}: no descriptions{} to compare",
            source.display(),
            if names.is_empty() {
                ""
            } else {
                " of the selected scenarios"
            }
        );
        return ExitCode::from(EXIT_SETUP);
    }
    let comparisons = compare::compare(&described);
    let text: Vec<String> = comparisons.iter().map(|c| c.render()).collect();
    out_part!("{}", text.join("\n"));
    if comparisons.iter().any(|c| !c.errors.is_empty()) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

async fn relay(
    listen: SocketAddr,
    token: Option<String>,
    allowed_origins: Vec<String>,
) -> ExitCode {
    let config = RelayConfig {
        log_to_stderr: true,
        token,
        allowed_origins,
        ..RelayConfig::default()
    };
    match Relay::start(listen, config).await {
        Ok(relay) => {
            eprintln!(
                "rtc-interop relay listening on ws://{}/<room> (Ctrl-C stops it)",
                relay.local_addr()
            );
            std::future::pending::<()>().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtc-interop: cannot listen on {listen}: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}
