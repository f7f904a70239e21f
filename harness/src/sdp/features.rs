//! What a description negotiates, in a form that can be compared across stacks.

use serde::Serialize;

use super::SdpError;
use super::codec::codecs;
use super::parse::{MediaSection, Sdp, parse};

/// The features one description offers or answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SdpFeatures {
    /// `a=group:BUNDLE` groups, each a list of mids.
    pub bundle_groups: Vec<Vec<String>>,
    /// `a=ice-options:trickle` at session or media level.
    pub ice_trickle: bool,
    /// `a=ice-lite`.
    pub ice_lite: bool,
    /// `a=extmap-allow-mixed` (RFC 8285 two-byte header extensions may be mixed with one-byte).
    pub extmap_allow_mixed: bool,
    /// Every section that is not rejected is a data channel (SCTP) section.
    pub data_channel_only: bool,
    /// The media sections in order.
    pub media: Vec<MediaFeatures>,
}

/// The features of one media section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaFeatures {
    /// `audio`, `video`, `application`.
    pub kind: String,
    /// `a=mid`.
    pub mid: Option<String>,
    /// The `m=` protocol (`UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`).
    pub protocol: String,
    /// Port 0: the section is rejected or stopped.
    pub rejected: bool,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive`, at media level or else session level.
    pub direction: Option<String>,
    /// DTLS role `a=setup` (`actpass`, `active`, `passive`), at media level or else session level.
    pub setup: Option<String>,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
    /// Codecs in preference order, each once, with the fmtp parameters that matter
    /// (`H264/90000 profile-level-id=42e01f packetization-mode=1`).
    pub codecs: Vec<String>,
    /// RTP header extension URIs (`a=extmap`), in id order (the order of the lines means nothing,
    /// RFC 8285, and webrtc-rs varies it from run to run).
    pub header_extensions: Vec<String>,
    /// `a=sctp-port` (or the legacy `a=sctpmap` port).
    pub sctp_port: Option<u16>,
    /// `a=max-message-size`.
    pub max_message_size: Option<u64>,
}

impl SdpFeatures {
    /// The DTLS role of the first section that states one.
    pub fn setup(&self) -> Option<&str> {
        self.media.iter().find_map(|m| m.setup.as_deref())
    }
}

const DIRECTIONS: &[&str] = &["sendrecv", "sendonly", "recvonly", "inactive"];

/// Reads the features of an SDP (raw or normalized).
pub fn features(sdp: &str) -> Result<SdpFeatures, SdpError> {
    let parsed = parse(sdp)?;
    let session_flag = |name: &str| parsed.session_attributes().any(|(n, _)| n == name);
    let trickle = |value: &str| value.split_ascii_whitespace().any(|o| o == "trickle");
    let media = parsed
        .media
        .iter()
        .map(|section| media_features(&parsed, section))
        .collect::<Result<Vec<_>, _>>()?;
    let live: Vec<&MediaFeatures> = media.iter().filter(|m| !m.rejected).collect();
    Ok(SdpFeatures {
        bundle_groups: parsed
            .session_attributes()
            .filter(|(n, _)| *n == "group")
            .filter_map(|(_, v)| {
                let mut tokens = v.split_ascii_whitespace();
                (tokens.next() == Some("BUNDLE")).then(|| tokens.map(String::from).collect())
            })
            .collect(),
        ice_trickle: parsed
            .session_attributes()
            .chain(parsed.media.iter().flat_map(|m| m.attributes()))
            .any(|(n, v)| n == "ice-options" && trickle(v)),
        ice_lite: session_flag("ice-lite"),
        extmap_allow_mixed: session_flag("extmap-allow-mixed")
            || parsed.media.iter().any(|m| m.has("extmap-allow-mixed")),
        data_channel_only: !live.is_empty()
            && live
                .iter()
                .all(|m| m.kind == "application" && m.protocol.contains("SCTP")),
        media,
    })
}

fn media_features(sdp: &Sdp, section: &MediaSection) -> Result<MediaFeatures, SdpError> {
    let either = |name: &str| {
        section
            .attribute(name)
            .or_else(|| sdp.session_attribute(name))
            .map(String::from)
    };
    let direction = section
        .attributes()
        .chain(sdp.session_attributes())
        .find(|(n, _)| DIRECTIONS.contains(n))
        .map(|(n, _)| n.to_string());
    let mut codec_list: Vec<String> = Vec::new();
    for codec in codecs(section) {
        let description = codec.key_description();
        if !codec_list.contains(&description) {
            codec_list.push(description);
        }
    }
    let number = |name: &str| -> Result<Option<u64>, SdpError> {
        let Some(line) = section
            .lines
            .iter()
            .find(|l| l.attribute().is_some_and(|(n, _)| n == name))
        else {
            return Ok(None);
        };
        let value = line.attribute().map(|(_, v)| v).unwrap_or("");
        let value = value.split_ascii_whitespace().next().unwrap_or("");
        value.parse().map(Some).map_err(|_| {
            SdpError::line(
                line.number,
                &line.text(),
                format!("`{value}` is not a number"),
            )
        })
    };
    let sctp_port = match number("sctp-port")?.or(number("sctpmap")?) {
        Some(port) => Some(u16::try_from(port).map_err(|_| {
            SdpError::line(
                section.line.number,
                &section.line.text(),
                format!("SCTP port {port} is out of range"),
            )
        })?),
        None => None,
    };
    Ok(MediaFeatures {
        kind: section.media.media.clone(),
        mid: section.mid().map(String::from),
        protocol: section.media.protocol.clone(),
        rejected: section.media.is_rejected(),
        direction,
        setup: either("setup"),
        rtcp_mux: section.has("rtcp-mux"),
        rtcp_rsize: section.has("rtcp-rsize"),
        codecs: codec_list,
        header_extensions: header_extensions(section),
        sctp_port,
        max_message_size: number("max-message-size")?,
    })
}

/// A section's `a=extmap` URIs, ordered by their ids.
fn header_extensions(section: &MediaSection) -> Vec<String> {
    let mut extensions: Vec<(u16, String)> = section
        .attributes()
        .filter(|(n, _)| *n == "extmap")
        .filter_map(|(_, v)| {
            let mut fields = v.split_ascii_whitespace();
            let id = fields.next()?.split('/').next()?.parse().ok()?;
            Some((id, fields.next()?.to_string()))
        })
        .collect();
    extensions.sort_by_key(|(id, _)| *id);
    extensions.into_iter().map(|(_, uri)| uri).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_numbers_name_the_line() {
        let e = features(
            "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=max-message-size:lots\n",
        )
        .unwrap_err();
        assert!(matches!(&e, SdpError::Line { line: 3, .. }), "{e}");
    }

    #[test]
    fn legacy_sctpmap_and_session_direction() {
        let f = features(
            "v=0\na=sendonly\nm=application 9 DTLS/SCTP 5000\na=sctpmap:5000 webrtc-datachannel 1024\n\
             m=audio 0 RTP/AVP 0\n",
        )
        .unwrap();
        assert_eq!(f.media[0].sctp_port, Some(5000));
        assert_eq!(f.media[0].direction.as_deref(), Some("sendonly"));
        assert!(f.media[1].rejected);
        assert!(
            f.data_channel_only,
            "a rejected audio section does not count"
        );
    }
}
