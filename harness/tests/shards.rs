//! `run --shard K/N`, `merge` and `report` as a CI job matrix uses them, with native peers (no
//! browser): every case in exactly one shard, merged shards equal to one run over all cases,
//! reports rebuilt from report.json alone, and plain progress lines when stderr is not a terminal.

use crate::common;
use rtc_interop::bounded::BoundedCommand;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::write_scenario;
use serde_json::Value;

const ECHO: &str = "peers = [\"native\"]\nnative_profile = \"fast\"\n[data_channel]\nlabel = \"echo\"\n[expect]\necho = true\n";
/// Relay-only without a TURN server: webrtc-rs refuses at once.
const NEVER: &str =
    "peers = [\"native\"]\n[ice]\ntransport_policy = \"relay\"\n[data_channel]\nlabel = \"x\"\n";

fn rtc_interop(dir: &Path, args: &[&str]) -> Output {
    common::command(dir, args)
        .output_within(common::RUN_LIMIT)
        .expect("the binary runs within its limit")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the selection into `reports/<name>` and returns that run's folder.
fn run_into(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Output) {
    let reports = format!("reports-{name}");
    let mut args = vec![
        "run",
        "--snapshots",
        "off",
        "--repeat",
        "2",
        "--reports",
        &reports,
    ];
    args.extend_from_slice(extra);
    let output = rtc_interop(dir, &args);
    let latest = dir.join(&reports).join("latest");
    let folder = std::fs::read_link(&latest)
        .map(|id| dir.join(&reports).join(id))
        .unwrap_or_else(|e| panic!("{name}: no latest ({e}): {}", stderr(&output)));
    (folder, output)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What a report says about its cases, without what differs between two plays of them (times,
/// ports, run ids).
fn cases_of(report: &Value) -> Vec<String> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} #{} {}",
                c["index"], c["scenario"], c["pairing"], c["repetition"], c["status"]
            )
        })
        .collect()
}

#[test]
fn shards_cover_the_selection_once_and_merge_into_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_scenario(dir, "echo", ECHO);
    write_scenario(dir, "never", NEVER);

    let (whole, output) = run_into(dir, "whole", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // Not a terminal: plain lines, one per case, and no escape sequence of a live line.
    let progress = stderr(&output);
    for line in [
        "PASSED echo [native→native #1]",
        "FAILED never [native→native #2]",
    ] {
        assert!(progress.contains(line), "{progress}");
    }
    let counted: Vec<&str> = progress.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(counted.len(), 4, "{progress}");
    assert!(counted[3].starts_with("[4/4] "), "{progress}");
    assert!(!progress.contains('\u{1b}'), "{progress:?}");
    let whole_json = read_json(&whole.join("report.json"));
    assert_eq!(whole_json["selected_cases"], 4);
    assert_eq!(whole_json["shard"], Value::Null);

    let mut shards = Vec::new();
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let (folder, output) = run_into(dir, &format!("shard{k}"), &["--shard", &spec]);
        let report = read_json(&folder.join("report.json"));
        assert_eq!(report["shard"]["index"], k, "{}", stderr(&output));
        assert_eq!(report["shard"]["balanced_by"], "count");
        assert_eq!(report["selected_cases"], 4);
        assert!(
            stderr(&output).contains(&format!("(shard {k}/3 of 4 selected)")),
            "{}",
            stderr(&output)
        );
        shards.push(folder);
    }
    let mut covered: Vec<String> = shards
        .iter()
        .flat_map(|f| cases_of(&read_json(&f.join("report.json"))))
        .collect();
    covered.sort();
    let mut expected = cases_of(&whole_json);
    expected.sort();
    assert_eq!(covered, expected, "every case in exactly one shard");

    // Merged in any order, the shards are the single run.
    let merged = dir.join("merged");
    let mut args: Vec<&str> = vec!["merge", "--out", merged.to_str().unwrap()];
    args.extend(shards.iter().rev().map(|p| p.to_str().unwrap()));
    let output = rtc_interop(dir, &args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("never"));
    let merged_json = read_json(&merged.join("report.json"));
    assert_eq!(cases_of(&merged_json), cases_of(&whole_json));
    for field in [
        "total",
        "passed",
        "failed",
        "selected_cases",
        "scenarios",
        "tool_version",
    ] {
        assert_eq!(merged_json[field], whole_json[field], "{field}");
    }
    let rates = |r: &Value| r["pass_rates"].to_string();
    assert_eq!(rates(&merged_json), rates(&whole_json));
    assert_eq!(merged_json["merged_from"].as_array().unwrap().len(), 3);
    let junit = std::fs::read_to_string(merged.join("junit.xml")).unwrap();
    let junit = roxmltree::Document::parse(&junit).unwrap();
    let cases = junit
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 4);

    // `report` rebuilds the other reports from report.json alone, to the byte.
    let html = std::fs::read_to_string(merged.join("report.html")).unwrap();
    let json = std::fs::read_to_string(merged.join("report.json")).unwrap();
    std::fs::remove_file(merged.join("report.html")).unwrap();
    std::fs::remove_file(merged.join("junit.xml")).unwrap();
    let output = rtc_interop(dir, &["report", merged.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(merged.join("report.html")).unwrap(),
        html
    );
    assert_eq!(
        std::fs::read_to_string(merged.join("report.json")).unwrap(),
        json
    );
    assert!(merged.join("junit.xml").is_file());
}

#[test]
fn merge_refuses_shards_of_another_scenario_version_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_scenario(dir, "echo", ECHO);
    let (first, _) = run_into(dir, "a", &["--shard", "1/2"]);
    write_scenario(dir, "echo", &format!("{ECHO}# changed\n"));
    let (second, _) = run_into(dir, "b", &["--shard", "2/2"]);
    let out = dir.join("merged");
    let args = [
        "merge",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let output = rtc_interop(dir, &args);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("scenarios: "),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    let output = rtc_interop(dir, &[&args[..], &["--force"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Not a report: named.
    let output = rtc_interop(dir, &["report", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("report.json"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn shards_balance_by_an_earlier_reports_durations() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_scenario(dir, "echo", ECHO);
    write_scenario(dir, "never", NEVER);
    let (earlier, _) = run_into(dir, "earlier", &[]);
    let (folder, output) = run_into(
        dir,
        "balanced",
        &[
            "--shard",
            "1/2",
            "--shard-durations",
            earlier.to_str().unwrap(),
        ],
    );
    let report = read_json(&folder.join("report.json"));
    assert_eq!(
        report["shard"]["balanced_by"],
        "duration",
        "{}",
        stderr(&output)
    );
    let output = rtc_interop(
        dir,
        &["run", "--shard", "1/2", "--shard-durations", "missing.json"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--shard-durations: cannot read missing.json"));
    let output = rtc_interop(dir, &["run", "--shard", "3/2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("write K/N"), "{}", stderr(&output));
}
