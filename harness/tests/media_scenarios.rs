//! End to end: the shipped media scenarios on all nine pairings of real native, Chromium and
//! Firefox peers — each case judged on what the peers observed (RTP counters, decoded frames, the
//! picture) and checked here against that evidence — and the failures the media checks must
//! catch: a disabled camera, a codec one side does not accept, a receiver that gets no packets.

use crate::common;

use rtc_interop::observe::MediaTrackLog;
use rtc_interop::outcome::{CaseResult, Status};
use rtc_interop::scenario::PeerKind::{Chromium, Firefox, Native};

/// The track of `kind` one side received.
fn received<'a>(r: &'a CaseResult, offerer: bool, kind: &str) -> Option<&'a MediaTrackLog> {
    let side = if offerer {
        &r.tracks.offerer
    } else {
        &r.tracks.answerer
    };
    side.iter().find(|t| t.is_inbound(kind))
}

/// What the evidence of a received video track must show: frames that kept coming, in the
/// codec negotiated, sampled over time.
fn assert_video_flowed(r: &CaseResult, offerer: bool, codec: &str) {
    let side = if offerer { "offerer" } else { "answerer" };
    let log = received(r, offerer, "video")
        .unwrap_or_else(|| panic!("{} {side}: no video track", r.pairing));
    assert!(
        log.codec
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&format!("video/{codec}"))),
        "{} {side}: codec {:?}",
        r.pairing,
        log.codec
    );
    assert!(
        log.packets >= 25 && log.frames >= 15,
        "{} {side}: {log:?}",
        r.pairing
    );
    assert!(log.first_frame_at_ms.is_some(), "{} {side}", r.pairing);
    assert!(log.moving(), "{} {side}: {:?}", r.pairing, log.frame_checks);
    // Sampled during the case, counters never going back.
    assert!(log.samples.len() >= 2, "{} {side}", r.pairing);
    assert!(
        log.samples.windows(2).all(|w| w[1].bytes >= w[0].bytes),
        "{} {side}",
        r.pairing
    );
    if matches!(
        if offerer { r.offerer } else { r.answerer },
        Chromium | Firefox
    ) {
        // A browser decoded it: the frame size and a canvas look that was not black.
        assert!(log.frame_width.is_some(), "{} {side}", r.pairing);
        assert_eq!(log.frame_checks.last().unwrap().black, Some(false));
    }
}

/// Every description of both sides that has a `video` m-line.
fn video_sections(r: &CaseResult) -> Vec<String> {
    r.sdp
        .offerer
        .iter()
        .chain(&r.sdp.answerer)
        .filter(|d| d.sdp.contains("m=video"))
        .map(|d| d.sdp.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_sends_camera_microphone_and_chat_both_ways_then_hangs_up() {
    for r in common::play_on_every_pairing("audio-video-call").await {
        assert_eq!(r.status, Status::Passed, "{}", r.pairing);
        for offerer in [true, false] {
            assert_video_flowed(&r, offerer, "VP8");
            let audio = received(&r, offerer, "audio").expect("audio");
            assert!(audio.packets >= 25, "{}: {audio:?}", r.pairing);
            assert!(
                audio
                    .codec
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("audio/opus"))
            );
        }
        assert!(r.channels.offerer[0].echoes_matched >= 1);
        let last =
            |states: &[rtc_interop::observe::Transition]| states.last().map(|t| t.state.clone());
        assert_eq!(
            last(&r.connection_states.answerer).as_deref(),
            Some("closed")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_video_codec_is_negotiated_sent_and_decoded_where_both_stacks_have_it() {
    for (scenario, codec) in [
        ("video-vp8", "VP8"),
        ("video-vp9", "VP9"),
        ("video-h264", "H264"),
        ("video-av1", "AV1"),
    ] {
        for r in common::play_on_every_pairing(scenario).await {
            if r.status == Status::ExpectedFailure {
                // An offer the answerer refused decides the case at once, not at its limit.
                let failure = r.failure.as_deref().unwrap_or_default();
                if failure.contains("Failed to parse codecs correctly") {
                    assert!(
                        failure.contains("never completed (its offer could not be answered)"),
                        "{scenario} {}: {failure}",
                        r.pairing
                    );
                }
                continue;
            }
            for offerer in [true, false] {
                assert_video_flowed(&r, offerer, codec);
            }
            // The only video codec both descriptions list is this one (RTX aside).
            for sdp in video_sections(&r) {
                assert!(
                    sdp.contains(&format!(" {codec}/90000")),
                    "{scenario} {}",
                    r.pairing
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audio_only_calls_carry_opus_without_video_or_sctp() {
    for r in common::play_on_every_pairing("audio-only-opus").await {
        for offerer in [true, false] {
            let audio = received(&r, offerer, "audio").expect("audio");
            assert!(audio.packets >= 25, "{}", r.pairing);
            assert!(received(&r, offerer, "video").is_none());
        }
        assert!(video_sections(&r).is_empty());
        assert!(
            r.sdp
                .offerer
                .iter()
                .all(|d| !d.sdp.contains("m=application"))
        );
        // No SCTP transport, yet both sides report their selected pair.
        assert!(r.selected_pair.offerer.is_some() && r.selected_pair.answerer.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recvonly_side_receives_and_sends_nothing() {
    for r in common::play_on_every_pairing("recvonly-video").await {
        assert_video_flowed(&r, true, "VP8");
        assert!(
            received(&r, false, "video").is_none_or(|t| t.packets == 0),
            "{}",
            r.pairing
        );
        let offer = &r.sdp.offerer[0].sdp;
        assert!(offer.contains("a=recvonly"), "{}", r.pairing);
        let answer = &r.sdp.answerer[0].sdp;
        assert!(answer.contains("a=sendonly"), "{}", r.pairing);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn video_added_by_renegotiation_arrives_without_an_ice_restart() {
    for r in common::play_on_every_pairing("renegotiate-add-video").await {
        assert_video_flowed(&r, false, "VP8");
        assert_eq!(r.sdp.offerer.len(), 2, "{}", r.pairing);
        assert!(!r.sdp.offerer[0].sdp.contains("m=video"));
        assert!(r.sdp.offerer[1].sdp.contains("m=video"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_camera_fails_the_picture_check_naming_what_was_seen() {
    let _turn = common::browser_turn().await;
    let scenario = common::scenario(
        "disabled-camera",
        r#"
time_limit_secs = 15
[[steps]]
do = "add_track"
by = "offerer"
kind = "video"
enabled = false
[[steps]]
do = "negotiate"
[[steps]]
do = "expect_media"
by = "answerer"
within_secs = 6
[[expect.media]]
side = "answerer"
kind = "video"
"#,
    );
    let pairings = [
        (Chromium, Chromium),
        (Chromium, Firefox),
        (Native, Chromium),
    ];
    for r in common::run(&common::cases(scenario, &pairings)).await {
        assert_eq!(r.status, Status::Failed, "{}", r.pairing);
        let failure = r.failure.clone().unwrap();
        let expected = match r.offerer {
            // Chromium sends black frames for a disabled track.
            Chromium => "video: the picture is black (canvas",
            // The native peer sends nothing on a disabled track.
            _ => "video: 0 of 25 packets received within 6 s",
        };
        assert!(failure.contains(expected), "{}: {failure}", r.pairing);
        assert!(
            failure.contains(&format!(
                "answerer ({}): step 3 (expect_media, answerer)",
                r.answerer
            )),
            "{}: {failure}",
            r.pairing
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_codec_the_other_side_does_not_accept_names_both_lists() {
    let _turn = common::browser_turn().await;
    let scenario = common::scenario(
        "codec-mismatch",
        r#"
time_limit_secs = 15
[[steps]]
do = "add_track"
by = "offerer"
kind = "video"
codecs = ["VP9"]
[[steps]]
do = "add_track"
by = "answerer"
kind = "video"
codecs = ["VP8"]
[[steps]]
do = "negotiate"
[[steps]]
do = "expect_media"
by = "answerer"
within_secs = 4
[[expect.media]]
side = "answerer"
kind = "video"
codec = "VP9"
"#,
    );
    let pairings = [(Native, Native), (Chromium, Native), (Native, Firefox)];
    for r in common::run(&common::cases(scenario, &pairings)).await {
        assert_eq!(r.status, Status::Failed, "{}", r.pairing);
        let failure = r.failure.clone().unwrap();
        assert!(
            failure.contains("the offer lists VP9"),
            "{}: {failure}",
            r.pairing
        );
        assert!(
            failure.contains("; the answer lists "),
            "{}: {failure}",
            r.pairing
        );
        assert!(
            !failure.contains("the offer lists VP8"),
            "{}: {failure}",
            r.pairing
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_gets_no_packets_fails_with_the_count() {
    let _turn = common::browser_turn().await;
    // Both sides only receive: nobody sends, so whatever arrives is nothing.
    let scenario = common::scenario(
        "nobody-sends",
        r#"
time_limit_secs = 15
[[steps]]
do = "add_track"
by = "offerer"
kind = "video"
direction = "recvonly"
[[steps]]
do = "negotiate"
[[steps]]
do = "expect_media"
by = "offerer"
within_secs = 3
[[expect.media]]
side = "offerer"
kind = "video"
"#,
    );
    let pairings = [(Native, Native), (Chromium, Native), (Firefox, Chromium)];
    for r in common::run(&common::cases(scenario, &pairings)).await {
        assert_eq!(r.status, Status::Failed, "{}", r.pairing);
        let failure = r.failure.clone().unwrap();
        // Browsers fire `track` on the description (then count 0 packets); webrtc-rs fires it
        // on the first packet.
        let said = failure.contains("video: 0 of 25 packets received within 3 s")
            || failure.contains("video: no video track arrived within 3 s");
        assert!(said, "{}: {failure}", r.pairing);
    }
}
