//! Replacing the parts of an SDP that change on every run with stable placeholders.
//!
//! What is replaced, and by what:
//!
//! | what | becomes |
//! | --- | --- |
//! | `o=` session id and version | `<session-id>`, `<session-version>` (the username is kept: stacks use a constant) |
//! | addresses in `o=`, `c=`, `a=rtcp` | `<address>`, unless unspecified (`0.0.0.0`, `::`) or loopback |
//! | ports in `m=`, `a=rtcp` | `<port>`, unless `0` (rejected section) or `9` (the "no address yet" port) |
//! | `a=ice-ufrag`, `a=ice-pwd` | `<ice-ufrag>`, `<ice-pwd>` |
//! | `a=fingerprint:<hash> <value>` | `a=fingerprint:<hash> <fingerprint>` |
//! | the `a=candidate` lines of a section | one line `a=candidate:<host udp, host tcp active; components 1 2>` where the first was |
//! | `a=remote-candidates`, `a=tls-id`, SDES `inline:` keys | `<remote-candidates>`, `<tls-id>`, `inline:<key>` |
//! | stream ids (`a=msid`, `a=msid-semantic`, `a=ssrc:… msid:`/`mslabel:`) | `<stream-1>`, `<stream-2>`, … (`-` and `*` kept) |
//! | track ids (`a=msid`, `a=ssrc:… msid:`/`label:`) | `<track-1>`, … |
//! | SSRCs (`a=ssrc`, `a=ssrc-group`) | `<ssrc-1>`, … |
//! | CNAMEs (`a=ssrc:… cname:`) | `<cname-1>`, … |
//! | the order of a section's `a=extmap` lines | sorted by id, where the first was (RFC 8285 gives the order no meaning; webrtc-rs writes them in a different order on every run) |
//! | the order of the stream ids in `a=msid-semantic: WMS …` | sorted (Chromium lists them in no stable order) |
//!
//! Numbered placeholders count by first appearance in the description — stream ids by their
//! first appearance in a media section — so the structure (which SSRCs form a group, which tracks
//! share a stream) stays visible and comparable. Everything else
//! (media sections and their order, payload types, rtpmap/fmtp/rtcp-fb, extmap, direction, setup,
//! mid, BUNDLE, ice-options, rtcp-mux/rsize, sctp-port, max-message-size, …) is kept as sent.
//! Output uses `\n` line endings, and normalizing normalized text changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::SdpError;
use super::parse::{Line, is_placeholder, parse};
use crate::observe::{Candidate, parse_candidate};

/// Normalizes an SDP for snapshots: see the module documentation for what is replaced.
pub fn normalize(sdp: &str) -> Result<String, SdpError> {
    let parsed = parse(sdp)?;
    let mut ids = Ids::default();
    // Streams are numbered as the media sections name them: the session's WMS list has no order.
    for section in &parsed.media {
        for (name, value) in section.attributes() {
            let stream = match name {
                "msid" => value.split_ascii_whitespace().next(),
                "ssrc" => value
                    .split_once(' ')
                    .and_then(|(_, attribute)| attribute.strip_prefix("msid:"))
                    .and_then(|m| m.split_ascii_whitespace().next()),
                _ => None,
            };
            if let Some(stream) = stream {
                ids.stream(stream);
            }
        }
    }
    let mut out = String::new();
    normalize_block(&parsed.session, &mut ids, &mut out)?;
    for section in &parsed.media {
        let mut block = Vec::with_capacity(section.lines.len() + 1);
        block.push(section.line.clone());
        block.extend(section.lines.iter().cloned());
        normalize_block(&block, &mut ids, &mut out)?;
    }
    Ok(out)
}

/// Numbered placeholders, handed out by first appearance.
#[derive(Default)]
struct Ids {
    maps: HashMap<&'static str, HashMap<String, String>>,
}

impl Ids {
    fn get(&mut self, kind: &'static str, value: &str) -> String {
        let map = self.maps.entry(kind).or_default();
        let next = map.len() + 1;
        map.entry(value.to_string())
            .or_insert_with(|| format!("<{kind}-{next}>"))
            .clone()
    }

    fn stream(&mut self, id: &str) -> String {
        match id {
            "-" | "*" => id.to_string(),
            _ => self.get("stream", id),
        }
    }
}

/// Normalizes the lines of one section (the session part, or an `m=` line and what follows),
/// writing them to `out`.
fn normalize_block(lines: &[Line], ids: &mut Ids, out: &mut String) -> Result<(), SdpError> {
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut summary_at = None;
    let mut normalized: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines {
        if let Some(("candidate", value)) = line.attribute() {
            if is_placeholder(value.trim()) {
                normalized.push(line.text());
            } else {
                let candidate = parse_candidate(&line.value)
                    .map_err(|reason| SdpError::line(line.number, &line.text(), reason))?;
                candidates.push(candidate);
                summary_at.get_or_insert(normalized.len());
            }
            continue;
        }
        normalized.push(normalize_line(line, ids));
    }
    if let Some(at) = summary_at {
        normalized.insert(at, format!("a=candidate:{}", summarize(&candidates)));
    }
    sort_extmaps(&mut normalized);
    for line in normalized {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(())
}

/// Puts a section's `a=extmap:<id>` lines in id order, where the first of them was.
fn sort_extmaps(lines: &mut [String]) {
    let id = |line: &str| {
        line.strip_prefix("a=extmap:")
            .and_then(|rest| rest.split(['/', ' ']).next())
            .and_then(|id| id.parse::<u16>().ok())
    };
    let at: Vec<usize> = (0..lines.len())
        .filter(|&i| id(&lines[i]).is_some())
        .collect();
    let mut extmaps: Vec<String> = at.iter().map(|&i| lines[i].clone()).collect();
    extmaps.sort_by_key(|line| id(line));
    for (i, line) in at.into_iter().zip(extmaps) {
        lines[i] = line;
    }
}

fn normalize_line(line: &Line, ids: &mut Ids) -> String {
    let value = &line.value;
    let rewritten = match line.kind {
        'o' => {
            let f: Vec<&str> = value.split_ascii_whitespace().collect();
            format!(
                "{} <session-id> <session-version> {} {} {}",
                f[0],
                f[3],
                f[4],
                address(f[5])
            )
        }
        'c' => {
            let f: Vec<&str> = value.split_ascii_whitespace().collect();
            format!("{} {} {}", f[0], f[1], address(f[2]))
        }
        'm' => {
            let mut f: Vec<String> = value.split_ascii_whitespace().map(String::from).collect();
            f[1] = port(&f[1]);
            f.join(" ")
        }
        'a' => return format!("a={}", normalize_attribute(value, ids)),
        _ => value.clone(),
    };
    format!("{}={rewritten}", line.kind)
}

fn normalize_attribute(value: &str, ids: &mut Ids) -> String {
    let (name, rest) = match value.split_once(':') {
        Some(split) => split,
        None => return value.to_string(),
    };
    let rewritten = match name {
        "ice-ufrag" => "<ice-ufrag>".to_string(),
        "ice-pwd" => "<ice-pwd>".to_string(),
        "tls-id" => "<tls-id>".to_string(),
        "remote-candidates" => "<remote-candidates>".to_string(),
        "fingerprint" => match rest.trim().split_once(' ') {
            Some((hash, _)) => format!("{hash} <fingerprint>"),
            None => "<fingerprint>".to_string(),
        },
        "rtcp" => {
            let mut f: Vec<String> = rest.split_ascii_whitespace().map(String::from).collect();
            if let Some(p) = f.first_mut() {
                *p = port(p);
            }
            if let Some(a) = f.get_mut(3) {
                *a = address(a);
            }
            f.join(" ")
        }
        "msid-semantic" => {
            // `WMS *`, or Chromium's ` WMS <stream> <stream>`: keep the spacing and semantics.
            let lead = &rest[..rest.len() - rest.trim_start().len()];
            let mut tokens = rest.split_ascii_whitespace();
            let mut parts: Vec<String> = tokens.next().map(String::from).into_iter().collect();
            let mut streams: Vec<String> = tokens.map(|t| ids.stream(t)).collect();
            streams.sort();
            parts.extend(streams);
            format!("{lead}{}", parts.join(" "))
        }
        "msid" => msid(rest, ids),
        "ssrc" => {
            let (ssrc, attribute) = rest.split_once(' ').unwrap_or((rest, ""));
            let ssrc = ids.get("ssrc", ssrc);
            if attribute.is_empty() {
                ssrc
            } else {
                let attribute = match attribute.split_once(':') {
                    Some(("cname", cname)) => format!("cname:{}", ids.get("cname", cname)),
                    Some(("msid", m)) => format!("msid:{}", msid(m, ids)),
                    Some(("mslabel", stream)) => format!("mslabel:{}", ids.stream(stream)),
                    Some(("label", track)) => format!("label:{}", ids.get("track", track)),
                    _ => attribute.to_string(),
                };
                format!("{ssrc} {attribute}")
            }
        }
        "ssrc-group" => {
            let mut tokens = rest.split_ascii_whitespace();
            let mut parts: Vec<String> = tokens.next().map(String::from).into_iter().collect();
            parts.extend(tokens.map(|s| ids.get("ssrc", s)));
            parts.join(" ")
        }
        "crypto" => rest
            .split(' ')
            .map(|t| match t.split_once("inline:") {
                Some((before, _)) => format!("{before}inline:<key>"),
                None => t.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => return value.to_string(),
    };
    format!("{name}:{rewritten}")
}

/// `<stream> [<track>]`, as in `a=msid`.
fn msid(value: &str, ids: &mut Ids) -> String {
    let mut tokens = value.split_ascii_whitespace();
    let mut parts = Vec::new();
    if let Some(stream) = tokens.next() {
        parts.push(ids.stream(stream));
    }
    if let Some(track) = tokens.next() {
        parts.push(ids.get("track", track));
    }
    parts.extend(tokens.map(String::from));
    parts.join(" ")
}

/// An address, unless it says nothing about the machine (unspecified, loopback, a placeholder).
fn address(text: &str) -> String {
    let (host, suffix) = match text.split_once('/') {
        Some((h, s)) => (h, format!("/{s}")),
        None => (text, String::new()),
    };
    let keep = is_placeholder(host)
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified() || ip.is_loopback());
    if keep {
        text.to_string()
    } else {
        format!("<address>{suffix}")
    }
}

/// A port, unless it is `0` (rejected) or `9` (no address yet); a `/count` suffix is kept.
fn port(text: &str) -> String {
    let (number, suffix) = match text.split_once('/') {
        Some((n, s)) => (n, format!("/{s}")),
        None => (text, String::new()),
    };
    if number == "0" || number == "9" || is_placeholder(number) {
        text.to_string()
    } else {
        format!("<port>{suffix}")
    }
}

/// `<host udp, host udp mdns, host tcp active; components 1 2>`: which kinds of candidates a
/// section lists, in a fixed order, without addresses, ports, priorities or counts (those depend
/// on the machine's interfaces).
fn summarize(candidates: &[Candidate]) -> String {
    let kinds: BTreeSet<_> = candidates
        .iter()
        .map(|c| {
            (
                c.kind,
                c.protocol != "udp",
                c.protocol.clone(),
                c.tcp_type.clone().unwrap_or_default(),
                c.address.ends_with(".local"),
            )
        })
        .collect();
    let mut text = kinds
        .iter()
        .map(|(kind, _, protocol, tcp_type, mdns)| {
            let mut s = format!("{kind} {protocol}");
            if !tcp_type.is_empty() {
                s.push(' ');
                s.push_str(tcp_type);
            }
            if *mdns {
                s.push_str(" mdns");
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ");
    let components: BTreeSet<u32> = candidates.iter().map(|c| c.component).collect();
    if components.iter().any(|c| *c != 1) {
        let list: Vec<String> = components.iter().map(u32::to_string).collect();
        text.push_str("; components ");
        text.push_str(&list.join(" "));
    }
    format!("<{text}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extmap_and_wms_orders_do_not_matter() {
        let one = "v=0\na=msid-semantic: WMS b a\nm=video 9 RTP/AVP 96\na=msid:a t1\na=extmap:4 x\na=mid:0\na=extmap:3 y\nm=audio 9 RTP/AVP 0\na=msid:b t2\n";
        let two = "v=0\na=msid-semantic: WMS a b\nm=video 9 RTP/AVP 96\na=msid:a t1\na=extmap:3 y\na=mid:0\na=extmap:4 x\nm=audio 9 RTP/AVP 0\na=msid:b t2\n";
        let normalized = normalize(one).unwrap();
        assert_eq!(normalized, normalize(two).unwrap());
        assert!(
            normalized.contains("WMS <stream-1> <stream-2>\n"),
            "{normalized}"
        );
        assert!(
            normalized.contains("a=extmap:3 y\na=mid:0\na=extmap:4 x\n"),
            "{normalized}"
        );
        assert!(
            normalized.contains("a=msid:<stream-1> <track-1>"),
            "{normalized}"
        );
    }

    fn norm(text: &str) -> String {
        normalize(text).unwrap()
    }

    #[test]
    fn origin_keeps_username_and_constant_address() {
        let n = norm("v=0\no=- 6778966207191677079 217197988 IN IP4 0.0.0.0\ns=-\n");
        assert!(
            n.contains("o=- <session-id> <session-version> IN IP4 0.0.0.0\n"),
            "{n}"
        );
        let n = norm("v=0\no=alice 1 2 IN IP4 198.51.100.7\n");
        assert!(
            n.contains("o=alice <session-id> <session-version> IN IP4 <address>"),
            "{n}"
        );
    }

    #[test]
    fn addresses_and_ports() {
        let n = norm(
            "v=0\nm=audio 48389 UDP/TLS/RTP/SAVPF 109\nc=IN IP6 fd00::2\na=rtcp:53054 IN IP4 192.0.2.2\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 0.0.0.0\na=rtcp:9 IN IP4 0.0.0.0\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 host.example/127\n",
        );
        assert_eq!(
            n,
            "v=0\nm=audio <port> UDP/TLS/RTP/SAVPF 109\nc=IN IP6 <address>\na=rtcp:<port> IN IP4 <address>\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 0.0.0.0\na=rtcp:9 IN IP4 0.0.0.0\n\
             m=video 0 UDP/TLS/RTP/SAVPF 96\nc=IN IP4 <address>/127\n"
        );
    }

    #[test]
    fn candidates_become_one_summary_where_the_first_was() {
        let n = norm(
            "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:0\n\
             a=candidate:1 1 udp 2113937151 042069c9-7f17-436c-9ad7-51403539cc78.local 53538 typ host generation 0\n\
             a=candidate:2 1 TCP 2105458943 192.0.2.2 9 typ host tcptype active\n\
             a=candidate:3 2 UDP 1686052607 203.0.113.9 61000 typ srflx raddr 192.0.2.2 rport 5000\n\
             a=candidate:4 1 udp 2122187007 192.0.2.2 48389 typ host\n\
             a=end-of-candidates\na=sctp-port:5000\n",
        );
        assert_eq!(
            n,
            "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:0\n\
             a=candidate:<host udp, host udp mdns, host tcp active, srflx udp; components 1 2>\n\
             a=end-of-candidates\na=sctp-port:5000\n"
        );
        assert_eq!(norm(&n), n);
    }

    #[test]
    fn a_broken_candidate_names_its_line() {
        let e = normalize("v=0\nm=audio 9 RTP/AVP 0\na=candidate:1 1 udp 5 1.2.3.4 x typ host\n")
            .unwrap_err();
        assert!(matches!(&e, SdpError::Line { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("port `x`"), "{e}");
    }

    #[test]
    fn ids_are_numbered_by_first_appearance() {
        let n = norm(
            "v=0\na=msid-semantic: WMS s1\n\
             m=audio 9 RTP/AVP 0\na=msid:s1 t1\na=ssrc:111 cname:abc\na=ssrc:111 msid:s1 t1\n\
             m=video 9 RTP/AVP 96\na=msid:- t2\na=ssrc-group:FID 222 333\na=ssrc:222 cname:abc\n\
             a=ssrc:333 cname:abc\na=ssrc:333 mslabel:s1\na=ssrc:333 label:t2\na=ssrc:333 x-other:kept\n",
        );
        assert_eq!(
            n,
            "v=0\na=msid-semantic: WMS <stream-1>\n\
             m=audio 9 RTP/AVP 0\na=msid:<stream-1> <track-1>\na=ssrc:<ssrc-1> cname:<cname-1>\na=ssrc:<ssrc-1> msid:<stream-1> <track-1>\n\
             m=video 9 RTP/AVP 96\na=msid:- <track-2>\na=ssrc-group:FID <ssrc-2> <ssrc-3>\na=ssrc:<ssrc-2> cname:<cname-1>\n\
             a=ssrc:<ssrc-3> cname:<cname-1>\na=ssrc:<ssrc-3> mslabel:<stream-1>\na=ssrc:<ssrc-3> label:<track-2>\na=ssrc:<ssrc-3> x-other:kept\n"
        );
        assert_eq!(norm(&n), n);
    }

    #[test]
    fn credentials_and_keys() {
        let n = norm(
            "v=0\na=fingerprint:sha-256 AB:CD\na=ice-ufrag:x\na=ice-pwd:y\na=tls-id:z\n\
             m=audio 9 RTP/SAVPF 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\n\
             a=remote-candidates:1 192.0.2.1 5000\na=ice-options:trickle\n",
        );
        assert_eq!(
            n,
            "v=0\na=fingerprint:sha-256 <fingerprint>\na=ice-ufrag:<ice-ufrag>\na=ice-pwd:<ice-pwd>\na=tls-id:<tls-id>\n\
             m=audio 9 RTP/SAVPF 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<key>\n\
             a=remote-candidates:<remote-candidates>\na=ice-options:trickle\n"
        );
    }
}
