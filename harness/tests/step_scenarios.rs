//! End to end: the shipped step scenarios (hang-up, renegotiate, ice-restart, vanilla ICE, glare,
//! data-channel options) on all nine pairings of real native, Chromium and Firefox peers, each
//! case judged on what the peers observed and checked here against the evidence it rests on.

use crate::common;

use rtc_interop::outcome::{CaseResult, Status};
use rtc_interop::scenario::PeerKind::{Chromium, Firefox, Native};

fn final_state(states: &[rtc_interop::observe::Transition]) -> &str {
    states.last().map_or("", |t| t.state.as_str())
}

fn ufrags(r: &CaseResult, offerer: bool) -> Vec<String> {
    let list = if offerer {
        &r.sdp.offerer
    } else {
        &r.sdp.answerer
    };
    list.iter()
        .filter_map(|d| {
            d.sdp
                .lines()
                .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hang_up_closes_both_sides_on_every_pairing() {
    for r in common::play_on_every_pairing("hang-up").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        for (side, states) in [
            ("offerer", &r.connection_states.offerer),
            ("answerer", &r.connection_states.answerer),
        ] {
            assert_eq!(final_state(states), "closed", "{} {side}", r.pairing);
        }
        // The answerer closed because of `bye`, and saw its channel close.
        let bye = r.signaling.iter().find(|e| e.kind == "bye").expect("bye");
        assert_eq!(
            bye.sender.as_deref(),
            Some(&*format!("offerer-{}", r.offerer))
        );
        assert!(
            r.channels.answerer[0].closed_at_ms.is_some(),
            "{}",
            r.pairing
        );
        let hang_up = r.steps.answerer.last().unwrap();
        assert_eq!((hang_up.kind.as_str(), hang_up.acted), ("hang_up", false));
        assert!(hang_up.ended_at_ms.unwrap() >= bye.at_ms, "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renegotiation_adds_a_channel_without_restarting_ice() {
    for r in common::play_on_every_pairing("renegotiate").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        let offers = r.sdp.offerer.iter().filter(|d| d.kind == "offer").count();
        let answers = r.sdp.answerer.iter().filter(|d| d.kind == "answer").count();
        assert_eq!((offers, answers), (2, 2), "{}", r.pairing);
        for offerer in [true, false] {
            let seen = ufrags(&r, offerer);
            assert!(
                seen.windows(2).all(|w| w[0] == w[1]),
                "{}: {seen:?}",
                r.pairing
            );
        }
        let first = &r.channels.offerer[0];
        assert_eq!((first.label.as_str(), first.echoes_matched), ("first", 2));
        assert_eq!(r.channels.offerer[1].echoes_matched, 1, "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ice_restart_renews_credentials_and_data_still_flows() {
    for r in common::play_on_every_pairing("ice-restart").await {
        let native = r.offerer == Native || r.answerer == Native;
        if (r.offerer, r.answerer) == (Chromium, Firefox) && r.status == Status::ExpectedFailure {
            // The scenario's `flaky` Chromium→Firefox stall after the restart (its symptom
            // decided that: docs/interop-findings.md); the restart itself still happened.
            for offerer in [true, false] {
                let seen = ufrags(&r, offerer);
                assert_eq!(seen.len(), 2, "{}: {seen:?}", r.pairing);
            }
            assert_eq!(r.channels.offerer[0].echoes_matched, 1, "{}", r.pairing);
            continue;
        }
        assert_eq!(
            r.status,
            if native {
                Status::ExpectedFailure
            } else {
                Status::Passed
            },
            "{}: {:?}",
            r.pairing,
            r.failure
        );
        for offerer in [true, false] {
            let seen = ufrags(&r, offerer);
            assert_eq!(seen.len(), 2, "{}: {seen:?}", r.pairing);
            assert_ne!(
                seen[0], seen[1],
                "{}: the restart kept its ufrag",
                r.pairing
            );
        }
        if !native {
            assert_eq!(r.channels.offerer[0].echoes_matched, 2, "{}", r.pairing);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vanilla_ice_sends_no_candidate_messages_and_still_connects() {
    for r in common::play_on_every_pairing("vanilla-ice").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        assert!(
            !r.signaling.iter().any(|e| e.kind == "candidate"),
            "{}: a candidate message in vanilla mode",
            r.pairing
        );
        assert!(!r.candidates.offerer.remote.is_empty(), "{}", r.pairing);
        assert!(!r.candidates.answerer.remote.is_empty(), "{}", r.pairing);
    }
    for r in common::play_on_every_pairing("vanilla-ice-mixed").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        let from = |role: &str| {
            r.signaling
                .iter()
                .filter(|e| e.kind == "candidate")
                .filter(|e| e.sender.as_deref().is_some_and(|s| s.starts_with(role)))
                .count()
        };
        assert!(from("offerer") > 0, "{}", r.pairing);
        assert_eq!(from("answerer"), 0, "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn glare_is_resolved_by_perfect_negotiation() {
    for r in common::play_on_every_pairing("glare-perfect-negotiation").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        // Both sides offered in the `both` step, the offers crossed (the verdict checks it), and
        // the call survived it and echoes.
        assert!(
            r.signaling.iter().filter(|e| e.kind == "offer").any(|e| e
                .sender
                .as_deref()
                .is_some_and(|s| s.starts_with("answerer"))),
            "{}: the answerer never offered",
            r.pairing
        );
        assert_eq!(final_state(&r.connection_states.offerer), "connected");
        assert_eq!(r.channels.offerer[0].echoes_matched, 1, "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn glare_without_perfect_negotiation_shows_what_each_stack_does() {
    for r in common::play_on_every_pairing("glare-no-perfect-negotiation").await {
        if (r.offerer, r.answerer) == (Native, Native) {
            // Neither side rolls back: both wait in have-local-offer (a known failure).
            assert_eq!(r.status, Status::ExpectedFailure, "{:?}", r.failure);
            assert!(
                r.errors.offerer[0].contains("from have-local-offer applying false offer"),
                "{:?}",
                r.errors
            );
            continue;
        }
        assert_eq!(r.status, Status::Passed, "{}: {:?}", r.pairing, r.failure);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn datachannel_options_every_channel_echoes_and_oversize_is_refused() {
    for r in common::play_on_every_pairing("datachannel-options").await {
        if r.status == Status::ExpectedFailure && r.answerer == Native {
            // webrtc-rs's flaky loss of a negotiated channel's first message (its symptom
            // decided that: docs/interop-findings.md).
            let negotiated = r.channels.answerer.iter().find(|c| c.label == "negotiated");
            assert_eq!(
                negotiated.map(|c| c.messages_echoed),
                Some(0),
                "{}",
                r.pairing
            );
            continue;
        }
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        let mut labels: Vec<&str> = r
            .channels
            .offerer
            .iter()
            .map(|c| c.label.as_str())
            .collect();
        labels.sort();
        assert_eq!(
            labels,
            ["bulk", "negotiated", "unreliable"],
            "{}",
            r.pairing
        );
        let bulk = r
            .channels
            .offerer
            .iter()
            .find(|c| c.label == "bulk")
            .unwrap();
        let over = r.steps.offerer.last().unwrap();
        match &over.skipped {
            // Firefox advertises 1 GiB: both max-size sends are skipped, saying so.
            Some(why) => assert!(
                why.contains("advertises max-message-size 1073741823"),
                "{}: {why}",
                r.pairing
            ),
            None => assert_eq!(bulk.send_errors.len(), 1, "{}", r.pairing),
        }
        let negotiated = r
            .channels
            .answerer
            .iter()
            .find(|c| c.label == "negotiated")
            .unwrap();
        assert_eq!(negotiated.messages_echoed, 1, "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_step_reads_the_same_from_every_peer_kind() {
    let _turn = common::browser_turn().await;
    let scenario = common::scenario(
        "never-new",
        r#"
time_limit_secs = 10
[[steps]]
do = "open_channel"
label = "c"
[[steps]]
do = "negotiate"
[[steps]]
do = "wait_for"
of = "connection"
state = "connected"
by = "both"
[[steps]]
do = "wait_for"
of = "gathering"
state = "new"
within_secs = 1
"#,
    );
    let pairings = [(Native, Native), (Chromium, Chromium), (Firefox, Firefox)];
    for r in common::run(&common::cases(scenario, &pairings)).await {
        assert_eq!(r.status, Status::Failed);
        let failure = r.failure.unwrap();
        assert!(
            failure.contains(&format!(
                "; offerer ({}): step 4 (wait_for, offerer): gathering never became `new` within 1 s; last saw `complete`",
                r.offerer
            )),
            "{}: {failure}",
            r.pairing
        );
    }
}
