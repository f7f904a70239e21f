//! Media as one peer saw it: one log per track it sent or received, with counters sampled during
//! the case, and the checks that tell a moving picture from a frozen or black one.

use serde::{Deserialize, Serialize};

use crate::outcome::round_ms;
use crate::scenario::MediaExpectation;

/// How often peers sample their media counters (and browsers their `getStats()`).
pub const MEDIA_SAMPLE_INTERVAL_MS: u64 = 500;

/// How many of the latest looks at a received picture (one a second) judge whether it moves: it
/// is frozen only if none of them saw it move. A test source can stand still for a while of its
/// own — Firefox's fake camera is one colour stepping through the chroma plane, and where a
/// channel clips it looks the same for up to ~1.4 s even against the look two seconds back — and
/// a side whose `expect_media` step passed goes on looking until the other side is done too.
pub const LOOKS_JUDGED: usize = 3;

/// One track one side sent or received.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MediaTrackLog {
    /// `audio` or `video`.
    pub kind: String,
    /// `inbound` (received) or `outbound` (sent).
    pub direction: String,
    /// The transceiver's `mid`, once negotiated.
    pub mid: Option<String>,
    /// The codec's MIME type as the stack reports it (`video/VP9`).
    pub codec: Option<String>,
    /// The codec's fmtp line (`profile-id=0`).
    pub fmtp: Option<String>,
    /// Inbound: when the track arrived (`track` event); outbound: when the first frame went out.
    pub started_at_ms: Option<f64>,
    /// Inbound video: when the first frame was decoded (browsers) or reassembled (native);
    /// inbound audio: when the first packet arrived.
    pub first_frame_at_ms: Option<f64>,
    /// RTP packets received or sent.
    pub packets: u64,
    /// Inbound: packets the stack delivered a second time (a retransmission of one already
    /// received), where the peer counts them (native); not counted again in `packets`.
    pub packets_duplicated: Option<u64>,
    /// Payload bytes received or sent.
    pub bytes: u64,
    /// Video frames decoded / reassembled (inbound) or encoded / sent (outbound).
    pub frames: u64,
    /// Key frames among them.
    pub key_frames: u64,
    /// The frame size last reported (browser receivers and senders).
    pub frame_width: Option<u32>,
    /// The frame height last reported.
    pub frame_height: Option<u32>,
    /// Inbound: interarrival jitter in milliseconds, where the stack reports it.
    pub jitter_ms: Option<f64>,
    /// Inbound: packets lost, where the stack reports it.
    pub packets_lost: Option<i64>,
    /// NACKs sent (inbound) or received (outbound), where the stack reports them.
    pub nack_count: Option<u64>,
    /// PLIs sent (inbound) or received (outbound), where the stack reports them.
    pub pli_count: Option<u64>,
    /// Inbound: the first packet the stack's depacketizer refused, where the peer says (native:
    /// webrtc-rs's sample builder drops such frames without a word).
    pub depacketizer_error: Option<String>,
    /// Checks of the picture (inbound video), in order.
    pub frame_checks: Vec<FrameCheck>,
    /// The counters every [`MEDIA_SAMPLE_INTERVAL_MS`], for the report's bitrate and frame-rate
    /// charts.
    pub samples: Vec<MediaSample>,
}

/// The counters of a track at one moment.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MediaSample {
    /// When they were read.
    pub at_ms: f64,
    /// Packets so far.
    pub packets: u64,
    /// Bytes so far.
    pub bytes: u64,
    /// Frames so far.
    pub frames: u64,
}

/// One look at a received picture: did it change since the looks before it, and is it black?
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FrameCheck {
    /// When the second look was taken.
    pub at_ms: f64,
    /// The picture changed since the look a second (browsers, Python stacks: or two seconds)
    /// before (pixels differ; peers that do not decode: more frames were reassembled).
    pub changed: bool,
    /// The picture is all black (browsers only: the native peer does not decode).
    pub black: Option<bool>,
    /// How it was looked at (`canvas 320x240`, `frame count`).
    pub how: String,
}

impl MediaTrackLog {
    /// Whether this is a track of `kind` received by this side.
    pub fn is_inbound(&self, kind: &str) -> bool {
        self.direction == "inbound" && self.kind == kind
    }

    /// The codec as reports show it: `VP9 profile-id=0`, or `unknown`.
    pub fn codec_shown(&self) -> String {
        let Some(mime) = &self.codec else {
            return "unknown".into();
        };
        let name = mime.rsplit('/').next().unwrap_or(mime);
        match self.fmtp.as_deref().filter(|f| !f.is_empty()) {
            Some(fmtp) => format!("{name} {fmtp}"),
            None => name.to_string(),
        }
    }

    /// The same log with every time counted from `origin_ms` (the case's start), as reports
    /// show them.
    pub fn relative_to(mut self, origin_ms: f64) -> Self {
        let shift = |t: f64| round_ms(t - origin_ms);
        self.started_at_ms = self.started_at_ms.map(shift);
        self.first_frame_at_ms = self.first_frame_at_ms.map(shift);
        for sample in &mut self.samples {
            sample.at_ms = shift(sample.at_ms);
        }
        for check in &mut self.frame_checks {
            check.at_ms = shift(check.at_ms);
        }
        self
    }

    /// The latest looks at the picture, `LOOKS_JUDGED` at most, oldest first.
    pub fn latest_looks(&self) -> &[FrameCheck] {
        let count = self.frame_checks.len();
        &self.frame_checks[count.saturating_sub(LOOKS_JUDGED)..]
    }

    /// The picture moved at one of the latest looks, and is not black at the last one.
    pub fn moving(&self) -> bool {
        let looks = self.latest_looks();
        looks.last().is_some_and(|c| c.black != Some(true)) && looks.iter().any(FrameCheck::moved)
    }
}

impl FrameCheck {
    /// The picture changed at this look and was not black.
    pub fn moved(&self) -> bool {
        self.changed && self.black != Some(true)
    }
}

/// What `expect` still lacks on the received track `log` (`None`: nothing), in the words both
/// peer kinds use for a failed `expect_media` step: `video: 0 of 15 frames decoded within 8 s
/// (212 packets received, codec VP9 profile-id=0)`. `within` ends the sentence (`within 8 s`).
pub fn media_shortfall(
    expect: &MediaExpectation,
    log: Option<&MediaTrackLog>,
    within: &str,
) -> Option<String> {
    let kind = expect.kind.as_str();
    let Some(log) = log else {
        return Some(format!("{kind}: no {kind} track arrived {within}"));
    };
    let codec = log.codec_shown();
    if log.packets < expect.min_packets {
        return Some(format!(
            "{kind}: {} of {} packets received {within} (codec {codec})",
            log.packets, expect.min_packets
        ));
    }
    if !expect.counts_frames() {
        return None;
    }
    if log.frames < expect.min_frames {
        let why = log
            .depacketizer_error
            .as_deref()
            .map_or(String::new(), |e| format!("; {e}"));
        return Some(format!(
            "{kind}: {} of {} frames decoded {within} ({} packets received, codec {codec}{why})",
            log.frames, expect.min_frames, log.packets
        ));
    }
    if !expect.moving {
        return None;
    }
    let looks = log.latest_looks();
    match looks.last() {
        None => Some(format!(
            "{kind}: the picture was never looked at {within} ({} frames decoded)",
            log.frames
        )),
        Some(check) if check.black == Some(true) => Some(format!(
            "{kind}: the picture is black ({}; {} frames decoded, codec {codec})",
            check.how, log.frames
        )),
        Some(check) if !looks.iter().any(FrameCheck::moved) => Some(format!(
            "{kind}: the picture is frozen: it did not change at the last {} look{}, a second \
             apart ({}; {} frames decoded, codec {codec})",
            looks.len(),
            if looks.len() == 1 { "" } else { "s" },
            check.how,
            log.frames
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::media::{MediaKind, MediaSide};

    fn video(min_frames: u64) -> MediaExpectation {
        MediaExpectation {
            side: MediaSide::Both,
            kind: MediaKind::Video,
            codec: None,
            min_packets: 10,
            min_frames,
            width: None,
            height: None,
            moving: true,
        }
    }

    #[test]
    fn each_shortfall_names_the_figure_seen() {
        let expect = video(15);
        assert_eq!(
            media_shortfall(&expect, None, "within 8 s").unwrap(),
            "video: no video track arrived within 8 s"
        );
        let mut log = MediaTrackLog {
            kind: "video".into(),
            direction: "inbound".into(),
            codec: Some("video/VP9".into()),
            fmtp: Some("profile-id=0".into()),
            packets: 212,
            ..Default::default()
        };
        assert_eq!(
            media_shortfall(&expect, Some(&log), "within 8 s").unwrap(),
            "video: 0 of 15 frames decoded within 8 s (212 packets received, codec VP9 profile-id=0)"
        );
        log.frames = 40;
        assert!(
            media_shortfall(&expect, Some(&log), "")
                .unwrap()
                .contains("never looked at")
        );
        log.frame_checks.push(FrameCheck {
            at_ms: 1.0,
            changed: true,
            black: Some(true),
            how: "canvas 320x240".into(),
        });
        assert!(
            media_shortfall(&expect, Some(&log), "")
                .unwrap()
                .contains("is black (canvas 320x240")
        );
        log.frame_checks.push(FrameCheck {
            at_ms: 2.0,
            changed: false,
            black: Some(false),
            how: "canvas 320x240".into(),
        });
        assert_eq!(
            media_shortfall(&expect, Some(&log), "").unwrap(),
            "video: the picture is frozen: it did not change at the last 2 looks, a second apart \
             (canvas 320x240; 40 frames decoded, codec VP9 profile-id=0)",
            "a look that saw a black picture change is no moving picture"
        );
        log.frame_checks.push(FrameCheck {
            at_ms: 3.0,
            changed: true,
            black: None,
            how: "frame count".into(),
        });
        assert_eq!(media_shortfall(&expect, Some(&log), ""), None);
    }

    #[test]
    fn a_picture_is_frozen_only_when_none_of_the_latest_looks_saw_it_move() {
        let look = |changed| FrameCheck {
            at_ms: 0.0,
            changed,
            black: Some(false),
            how: "canvas 320x240".into(),
        };
        let mut log = MediaTrackLog {
            kind: "video".into(),
            direction: "inbound".into(),
            packets: 100,
            frames: 100,
            ..Default::default()
        };
        // A moving picture that stands still for two looks (a source of its own that stood
        // still): still moving.
        log.frame_checks = vec![look(true), look(false), look(false)];
        assert!(log.moving());
        assert_eq!(media_shortfall(&video(15), Some(&log), ""), None);
        // A third look still: frozen, named with the looks judged.
        log.frame_checks.push(look(false));
        assert!(!log.moving());
        let shortfall = media_shortfall(&video(15), Some(&log), "").unwrap();
        assert!(
            shortfall.contains("did not change at the last 3 looks, a second apart"),
            "{shortfall}"
        );
        // Moving again, then black at the last look: black, whatever moved before.
        log.frame_checks.push(look(true));
        assert!(log.moving());
        log.frame_checks.push(FrameCheck {
            black: Some(true),
            ..look(true)
        });
        assert!(!log.moving());
        assert!(
            media_shortfall(&video(15), Some(&log), "")
                .unwrap()
                .contains("is black")
        );
    }
}
