use serde_json::json;

use super::*;
use crate::observe::{EchoLog, Transition};
use crate::outcome::CandidateSets;
use crate::relay::TraceEntry;
use crate::report::test_fixtures::{candidate, case, end, network};
use crate::scenario::CandidateType;

/// The page as a browser shows it with every case opened.
fn render(run_id: &str, results: &[CaseResult], unplayed: &[UnplayedCase]) -> String {
    evidence::expanded(&super::render(run_id, results, unplayed)).unwrap()
}

fn transitions(list: &[(&str, f64)]) -> Vec<Transition> {
    list.iter()
        .map(|&(state, at_ms)| Transition {
            state: state.into(),
            at_ms,
        })
        .collect()
}

fn entry(
    at_ms: f64,
    connection: u64,
    sender: Option<&str>,
    message: serde_json::Value,
) -> TraceEntry {
    TraceEntry {
        at_ms,
        room: "run/0-case".into(),
        connection,
        kind: message["type"].as_str().unwrap().into(),
        sender: sender.map(String::from),
        delivered_to: 1,
        message,
    }
}

/// The text of the element that carries `marker` in its opening tag, up to `close`.
fn element<'a>(html: &'a str, marker: &str, close: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the page"));
    let start = html[..=start].rfind('<').unwrap();
    let len = html[start..].find(close).unwrap();
    &html[start..start + len]
}

/// The `<details>` opening tag of case `index`.
fn details_tag(html: &str, index: usize) -> &str {
    let start = html.find(&format!("id=\"case-{index}\"")).unwrap();
    let start = html[..start].rfind('<').unwrap();
    let len = html[start..].find('>').unwrap();
    &html[start..=start + len]
}

#[test]
fn matrix_has_a_cell_per_pairing_with_its_status() {
    use PeerKind::{Chromium, Native};
    let results = vec![
        case(Native, Native, Status::Passed),
        case(Native, Chromium, Status::Skipped),
        case(Chromium, Native, Status::Passed),
        case(Chromium, Chromium, Status::Failed),
    ];
    let html = render("run-1", &results, &[]);
    for (index, (pairing, status)) in [
        ("native→native", "passed"),
        ("native→chromium", "skipped"),
        ("chromium→native", "passed"),
        ("chromium→chromium", "failed"),
    ]
    .into_iter()
    .enumerate()
    {
        let cell = element(&html, &format!("data-pairing=\"{pairing}\""), "</td>");
        assert!(
            cell.starts_with(&format!("<td class=\"cell {status}\"")),
            "{cell}"
        );
        assert!(cell.contains(&format!("href=\"#case-{index}\"")), "{cell}");
    }
    assert_eq!(html.matches("<td class=\"cell ").count(), 4);
    let native_native = element(&html, "data-pairing=\"native→native\"", "</td>");
    assert!(
        native_native.contains("connected in 75.5 ms"),
        "{native_native}"
    );
}

#[test]
fn matrix_axes_are_the_kinds_that_took_part() {
    let mut only_native = case(PeerKind::Native, PeerKind::Native, Status::Passed);
    only_native.scenario = "native-only".into();
    let mixed = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
    let html = render("run-1", &[only_native, mixed], &[]);
    let first = element(&html, "<h3>native-only</h3>", "</table>");
    assert!(!first.contains("chromium"), "{first}");
    // The second scenario has both kinds; chromium→chromium and chromium→native never ran.
    let second = element(&html, "<h3>datachannel-echo</h3>", "</table>");
    assert_eq!(
        second.matches("<td class=\"cell none\">").count(),
        3,
        "{second}"
    );
}

#[test]
fn matrix_cell_names_the_selected_candidate_types() {
    let mut r = case(PeerKind::Native, PeerKind::Native, Status::Passed);
    r.selected_pair = Sides {
        offerer: Some(SelectedPair {
            local: end("host", 1),
            remote: end("prflx", 2),
        }),
        answerer: Some(SelectedPair {
            local: end("host", 2),
            remote: end("host", 1),
        }),
    };
    let html = render("run-1", &[r], &[]);
    let cell = element(&html, "data-pairing=\"native→native\"", "</td>");
    assert!(cell.contains("host↔prflx (answerer: host↔host)"), "{cell}");
}

#[test]
fn failed_case_is_open_and_shows_its_failure_escaped() {
    let passed = case(PeerKind::Native, PeerKind::Native, Status::Passed);
    let mut failed = case(PeerKind::Native, PeerKind::Chromium, Status::Failed);
    failed.failure =
        Some(r#"offerer (native): no <relay> candidate & "srflx"; answerer: timeout"#.into());
    let html = render("run-1", &[passed, failed], &[]);
    assert!(
        !details_tag(&html, 0).contains(" open"),
        "{}",
        details_tag(&html, 0)
    );
    assert!(
        details_tag(&html, 1).ends_with(" open>"),
        "{}",
        details_tag(&html, 1)
    );
    let failure = element(&html, "class=\"failure\"", "</ul>");
    assert!(
        failure.contains(
            "<li>offerer (native): no &lt;relay&gt; candidate &amp; &quot;srflx&quot;</li>"
        ),
        "{failure}"
    );
    assert!(failure.contains("<li>answerer: timeout</li>"), "{failure}");
}

#[test]
fn markup_from_peers_never_reaches_the_page_unescaped() {
    let evil = "<script>alert(1)</script>";
    let mut r = case(PeerKind::Chromium, PeerKind::Native, Status::Failed);
    r.scenario = evil.into();
    r.failure = Some(evil.into());
    r.errors.offerer = vec![evil.into()];
    r.sdp.offerer = vec![crate::observe::Description {
        kind: "offer".into(),
        sdp: format!("v=0\r\na=x:{evil}\r\n"),
        at_ms: 1.0,
        local_candidates_before: None,
        remote_candidates_before: None,
    }];
    r.ice_states.offerer = transitions(&[(evil, 1.0)]);
    r.signaling = vec![entry(2.0, 1, Some(evil), json!({"type": evil, "m": evil}))];
    r.browsers = vec![crate::peer::BrowserInfo {
        kind: PeerKind::Chromium,
        version: evil.into(),
        user_agent: evil.into(),
        driver_version: evil.into(),
        endpoint: Some(evil.into()),
    }];
    r.channels.offerer = vec![DataChannelLog {
        label: evil.into(),
        opened_at_ms: Some(3.0),
        ..Default::default()
    }];
    let html = render(evil, &[r], &[]);
    // The page's own script, and the evidence chunk (base64).
    assert_eq!(html.matches("id=\"evidence-").count(), 1);
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own script"
    );
    assert_eq!(html.matches("</script").count(), 2);
    assert!(!html.contains("alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn ladder_has_one_arrow_per_trace_entry_in_order() {
    let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
    let mut early_hello = entry(
        1.0,
        7,
        Some("offerer-native"),
        json!({"type": "hello", "m": "offerer-native"}),
    );
    early_hello.delivered_to = 0;
    r.signaling = vec![
        early_hello,
        entry(
            2.5,
            8,
            Some("answerer-chromium"),
            json!({"type": "hello", "m": "answerer-chromium"}),
        ),
        entry(
            3.0,
            7,
            Some("offerer-native"),
            json!({"type": "offer", "sdp": "v=0", "m": "offerer-native"}),
        ),
        entry(
            4.25,
            7,
            Some("offerer-native"),
            json!({"type": "candidate", "candidate": "candidate:1 1 UDP 2130706431 192.0.2.2 5000 typ host", "m": "offerer-native"}),
        ),
        entry(
            5.0,
            8,
            Some("answerer-chromium"),
            json!({"type": "answer", "sdp": "v=0", "m": "answerer-chromium"}),
        ),
        // No id: the connection says it is the answerer.
        entry(6.0, 8, None, json!({"type": "candidate", "candidate": ""})),
        // Neither id nor connection known.
        entry(
            7.0,
            9,
            Some("stranger"),
            json!({"type": "bye", "m": "stranger"}),
        ),
    ];
    let html = render("run-1", &[r], &[]);
    let ladder = element(&html, "class=\"ladder\"", "</svg>");
    let arrows: Vec<&str> = ladder.split("<g class=\"msg\"").skip(1).collect();
    assert_eq!(arrows.len(), 7);
    let expected = [
        "hello @ 1.0 ms · not delivered",
        "hello @ 2.5 ms",
        "offer @ 3.0 ms",
        "candidate host udp 192.0.2.2:5000 @ 4.2 ms",
        "answer @ 5.0 ms",
        "end-of-candidates @ 6.0 ms",
        "bye @ 7.0 ms",
    ];
    for (i, (arrow, label)) in arrows.iter().zip(expected).enumerate() {
        assert!(
            arrow.starts_with(&format!(" data-index=\"{i}\"")),
            "{arrow}"
        );
        assert!(arrow.contains(&format!(">{label}")), "arrow {i}: {arrow}");
    }
    let line_from = |arrow: &str| {
        let at = arrow.find("<line x1=\"").expect("an arrow line") + 10;
        arrow[at..]
            .split('"')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let line_to = |arrow: &str| {
        let at = arrow.find(" x2=\"").expect("an arrow line") + 5;
        arrow[at..]
            .split('"')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    // Offerer messages go left to right, answerer messages right to left; the undelivered hello
    // stops at the relay.
    assert!(line_from(arrows[2]) < line_to(arrows[2]));
    assert!(line_from(arrows[4]) > line_to(arrows[4]));
    assert!(line_from(arrows[5]) > line_to(arrows[5]));
    assert!(line_to(arrows[0]) < line_to(arrows[2]));
    assert!(
        arrows[6].contains("<circle"),
        "unknown sender on the relay: {}",
        arrows[6]
    );
}

#[test]
fn timeline_has_a_segment_per_transition() {
    let mut r = case(PeerKind::Native, PeerKind::Native, Status::Passed);
    r.ice_states = Sides {
        offerer: transitions(&[("new", 1.2), ("checking", 45.0), ("connected", 1052.3)]),
        answerer: transitions(&[("new", 0.8), ("checking", 45.0), ("connected", 1052.3)]),
    };
    r.connection_states.offerer =
        transitions(&[("new", 1.2), ("connecting", 45.0), ("connected", 1254.3)]);
    r.gathering_states.answerer =
        transitions(&[("new", 0.8), ("gathering", 1.0), ("complete", 45.0)]);
    let html = render("run-1", &[r], &[]);
    let timeline = element(&html, "class=\"timeline\"", "</svg>");
    let states: Vec<&str> = timeline
        .split("<g class=\"segment\" data-state=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "new",
            "checking",
            "connected",
            "new",
            "checking",
            "connected",
            "new",
            "connecting",
            "connected",
            "new",
            "gathering",
            "complete"
        ]
    );
    assert!(timeline.contains("<title>checking: from 45.0 ms until 1052.3 ms</title>"));
    assert!(timeline.contains("<title>connected: from 1254.3 ms until the end</title>"));
    // The two bands nobody reported still show.
    assert_eq!(timeline.matches(">not observed<").count(), 2);
    // One color per state name.
    let color_of = |state: &str| {
        let at = timeline.find(&format!("data-state=\"{state}\"")).unwrap();
        let fill = timeline[at..].find("fill=\"").unwrap() + at + 6;
        timeline[fill..fill + 7].to_string()
    };
    assert_ne!(color_of("new"), color_of("connected"));
    for (i, _) in timeline.match_indices("data-state=\"connected\"") {
        let fill = timeline[i..].find("fill=\"").unwrap() + i + 6;
        assert_eq!(timeline[fill..fill + 7], color_of("connected"));
    }
}

#[test]
fn case_details_show_candidates_pair_and_echo() {
    let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
    let host = |port| candidate(CandidateType::Host, port);
    r.candidates.offerer = CandidateSets {
        local: vec![host(5000), host(5001)],
        remote: vec![host(6000)],
        remote_complete: true,
    };
    r.selected_pair.offerer = Some(SelectedPair {
        local: end("host", 5001),
        remote: end("prflx", 6000),
    });
    r.channels.offerer = vec![DataChannelLog {
        label: "echo".into(),
        opened_at_ms: Some(10.0),
        echo: Some(EchoLog {
            sent: "ping".into(),
            sent_at_ms: 10.0,
            received: Some("ping".into()),
            received_at_ms: Some(12.5),
        }),
        ..Default::default()
    }];
    let html = render("run-1", &[r], &[]);
    let selected: Vec<&str> = html
        .match_indices("<tr class=\"selected\">")
        .map(|(i, _)| &html[i..i + 140])
        .collect();
    assert_eq!(selected.len(), 2, "{selected:?}");
    assert!(selected[0].contains("<td>5001</td>"));
    assert!(selected[1].contains("<td>6000</td>"));
    assert!(html.contains("host udp 192.0.2.2:5001 ↔ prflx udp 192.0.2.2:6000"));
    let echo = element(&html, "<td>echo</td>", "</tr>");
    assert!(
        echo.contains("<td>2.5 ms</td>") && echo.contains(">intact</td>"),
        "{echo}"
    );
}

#[test]
fn report_is_written_on_finish_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    let results = vec![case(PeerKind::Native, PeerKind::Native, Status::Passed)];
    let mut report = HtmlReport::new(path.clone());
    report
        .on_event(&RunEvent::Started {
            run: &crate::report::RunInfo {
                run_id: "20261123-183526".into(),
                ..Default::default()
            },
            cases: &[],
        })
        .unwrap();
    assert!(!path.exists());
    report
        .on_event(&RunEvent::Finished {
            results: &results,
            summary: &crate::outcome::RunSummary::of(&results),
            unplayed: &[],
        })
        .unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("<!DOCTYPE html>"));
    assert!(written.contains("<code>20261123-183526</code>"));
    assert!(
        !written.contains(" src=") && !written.contains("<link"),
        "no external assets"
    );
    assert_eq!(written, super::render("20261123-183526", &results, &[]));
}

#[test]
fn sdp_comparison_and_snapshot_checks_are_shown() {
    use crate::sdp::check::{CheckOutcome, SnapshotCheck};
    let offer = |max: u32| crate::observe::Description {
        kind: "offer".into(),
        sdp: format!(
            "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sctp-port:5000\r\na=max-message-size:{max}\r\n"
        ),
        at_ms: 1.0,
        local_candidates_before: None,
        remote_candidates_before: None,
    };
    let mut native = case(PeerKind::Native, PeerKind::Chromium, Status::Failed);
    native.sdp.offerer = vec![offer(65536)];
    native.snapshots = vec![SnapshotCheck {
        name: "datachannel-echo__native-to-chromium__offerer-offer".into(),
        snapshot: "scenarios/snapshots/x.snap".into(),
        side: "offerer".into(),
        peer: PeerKind::Native,
        description: "offer".into(),
        outcome: CheckOutcome::Changed,
        changes: vec!["m=application: sctp max-message-size 262144 → 65536".into()],
        pending: Some("scenarios/snapshots/x.snap.new".into()),
        error: None,
    }];
    let mut chromium = case(PeerKind::Chromium, PeerKind::Native, Status::Passed);
    chromium.sdp.offerer = vec![offer(262144)];
    let html = render("run", &[native, chromium], &[]);
    let section = element(&html, "class=\"sdp-compare\"", "</details>");
    assert!(
        section.contains("features that differ: 1 in offers"),
        "{section}"
    );
    assert!(
        section.contains("<mark>*  application: max-message-size  65536"),
        "{section}"
    );
    let sdp = element(&html, "class=\"sdp\" open", "</table>");
    assert!(sdp.contains("1 of 1 snapshot(s) differ"), "{sdp}");
    assert!(
        sdp.contains("<td>changed</td><td>m=application: sctp max-message-size 262144 → 65536<br>pending review: scenarios/snapshots/x.snap.new</td>"),
        "{sdp}"
    );
}

#[test]
fn candidate_types_show_nats_gathered_types_and_selected_pairs() {
    use crate::scenario::NatType;
    let mut behind = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
    behind.scenario = "nat-symmetric".into();
    behind.network = network(NatType::Symmetric, NatType::PortRestricted);
    behind.candidates.offerer.local = vec![
        candidate(CandidateType::Host, 1),
        candidate(CandidateType::Srflx, 2),
        candidate(CandidateType::Srflx, 3),
    ];
    behind.selected_pair.offerer = Some(SelectedPair {
        local: end("srflx", 2),
        remote: end("prflx", 4),
    });
    let mut on_host = case(PeerKind::Native, PeerKind::Native, Status::Failed);
    on_host.candidates.answerer.local = vec![candidate(CandidateType::Host, 5)];
    // Nothing gathered in this scenario: no table for it.
    let mut skipped = case(PeerKind::Native, PeerKind::Native, Status::Skipped);
    skipped.scenario = "never-ran".into();
    let html = render("run-1", &[behind, on_host, skipped], &[]);

    // A scenario's part of the page: from its heading to the next.
    let scenario = |name: &str| {
        let heading = format!("{name}</h3>");
        html.split("<h3>")
            .find(|part| part.starts_with(&heading))
            .unwrap_or_else(|| panic!("no section for {name}"))
    };
    let row = element(
        scenario("nat-symmetric"),
        "<td>native→chromium</td>",
        "</tr>",
    );
    assert_eq!(
        row,
        "<td>native→chromium</td><td>symmetric</td><td>port-restricted</td>\
         <td>host srflx×2</td><td>none</td><td>srflx → prflx</td>\
         <td><span class=\"muted\">none</span></td><td class=\"passed\">passed</td>"
    );
    let on_host = scenario("datachannel-echo");
    assert!(
        on_host.contains(
            "<td colspan=\"2\" class=\"muted\">host network</td><td>none</td><td>host</td>"
        ),
        "{on_host}"
    );
    assert!(!scenario("never-ran").contains("Candidate types"));
    assert_eq!(html.matches("<h4>Candidate types</h4>").count(), 2);
    // The case's own section says where each peer sat.
    assert!(
        html.contains(
            "<dt>offerer network</dt><dd>symmetric NAT · host 10.0.1.2 · public 198.51.100.1 · \
             <span class=\"muted\">rtc-1</span></dd>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("network</dt>").count(), 2);
}

#[test]
fn ladder_shows_the_steps_each_side_acted_in_between_the_messages() {
    use crate::observe::StepLog;
    let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Failed);
    let step = |index: usize, kind: &str, acted: bool, at: f64, error: Option<&str>| StepLog {
        index,
        kind: kind.into(),
        by: "offerer".into(),
        acted,
        started_at_ms: at,
        ended_at_ms: Some(at + 1.0),
        error: error.map(str::to_string),
        ..Default::default()
    };
    r.signaling = vec![entry(
        3.0,
        7,
        Some("offerer-native"),
        json!({"type": "offer", "sdp": "v=0", "m": "offerer-native"}),
    )];
    r.steps.offerer = vec![step(1, "negotiate", true, 2.0, None)];
    r.steps.answerer = vec![
        // A counterpart that went fine is not drawn; one that failed is.
        step(1, "negotiate", false, 2.5, None),
        step(2, "send", false, 9.0, Some("0 of 1 messages arrived")),
    ];
    let html = render("run-1", &[r], &[]);
    let ladder = element(&html, "class=\"ladder\"", "</svg>");
    let rows: Vec<&str> = ladder
        .split("<g class=")
        .skip(1)
        .map(|g| {
            if g.starts_with("\"step\"") {
                "step"
            } else {
                "msg"
            }
        })
        .collect();
    assert_eq!(rows, ["step", "msg", "step"]);
    assert!(
        ladder.contains("step 2 negotiate @ 2.0 → 3.0 ms · done"),
        "{ladder}"
    );
    assert!(
        ladder.contains("step 3 send @ 9.0 → 10.0 ms · failed"),
        "{ladder}"
    );
    assert!(
        ladder.contains("<title>0 of 1 messages arrived</title>"),
        "{ladder}"
    );
}

use crate::observe::{FrameCheck, MediaSample, MediaTrackLog};

/// A track of `kind` going `direction`, with `samples` as (ms, bytes, frames).
fn track(kind: &str, direction: &str, samples: &[(f64, u64, u64)]) -> MediaTrackLog {
    MediaTrackLog {
        kind: kind.into(),
        direction: direction.into(),
        mid: Some("0".into()),
        codec: Some(format!(
            "{kind}/{}",
            if kind == "video" { "VP8" } else { "opus" }
        )),
        samples: samples
            .iter()
            .map(|&(at_ms, bytes, frames)| MediaSample {
                at_ms,
                packets: 0,
                bytes,
                frames,
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn media_section_has_a_row_per_track_and_a_line_per_sampled_track() {
    let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
    let mut received = track(
        "video",
        "inbound",
        &[(0.0, 0, 0), (1000.0, 125_000, 30), (2000.0, 250_000, 60)],
    );
    received.packets = 212;
    received.bytes = 250_000;
    received.frames = 60;
    received.key_frames = 2;
    received.frame_width = Some(320);
    received.frame_height = Some(240);
    received.first_frame_at_ms = Some(412.5);
    received.jitter_ms = Some(3.5);
    received.packets_lost = Some(1);
    received.nack_count = Some(4);
    received.pli_count = Some(0);
    received.frame_checks.push(FrameCheck {
        at_ms: 1900.0,
        changed: false,
        black: Some(false),
        how: "canvas <320x240>".into(),
    });
    r.tracks.answerer = vec![received];
    r.tracks.offerer = vec![
        track("video", "outbound", &[(0.0, 0, 0), (1000.0, 125_000, 30)]),
        // One sample is no rate: a row, but no line.
        track("audio", "outbound", &[(500.0, 4_000, 0)]),
    ];
    let html = render("run-1", &[r], &[]);

    let media = element(&html, "<h4>Media</h4>", "<h4>Candidates</h4>");
    assert!(
        html.find("<h4>State timelines</h4>").unwrap() < html.find("<h4>Media</h4>").unwrap(),
        "media comes after the timelines"
    );
    let table = element(media, "class=\"grid media\"", "</table>");
    // The heading and a row per track.
    assert_eq!(table.matches("<tr><th>").count(), 4, "{table}");
    let row = element(table, "<th>answerer (chromium)</th>", "</tr>");
    for cell in [
        "<td>video</td>",
        "<td>received</td>",
        "<td>VP8</td>",
        "<td>0</td>",
        "<td>212</td>",
        "<td>250000</td>",
        "<td>60</td>",
        "<td>2</td>",
        "<td>320x240</td>",
        "<td>412.5 ms</td>",
        "<td>3.5 ms</td>",
        "<td>1</td>",
        "<td>4</td>",
        "title=\"canvas &lt;320x240&gt; @ 1900.0 ms\">frozen</td>",
    ] {
        assert!(row.contains(cell), "no {cell} in {row}");
    }
    let sent = element(table, "<th>offerer (native)</th>", "</tr>");
    assert!(
        sent.contains("<td>sent</td>") && sent.ends_with("<td>—</td>"),
        "{sent}"
    );
    assert!(table.contains("<td>opus</td>"), "{table}");

    // Two charts (one per side); the bitrate line of each sampled track, and the frame rate line
    // of each video track: the audio track has a single sample and draws nothing.
    assert_eq!(media.matches("<svg class=\"media-chart\"").count(), 2);
    assert_eq!(media.matches("<polyline").count(), 4, "{media}");
    assert!(
        media.contains("stroke-dasharray=\"6 3\""),
        "sent tracks are dashed"
    );
    // 125000 B in 1000 ms is 1000 kbit/s; 30 frames in 1000 ms are 30 frames/s.
    assert!(
        media.contains("received video VP8 (mid 0): 1000.0 kbit/s from 0.0 to 1000.0 ms"),
        "{media}"
    );
    assert!(media.contains("sent video VP8 (mid 0): up to 1000.0 kbit/s"));
    assert!(media.contains("received video VP8 (mid 0): 30.0 frames/s from 1000.0 to 2000.0 ms"));
    assert!(
        media.contains(">1000</text>"),
        "the bitrate axis has a 1000 tick"
    );
    let legend = element(media, "<p class=\"legend\">", "</p>");
    assert!(
        legend.contains("sent video VP8 (mid 0)") && !legend.contains("audio"),
        "{legend}"
    );
}

#[test]
fn cases_without_tracks_have_no_media_section() {
    let html = render(
        "run-1",
        &[case(PeerKind::Native, PeerKind::Native, Status::Passed)],
        &[],
    );
    assert!(!html.contains("<h4>Media</h4>"));
    assert!(!html.contains("media-chart"));
}

#[test]
fn media_with_too_few_samples_has_a_table_but_no_chart() {
    let mut r = case(PeerKind::Native, PeerKind::Native, Status::Passed);
    r.tracks.offerer = vec![track("audio", "inbound", &[(10.0, 100, 0)])];
    let html = render("run-1", &[r], &[]);
    let media = element(&html, "<h4>Media</h4>", "<h4>Candidates</h4>");
    assert!(media.contains("<td>opus</td>"), "{media}");
    assert!(
        media.contains("no tracks"),
        "the answerer had none: {media}"
    );
    assert!(!media.contains("<svg"), "{media}");
}
