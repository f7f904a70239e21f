//! The fast tier: the runner, the step verdicts, known failures and every report format, driven
//! by scripted peers (`peer::scripted`) — no browser, no WebRTC stack, milliseconds per case.
//! `cargo test --release --lib --test fast --test native_peer` runs this tier.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_interop::observe::Observations;
use rtc_interop::outcome::{CaseResult, RunSummary, Sides, Status};
use rtc_interop::peer::Peer;
use rtc_interop::peer::scripted::{ScriptedPeer, connected_side};
use rtc_interop::plan::{self, Case};
use rtc_interop::report::{HtmlReport, JsonReport, JunitReport, Reporter, RunEvent, RunInfo};
use rtc_interop::runner::{Environment, RunSettings};
use rtc_interop::scenario::{self, PeerKind};

const OFFERER_STEPS: [(&str, &str, bool); 4] = [
    ("open_channel", "offerer", true),
    ("negotiate", "offerer", true),
    ("send", "offerer", true),
    ("expect_echo", "offerer", true),
];
const ANSWERER_STEPS: [(&str, &str, bool); 4] = [
    ("open_channel", "offerer", false),
    ("negotiate", "offerer", false),
    ("send", "offerer", false),
    ("expect_echo", "offerer", false),
];

const ECHO: &str = r#"
[data_channel]
label = "echo"
[expect]
ice_states = ["new", "checking", "connected"]
connection_state = "connected"
echo = true
[expect.local_candidates]
require = ["host"]
[expect.selected_pair]
local = ["host"]
"#;

fn case(extra: &str) -> Case {
    let text = format!("time_limit_secs = 5\n{ECHO}{extra}");
    let scenario = scenario::parse(&text, "scripted", std::path::Path::new("scripted.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    plan::expand(&Arc::new(scenario), &PeerKind::CORE)
        .into_iter()
        .find(|c| c.offerer == PeerKind::Native && c.answerer == PeerKind::Chromium)
        .unwrap()
}

async fn environment() -> Environment {
    let settings = RunSettings {
        install: false,
        jobs: 1,
        snapshots: None,
        ..RunSettings::default()
    };
    Environment::prepare(&BTreeSet::new(), &settings)
        .await
        .unwrap()
}

async fn play(case: &Case, offerer: ScriptedPeer, answerer: ScriptedPeer) -> CaseResult {
    let environment = environment().await;
    let peers: Sides<Box<dyn Peer>> = Sides {
        offerer: Box::new(offerer),
        answerer: Box::new(answerer),
    };
    let result = environment.run_case_with(case, "fast/0", peers).await;
    environment.shutdown().await;
    result
}

fn after(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A side that connected, then failed step 3 (`send`) and stopped there.
fn failed_at_send(error: &str) -> Observations {
    let mut side = connected_side(&OFFERER_STEPS[..3]);
    side.steps[2].error = Some(error.to_string());
    side.channels[0].echo = None;
    side
}

/// A side still busy with its last step.
fn still_waiting() -> Observations {
    let mut side = connected_side(&ANSWERER_STEPS[..3]);
    side.steps[2].ended_at_ms = None;
    side.finished = false;
    side
}

#[tokio::test]
async fn a_scripted_pairing_passes_and_every_report_shows_it() {
    let case = case("");
    let result = play(
        &case,
        ScriptedPeer::new(PeerKind::Native).then(after(10), connected_side(&OFFERER_STEPS)),
        ScriptedPeer::new(PeerKind::Chromium).then(after(20), connected_side(&ANSWERER_STEPS)),
    )
    .await;
    assert_eq!(result.status, Status::Passed, "{:?}", result.failure);
    assert_eq!(result.problems, Vec::new());
    assert!(result.duration_ms < 2_000.0, "{}", result.duration_ms);
    assert_eq!(result.steps.offerer.len(), 4);

    let dir = tempfile::tempdir().unwrap();
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(JsonReport::new(dir.path().join("report.json"))),
        Box::new(JunitReport::new(dir.path().join("junit.xml"))),
        Box::new(HtmlReport::new(dir.path().join("report.html"))),
    ];
    let results = vec![result];
    let summary = RunSummary::of(&results);
    for reporter in &mut reporters {
        reporter
            .on_event(&RunEvent::Started {
                run: &RunInfo::new("fast-run", std::slice::from_ref(&case)),
                cases: std::slice::from_ref(&case),
            })
            .unwrap();
        reporter
            .on_event(&RunEvent::CaseFinished {
                result: &results[0],
            })
            .unwrap();
        reporter
            .on_event(&RunEvent::Finished {
                results: &results,
                summary: &summary,
                unplayed: &[],
            })
            .unwrap();
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["total"], 1);
    assert_eq!(json["cases"][0]["status"], "passed");
    assert_eq!(json["cases"][0]["steps"]["offerer"][2]["do"], "send");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    let junit = roxmltree::Document::parse(&junit).unwrap_or_else(|e| panic!("{e}: {junit}"));
    let suite = junit
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let attributes = ["name", "tests", "failures", "skipped"].map(|a| suite.attribute(a));
    assert_eq!(
        attributes,
        [Some("scripted"), Some("1"), Some("0"), Some("0")]
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let html = rtc_interop::report::html_with_evidence(&html).unwrap();
    assert!(html.contains("1 passed"));
    assert!(html.contains("<h4>Steps</h4>"));
}

#[tokio::test]
async fn a_failed_step_names_itself_and_ends_the_case_early() {
    let started = Instant::now();
    let result = play(
        &case(""),
        ScriptedPeer::new(PeerKind::Native).then(
            after(10),
            failed_at_send("channel `echo` never opened within 5 s (it was `connecting`)"),
        ),
        ScriptedPeer::new(PeerKind::Chromium).then(after(10), still_waiting()),
    )
    .await;
    assert_eq!(result.status, Status::Failed);
    let failure = result.failure.unwrap();
    assert!(
        failure.contains("offerer (native): step 3 (send, offerer): channel `echo` never opened within 5 s (it was `connecting`)"),
        "{failure}"
    );
    assert!(
        failure.contains(
            "answerer (chromium): step 3 (send, offerer) was still waiting when the case ended"
        ),
        "{failure}"
    );
    assert!(
        failure.starts_with("a step failed: offerer (native) last saw ICE `connected`, connection `connected`; answerer (chromium) last saw ICE `connected`"),
        "{failure}"
    );
    // The failed step decided the case: no waiting out the 5 s time limit.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_side_still_waiting_names_its_last_description_error() {
    // A side still waiting (here: the case timed out) names the description error it last had, whatever ended the case.
    let mut rejected = still_waiting();
    rejected.errors.push(
        "answering an offer: OperationError: Failed to execute 'setRemoteDescription': Failed to parse codecs correctly.".into(),
    );
    let waited = play(
        &case(""),
        ScriptedPeer::new(PeerKind::Native).then(after(10), still_waiting()),
        ScriptedPeer::new(PeerKind::Chromium).then(after(10), rejected),
    )
    .await
    .failure
    .unwrap();
    assert!(
        waited.contains("answerer (chromium): step 3 (send, offerer) was still waiting when the case ended; last error: answering an offer: OperationError: Failed to execute 'setRemoteDescription': Failed to parse codecs correctly."),
        "{waited}"
    );
}

#[tokio::test]
async fn a_known_failure_is_xfail_only_with_its_symptom() {
    let entry = |symptom: &str| {
        format!(
            "[[known_failures]]\npairing = \"native:*\"\nexpect = \"fail\"\nreason = \"a bug\"\nsymptom = \"{symptom}\"\n"
        )
    };
    let offerer = || {
        ScriptedPeer::new(PeerKind::Native)
            .then(after(5), failed_at_send("channel `echo` never opened"))
    };
    let answerer = || ScriptedPeer::new(PeerKind::Chromium).then(after(5), still_waiting());

    let known = play(&case(&entry("never opened")), offerer(), answerer()).await;
    assert_eq!(known.status, Status::ExpectedFailure, "{:?}", known.failure);
    assert!(
        known
            .failure
            .unwrap()
            .starts_with("known failure (a bug): ")
    );

    let other = play(&case(&entry("DTLS")), offerer(), answerer()).await;
    assert_eq!(other.status, Status::Failed);
    assert!(
        other
            .failure
            .unwrap()
            .ends_with("(not the known failure of `native:*`: it does not mention \"DTLS\")")
    );

    let fixed = play(
        &case(&entry("never opened")),
        ScriptedPeer::new(PeerKind::Native).then(after(5), connected_side(&OFFERER_STEPS)),
        ScriptedPeer::new(PeerKind::Chromium).then(after(5), connected_side(&ANSWERER_STEPS)),
    )
    .await;
    assert_eq!(fixed.status, Status::UnexpectedPass);
}

#[tokio::test]
async fn a_side_that_never_finishes_times_out_with_the_last_states() {
    let case = {
        let text = format!("time_limit_secs = 0.3\n{ECHO}");
        let scenario = scenario::parse(&text, "slow", std::path::Path::new("slow.toml")).unwrap();
        plan::expand(&Arc::new(scenario), &PeerKind::CORE)
            .into_iter()
            .find(|c| c.offerer == PeerKind::Native && c.answerer == PeerKind::Chromium)
            .unwrap()
    };
    let result = play(
        &case,
        ScriptedPeer::new(PeerKind::Native).then(after(5), connected_side(&OFFERER_STEPS)),
        ScriptedPeer::new(PeerKind::Chromium).then(after(5), still_waiting()),
    )
    .await;
    assert_eq!(result.status, Status::Failed);
    let failure = result.failure.unwrap();
    assert!(
        failure.starts_with("timed out after 0.3s: offerer (native) last saw ICE `connected`, connection `connected`; answerer (chromium) last saw ICE `connected`"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_peer_that_cannot_start_fails_the_case_with_its_reason() {
    let result = play(
        &case(""),
        ScriptedPeer::new(PeerKind::Native).then(after(5), connected_side(&OFFERER_STEPS)),
        ScriptedPeer::failing_to_start(PeerKind::Chromium, "the peer page could not load"),
    )
    .await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(
        result.failure.as_deref(),
        Some("chromium answerer: the peer page could not load")
    );
    assert_eq!(
        serde_json::to_value(&result.problems).unwrap()[0]["kind"],
        "setup"
    );
}
