//! `[[expect.media]]`: what each side received, judged from its final observations — the counts
//! and the moving picture (in the same words as a failed `expect_media` step), the codec, and the
//! frame size.

use super::SideView;
use crate::observe::{Observations, media_shortfall};
use crate::scenario::Expectations;
use crate::scenario::media::MediaExpectation;
use crate::sdp::listed_codecs;

/// Checks every `[[expect.media]]` entry that covers `side`; `offer` and `answer` are the first
/// round's descriptions (a codec failure names what each listed).
pub(super) fn check_media(
    expect: &Expectations,
    side: &SideView<'_>,
    descriptions: (&str, &str),
    failures: &mut Vec<String>,
) {
    let obs = side.observations;
    for entry in expect.media.iter().filter(|m| m.side.covers(side.offerer)) {
        let kind = entry.kind.as_str();
        let received = obs.received(kind);
        // A failed `expect_media` step already said what fell short, in these words.
        let step_said_it = obs.failed_step().is_some_and(|s| s.kind == "expect_media");
        if !step_said_it && let Some(shortfall) = media_shortfall(entry, received, &during(obs)) {
            let lists = if received.is_none() {
                format!(" ({})", codec_lists(kind, descriptions))
            } else {
                String::new()
            };
            failures.push(format!("{} {shortfall}{lists}", side.name));
        }
        let Some(log) = received else {
            continue;
        };
        if let Some(spec) = entry.codec_spec()
            && !spec.matches(
                log.codec.as_deref().unwrap_or_default(),
                log.fmtp.as_deref(),
            )
        {
            failures.push(format!(
                "{} {kind}: arrived as {}, expected {} ({})",
                side.name,
                log.codec_shown(),
                entry.codec.as_deref().unwrap_or_default(),
                codec_lists(kind, descriptions)
            ));
        }
        check_frame_size(entry, side, log, failures);
    }
}

/// The frame size a browser receiver decoded (the native peer does not decode: not checked).
fn check_frame_size(
    entry: &MediaExpectation,
    side: &SideView<'_>,
    log: &crate::observe::MediaTrackLog,
    failures: &mut Vec<String>,
) {
    if entry.width.is_none() && entry.height.is_none() || !side.kind.is_browser() {
        return;
    }
    let seen = (log.frame_width, log.frame_height);
    let fits = |want: Option<u32>, got: Option<u32>| want.is_none() || want == got;
    if !fits(entry.width, seen.0) || !fits(entry.height, seen.1) {
        let shown = |v: Option<u32>| v.map_or("?".to_string(), |v| v.to_string());
        failures.push(format!(
            "{} video: frames are {}x{}, expected {}x{}",
            side.name,
            shown(seen.0),
            shown(seen.1),
            shown(entry.width),
            shown(entry.height)
        ));
    }
}

/// `the offer lists VP8, VP9 profile-id=0; the answer lists VP8`.
fn codec_lists(kind: &str, (offer, answer): (&str, &str)) -> String {
    let list = |sdp: &str| {
        let codecs = listed_codecs(sdp, kind);
        if codecs.is_empty() {
            format!("no {kind} codec")
        } else {
            codecs.join(", ")
        }
    };
    format!(
        "the offer lists {}; the answer lists {}",
        list(offer),
        list(answer)
    )
}

/// `in 8 s`: from ICE connected to the side's last media sample or step.
fn during(obs: &Observations) -> String {
    let start = obs
        .ice_connected_at_ms()
        .or_else(|| obs.steps.first().map(|s| s.started_at_ms));
    let last_sample = obs
        .tracks
        .iter()
        .filter_map(|t| t.samples.last().map(|s| s.at_ms))
        .fold(f64::NAN, f64::max);
    let last_step = obs
        .steps
        .iter()
        .filter_map(|s| s.ended_at_ms)
        .fold(f64::NAN, f64::max);
    match start {
        Some(start) if last_sample.max(last_step) > start => {
            format!("in {:.0} s", (last_sample.max(last_step) - start) / 1000.0)
        }
        _ => "during the case".into(),
    }
}
