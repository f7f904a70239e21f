//! The codecs of one media section, from its `m=` formats and `a=rtpmap`/`a=fmtp`/`a=rtcp-fb`.

use super::parse::MediaSection;

/// One payload type of a media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Codec {
    /// The payload type number as written.
    pub payload_type: String,
    /// `opus/48000/2`, `H264/90000`: the rtpmap value (or the static assignment).
    pub encoding: String,
    /// The `a=fmtp` parameters as sent, if any.
    pub fmtp: Option<String>,
    /// The `a=rtcp-fb` values for this payload type (without the payload type).
    pub feedback: Vec<String>,
}

/// Fmtp parameters that identify a codec configuration, for codecs that have many parameters
/// of which only some matter for interop.
const KEY_PARAMS: &[(&str, &[&str])] = &[
    ("h264", &["profile-level-id", "packetization-mode"]),
    ("h265", &["profile-id", "level-id", "tier-flag", "tx-mode"]),
    ("vp9", &["profile-id"]),
    ("av1", &["profile", "level-idx", "tier"]),
];

/// Codecs whose fmtp only points at other payload types.
const PT_REFERENCES: &[&str] = &["rtx", "red", "ulpfec", "flexfec-03"];

impl Codec {
    /// The encoding name (`H264`).
    pub fn name(&self) -> &str {
        self.encoding.split('/').next().unwrap_or("")
    }

    /// A short description for feature tables: the encoding plus the fmtp parameters that
    /// matter (`H264/90000 profile-level-id=42e01f packetization-mode=1`,
    /// `opus/48000/2 minptime=10;useinbandfec=1`, `rtx/90000`).
    pub fn key_description(&self) -> String {
        let name = self.name().to_ascii_lowercase();
        let Some(fmtp) = &self.fmtp else {
            return self.encoding.clone();
        };
        if PT_REFERENCES.contains(&name.as_str()) {
            return self.encoding.clone();
        }
        match KEY_PARAMS.iter().find(|(n, _)| *n == name) {
            Some((_, keys)) => {
                let params = fmtp_params(fmtp);
                let mut text = self.encoding.clone();
                for key in *keys {
                    if let Some((k, v)) = params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                        text.push_str(&format!(" {k}={v}"));
                    }
                }
                text
            }
            None => format!("{} {fmtp}", self.encoding),
        }
    }

    /// The encoding with all its fmtp parameters as sent (`rtx/90000 apt=96`).
    pub fn full_description(&self) -> String {
        match &self.fmtp {
            Some(fmtp) => format!("{} {fmtp}", self.encoding),
            None => self.encoding.clone(),
        }
    }
}

/// `a=b;c=d` into pairs (a parameter without `=` gets an empty value).
pub fn fmtp_params(fmtp: &str) -> Vec<(String, String)> {
    fmtp.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// Static payload types (RFC 3551) that a section may list without an rtpmap.
fn static_encoding(payload_type: &str) -> Option<&'static str> {
    Some(match payload_type {
        "0" => "PCMU/8000",
        "3" => "GSM/8000",
        "4" => "G723/8000",
        "8" => "PCMA/8000",
        "9" => "G722/8000",
        "13" => "CN/8000",
        "18" => "G729/8000",
        "34" => "H263/90000",
        _ => return None,
    })
}

/// The RTP codecs of a section in `m=` order; empty for non-RTP sections.
pub(crate) fn codecs(section: &MediaSection) -> Vec<Codec> {
    if !section.media.protocol.contains("RTP") {
        return Vec::new();
    }
    let per_pt = |name: &str, pt: &str| -> Vec<String> {
        section
            .attributes()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| {
                let (p, rest) = v.split_once(' ').unwrap_or((v, ""));
                (p == pt).then(|| rest.trim().to_string())
            })
            .collect()
    };
    section
        .media
        .formats
        .iter()
        .map(|pt| Codec {
            payload_type: pt.clone(),
            encoding: per_pt("rtpmap", pt)
                .into_iter()
                .next()
                .or_else(|| static_encoding(pt).map(String::from))
                .unwrap_or_else(|| format!("payload type {pt}")),
            fmtp: per_pt("fmtp", pt).into_iter().next(),
            feedback: per_pt("rtcp-fb", pt),
        })
        .collect()
}

/// The codecs a description lists for its first `media` (`video`) section, without the repair
/// codecs (RTX, RED, FEC), as `key_description`s: what a codec failure names.
pub fn listed_codecs(sdp: &str, media: &str) -> Vec<String> {
    let Ok(parsed) = super::parse(sdp) else {
        return Vec::new();
    };
    parsed
        .media
        .iter()
        .find(|m| m.media.media == media)
        .map(|section| {
            codecs(section)
                .iter()
                .filter(|c| !PT_REFERENCES.contains(&c.name().to_ascii_lowercase().as_str()))
                .map(Codec::key_description)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::parse;

    #[test]
    fn codecs_with_key_params() {
        let sdp = parse(
            "v=0\nm=video 9 UDP/TLS/RTP/SAVPF 102 103 0\n\
             a=rtpmap:102 H264/90000\na=rtcp-fb:102 nack\na=rtcp-fb:102 nack pli\n\
             a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\n\
             a=rtpmap:103 rtx/90000\na=fmtp:103 apt=102\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\na=fmtp:111 minptime=10;useinbandfec=1\n\
             m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n",
        )
        .unwrap();
        let video = codecs(&sdp.media[0]);
        assert_eq!(
            video[0].key_description(),
            "H264/90000 profile-level-id=42e01f packetization-mode=1"
        );
        assert_eq!(video[0].feedback, ["nack", "nack pli"]);
        assert_eq!(video[1].key_description(), "rtx/90000");
        assert_eq!(video[1].full_description(), "rtx/90000 apt=102");
        assert_eq!(video[2].encoding, "PCMU/8000");
        let audio = codecs(&sdp.media[1]);
        assert_eq!(
            audio[0].key_description(),
            "opus/48000/2 minptime=10;useinbandfec=1"
        );
        assert!(codecs(&sdp.media[2]).is_empty());
    }
}
