//! The `rtc-interop` command line: a thin layer over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use rtc_interop::net::TurnServerKind;
use rtc_interop::plan::{self, Case, Selection};
use rtc_interop::relay::{Relay, RelayConfig};
use rtc_interop::report::{self, HtmlReport, JsonReport, JunitReport, Reporter, TerminalReport};
use rtc_interop::runner::{self, RunSettings};
use rtc_interop::scenario::PeerKind;
use rtc_interop::{ice_servers, process, provision, scenario};

/// Headless WebRTC interop testing: every pairing of browsers and webrtc-rs, judged on evidence.
#[derive(Parser)]
#[command(name = "rtc-interop", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Stop instead of installing a missing browser or driver.
        #[arg(long)]
        no_install: bool,
        /// How many cases run at the same time (default: the number of cores).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Run every STUN/TURN server the scenarios name as this kind: `embedded` or `coturn`.
        #[arg(long, value_name = "KIND", value_parser = ice_servers::parse_server_kind)]
        turn: Option<TurnServerKind>,
    },
    /// Print the cases a run would execute, one per line.
    List {
        #[command(flatten)]
        cases: CaseArgs,
    },
    /// Show every peer kind with its browser and driver versions, and whether it is ready.
    Doctor,
    /// Install the browsers and drivers that are missing (Debian packages, geckodriver).
    Install {
        /// Only these kinds (comma-separated); default: every browser kind.
        #[arg(long, value_delimiter = ',', value_parser = plan::parse_kind)]
        peers: Vec<PeerKind>,
    },
    /// Run the signaling relay on its own.
    Relay {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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
    /// Only pairings of these peer kinds (comma-separated: `chromium,native`).
    #[arg(long, value_delimiter = ',', value_parser = plan::parse_kind)]
    peers: Vec<PeerKind>,
    /// Only this pairing, `offerer:answerer` (repeatable: `--pairing firefox:native`).
    #[arg(long = "pairing", value_parser = plan::parse_pairing)]
    pairings: Vec<(PeerKind, PeerKind)>,
}

/// Exit codes: all passed, a case failed, the run could not start.
const EXIT_FAILED: u8 = 1;
const EXIT_SETUP: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtc-interop: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            code = execute(cli.command) => code,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("rtc-interop: interrupted; stopping browsers and drivers");
                process::kill_all();
                ExitCode::from(130)
            }
        }
    });
    // Anything a cancelled case left behind.
    process::kill_all();
    code
}

async fn execute(command: Command) -> ExitCode {
    match command {
        Command::Run {
            cases,
            reports,
            no_install,
            jobs,
            turn,
        } => {
            let settings = RunSettings {
                install: !no_install,
                jobs: jobs.unwrap_or_else(runner::default_jobs),
            };
            run(cases, reports, settings, turn).await
        }
        Command::List { cases } => list(cases),
        Command::Doctor => doctor().await,
        Command::Install { peers } => install(peers).await,
        Command::Relay { listen } => relay(listen).await,
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
    let cases: Vec<Case> = loaded
        .into_iter()
        .flat_map(|(_, s)| plan::expand(&Arc::new(s)))
        .collect();
    let selection = Selection {
        scenarios: args.scenario_names.clone(),
        peers: args.peers.clone(),
        pairings: args.pairings.clone(),
    };
    let selected = selection.apply(cases).map_err(|e| {
        eprintln!("rtc-interop: {e}");
        ExitCode::from(EXIT_SETUP)
    })?;
    if selected.is_empty() {
        eprintln!("rtc-interop: the selection leaves no case to run");
        return Err(ExitCode::from(EXIT_SETUP));
    }
    Ok(selected)
}

async fn run(
    args: CaseArgs,
    reports: PathBuf,
    settings: RunSettings,
    turn: Option<TurnServerKind>,
) -> ExitCode {
    let cases = match load_cases(&args, turn) {
        Ok(cases) => cases,
        Err(code) => return code,
    };
    let run_id = report::new_run_id(&reports);
    let folder = match report::create_run_folder(&reports, &run_id) {
        Ok(folder) => folder,
        Err(e) => {
            eprintln!(
                "rtc-interop: cannot create {}: {e}",
                reports.join(&run_id).display()
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
    match runner::run(&run_id, &cases, &settings, &mut reporters).await {
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
        Ok(results) => {
            eprintln!("rtc-interop: reports in {}", folder.display());
            if results.iter().any(|r| r.status.fails_run()) {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

fn list(args: CaseArgs) -> ExitCode {
    match load_cases(&args, None) {
        Ok(cases) => {
            for case in cases {
                println!("{case}");
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn doctor() -> ExitCode {
    let mut all_ready = true;
    println!(
        "native    ready      webrtc-rs {} (built in)",
        rtc_interop::WEBRTC_RS_VERSION
    );
    for kind in PeerKind::ALL.into_iter().filter(|k| k.is_browser()) {
        match tokio::task::spawn_blocking(move || provision::locate(kind)).await {
            Ok(Ok(found)) => println!(
                "{kind:<9} ready      {} {} ({}), driver {} ({})",
                kind,
                found.browser_version,
                found.browser.display(),
                found.driver_version,
                found.driver.display()
            ),
            Ok(Err(e)) => {
                all_ready = false;
                println!(
                    "{kind:<9} not ready  {}",
                    e.to_string().replace('\n', "\n                     ")
                );
            }
            Err(e) => {
                all_ready = false;
                println!("{kind:<9} not ready  the check stopped: {e}");
            }
        }
    }
    if all_ready {
        ExitCode::SUCCESS
    } else {
        println!("\nrtc-interop install   installs what is missing");
        ExitCode::from(EXIT_FAILED)
    }
}

async fn install(peers: Vec<PeerKind>) -> ExitCode {
    let kinds: Vec<PeerKind> = if peers.is_empty() {
        PeerKind::ALL.to_vec()
    } else {
        peers
    };
    for kind in kinds.into_iter().filter(|k| k.is_browser()) {
        let result = tokio::task::spawn_blocking(move || provision::ensure(kind, true)).await;
        match result {
            Ok(Ok(found)) => eprintln!(
                "rtc-interop: {kind} ready: {} {}, driver {}",
                found.browser.display(),
                found.browser_version,
                found.driver_version
            ),
            Ok(Err(e)) => {
                eprintln!("rtc-interop: {kind}: {e}");
                return ExitCode::from(EXIT_SETUP);
            }
            Err(e) => {
                eprintln!("rtc-interop: {kind}: installing stopped: {e}");
                return ExitCode::from(EXIT_SETUP);
            }
        }
    }
    ExitCode::SUCCESS
}

async fn relay(listen: SocketAddr) -> ExitCode {
    let config = RelayConfig {
        log_to_stderr: true,
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
