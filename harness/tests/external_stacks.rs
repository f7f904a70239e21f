//! The shipped external stacks (peers/*), each played through the CLI against the native peer,
//! Chromium, Firefox (both roles) and itself, with a data channel directly and through TURN only,
//! and (where the stack has media) video: every case passes, or fails as its scenario's known
//! failures say, or is skipped for a feature the stack declares unsupported — never anything else.

use crate::common;

use common::{repo_root, run_to_end};
use rtc_interop::peer::external::catalogue;

#[test]
fn every_shipped_stack_connects_to_native_chromium_firefox_and_itself() {
    let shipped: Vec<_> = catalogue::all().into_iter().filter(|k| k.shipped).collect();
    let names: Vec<&str> = shipped.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["aiortc", "gstreamer", "libdatachannel", "pion", "werift"],
        "the stacks the README lists"
    );
    let mut args: Vec<String> = [
        "run",
        "--scenario",
        "datachannel-echo",
        "--scenario",
        "turn-relay-only",
        "--scenario",
        "video-vp8",
        "--snapshots",
        "off",
        "--reports",
    ]
    .map(String::from)
    .to_vec();
    let reports = tempfile::tempdir().unwrap();
    args.push(reports.path().to_string_lossy().into_owned());
    for name in &names {
        for pairing in [
            format!("{name}:native"),
            format!("native:{name}"),
            format!("{name}:chromium"),
            format!("chromium:{name}"),
            format!("{name}:firefox"),
            format!("firefox:{name}"),
            format!("{name}:{name}"),
        ] {
            args.extend(["--pairing".to_string(), pairing]);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, output) = run_to_end(&repo_root(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = std::fs::read_to_string(reports.path().join("latest/report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = report["cases"].as_array().unwrap();
    const PAIRINGS_PER_STACK: usize = 7;
    const SCENARIOS: usize = 3;
    assert_eq!(
        cases.len(),
        names.len() * PAIRINGS_PER_STACK * SCENARIOS,
        "{stderr}"
    );
    let mut wrong = Vec::new();
    for kind in &shipped {
        let name = kind.name.as_str();
        let mine: Vec<&serde_json::Value> = cases
            .iter()
            .filter(|c| c["offerer"] == name || c["answerer"] == name)
            .collect();
        // Cases whose echo probe came back: the stack really carried data, whatever else the
        // case expected (gstreamer's only fail the ICE-state check, a known webrtcbin bug).
        let echoed = mine
            .iter()
            .filter(|c| c["echo_round_trip_ms"].is_number())
            .count();
        let mut passed = 0;
        for case in &mine {
            let what = format!("{} [{}]", case["scenario"], case["pairing"]);
            let failure = case["failure"].as_str().unwrap_or_default();
            match case["status"].as_str().unwrap() {
                "passed" => passed += 1,
                "xfail" => {}
                "skipped" => {
                    let declared = kind.unsupported.iter().any(|(feature, _)| {
                        failure.contains(&format!("{name} cannot `{feature}`"))
                    });
                    if !declared {
                        wrong.push(format!(
                            "{what} skipped without a declared reason: {failure}"
                        ));
                    }
                }
                status => wrong.push(format!("{what}: {status}: {failure}")),
            }
            // The report names the stack and the version it reported.
            let listed = case["browsers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["kind"] == name && !b["version"].as_str().unwrap().is_empty());
            assert!(
                listed || case["status"] == "skipped",
                "{what}: {}",
                case["browsers"]
            );
        }
        if echoed < 3 {
            wrong.push(format!(
                "{name}: only {echoed} of {} cases carried the echo ({passed} passed)",
                mine.len()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// werift advertises `a=max-message-size:65536`, aiortc 262144: werift sends aiortc's maximum,
/// which aiortc receives but may not echo back (RFC 8841 §6), and refuses to. The offerer's
/// `expect_echo` waits only for what may come back, so the case passes — with the refusal on
/// record in the answerer's channel log, so the large message really took that path.
#[test]
fn an_echo_larger_than_the_sender_advertises_is_not_expected_back() {
    let reports = tempfile::tempdir().unwrap();
    let reports_arg = reports.path().to_string_lossy().into_owned();
    let args = [
        "run",
        "--peers",
        "werift,aiortc",
        "--pairing",
        "werift:aiortc",
        "--scenario",
        "datachannel-options",
        "--snapshots",
        "off",
        "--reports",
        &reports_arg,
    ];
    let (_, output) = run_to_end(&repo_root(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = std::fs::read_to_string(reports.path().join("latest/report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["status"], "passed", "{}: {stderr}", case["failure"]);
    let bulk = |side: &str| -> serde_json::Value {
        case["channels"][side]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["label"] == "bulk")
            .cloned()
            .unwrap_or_else(|| panic!("{side} has no `bulk` channel: {case}"))
    };
    let (sender, echoer) = (bulk("offerer"), bulk("answerer"));
    assert_eq!(sender["messages_sent"], 2, "{sender}");
    assert_eq!(sender["echoes_matched"], 1, "{sender}");
    let refusals = echoer["send_errors"].as_array().unwrap();
    assert!(
        refusals
            .iter()
            .any(|e| e.as_str().unwrap().contains("65536")),
        "the echoer should have refused the 262144-byte echo: {echoer}"
    );
}
