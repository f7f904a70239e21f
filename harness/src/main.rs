//! The `rtc-interop` command line: a thin layer over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rtc_interop::outcome::Status;
use rtc_interop::plan::{self, Case};
use rtc_interop::relay::{Relay, RelayConfig};
use rtc_interop::report::{self, JsonReport, JunitReport, Reporter, TerminalReport};
use rtc_interop::runner::{self, RunSettings};
use rtc_interop::{process, scenario};

/// Headless WebRTC interop testing: every pairing of browsers and webrtc-rs, judged on evidence.
#[derive(Parser)]
#[command(name = "rtc-interop", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario in every pairing and write reports.
    Run {
        /// Folder with the scenario files.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Folder the reports go to (a subfolder per run, `latest` points at the newest).
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Stop instead of installing a missing browser or driver.
        #[arg(long)]
        no_install: bool,
    },
    /// Run the signaling relay on its own.
    Relay {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
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
            scenarios,
            reports,
            no_install,
        } => run(scenarios, reports, !no_install).await,
        Command::Relay { listen } => relay(listen).await,
    }
}

async fn run(scenarios: PathBuf, reports: PathBuf, install: bool) -> ExitCode {
    let loaded = match scenario::load_dir(&scenarios) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let cases: Vec<Case> = loaded
        .into_iter()
        .flat_map(|(_, s)| plan::expand(&Arc::new(s)))
        .collect();
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
    ];
    let settings = RunSettings { install };
    match runner::run(&run_id, &cases, &settings, &mut reporters).await {
        Err(e) => {
            eprintln!("rtc-interop: {e}");
            ExitCode::from(EXIT_SETUP)
        }
        Ok(results) => {
            eprintln!("rtc-interop: reports in {}", folder.display());
            if results.iter().any(|r| r.status == Status::Failed) {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
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
