//! SDP snapshots in real runs: the review flow with the real `rtc-interop` and `cargo insta`,
//! snapshots that are the same run after run, and the accepted snapshots that are committed.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use futures_util::StreamExt;
use rtc_interop::bounded::BoundedCommand;
use rtc_interop::outcome::{CaseResult, Status};
use rtc_interop::plan;
use rtc_interop::provision;
use rtc_interop::runner::{self, Environment, RunSettings};
use rtc_interop::scenario::{self, PeerKind};
use rtc_interop::sdp::check::{CheckOutcome, SNAPSHOT_FOLDER, SdpSnapshots};
use rtc_interop::sdp::snapshot::{SnapshotMode, read_snapshot};

/// `rtc-interop ARGS` in `dir`, outside CI and without INSTA_UPDATE unless `env` sets them.
fn rtc_interop(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = common::command(dir, args);
    command
        .env_remove("CI")
        .env_remove("TF_BUILD")
        .env_remove("INSTA_UPDATE");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output_within(common::RUN_LIMIT)
        .expect("the binary runs within its limit")
}

/// `cargo insta ARGS` in the workspace `root`.
fn cargo_insta(root: &Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .arg("insta")
        .args(args)
        .current_dir(root)
        .env_remove("INSTA_UPDATE")
        .env_remove("INSTA_PENDING_DIR")
        .env_remove("CI")
        .output_within(common::RUN_LIMIT)
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "cargo insta {args:?}: {text}");
    text
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The snapshot checks of the latest run's only case, from its report.json.
fn reported_checks(root: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root.join("reports/latest/report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["cases"].as_array().unwrap().len(), 1);
    report["cases"][0]["snapshots"].as_array().unwrap().clone()
}

fn outcomes(checks: &[serde_json::Value]) -> Vec<(String, String)> {
    checks
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The files in `dir`, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&p).unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

const OFFER: &str = "datachannel-echo__native-to-native__offerer-offer";
const ANSWER: &str = "datachannel-echo__native-to-native__answerer-answer";

/// A copy of this repository's layout in `root`: a workspace whose member `scenarios/snapshots/`
/// is the repository's own (its Cargo.toml and lib.rs), the shipped datachannel-echo scenario,
/// and a git repository that ignores `*.snap.new`, as this one does.
fn workspace_like_the_repository(root: &Path) {
    let repo = common::repo_root();
    let snapshots = root.join("scenarios").join(SNAPSHOT_FOLDER);
    std::fs::create_dir_all(&snapshots).unwrap();
    for file in ["Cargo.toml", "lib.rs"] {
        std::fs::copy(
            repo.join("scenarios/snapshots").join(file),
            snapshots.join(file),
        )
        .unwrap();
    }
    std::fs::copy(
        repo.join("scenarios/datachannel-echo.toml"),
        root.join("scenarios/datachannel-echo.toml"),
    )
    .unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"scenarios/snapshots\"]\nresolver = \"2\"\n\n\
         [workspace.package]\nedition = \"2024\"\nlicense = \"MIT OR Apache-2.0\"\n",
    )
    .unwrap();
    std::fs::write(root.join(".gitignore"), "*.snap.new\n/reports\n").unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status_within(common::QUICK_LIMIT);
    assert!(git.is_ok_and(|s| s.success()), "git init");
}

/// What a user does: run, see the snapshots missing, `cargo insta accept`, run again; then a
/// "browser upgrade" (the accepted snapshot edited, as no scenario setting changes this SDP):
/// the case fails naming the change, with a pending snapshot that `cargo insta` lists.
#[test]
fn review_flow_with_the_real_harness_and_cargo_insta() {
    provision::cargo_insta(true).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    workspace_like_the_repository(root);
    let snapshots = root.join("scenarios/snapshots");
    let run = ["run", "--pairing", "native:native", "--no-install"];
    let pending = |name: &str| snapshots.join(format!("{name}.snap.new"));
    let accepted = |name: &str| snapshots.join(format!("{name}.snap"));

    // In CI a missing snapshot fails the case, and nothing is written.
    let output = rtc_interop(root, &run, &[("CI", "true")]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "no accepted SDP snapshot for the native offer: scenarios/snapshots/{OFFER}.snap is missing"
        )),
        "{err}"
    );
    assert_eq!(
        files(&snapshots).into_keys().collect::<Vec<_>>(),
        ["Cargo.toml", "lib.rs"]
    );

    // Locally it is written for review, and the case fails naming it.
    let output = rtc_interop(root, &run, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    for (label, name) in [("native offer", OFFER), ("native answer", ANSWER)] {
        assert!(
            err.contains(&format!(
                "no accepted SDP snapshot for the {label}: pending review: scenarios/snapshots/{name}.snap.new"
            )),
            "{err}"
        );
        assert!(pending(name).is_file(), "{name}");
    }
    assert!(
        err.contains(
            "2 SDP snapshot(s) written for review in scenarios/snapshots: `cargo insta review`"
        ),
        "{err}"
    );
    let checks = reported_checks(root);
    assert_eq!(
        outcomes(&checks),
        [
            (OFFER.to_string(), "missing".to_string()),
            (ANSWER.to_string(), "missing".to_string())
        ]
    );
    assert_eq!(
        checks[0]["pending"],
        format!("scenarios/snapshots/{OFFER}.snap.new")
    );
    let listed = cargo_insta(root, &["pending-snapshots"]);
    assert!(
        listed.contains(&format!("scenarios/snapshots/{OFFER}.snap"))
            && listed.contains(&format!("scenarios/snapshots/{ANSWER}.snap")),
        "{listed}"
    );

    // Accepted, the next run passes, also in CI.
    let written = std::fs::read(pending(OFFER)).unwrap();
    cargo_insta(root, &["accept"]);
    assert!(!pending(OFFER).exists() && !pending(ANSWER).exists());
    assert_eq!(
        std::fs::read(accepted(OFFER)).unwrap(),
        written,
        "accepted byte for byte"
    );
    for env in [&[][..], &[("CI", "true")][..]] {
        let output = rtc_interop(root, &run, env);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{env:?}: {}",
            stderr(&output)
        );
        let checks = reported_checks(root);
        assert!(
            checks.iter().all(|c| c["outcome"] == "matched"),
            "{checks:?}"
        );
    }

    // A "browser upgrade": the accepted snapshot says 262144, the stack now says 65536.
    let text = std::fs::read_to_string(accepted(OFFER)).unwrap();
    assert!(text.contains("a=max-message-size:65536\n"), "{text}");
    std::fs::write(
        accepted(OFFER),
        text.replace("a=max-message-size:65536", "a=max-message-size:262144"),
    )
    .unwrap();
    let output = rtc_interop(
        root,
        &["run", "--pairing", "native:native", "--snapshots", "check"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!pending(OFFER).exists(), "check mode writes nothing");

    let output = rtc_interop(root, &run, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains(
            "SDP changed: native offer, m=application: sctp max-message-size 262144 → 65536"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "SDP of the native offer pending review: scenarios/snapshots/{OFFER}.snap.new"
        )),
        "{err}"
    );
    let checks = reported_checks(root);
    assert_eq!(checks[0]["outcome"], "changed");
    assert_eq!(
        checks[0]["changes"],
        serde_json::json!(["m=application: sctp max-message-size 262144 → 65536"])
    );
    assert_eq!(checks[1]["outcome"], "matched");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("SDP changed: native offer"), "{table}");
    let listed = cargo_insta(root, &["pending-snapshots"]);
    assert!(
        listed.contains(&format!("scenarios/snapshots/{OFFER}.snap")) && !listed.contains(ANSWER),
        "{listed}"
    );
    let html = std::fs::read_to_string(root.join("reports/latest/report.html")).unwrap();
    let html = rtc_interop::report::html_with_evidence(&html).unwrap();
    assert!(
        html.contains("1 of 2 snapshot(s) differ"),
        "the HTML report shows it"
    );

    // Rejected, the old snapshot stays and still fails; INSTA_UPDATE=always accepts it in place.
    cargo_insta(root, &["reject"]);
    assert!(!pending(OFFER).exists());
    let output = rtc_interop(root, &run, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let output = rtc_interop(root, &run, &[("INSTA_UPDATE", "always")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(reported_checks(root)[0]["outcome"], "accepted");
    assert!(!pending(OFFER).exists());
    assert_eq!(
        std::fs::read(accepted(OFFER)).unwrap(),
        written,
        "back to what the stack makes"
    );

    // The accepted snapshots side by side.
    let output = rtc_interop(root, &["sdp", "compare"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("datachannel-echo: offers\n"), "{text}");
    assert!(
        text.contains("native offer") && text.contains("native answer"),
        "{text}"
    );
    let output = rtc_interop(root, &["sdp", "compare", "--scenario", "nothing-*"], &[]);
    assert_eq!(output.status.code(), Some(2));

    // A bad INSTA_UPDATE stops the run before it starts.
    let output = rtc_interop(root, &run, &[("INSTA_UPDATE", "sometimes")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("INSTA_UPDATE=sometimes"),
        "{}",
        stderr(&output)
    );
}

/// Runs `cases` in `environment`, two at a time (as `run` does on two cores).
async fn run_all(environment: &Environment, cases: &[plan::Case], pass: &str) -> Vec<CaseResult> {
    futures_util::stream::iter(cases.iter().enumerate())
        .map(|(i, case)| async move {
            let room = format!("{pass}/{i}-{}", case.slug());
            environment.run_case(case, &room).await
        })
        .buffer_unordered(2)
        .collect()
        .await
}

/// Two runs of the whole default matrix on the same browsers give the same snapshot files, byte
/// for byte, for every pairing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_gives_byte_identical_snapshots_run_after_run() {
    let _turn = common::browser_turn().await;
    let cases = plan::expand(
        &Arc::new(common::shipped("datachannel-echo")),
        &PeerKind::CORE,
    );
    assert_eq!(cases.len(), 9);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let store = |dir: &Path| Some(SdpSnapshots::new(dir, "scenarios", SnapshotMode::Accept));
    let settings = RunSettings {
        install: true,
        jobs: 2,
        snapshots: store(dirs[0].path()),
        ..RunSettings::default()
    };
    let mut environment = Environment::prepare(&runner::browsers_needed(&cases), &settings)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare the environment: {e}"));
    let first = run_all(&environment, &cases, "first").await;
    environment.set_snapshots(store(dirs[1].path()));
    let second = run_all(&environment, &cases, "second").await;
    environment.shutdown().await;

    for r in first.iter().chain(&second) {
        assert_eq!(r.status, Status::Passed, "{}: {:?}", r.pairing, r.failure);
        assert_eq!(
            r.snapshots.len(),
            2,
            "{}: an offer and an answer",
            r.pairing
        );
        assert!(
            r.snapshots
                .iter()
                .all(|c| c.outcome == CheckOutcome::Accepted && c.changes.is_empty()),
            "{}: {:?}",
            r.pairing,
            r.snapshots
        );
    }
    let (a, b) = (files(dirs[0].path()), files(dirs[1].path()));
    assert_eq!(a.len(), 18, "{:?}", a.keys());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            b[name] == *bytes,
            "{name} differs between runs:\n{}\n---\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[name])
        );
    }
}

/// The scenario loader reads `scenarios/*.toml` only, not the snapshot member's `Cargo.toml`;
/// every committed snapshot parses and belongs to a shipped scenario's case; and every case of a
/// shipped scenario that checks snapshots has its offer and answer accepted (or a run of a fresh
/// checkout fails, as it does in CI).
#[test]
fn committed_snapshots_cover_the_shipped_scenarios_and_nothing_else() {
    let scenarios_dir = common::repo_root().join("scenarios");
    let snapshot_dir = scenarios_dir.join(SNAPSHOT_FOLDER);
    assert!(snapshot_dir.join("Cargo.toml").is_file());
    let loaded = scenario::load_dir(&scenarios_dir).unwrap();
    for (path, _) in &loaded {
        assert_eq!(
            path.parent(),
            Some(scenarios_dir.as_path()),
            "{}",
            path.display()
        );
    }

    let store = SdpSnapshots::for_scenarios(&scenarios_dir, SnapshotMode::Check);
    let mut expected: Vec<PathBuf> = Vec::new();
    for (_, s) in loaded {
        if !s.snapshots {
            continue;
        }
        for case in plan::expand(&Arc::new(s), &PeerKind::CORE) {
            // A known failure may never get as far as a description: its snapshots are optional.
            let known_failure = case
                .scenario
                .known_failures
                .iter()
                .any(|k| k.covers(case.offerer, case.answerer));
            for (side, kind) in [
                (rtc_interop::sdp::snapshot::Side::Offerer, "offer"),
                (rtc_interop::sdp::snapshot::Side::Answerer, "answer"),
            ] {
                let id = store.id(&case, side, kind, 1);
                let path = store.store().snap_path(&id.name);
                // Later offer/answer rounds (renegotiation, ICE restart) have snapshots of their
                // own: `<side>-<kind>-2`, … one per round at most.
                let rounds = case
                    .scenario
                    .steps()
                    .iter()
                    .filter(|s| s.kind.is_round())
                    .count();
                for nth in 2..=rounds {
                    let id = store.id(&case, side, kind, nth);
                    expected.push(store.store().snap_path(&id.name));
                }
                if known_failure {
                    expected.push(path);
                    continue;
                }
                assert!(
                    path.is_file(),
                    "{case}: no accepted {} {kind} snapshot ({}). Run \
                     `cargo run --release -- run --scenario {}` and `cargo insta review`, or set \
                     `snapshots = false` in the scenario file",
                    side.as_str(),
                    path.display(),
                    case.scenario.name
                );
                expected.push(path);
            }
        }
    }
    for entry in std::fs::read_dir(&snapshot_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "Cargo.toml" || name == "lib.rs" || name.ends_with(".snap.new") {
            continue;
        }
        assert!(
            expected.contains(&path),
            "{name}: no case of a shipped scenario has this snapshot (left over? remove it)"
        );
        let (header, contents) = read_snapshot(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            header[0].starts_with("source: scenarios/"),
            "{name}: {header:?}"
        );
        assert!(!contents.contains("a=candidate"), "{name}");
        assert!(!contents.contains('\r'), "{name}");
    }
}
