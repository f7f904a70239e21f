//! Media in scenarios: the tracks an `add_track` step adds, the codecs a side prefers, and what
//! `[[expect.media]]` requires of what a side receives.
//!
//! A codec is named by a **codec spec**: its encoding name, optionally followed by `;key=value`
//! fmtp parameters that must match (`VP9`, `VP9;profile-id=0`,
//! `H264;profile-level-id=42e01f;packetization-mode=1`). Names and keys compare
//! case-insensitively; a parameter the spec does not name may have any value. The browser page
//! reads the same syntax (`codecMatches` in `peer.js`).

use serde::{Deserialize, Serialize};

use crate::sdp::fmtp_params;

/// Audio or video.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A microphone-like track (Opus).
    Audio,
    /// A camera-like track.
    Video,
}

impl MediaKind {
    /// `audio` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// The direction of the transceiver an `add_track` step adds (W3C `RTCRtpTransceiverDirection`).
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TrackDirection {
    /// Sends this side's track and receives the other side's.
    #[default]
    Sendrecv,
    /// Sends only.
    Sendonly,
    /// Receives only: no track of this side's is captured.
    Recvonly,
}

impl TrackDirection {
    /// Whether this side sends media on it.
    pub fn sends(self) -> bool {
        self != TrackDirection::Recvonly
    }
}

/// `getUserMedia` constraints for the track an `add_track` step captures (browsers; the native
/// peer sends its fixture files as they are and ignores these). Numbers are `ideal` values.
#[derive(schemars::JsonSchema, Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConstraints {
    /// Video width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Video height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Video frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    /// Audio processing: echo cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_cancellation: Option<bool>,
    /// Audio processing: noise suppression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_suppression: Option<bool>,
    /// Audio processing: automatic gain control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_gain_control: Option<bool>,
}

impl MediaConstraints {
    /// The set fields that do not apply to `kind` (`frame_rate` on audio).
    pub fn stray_fields(&self, kind: MediaKind) -> Vec<&'static str> {
        let video = [
            ("width", self.width.is_some()),
            ("height", self.height.is_some()),
            ("frame_rate", self.frame_rate.is_some()),
        ];
        let audio = [
            ("echo_cancellation", self.echo_cancellation.is_some()),
            ("noise_suppression", self.noise_suppression.is_some()),
            ("auto_gain_control", self.auto_gain_control.is_some()),
        ];
        let foreign = match kind {
            MediaKind::Audio => video,
            MediaKind::Video => audio,
        };
        foreign
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect()
    }
}

/// A parsed codec spec (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecSpec {
    /// The encoding name as written (`VP9`).
    pub name: String,
    /// fmtp parameters that must match, as written.
    pub params: Vec<(String, String)>,
}

impl CodecSpec {
    /// Parses `NAME[;key=value…]`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "`{text}`: a codec is its encoding name (VP8, VP9, H264, AV1, opus), optionally \
                 followed by `;key=value` fmtp parameters"
            ));
        }
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(format!(
                    "`{text}`: `{p}` is not a `key=value` fmtp parameter"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CodecSpec {
            name: name.to_string(),
            params,
        })
    }

    /// Whether a codec named `name` (`VP9`, or a MIME type `video/VP9`) with fmtp line `fmtp`
    /// matches this spec.
    pub fn matches(&self, name: &str, fmtp: Option<&str>) -> bool {
        let name = name.rsplit('/').next().unwrap_or(name);
        if !self.name.eq_ignore_ascii_case(name) {
            return false;
        }
        let given = fmtp_params(fmtp.unwrap_or_default());
        self.params.iter().all(|(key, value)| {
            let stated = given
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str());
            stated
                .or_else(|| implied_param(name, key))
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        })
    }
}

/// fmtp parameters whose absence means a value, per the codecs' RTP payload formats: VP9
/// `profile-id` 0 (RFC 9628 §6), AV1 `profile` 0, `level-idx` 5, `tier` 0 (AV1 RTP spec §7.2),
/// H.264 `packetization-mode` 0 (RFC 6184 §8.1). Firefox, for one, leaves VP9's `profile-id` out.
const IMPLIED_PARAMS: &[(&str, &str, &str)] = &[
    ("vp9", "profile-id", "0"),
    ("av1", "profile", "0"),
    ("av1", "level-idx", "5"),
    ("av1", "tier", "0"),
    ("h264", "packetization-mode", "0"),
];

fn implied_param(codec: &str, key: &str) -> Option<&'static str> {
    IMPLIED_PARAMS
        .iter()
        .find(|(c, k, _)| c.eq_ignore_ascii_case(codec) && k.eq_ignore_ascii_case(key))
        .map(|(_, _, v)| *v)
}

/// Which side an `[[expect.media]]` entry is about: the side that **receives**.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MediaSide {
    /// Both sides receive it.
    #[default]
    Both,
    /// The offerer receives it.
    Offerer,
    /// The answerer receives it.
    Answerer,
}

impl MediaSide {
    /// Whether the entry applies to the offerer (`true`) or the answerer (`false`).
    pub fn covers(self, offerer: bool) -> bool {
        match self {
            MediaSide::Both => true,
            MediaSide::Offerer => offerer,
            MediaSide::Answerer => !offerer,
        }
    }
}

/// `[[expect.media]]`: what one side must receive on its track of one kind. An `expect_media`
/// step waits for the counts and the moving-picture check; the verdict checks everything from the
/// final observations.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaExpectation {
    /// The receiving side.
    #[serde(default)]
    pub side: MediaSide,
    /// Which of its received tracks.
    pub kind: MediaKind,
    /// The codec it must arrive in (a codec spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// At least this many RTP packets received.
    #[serde(default = "default_min_packets")]
    pub min_packets: u64,
    /// Video: at least this many frames decoded (browsers) or reassembled (native).
    #[serde(default = "default_min_frames")]
    pub min_frames: u64,
    /// Video: the decoded frame width (browser receivers; the native peer does not decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Video: the decoded frame height (browser receivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Video: the picture moves and is not black (browsers compare two canvas samples a second
    /// apart; the native peer's frame count must keep growing).
    #[serde(default = "default_moving")]
    pub moving: bool,
}

fn default_min_packets() -> u64 {
    25
}

fn default_min_frames() -> u64 {
    15
}

fn default_moving() -> bool {
    true
}

impl MediaExpectation {
    /// The checks that apply to this kind: frames and the picture only mean something for video.
    pub fn counts_frames(&self) -> bool {
        self.kind == MediaKind::Video
    }

    /// The parsed codec spec, if the entry names one (validated when the scenario is loaded).
    pub fn codec_spec(&self) -> Option<CodecSpec> {
        self.codec.as_deref().and_then(|c| CodecSpec::parse(c).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_specs_match_name_and_the_parameters_they_name() {
        let vp9 = CodecSpec::parse("VP9;profile-id=0").unwrap();
        assert!(vp9.matches("video/VP9", Some("profile-id=0")));
        assert!(vp9.matches("vp9", Some("x=1; Profile-Id=0")));
        assert!(!vp9.matches("video/VP9", Some("profile-id=2")));
        // Absent, profile-id means profile 0 (RFC 9628); a stated other profile does not match.
        assert!(vp9.matches("video/VP9", None));
        assert!(vp9.matches("video/VP9", Some("max-fs=12288;max-fr=60")));
        let h264_mode1 = CodecSpec::parse("H264;packetization-mode=1").unwrap();
        assert!(!h264_mode1.matches("video/H264", Some("profile-level-id=42e01f")));
        assert!(!vp9.matches("video/VP8", Some("profile-id=0")));
        let h264 = CodecSpec::parse("H264").unwrap();
        assert!(h264.matches("video/H264", Some("profile-level-id=42e01f")));
        assert!(CodecSpec::parse("").is_err());
        assert!(
            CodecSpec::parse("VP9;profile-id")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(CodecSpec::parse("video/VP9").is_err());
    }

    #[test]
    fn constraints_name_the_fields_of_the_other_kind() {
        let c = MediaConstraints {
            width: Some(640),
            echo_cancellation: Some(false),
            ..Default::default()
        };
        assert_eq!(c.stray_fields(MediaKind::Audio), ["width"]);
        assert_eq!(c.stray_fields(MediaKind::Video), ["echo_cancellation"]);
    }
}
