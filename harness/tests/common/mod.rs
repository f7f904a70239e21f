//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_interop::ice_servers::ServerNeed;
use rtc_interop::outcome::{CaseResult, Status};
use rtc_interop::plan::{self, Case};
use rtc_interop::runner::{Environment, RunSettings};
use rtc_interop::scenario::PeerKind::{Chromium, Firefox, Native};
use rtc_interop::scenario::{self, PeerKind, Scenario};
use tokio::sync::{Mutex, MutexGuard};

/// Browser tests in one test binary take turns: two machines' worth of browsers on two cores
/// would make their timings meaningless and their time limits flaky.
pub async fn browser_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A shipped scenario, by name.
pub fn shipped(name: &str) -> Scenario {
    let path = repo_root().join("scenarios").join(format!("{name}.toml"));
    scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A scenario from TOML text.
pub fn scenario(name: &str, toml: &str) -> Scenario {
    scenario::parse(toml, name, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// The cases of `scenario` whose pairing is one of `pairings` (`offerer:answerer`).
pub fn cases(scenario: Scenario, pairings: &[(PeerKind, PeerKind)]) -> Vec<Case> {
    plan::expand(&Arc::new(scenario), &PeerKind::CORE)
        .into_iter()
        .filter(|c| pairings.contains(&(c.offerer, c.answerer)))
        .collect()
}

/// Every ordered pairing of the three peer kinds.
pub const ALL_PAIRINGS: [(PeerKind, PeerKind); 9] = [
    (Native, Native),
    (Native, Chromium),
    (Native, Firefox),
    (Chromium, Native),
    (Chromium, Chromium),
    (Chromium, Firefox),
    (Firefox, Native),
    (Firefox, Chromium),
    (Firefox, Firefox),
];

/// Plays a shipped scenario on every pairing (taking the browser turn); every case must pass, or
/// fail as a known failure.
pub async fn play_on_every_pairing(name: &str) -> Vec<CaseResult> {
    let _turn = browser_turn().await;
    let results = run(&cases(shipped(name), &ALL_PAIRINGS)).await;
    assert_eq!(results.len(), 9);
    for r in &results {
        assert!(
            matches!(r.status, Status::Passed | Status::ExpectedFailure),
            "{name} {}: {:?} {:?}",
            r.pairing,
            r.status,
            r.failure
        );
    }
    results
}

/// Prepares what `cases` need (installing a missing browser, as `run` does) and runs them as a
/// run does: as many at a time as there are cores, `[network]` cases after the others (never
/// beside them). The results are in the order of `cases`.
pub async fn run(cases: &[Case]) -> Vec<CaseResult> {
    run_with_servers(cases).await.0
}

/// What a run's STUN/TURN servers did, read before they stopped.
#[derive(Debug, Default)]
pub struct ServersSeen {
    /// Each server and where it listened.
    pub running: Vec<(ServerNeed, SocketAddr)>,
    /// Every relayed address each server allocated.
    pub relayed: Vec<(ServerNeed, Vec<SocketAddr>)>,
}

/// As [`run`], and what the STUN/TURN servers the cases needed did.
pub async fn run_with_servers(cases: &[Case]) -> (Vec<CaseResult>, ServersSeen) {
    let settings = RunSettings {
        install: true,
        ..RunSettings::default()
    };
    let environment = Environment::for_cases(cases, &settings)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare the environment: {e}"));
    type Numbered = Vec<(usize, Case)>;
    let (in_networks, on_host): (Numbered, Numbered) = cases
        .iter()
        .cloned()
        .enumerate()
        .partition(|(_, c)| c.scenario.network.is_some());
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    for (phase, group) in [on_host, in_networks].into_iter().enumerate() {
        let (positions, group): (Vec<usize>, Vec<Case>) = group.into_iter().unzip();
        let played = environment
            .run_cases(&format!("test{phase}"), &group, settings.jobs, &mut [])
            .await;
        for (at, result) in positions.into_iter().zip(played) {
            results[at] = Some(result);
        }
    }
    let results: Vec<CaseResult> = results.into_iter().map(|r| r.expect("played")).collect();
    let servers = environment.ice_servers();
    let running = servers.running();
    let seen = ServersSeen {
        relayed: running
            .iter()
            .map(|(need, _)| (*need, servers.relayed_addresses(*need)))
            .collect(),
        running,
    };
    environment.shutdown().await;
    (results, seen)
}

/// The harness binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_rtc-interop");

/// How long a command that plays no case may take (`--help`, `report`, `ip`, `git init`).
pub const QUICK_LIMIT: Duration = Duration::from_secs(60);

/// How long a command that plays cases or builds may take (a run of the CLI, `cargo insta`, a
/// stack's own test script): far above any of them, so only a hang reaches it.
pub const RUN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Runs `rtc-interop <args>` in `dir` to its end; returns its pid (to look for leftovers) and
/// its output.
pub fn run_to_end(dir: &Path, args: &[&str]) -> (u32, std::process::Output) {
    let run = std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = run.id();
    (
        pid,
        rtc_interop::bounded::wait_with_output_within(run, RUN_LIMIT).unwrap(),
    )
}

/// `rtc-interop <args>` in `dir`, to add to and start.
pub fn command(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command.args(args).current_dir(dir);
    command
}

/// Starts `run` (an `rtc-interop` [`command`]), its output discarded, and waits (at most `limit`)
/// until processes whose command lines contain each of `names` run under it.
pub fn start_run_and_wait_for(
    mut run: std::process::Command,
    names: &[&str],
    limit: Duration,
) -> std::process::Child {
    let mut run = run
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let all_running = || {
        let running = rtc_interop::leftovers::running_under(run.id());
        names.iter().all(|n| running.iter().any(|p| p.contains(n)))
    };
    let mut started = all_running();
    while !started && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        started = all_running();
    }
    if started {
        run
    } else {
        let running = rtc_interop::leftovers::running_under(run.id());
        let _ = run.kill();
        let _ = run.wait();
        panic!("{names:?} did not all start within {limit:?}; running: {running:?}");
    }
}

/// Writes `<dir>/scenarios/<name>.toml`.
pub fn write_scenario(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("scenarios").join(format!("{name}.toml")), text).unwrap();
}

/// Processes started (directly or not) by harness process `pid` that are still running, once
/// killed ones have had a moment to be reaped.
pub fn wait_for_no_leftovers(pid: u32) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = rtc_interop::leftovers::running_under(pid);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The run folders (temporary files of it and its browsers) of harness process `pid`.
pub fn run_folders_of(temp: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("rtc-interop-run-{pid}-");
    std::fs::read_dir(temp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Sends Ctrl-C (SIGINT) to a run; it must stop within 10 s with exit code 130, leaving no
/// process and no temporary folder behind.
pub fn interrupt_and_expect_a_clean_stop(run: &mut std::process::Child) {
    stop_and_expect_a_clean_stop(run, libc::SIGINT);
}

/// Sends `signal` to a run; it must stop within 10 s with exit code 130 (interrupted), leaving
/// no process and no temporary folder behind.
pub fn stop_and_expect_a_clean_stop(run: &mut std::process::Child, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(run.id() as i32, signal) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run ignored signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(wait_for_no_leftovers(run.id()), Vec::<String>::new());
    assert_eq!(
        run_folders_of(&std::env::temp_dir(), run.id()),
        Vec::<PathBuf>::new()
    );
}

/// Starts `rtc-interop relay` on a free port; returns it and its address.
pub fn standalone_relay() -> (std::process::Child, String) {
    let mut relay = std::process::Command::new(BIN)
        .args(["relay", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(relay.stderr.take().unwrap());
    let mut first_line = String::new();
    std::io::BufRead::read_line(&mut log, &mut first_line).unwrap();
    // Keep draining the log so the relay never writes into a closed pipe.
    std::thread::spawn(move || std::io::BufRead::lines(log).count());
    let addr = first_line
        .split("ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_string();
    (relay, addr)
}

/// What `script` prints, run by the machine's Python with the Python adapters' shared modules
/// (`peers/python-common`) importable and `input` (JSON) as `sys.argv[1]`.
pub fn python(script: &str, input: &serde_json::Value) -> String {
    use rtc_interop::bounded::BoundedCommand;
    let shared = repo_root().join("peers/python-common");
    let output = std::process::Command::new("python3")
        .args(["-c", script, &input.to_string()])
        .env("PYTHONPATH", &shared)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output_within(QUICK_LIMIT)
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
