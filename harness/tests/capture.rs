//! `run --capture`: each case's packets cut from a capture of loopback, with the case's real STUN
//! binding requests in them (parsed), and a bug bundle holding what reproducing it needs.

use crate::common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{BIN, write_scenario};
use rtc_interop::bounded::BoundedCommand;
use rtc_interop::capture::{StunClass, StunMethod, read_packets, stun_messages};
use serde_json::Value;

const ECHO: &str =
    "peers = [\"native\", \"chromium\"]\n[data_channel]\nlabel = \"echo\"\n[expect]\necho = true\n";

/// The ports of every candidate of the case, both sides'.
fn candidate_ports(case: &Value) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for side in ["offerer", "answerer"] {
        for list in ["local", "remote"] {
            for c in case["candidates"][side][list].as_array().unwrap() {
                ports.insert(c["port"].as_u64().unwrap() as u16);
            }
        }
    }
    ports
}

/// Names and contents of the files in a `.tar.gz`.
fn unpacked(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// `run --snapshots off --capture ARGS…` in `dir`, which must pass: the run's folder and its
/// report.json.
fn captured_run(dir: &Path, args: &[&str]) -> (std::path::PathBuf, Value) {
    let output = Command::new(BIN)
        .args(["run", "--snapshots", "off", "--capture"])
        .args(args)
        .current_dir(dir)
        .output_within(common::RUN_LIMIT)
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let run = dir.join("reports/latest");
    let report =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    (run, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_case_gets_its_packets_and_a_bundle() {
    let _turn = common::browser_turn().await;
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path(), "echo", ECHO);
    let (run, report) = captured_run(
        dir.path(),
        &["--pairing", "native:native", "--pairing", "chromium:native"],
    );
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let artifacts = case["artifacts"].as_array().unwrap();
        let path_of = |name: &str| {
            artifacts
                .iter()
                .find(|a| a["name"] == name)
                .unwrap_or_else(|| panic!("no {name}: {case}"))["path"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let capture = path_of("capture.pcap");
        assert!(
            html.contains(&format!("href=\"{capture}\"")),
            "report.html links it"
        );
        let capture = run.join(capture);
        // Only the case's own traffic: every packet has one of its candidates' ports.
        let ports = candidate_ports(case);
        let packets = read_packets(&capture).unwrap();
        assert!(packets.len() >= 10, "{} packets", packets.len());
        for p in &packets {
            assert!(
                ports.contains(&p.src.port()) || ports.contains(&p.dst.port()),
                "{p:?} is not the case's ({ports:?})"
            );
        }
        // ICE connectivity checks: binding requests between the two sides' host candidates,
        // and their answers.
        let stun = stun_messages(&capture).unwrap();
        let requests: Vec<_> = stun
            .iter()
            .filter(|m| m.method == StunMethod::Binding && m.class == StunClass::Request)
            .collect();
        assert!(
            !requests.is_empty(),
            "{} STUN messages: {stun:?}",
            stun.len()
        );
        assert!(
            requests
                .iter()
                .all(|r| ports.contains(&r.src.port()) && ports.contains(&r.dst.port())),
            "{requests:?}"
        );
        assert!(
            stun.iter()
                .any(|m| m.method == StunMethod::Binding && m.class == StunClass::SuccessResponse),
            "{stun:?}"
        );

        let bundle = unpacked(&run.join(path_of("bundle.tar.gz")));
        let names: Vec<&str> = bundle.iter().map(|(n, _)| n.as_str()).collect();
        for wanted in [
            "bundle/capture.pcap",
            "bundle/scenarios/echo.toml",
            "bundle/command.txt",
            "bundle/versions.txt",
            "bundle/case.json",
            "bundle/native.log",
        ] {
            assert!(names.contains(&wanted), "{wanted} not in {names:?}");
        }
        let file = |name: &str| &bundle.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(file("bundle/scenarios/echo.toml"), ECHO);
        assert!(file("bundle/command.txt").contains("run --snapshots off --capture"));
        assert!(file("bundle/command.txt").contains(&format!(
            "--scenario echo --pairing {}:{}",
            case["offerer"].as_str().unwrap(),
            case["answerer"].as_str().unwrap()
        )));
        assert!(file("bundle/versions.txt").contains("webrtc-rs "));
        let entry: Value = serde_json::from_str(file("bundle/case.json")).unwrap();
        assert_eq!(entry["pairing"], case["pairing"]);
        // webrtc-rs's log of the case's time: its ICE agent's records, and the pair it selected
        // between the case's own candidates.
        let native_log = std::fs::read_to_string(run.join(path_of("native.log"))).unwrap();
        assert_eq!(file("bundle/native.log"), &native_log);
        assert!(
            native_log.lines().any(|l| l.contains(" rtc_ice::agent: ")),
            "{native_log}"
        );
        assert!(
            native_log
                .lines()
                .any(|l| l.contains("selected candidate pair")
                    && ports.iter().any(|p| l.contains(&format!(":{p} ")))),
            "no selected pair with one of {ports:?}: {native_log}"
        );
    }
    let chromium = cases.iter().find(|c| c["offerer"] == "chromium").unwrap();
    assert!(
        unpacked(&run.join("cases/1-echo--chromium-native/bundle.tar.gz"))
            .iter()
            .any(|(n, _)| n == "bundle/versions.txt"),
        "{chromium}"
    );
}

/// `--browser-logs`: each browser of the case is its own, and its log (WebRTC's ICE lines
/// included, naming the case's own candidates) is a file of the case and of its bundle.
#[tokio::test(flavor = "multi_thread")]
async fn browser_logs_hold_each_browsers_own_webrtc_lines() {
    let _turn = common::browser_turn().await;
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        "echo",
        "[data_channel]\nlabel = \"echo\"\n[expect]\necho = true\n",
    );
    let (run, report) = captured_run(
        dir.path(),
        &["--browser-logs", "--pairing", "chromium:firefox"],
    );
    let case = &report["cases"][0];
    let ports = candidate_ports(case);
    let log_of = |name: &str| {
        let artifact = case["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {}", case["artifacts"]));
        std::fs::read_to_string(run.join(artifact["path"].as_str().unwrap())).unwrap()
    };
    let chromium = log_of("offerer-chromium.log");
    // WebRTC's port allocator gathered, and a connection to one of the case's candidates formed.
    assert!(chromium.contains("basic_port_allocator.cc"), "{chromium}");
    assert!(
        chromium
            .lines()
            .any(|l| l.contains("connection.cc")
                && ports.iter().any(|p| l.contains(&format!(":{p}")))),
        "no connection with one of {ports:?}"
    );
    let firefox = log_of("answerer-firefox.log");
    assert!(firefox.contains("/nicer"), "{firefox}");
    assert!(
        firefox.lines().any(|l| l.contains("/jsep")),
        "no JSEP line in Firefox's log"
    );
    let bundle = unpacked(&run.join(format!(
        "cases/{}-echo--chromium-firefox/bundle.tar.gz",
        case["index"]
    )));
    for wanted in ["bundle/offerer-chromium.log", "bundle/answerer-firefox.log"] {
        assert!(
            bundle.iter().any(|(n, _)| n == wanted),
            "{wanted} not in the bundle"
        );
    }
    // Without --capture there is nowhere to put them: clap says so before anything starts.
    let refused = Command::new(BIN)
        .args(["run", "--browser-logs"])
        .current_dir(dir.path())
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--capture"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// A `[network]` case is captured inside its namespaces: the NATs' rewriting shows as one STUN
/// transaction seen from the peer's private address and, after the NAT, from its public one.
#[tokio::test(flavor = "multi_thread")]
async fn a_network_case_is_captured_in_its_namespaces_with_the_nat_rewriting() {
    let _turn = common::browser_turn().await;
    let reports = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "run",
            "--snapshots",
            "off",
            "--capture",
            "--scenario",
            "stun-srflx",
            "--pairing",
            "native:native",
            "--reports",
        ])
        .arg(reports.path())
        .current_dir(common::repo_root())
        .output_within(common::RUN_LIMIT)
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let run = reports.path().join("latest");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let case = &report["cases"][0];
    let captures: Vec<String> = case["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("/capture-") && p.ends_with(".pcap"))
        .collect();
    // The peers', the NATs' and the public segment's namespaces.
    assert!(captures.len() >= 3, "{case}");
    let mut sources: std::collections::BTreeMap<String, BTreeSet<std::net::IpAddr>> =
        Default::default();
    for capture in &captures {
        for m in stun_messages(&run.join(capture)).unwrap() {
            if m.class == StunClass::Request {
                sources
                    .entry(m.transaction_id.clone())
                    .or_default()
                    .insert(m.src.ip());
            }
        }
    }
    assert!(!sources.is_empty(), "no STUN request in {captures:?}");
    assert!(
        sources.values().any(|ips| ips.len() >= 2),
        "no request seen both before and after a NAT: {sources:?}"
    );
    let private = case["network"]["offerer"]["address"].as_str().unwrap();
    let public = case["network"]["offerer"]["public_ip"].as_str().unwrap();
    assert!(
        sources.values().any(|ips| {
            ips.iter().any(|ip| ip.to_string() == private)
                && ips.iter().any(|ip| ip.to_string() == public)
        }),
        "the offerer's requests from {private} and, rewritten, from {public}: {sources:?}"
    );
}
