//! Parsing ICE candidate attributes (RFC 8839 §5.1) into the fields assertions use.

use serde::{Deserialize, Serialize};

use crate::scenario::CandidateType;

/// One ICE candidate, parsed from its `candidate:` attribute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    /// host, srflx, prflx or relay.
    #[serde(rename = "type")]
    pub kind: CandidateType,
    /// `udp` or `tcp` (lower-cased).
    pub protocol: String,
    /// The connection address: an IP, or an mDNS `.local` name.
    pub address: String,
    /// The port.
    pub port: u16,
    /// The ICE component (1 = RTP).
    pub component: u32,
    /// The related address (`raddr`) of reflexive and relay candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_address: Option<String>,
    /// The TCP candidate type (`tcptype`), for TCP candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_type: Option<String>,
}

/// Parses `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …`
/// (an `a=` prefix is accepted), naming the part that is wrong.
pub fn parse_candidate(text: &str) -> Result<Candidate, String> {
    let body = text
        .trim()
        .trim_start_matches("a=")
        .strip_prefix("candidate:")
        .ok_or_else(|| format!("`{text}` does not start with `candidate:`"))?;
    let fields: Vec<&str> = body.split_ascii_whitespace().collect();
    if fields.len() < 8 {
        return Err(format!(
            "`{text}` has {} fields, a candidate has at least 8",
            fields.len() + 1
        ));
    }
    let component = fields[1]
        .parse()
        .map_err(|_| format!("`{text}`: component `{}` is not a number", fields[1]))?;
    let port = fields[5]
        .parse()
        .map_err(|_| format!("`{text}`: port `{}` is not a number", fields[5]))?;
    if fields[6] != "typ" {
        return Err(format!("`{text}`: expected `typ` after the port"));
    }
    let kind = CandidateType::from_sdp(fields[7])
        .ok_or_else(|| format!("`{text}`: unknown candidate type `{}`", fields[7]))?;
    let extension = |name: &str| {
        fields[8..]
            .chunks(2)
            .find(|pair| pair[0] == name && pair.len() == 2)
            .map(|pair| pair[1].to_string())
    };
    Ok(Candidate {
        kind,
        protocol: fields[2].to_ascii_lowercase(),
        address: fields[4].to_string(),
        port,
        component,
        related_address: extension("raddr"),
        tcp_type: extension("tcptype"),
    })
}

/// The candidates inside a session description (`a=candidate:` lines), as `candidate:…` strings:
/// how a peer that does not trickle hands its candidates over.
pub fn candidates_in_description(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim_end().strip_prefix("a="))
        .filter(|attribute| attribute.starts_with("candidate:"))
        .map(str::to_string)
        .collect()
}

/// Whether a session description says its candidates are complete (`a=end-of-candidates`).
pub fn description_ends_candidates(sdp: &str) -> bool {
    sdp.lines()
        .any(|line| line.trim_end() == "a=end-of-candidates")
}

/// The `a=ice-ufrag` of a session description (the first: bundled sections share it).
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=ice-ufrag:"))
}

/// The value of `a=max-message-size` in a session description, if any.
pub fn max_message_size(sdp: &str) -> Option<u64> {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=max-message-size:"))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_host_candidate() {
        let c = parse_candidate(
            "candidate:3053364473 1 udp 2113937151 192.0.2.2 48627 typ host generation 0 ufrag Wm3Q network-cost 999",
        )
        .unwrap();
        assert_eq!(c.kind, CandidateType::Host);
        assert_eq!(c.protocol, "udp");
        assert_eq!(c.address, "192.0.2.2");
        assert_eq!(c.port, 48627);
        assert_eq!(c.related_address, None);
    }

    #[test]
    fn relay_candidate_with_related_address_and_tcp_type() {
        let c = parse_candidate(
            "a=candidate:1 1 TCP 41885439 203.0.113.5 3478 typ relay raddr 10.0.0.2 rport 51000 tcptype passive",
        )
        .unwrap();
        assert_eq!(c.kind, CandidateType::Relay);
        assert_eq!(c.protocol, "tcp");
        assert_eq!(c.related_address.as_deref(), Some("10.0.0.2"));
        assert_eq!(c.tcp_type.as_deref(), Some("passive"));
    }

    #[test]
    fn mdns_address_is_kept() {
        let c = parse_candidate(
            "candidate:1 1 udp 2113937151 9b36eaac-bb2e-49bb-bb78-21c41c499900.local 56732 typ host",
        )
        .unwrap();
        assert!(c.address.ends_with(".local"));
    }

    #[test]
    fn malformed_candidates_are_named() {
        assert!(parse_candidate("").unwrap_err().contains("candidate:"));
        assert!(
            parse_candidate("candidate:1 1 udp 5 1.2.3.4 x typ host")
                .unwrap_err()
                .contains("port `x`")
        );
        assert!(
            parse_candidate("candidate:1 1 udp 5 1.2.3.4 9 typ weird")
                .unwrap_err()
                .contains("`weird`")
        );
    }
}
