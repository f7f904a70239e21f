//! The external-peer contract (docs/external-peers.md), through the CLI as users run it: a
//! program declared in `rtc-interop.toml` or with `--peer-command` becomes a peer kind in every
//! pairing, its report is validated, and what it declares unsupported is skipped with the reason.
//!
//! The program here is the harness's own native peer in its contract mode (`rtc-interop peer
//! native --plan … --observations …`): a real WebRTC stack behind the contract, with no browser
//! and nothing else to install, so this runs in the fast tier.

use crate::common;

use std::path::Path;

use common::{BIN, repo_root, run_to_end};

/// A project folder holding `scenarios` (copies of the shipped ones) and `project` as its
/// `rtc-interop.toml`.
fn project(scenarios: &[&str], project: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    for name in scenarios {
        let file = format!("{name}.toml");
        std::fs::copy(
            repo_root().join("scenarios").join(&file),
            dir.path().join("scenarios").join(&file),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("rtc-interop.toml"), project).unwrap();
    dir
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("reports/latest/report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `scenario [offerer→answerer]` → (status, failure) of every case.
fn outcomes(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{} [{}]",
                    c["scenario"].as_str().unwrap(),
                    c["pairing"].as_str().unwrap()
                ),
                c["status"].as_str().unwrap().to_string(),
                c["failure"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const RUN: &[&str] = &["run", "--snapshots", "off", "-j", "1", "--no-install"];

#[test]
fn your_own_program_plays_every_pairing_and_what_it_cannot_do_is_skipped_with_the_reason() {
    let dir = project(
        &["datachannel-echo", "ice-restart"],
        &format!(
            "[peers.mine]\nabout = \"webrtc-rs behind the contract\"\ncommand = [\"{BIN}\", \
             \"peer\", \"native\"]\n[peers.mine.unsupported]\nrestart_ice = \"no restarts in \
             this build\"\n"
        ),
    );
    let listed = run_to_end(dir.path(), &["list", "--peers", "native,mine"]).1;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("datachannel-echo [mine→native]"),
        "{listed}"
    );
    assert!(listed.contains("ice-restart [mine→mine]"), "{listed}");

    let mut args = RUN.to_vec();
    args.extend(["--peers", "native,mine"]);
    let (_, output) = run_to_end(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = report(dir.path());
    let outcomes = outcomes(&report);
    for (case, status, failure) in &outcomes {
        if case.starts_with("datachannel-echo") {
            assert_eq!(status, "passed", "{case}: {failure}\n{stderr}");
        } else if case.contains("mine") {
            assert_eq!(status, "skipped", "{case}: {failure}");
            assert!(
                failure.contains("mine cannot `restart_ice`: no restarts in this build"),
                "{case}: {failure}"
            );
        }
    }
    assert_eq!(outcomes.len(), 8, "{outcomes:?}");
    // The program's stack is listed with what it said it is.
    let case = &report["cases"][1];
    assert_eq!(case["pairing"], "native→mine");
    assert_eq!(case["browsers"][0]["kind"], "mine", "{case}");
    assert_eq!(
        case["browsers"][0]["user_agent"],
        "webrtc-rs behind the contract"
    );
    // Its stderr is kept as its console.
    let console = case["console"]["answerer"].as_array().unwrap();
    assert!(
        console.iter().any(|l| l
            .as_str()
            .unwrap()
            .contains("native answerer joining ws://")),
        "{case}"
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

/// A program that writes `report` as its observations and exits.
fn program_reporting(dir: &Path, report: &str) -> String {
    let script = dir.join("reporter.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# --plan FILE --observations FILE\necho 'about to report' >&2\ncat > \"$4\" \
             <<'JSON'\n{report}\nJSON\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script.to_string_lossy().into_owned()
}

#[test]
fn a_program_whose_report_does_not_match_the_schema_fails_its_case_with_the_validation_error() {
    let dir = project(&["datachannel-echo"], "");
    let program = program_reporting(
        dir.path(),
        r#"{"finished": true, "ice_connection_states": [{"state": "connected", "at_ms": "soon"}]}"#,
    );
    let mut args = RUN.to_vec();
    let peer = format!("broken={program}");
    args.extend(["--peer-command", &peer, "--pairing", "broken:native"]);
    let (_, output) = run_to_end(dir.path(), &args);
    assert_eq!(output.status.code(), Some(1));
    let outcomes = outcomes(&report(dir.path()));
    let (case, status, failure) = &outcomes[0];
    assert_eq!(case, "datachannel-echo [broken→native]");
    assert_eq!(status, "failed");
    assert!(
        failure.contains(
            "broken offerer: its observations do not match schema/observations.schema.json"
        ),
        "{failure}"
    );
    assert!(
        failure.contains("/ice_connection_states/0/at_ms"),
        "{failure}"
    );
}

#[test]
fn a_program_that_exits_without_a_report_fails_its_case_with_its_last_words() {
    let dir = project(&["datachannel-echo"], "");
    let script = dir.path().join("crash.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'cannot load libstack.so' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let peer = format!("crashy={}", script.display());
    let mut args = RUN.to_vec();
    args.extend(["--peer-command", &peer, "--pairing", "native:crashy"]);
    let (_, output) = run_to_end(dir.path(), &args);
    assert_eq!(output.status.code(), Some(1));
    let (_, status, failure) = outcomes(&report(dir.path())).remove(0);
    assert_eq!(status, "failed");
    assert!(
        failure.contains("crashy answerer: exited (exit status: 3)"),
        "{failure}"
    );
    assert!(failure.contains("cannot load libstack.so"), "{failure}");
}

#[test]
fn a_bad_peer_declaration_names_the_file_and_table() {
    let dir = project(&["datachannel-echo"], "[peers.mine]\nargs = [\"x\"]\n");
    let (_, output) = run_to_end(dir.path(), &["list"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rtc-interop.toml"), "{stderr}");
    assert!(stderr.contains("unknown field `args`"), "{stderr}");
    let dir = project(&["datachannel-echo"], "");
    let (_, output) = run_to_end(dir.path(), &["list", "--peers", "native,nosuch"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown peer kind `nosuch`"), "{stderr}");
    assert!(
        stderr.contains("aiortc"),
        "the shipped kinds are listed: {stderr}"
    );
}

#[test]
fn the_plan_command_prints_what_a_program_gets() {
    let (_, output) = run_to_end(
        &repo_root(),
        &["plan", "datachannel-echo", "--role", "answerer"],
    );
    assert_eq!(output.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["role"], "answerer");
    assert_eq!(plan["steps"][0]["do"], "open_channel");
    assert_eq!(plan["ice_mode"], "trickle");
}
