//! The `rtc-interop` command as users run it: exit codes, error messages, reports on disk, the
//! standalone relay, and no browser or driver left behind.

use crate::common;

use common::{
    BIN, interrupt_and_expect_a_clean_stop, run_to_end, standalone_relay, start_run_and_wait_for,
    stop_and_expect_a_clean_stop, wait_for_no_leftovers, write_scenario,
};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rtc_interop::bounded::{BoundedCommand, wait_with_output_within};
use rtc_interop::scenario::PeerKind;

fn rtc_interop(args: &[&str], dir: &Path) -> Output {
    common::command(dir, args)
        .output_within(common::RUN_LIMIT)
        .expect("the binary runs within its limit")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const NATIVE_ECHO: &str = r#"
peers = ["native"]
native_profile = "fast"
[data_channel]
label = "echo"
[expect]
ice_states = ["new", "checking", "connected"]
connection_state = "connected"
echo = true
"#;

#[test]
fn a_bad_scenario_file_stops_the_run_with_exit_code_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        "typo",
        "[expect]\necho = false\nice_sttes = [\"new\"]\n",
    );
    let output = rtc_interop(&["run"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("typo.toml:3:1: unknown field `ice_sttes`"),
        "{err}"
    );
    assert!(
        !dir.path().join("reports").exists(),
        "no run folder for a run that never started"
    );
}

#[test]
fn a_missing_driver_stops_the_run_with_the_command_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        "browser",
        "peers = [\"chromium\"]\n[data_channel]\nlabel = \"x\"\n",
    );
    let empty_path = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["run", "--no-install"])
        .current_dir(dir.path())
        .env("PATH", empty_path.path())
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("chromium and chromium-driver is not installed"),
        "{err}"
    );
    assert!(
        err.contains("apt-get install -y chromium chromium-driver"),
        "{err}"
    );
}

#[test]
fn passing_and_failing_cases_set_the_exit_code_and_write_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "echo", NATIVE_ECHO);
    let output = rtc_interop(&["run", "--snapshots", "off"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("echo "))
        .unwrap_or_else(|| panic!("no row for `echo`: {table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], ["echo", "native→native", "passed"], "{table}");

    write_scenario(
        dir.path(),
        "needs-relay",
        "peers = [\"native\"]\nnative_profile = \"fast\"\n[data_channel]\nlabel = \"x\"\n[expect.local_candidates]\nrequire = [\"relay\"]\n",
    );
    let output = rtc_interop(&["run", "--snapshots", "off"], dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let latest = dir.path().join("reports/latest");
    assert!(latest.symlink_metadata().unwrap().file_type().is_symlink());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("report.json")).unwrap())
            .unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let failed = cases
        .iter()
        .find(|c| c["scenario"] == "needs-relay")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["failure"]
            .as_str()
            .unwrap()
            .contains("no local relay candidate")
    );
    let passed = cases.iter().find(|c| c["scenario"] == "echo").unwrap();
    assert_eq!(passed["status"], "passed");
    assert_eq!(passed["failure"], serde_json::Value::Null);
    assert_eq!(passed["offerer"], "native");
    assert_eq!(passed["native_profile"], "fast");
    for field in [
        "time_to_connected_ms",
        "ice_states",
        "candidates",
        "selected_pair",
        "signaling",
    ] {
        assert!(!passed[field].is_null(), "{field} missing");
    }
    let candidate = &passed["candidates"]["offerer"]["local"][0];
    for field in ["type", "protocol", "address", "port"] {
        assert!(
            !candidate[field].is_null(),
            "candidate {field} missing: {candidate}"
        );
    }
    assert_eq!(passed["selected_pair"]["offerer"]["local"]["type"], "host");

    let junit = std::fs::read_to_string(latest.join("junit.xml")).unwrap();
    let document = roxmltree::Document::parse(&junit).unwrap_or_else(|e| panic!("{e}: {junit}"));
    let suite = document
        .descendants()
        .find(|n| n.attribute("name") == Some("needs-relay"))
        .unwrap_or_else(|| panic!("{junit}"));
    assert_eq!(
        [suite.attribute("tests"), suite.attribute("failures")],
        [Some("1"), Some("1")]
    );
    let failure = suite
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("{junit}"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .starts_with("offerer (native): no local relay candidate"),
        "{junit}"
    );
}

#[test]
fn the_relay_runs_on_its_own_and_a_port_in_use_is_exit_code_2() {
    let mut relay = Command::new(BIN)
        .args(["relay", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(relay.stderr.take().unwrap());
    let mut first_line = String::new();
    log.read_line(&mut first_line).unwrap();
    // Keep reading the relay's log so it never writes into a closed pipe.
    let log_lines =
        std::thread::spawn(move || log.lines().map_while(Result::ok).collect::<Vec<_>>());
    let addr = first_line
        .split("ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_string();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        let url = format!("ws://{addr}/room/demo");
        let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let (mut b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.send(tokio_tungstenite::tungstenite::Message::text(
            r#"{"type":"hello","m":"a"}"#,
        ))
        .await
        .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), b.next())
            .await
            .unwrap();
        assert!(got.unwrap().unwrap().to_text().unwrap().contains("hello"));
    });

    let busy = rtc_interop(&["relay", "--listen", &addr], Path::new("."));
    assert_eq!(busy.status.code(), Some(2));
    assert!(
        stderr(&busy).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&busy)
    );
    relay.kill().unwrap();
    relay.wait().unwrap();
    let log_lines = log_lines.join().unwrap();
    assert!(
        log_lines
            .iter()
            .any(|l| l.contains("joined room 'room/demo'")),
        "the relay logs who joins which room: {log_lines:?}"
    );
}

#[test]
fn no_browser_or_driver_outlives_a_run() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _turn = runtime.block_on(common::browser_turn());
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        "browsers",
        "peers = [\"chromium\", \"firefox\"]\n[data_channel]\nlabel = \"x\"\n[expect]\necho = true\n",
    );
    let (pid, output) = run_to_end(dir.path(), &["run", "--snapshots", "off"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("4 passed, 0 failed"), "{table}");
    assert_eq!(wait_for_no_leftovers(pid), Vec::<String>::new());
}

#[test]
fn ctrl_c_stops_the_run_kills_every_browser_and_driver_and_writes_what_finished() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _turn = runtime.block_on(common::browser_turn());
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "a-quick", NATIVE_ECHO);
    // Never connects, so the run is still busy with its browsers when it is interrupted.
    write_scenario(
        dir.path(),
        "stuck",
        "peers = [\"chromium\", \"firefox\"]\ntime_limit_secs = 120\n[ice]\ntransport_policy = \"relay\"\n[data_channel]\nlabel = \"x\"\n",
    );
    let log = dir.path().join("stderr.txt");
    let mut run = Command::new(BIN)
        .args(["run", "--snapshots", "off", "--jobs", "1"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The native case finishes first; the run then waits on its browsers.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("[1/5] PASSED a-quick")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // …the next browser case is under way now.
    std::thread::sleep(Duration::from_secs(1));
    interrupt_and_expect_a_clean_stop(&mut run);

    // The finished cases are reported, the others listed as not played.
    let folder = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("report.json").exists())
        .expect("a run folder with report.json");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    let finished: Vec<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["scenario"], c["pairing"], c["status"]))
        .collect();
    assert_eq!(
        finished[0], r#""a-quick" "native→native" "passed""#,
        "{report}"
    );
    let unplayed = report["unplayed"].as_array().unwrap();
    assert!(!unplayed.is_empty(), "{report}");
    assert_eq!(finished.len() + unplayed.len(), 5, "{report}");
    assert!(
        unplayed.iter().all(|c| c["scenario"] == "stuck"),
        "{report}"
    );
    assert_eq!(report["total"], finished.len(), "{report}");
    // JUnit lists every case, the unplayed ones as skipped with why.
    let xml = std::fs::read_to_string(folder.join("junit.xml")).unwrap();
    let junit = roxmltree::Document::parse(&xml).unwrap();
    let skipped: Vec<_> = junit
        .descendants()
        .filter(|n| n.attribute("message") == Some("not played: the run was interrupted"))
        .collect();
    assert_eq!(skipped.len(), unplayed.len(), "{xml}");
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Interrupted</h2>"),
        "no notice in the HTML"
    );
    // An incomplete run never becomes `latest`.
    assert!(!dir.path().join("reports/latest").exists());
}

#[test]
fn repeat_reports_pass_rates_and_retries_keep_every_failed_attempt() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "echo", NATIVE_ECHO);
    // Relay-only without a TURN server: webrtc-rs refuses at once, every time.
    write_scenario(
        dir.path(),
        "never",
        "peers = [\"native\"]\n[ice]\ntransport_policy = \"relay\"\n[data_channel]\nlabel = \"x\"\n",
    );
    let output = rtc_interop(
        &[
            "run",
            "--snapshots",
            "off",
            "--repeat",
            "2",
            "--retries",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("echo   native→native  2/2 as expected"),
        "{table}"
    );
    assert!(
        table.contains("never  native→native  0/2 as expected (2 failed)"),
        "{table}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/latest/report.json")).unwrap(),
    )
    .unwrap();
    let cases: Vec<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} #{} {} {}",
                c["scenario"].as_str().unwrap(),
                c["repetition"],
                c["status"].as_str().unwrap(),
                c["attempts"].as_array().unwrap().len()
            )
        })
        .collect();
    // Repetitions go round the cases; only the failing case was retried (once each time).
    assert_eq!(
        cases,
        [
            "echo #1 passed 0",
            "never #1 failed 1",
            "echo #2 passed 0",
            "never #2 failed 1"
        ]
    );
    assert_eq!(report["pass_rates"][1]["failed"], 2, "{report}");
    let xml = std::fs::read_to_string(dir.path().join("reports/latest/junit.xml")).unwrap();
    let junit = roxmltree::Document::parse(&xml).unwrap();
    let reruns = junit
        .descendants()
        .filter(|n| n.has_tag_name("rerunFailure"))
        .count();
    assert_eq!(reruns, 2, "{xml}");
}

/// Whether a Chromium started by harness process `owner` has a renderer (a page). Renderers come
/// from Chromium's zygote with a clean environment, so they are found by their parents.
fn has_a_renderer(owner: u32) -> bool {
    let browsers: Vec<u32> = rtc_interop::leftovers::running_under(owner)
        .iter()
        .filter(|p| p.contains("chromium") && !p.contains("--type="))
        .filter_map(|p| p.split(':').next()?.parse().ok())
        .collect();
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--type=renderer"))
        })
        .any(|pid| {
            std::iter::successors(parent(pid), |p| parent(*p))
                .take(3)
                .any(|p| browsers.contains(&p))
        })
}

/// Relay-only ICE without a TURN server: Chromium waits for the whole time limit.
const STUCK_IN_CHROMIUM: &str = "peers = [\"chromium\"]\ntime_limit_secs = 120\n[ice]\ntransport_policy = \"relay\"\n[data_channel]\nlabel = \"x\"\n";

#[test]
fn a_killed_run_leaves_browsers_that_the_next_run_and_clean_remove() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _turn = runtime.block_on(common::browser_turn());
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "stuck", STUCK_IN_CHROMIUM);
    // This test's runs keep their run folders in a temporary folder of their own: a run sweeps
    // the dead runs of its own `$TMPDIR` only, so the other tests' runs, in parallel, leave what
    // the killed one left for this test's run and `clean` to find.
    let temp = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut command = common::command(dir.path(), args);
        command.env("TMPDIR", temp.path());
        command
    };
    let kill_a_run = || {
        let mut run = start_run_and_wait_for(
            command(&["run", "--snapshots", "off"]),
            &["chromium", "chromedriver"],
            Duration::from_secs(60),
        );
        let pid = run.id();
        // Well into the case: the browser has a renderer for the peer page (killed while it
        // starts, it may go down with its driver; on a loaded machine that takes a while).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !has_a_renderer(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "no Chromium renderer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: a plain signal to our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        run.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        // The kernel ends the driver with its parent, not what the driver started: Chromium's
        // crash handlers always stay, and the browser too unless its driver got to close it.
        let left = rtc_interop::leftovers::running_under(pid);
        assert!(
            left.iter().any(|p| p.contains("/usr/lib/chromium/")),
            "{left:?}"
        );
        assert_eq!(common::run_folders_of(temp.path(), pid).len(), 1);
        pid
    };

    // A new run removes what the killed one left, and says so.
    let killed = kill_a_run();
    std::fs::remove_file(dir.path().join("scenarios/stuck.toml")).unwrap();
    write_scenario(dir.path(), "quick", NATIVE_ECHO);
    let output = command(&["run", "--snapshots", "off"])
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("left by an earlier run that died: killed"),
        "{said}"
    );
    assert!(
        said.contains(&format!("rtc-interop-run-{killed}-")),
        "{said}"
    );
    assert_eq!(wait_for_no_leftovers(killed), Vec::<String>::new());
    assert!(common::run_folders_of(temp.path(), killed).is_empty());

    // So does `rtc-interop clean`.
    std::fs::remove_file(dir.path().join("scenarios/quick.toml")).unwrap();
    write_scenario(dir.path(), "stuck", STUCK_IN_CHROMIUM);
    let killed = kill_a_run();
    let output = command(&["clean"])
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("killed ") && said.contains("chrom"), "{said}");
    assert!(
        said.contains(&format!("rtc-interop-run-{killed}-")),
        "{said}"
    );
    assert_eq!(wait_for_no_leftovers(killed), Vec::<String>::new());
    assert!(common::run_folders_of(temp.path(), killed).is_empty());
}

/// The bench's floors in real browsers: each browser's data echo inside one page, and the same
/// echo signaling through the run's relay (refused unless the offer and the answer came back
/// from the relay), with a browser against itself as a ratio of each.
#[test]
fn bench_measures_each_browsers_in_page_echo_with_and_without_the_relay_and_between_two_windows() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _turn = runtime.block_on(common::browser_turn());
    let output = rtc_interop(
        &[
            "bench",
            "--iterations",
            "2",
            "--pairing",
            "chromium:chromium",
            "--pairing",
            "firefox:firefox",
        ],
        Path::new("."),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for browser in ["chromium", "firefox"] {
        for floor in [
            "data echo",
            "data echo through the relay",
            "data echo between two windows",
        ] {
            let line = format!("in-page baseline, {browser} {floor}: ");
            let figure = text
                .lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .unwrap_or_else(|| panic!("no `{line}` in {text}"));
            let ms: f64 = figure.split(' ').next().unwrap().parse().unwrap_or(0.0);
            assert!(ms > 0.0, "{figure}");
            assert!(figure.ends_with("ms (2/2 iterations)"), "{figure}");
        }
        let pairing = format!("{browser}→{browser}");
        let row: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            // The warm cases' table comes first; its row is the pairing's first with profile `-`.
            .find(|fields| fields.len() > 2 && fields[0] == pairing && fields[1] == "-")
            .unwrap_or_else(|| panic!("no {pairing} row in {text}"));
        assert_eq!(row[2], "2/2", "{text}");
        for ratio in &row[12..15] {
            assert!(ratio.parse::<f64>().is_ok_and(|r| r > 0.0), "{text}");
        }
        // Under it, each echo's own phases as the browser reported them: ICE connected,
        // connected, the channel open (each on both connections), the echo.
        for label in ["in-page", "relayed", "windows"] {
            let floor: Vec<&str> = text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|fields| fields.len() > 2 && fields[0] == pairing && fields[1] == label)
                .unwrap_or_else(|| panic!("no {pairing} {label} row in {text}"));
            assert_eq!(floor[2], "2/2", "{text}");
            let phases: Vec<f64> = floor[5..9]
                .iter()
                .map(|p| {
                    p.parse()
                        .unwrap_or_else(|_| panic!("{label} phase {p}: {text}"))
                })
                .collect();
            assert!(phases[0] > 0.0, "{label}: ICE connected at once? {text}");
        }
    }
}

#[test]
fn bench_prints_medians_and_ratios_against_the_baseline() {
    let output = rtc_interop(
        &["bench", "--iterations", "3", "--pairing", "native:native"],
        Path::new("."),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let row = |profile: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with("native→native") && l.contains(&format!(" {profile} ")))
            .unwrap_or_else(|| panic!("no {profile} row in {text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // Both profiles ran every iteration, and the baseline row is the baseline.
    assert_eq!(row("default")[2], "3/3", "{text}");
    assert_eq!(row("fast")[2], "3/3", "{text}");
    assert_eq!(row("default")[11], "1.00", "{text}");
    // No browser against itself, so no in-page floor to compare with, relayed or not.
    assert_eq!(row("default")[12..], ["-", "-", "-"], "{text}");
    let offer_to_echo = |profile: &str| row(profile)[10].parse::<f64>().unwrap();
    assert!(
        offer_to_echo("default") > 0.0 && offer_to_echo("fast") > 0.0,
        "{text}"
    );
    assert!(
        text.contains("baseline: native→native, default profile"),
        "{text}"
    );
    // After the first connection: a renegotiation round and an ICE restart, with their ratios.
    let after: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("after the first connection"))
        .take_while(|l| !l.starts_with("video call"))
        .filter(|l| l.starts_with("native→native"))
        .collect();
    assert_eq!(after.len(), 2, "{text}");
    let default: Vec<&str> = after[0].split_whitespace().collect();
    assert_eq!(default[1..3], ["default", "3/3"], "{text}");
    assert!(default[3].parse::<f64>().unwrap() > 0.0, "{text}");
    assert_eq!(default[4], "(1.00×)", "{text}");
    assert_eq!(default[6], "(1.00×)", "{text}");
    // The video call one way and both ways: every iteration saw a first frame on each receiving
    // side; no browser ran, so there is no in-page baseline to compare with.
    let video: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("video call"))
        .filter(|l| l.starts_with("native→native"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(video.len(), 2, "{text}");
    assert_eq!(video[0][1..4], ["one-way", "3/3", "-"], "{text}");
    assert_eq!(video[1][1..3], ["two-way", "3/3"], "{text}");
    for row in &video {
        assert!(row[5].parse::<f64>().unwrap() > 0.0, "{text}");
        assert_eq!(row[6..], ["-", "-"], "{text}");
    }
}

#[test]
fn the_native_peer_command_connects_through_the_standalone_relay_and_prints_json() {
    let (mut relay, addr) = standalone_relay();
    let signal = format!("ws://{addr}/room/by-hand");
    let peer = |role: &str| {
        Command::new(BIN)
            .args([
                "peer",
                "native",
                "--signal",
                &signal,
                role,
                "--timeout-secs",
                "20",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let answerer = peer("--answer");
    let offerer = peer("--offer");
    let outputs = [
        wait_with_output_within(offerer, common::RUN_LIMIT).unwrap(),
        wait_with_output_within(answerer, common::RUN_LIMIT).unwrap(),
    ];
    relay.kill().unwrap();
    relay.wait().unwrap();
    for (role, output) in ["offerer", "answerer"].iter().zip(&outputs) {
        assert_eq!(output.status.code(), Some(0), "{role}: {}", stderr(output));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["role"], *role);
        assert_eq!(json["connected"], true);
        let states = json["observations"]["connection_states"]
            .as_array()
            .unwrap();
        assert!(states.iter().any(|s| s["state"] == "connected"), "{json}");
        assert_eq!(json["local_candidates"][0]["type"], "host", "{json}");
        assert!(
            json["observations"]["selected_pair"]["local"]["port"].is_u64(),
            "{json}"
        );
    }
    let offerer: serde_json::Value = serde_json::from_slice(&outputs[0].stdout).unwrap();
    assert_eq!(offerer["completed"], true, "{offerer}");
    let echo = &offerer["observations"]["channels"][0]["echo"];
    assert_eq!(echo["received"], echo["sent"], "{offerer}");
}

#[test]
fn the_native_peer_command_names_an_unreachable_signaling_server() {
    let output = rtc_interop(
        &[
            "peer",
            "native",
            "--signal",
            "ws://127.0.0.1:9/nobody",
            "--timeout-secs",
            "2",
        ],
        Path::new("."),
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("cannot join the relay at ws://127.0.0.1:9/nobody"),
        "{err}"
    );
}

#[test]
fn no_install_with_a_missing_geckodriver_names_the_cargo_install_command() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        "firefox-only",
        "peers = [\"firefox\"]\n[data_channel]\nlabel = \"x\"\n",
    );
    // Firefox itself is found at its Debian path; geckodriver is neither on PATH nor in a cargo
    // home, as on a machine where it was never installed.
    let nowhere = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["run", "--no-install"])
        .current_dir(dir.path())
        .env("PATH", nowhere.path())
        .env("HOME", nowhere.path())
        .env_remove("CARGO_HOME")
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("geckodriver is not installed"), "{err}");
    assert!(err.contains("cargo install geckodriver --locked"), "{err}");
    let doctor = Command::new(BIN)
        .arg("doctor")
        .env("PATH", nowhere.path())
        .env("HOME", nowhere.path())
        .env_remove("CARGO_HOME")
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains("firefox   not ready  geckodriver is not installed"),
        "{report}"
    );
    // Without `ip` on PATH, namespaces are unavailable, and doctor says how to get them.
    assert!(report.contains("namespaces  missing"), "{report}");
    assert!(report.contains("apt-get install -y iproute2"), "{report}");
}

const NATIVE_RELAY: &str = r#"
peers = ["native"]
native_profile = "fast"
[ice]
transport_policy = "relay"
turn = { server = "embedded" }
[data_channel]
label = "echo"
[expect]
connection_state = "connected"
echo = true
[expect.selected_pair]
local = ["relay"]
remote = ["relay"]
"#;

/// A folder with an executable `turnserver` that prints a line and fails at once.
fn failing_turnserver() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("turnserver");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'cannot bind the listener: Address already in use' >&2\nexit 1\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&fake, permissions).unwrap();
    dir
}

#[test]
fn a_turn_server_that_cannot_start_stops_the_run_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "relay", NATIVE_RELAY);
    let fake = failing_turnserver();
    let output = Command::new(BIN)
        .args(["run", "--no-install", "--turn", "coturn"])
        .current_dir(dir.path())
        .env("PATH", fake.path())
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("rtc-interop: coturn TURN server exited while starting (exit status: 1)"),
        "{err}"
    );
    assert!(
        err.contains("cannot bind the listener: Address already in use"),
        "coturn's own words: {err}"
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(!table.contains("passed"), "no case ran: {table}");

    let output = Command::new(BIN)
        .args(["run", "--turn", "pion"])
        .current_dir(dir.path())
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown STUN/TURN server `pion` (there are: embedded, coturn)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn turn_coturn_runs_every_turn_server_as_coturn_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "relay", NATIVE_RELAY);
    for (args, kind) in [
        (&["run", "--snapshots", "off"][..], "embedded"),
        (
            &["run", "--snapshots", "off", "--turn", "coturn"][..],
            "coturn",
        ),
    ] {
        let (pid, output) = run_to_end(dir.path(), args);
        assert_eq!(output.status.code(), Some(0), "{kind}: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("reports/latest/report.json")).unwrap(),
        )
        .unwrap();
        let case = &report["cases"][0];
        assert_eq!(case["status"], "passed", "{kind}: {case}");
        let used = &case["ice_servers"][0];
        assert_eq!(used["kind"], kind, "{used}");
        assert_eq!(used["transport"], "udp", "{used}");
        assert_eq!(used["credentials"], "long-term", "{used}");
        let url = used["urls"][0].as_str().unwrap();
        let server_ip = rtc_interop::net::addrs::server_ip();
        assert!(url.starts_with(&format!("turn:{server_ip}:")), "{url}");
        assert!(url.ends_with("?transport=udp"), "{url}");
        assert!(
            used.get("username").is_none() && used.get("credential").is_none(),
            "no credentials in the report: {used}"
        );
        let local = &case["selected_pair"]["offerer"]["local"];
        assert_eq!(local["type"], "relay", "{local}");
        assert_eq!(local["address"], server_ip.to_string(), "{local}");
        assert_eq!(wait_for_no_leftovers(pid), Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn sigterm_and_sighup_stop_a_run_and_its_browser_as_ctrl_c_does() {
    // `kill`, `timeout` and a cancelled CI job send SIGTERM, a closed terminal SIGHUP: the run
    // stops as on Ctrl-C, its browser and driver with it (a SIGTERM used to end the harness at
    // once, and the browser its driver had started stayed up until the next run).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _turn = runtime.block_on(common::browser_turn());
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        // Never connects (relay candidates only, no TURN server), so the run is still busy
        // with its browser when the signal comes.
        write_scenario(
            dir.path(),
            "stuck",
            "peers = [\"chromium\"]\ntime_limit_secs = 120\n[ice]\ntransport_policy = \"relay\"\n[data_channel]\nlabel = \"x\"\n",
        );
        let mut run = start_run_and_wait_for(
            common::command(dir.path(), &["run", "--snapshots", "off", "--jobs", "1"]),
            &["chromium"],
            Duration::from_secs(60),
        );
        // Give the case a moment to be under way.
        std::thread::sleep(Duration::from_millis(500));
        stop_and_expect_a_clean_stop(&mut run, signal);
        let reports = dir.path().join("reports");
        let report = std::fs::read_dir(&reports)
            .unwrap()
            .flatten()
            .map(|e| e.path().join("report.json"))
            .find(|p| p.exists())
            .expect("the interrupted run's report");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
        assert_eq!(report["interrupted"], true, "signal {signal}: {report}");
    }
}

#[test]
fn ctrl_c_stops_the_turn_server_too() {
    let dir = tempfile::tempdir().unwrap();
    // Native peers cannot use TURN over TCP: the case waits for its whole time limit.
    write_scenario(
        dir.path(),
        "stuck",
        &NATIVE_RELAY
            .replace(
                "turn = { server = \"embedded\" }",
                "turn = { server = \"embedded\", transport = \"tcp\" }",
            )
            .replace(
                "peers = [\"native\"]",
                "peers = [\"native\"]\ntime_limit_secs = 120",
            ),
    );
    let mut run = start_run_and_wait_for(
        common::command(dir.path(), &["run", "--turn", "coturn"]),
        &["turnserver"],
        Duration::from_secs(30),
    );
    // Give the case a moment to be under way.
    std::thread::sleep(Duration::from_millis(500));
    interrupt_and_expect_a_clean_stop(&mut run);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `rtc-interop list | head -0`: the reader is gone before the first line is written.
    let mut list = Command::new(BIN)
        .args(["list"])
        .current_dir(common::repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(list.stdout.take());
    let output = wait_with_output_within(list, common::QUICK_LIMIT).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}

/// A driver started on its own port, as on another machine: the run opens the kind's sessions
/// there, and browsers reach this machine on its advertised (non-loopback) address.
fn play_through_a_remote_driver(kind: PeerKind, dir: &Path, advertised: &str) {
    let found = rtc_interop::provision::locate(kind)
        .unwrap_or_else(|e| panic!("{kind} is installed (`rtc-interop install`): {e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(&found.driver);
    match kind {
        // A grid node knows where its Firefox is; Debian's is not on PATH as `firefox`.
        PeerKind::Firefox => command
            .args(["--port", &port.to_string(), "--binary"])
            .arg(&found.browser),
        _ => command.arg(format!("--port={port}")),
    };
    let mut driver = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    write_scenario(
        dir,
        "remote",
        &format!(
            "peers = [\"native\", \"{kind}\"]\n[data_channel]\nlabel = \"echo\"\n[expect]\necho = true\n"
        ),
    );
    let url = format!("http://127.0.0.1:{port}");
    let webdriver = format!("{kind}={url}");
    // The driver takes a moment to listen; the run checks its status before anything else.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{kind}'s driver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = rtc_interop(
        &[
            "run",
            "--snapshots",
            "off",
            "--pairing",
            &format!("{kind}:native"),
            "--pairing",
            &format!("native:{kind}"),
            "--webdriver",
            &webdriver,
            "--advertise-address",
            advertised,
        ],
        dir,
    );
    let _ = driver.kill();
    let _ = driver.wait();
    assert_eq!(output.status.code(), Some(0), "{kind}: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reports/latest/report.json")).unwrap(),
    )
    .unwrap();
    for case in report["cases"].as_array().unwrap() {
        let browser = &case["browsers"][0];
        assert_eq!(browser["kind"], kind.to_string(), "{case}");
        assert_eq!(browser["endpoint"], url.as_str(), "{case}");
        assert!(
            browser["version"]
                .as_str()
                .unwrap()
                .starts_with(|c: char| c.is_ascii_digit()),
            "{browser}"
        );
        assert_ne!(browser["driver_version"], "unknown", "{browser}");
        assert_eq!(case["status"], "passed", "{case}");
    }
    assert_eq!(report["cases"].as_array().unwrap().len(), 2);
}

/// Chromium's and Firefox's drivers, each on its own port as on another machine (the protocol a
/// Selenium Grid speaks), serve their kind's sessions.
#[test]
fn a_remote_webdriver_endpoint_serves_a_browser_kind() {
    let advertised = rtc_interop::net::addrs::server_ip().to_string();
    let dir = tempfile::tempdir().unwrap();
    for kind in [PeerKind::Chromium, PeerKind::Firefox] {
        play_through_a_remote_driver(kind, dir.path(), &advertised);
    }
    write_scenario(
        dir.path(),
        "remote",
        "peers = [\"native\", \"chromium\"]\n[data_channel]\nlabel = \"echo\"\n",
    );

    // An endpoint that is not there stops the run, naming it.
    let output = rtc_interop(
        &[
            "run",
            "--pairing",
            "chromium:native",
            "--webdriver",
            "chromium=http://127.0.0.1:1",
            "--advertise-address",
            &advertised,
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the remote WebDriver endpoint http://127.0.0.1:1 cannot be used"),
        "{}",
        stderr(&output)
    );
    let output = rtc_interop(
        &["run", "--webdriver", "chromium=http://127.0.0.1:1"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("needs --advertise-address"));
}
