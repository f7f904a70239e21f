//! Saying in words how one normalized description differs from another.

use std::collections::HashMap;

use super::codec::{Codec, codecs};
use super::parse::{Line, MediaSection, Sdp, parse};

/// Sentences describing how `new` differs from `old` (both normalized, see [`super::normalize`]),
/// one per change, scoped by media section: `m=video: codec VP8/90000 removed`,
/// `m=audio: extmap urn:ietf:params:rtp-hdrext:sdes:mid added`,
/// `m=application: sctp max-message-size 262144 → 65536`, `session: BUNDLE group changed 0 1 → 0`,
/// `m=video (mid 1) removed`. What is not understood is reported as `line added: …` /
/// `line removed: …`. The result is empty exactly when the two texts are equal (ignoring line
/// endings and trailing whitespace at the end).
pub fn describe_changes(old: &str, new: &str) -> Vec<String> {
    let (old_text, new_text) = (canonical(old), canonical(new));
    if old_text == new_text {
        return Vec::new();
    }
    let mut out = match (parse(&old_text), parse(&new_text)) {
        (Ok(o), Ok(n)) => describe(&o, &n),
        _ => Vec::new(),
    };
    if out.is_empty() {
        out = line_diff("", &old_text, &new_text);
    }
    out
}

fn canonical(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_string()
}

fn describe(old: &Sdp, new: &Sdp) -> Vec<String> {
    let mut out = Vec::new();
    session_changes(old, new, &mut out);
    let pairs = match_sections(&old.media, &new.media);
    let label = |s: &MediaSection, index: usize| section_label(s, index, old, new);
    for (i, section) in old.media.iter().enumerate() {
        if !pairs.iter().any(|(o, _)| *o == i) {
            out.push(format!("{} removed", label(section, i)));
        }
    }
    for (j, section) in new.media.iter().enumerate() {
        if !pairs.iter().any(|(_, n)| *n == j) {
            out.push(format!("{} added", label(section, j)));
        }
    }
    let mut by_new = pairs.clone();
    by_new.sort_by_key(|(_, n)| *n);
    if by_new.windows(2).any(|w| w[0].0 > w[1].0) {
        let names = |sections: Vec<&MediaSection>| {
            sections
                .iter()
                .map(|s| s.media.media.clone())
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push(format!(
            "session: media sections reordered: {} → {}",
            names(pairs.iter().map(|(o, _)| &old.media[*o]).collect()),
            names(by_new.iter().map(|(o, _)| &old.media[*o]).collect()),
        ));
    }
    for (o, n) in pairs {
        let scope = label(&new.media[n], n);
        section_changes(&scope, &old.media[o], &new.media[n], &mut out);
    }
    out
}

/// `m=video`, or `m=video (mid 1)` when the kind alone is ambiguous.
fn section_label(section: &MediaSection, index: usize, old: &Sdp, new: &Sdp) -> String {
    let kind = &section.media.media;
    let count = |sdp: &Sdp| sdp.media.iter().filter(|m| &m.media.media == kind).count();
    if count(old) <= 1 && count(new) <= 1 {
        return format!("m={kind}");
    }
    match section.mid() {
        Some(mid) => format!("m={kind} (mid {mid})"),
        None => format!("m={kind} #{}", index + 1),
    }
}

/// Pairs (old index, new index): by mid where both sections have one, else by position.
fn match_sections(old: &[MediaSection], new: &[MediaSection]) -> Vec<(usize, usize)> {
    let all_mids = |s: &[MediaSection]| s.iter().all(|m| m.mid().is_some());
    if all_mids(old) && all_mids(new) {
        old.iter()
            .enumerate()
            .filter_map(|(i, o)| {
                new.iter()
                    .position(|n| n.mid() == o.mid() && n.media.media == o.media.media)
                    .map(|j| (i, j))
            })
            .collect()
    } else {
        (0..old.len().min(new.len()))
            .filter(|i| old[*i].media.media == new[*i].media.media)
            .map(|i| (i, i))
            .collect()
    }
}

fn bundle(sdp: &Sdp) -> String {
    sdp.session_attributes()
        .filter(|(n, v)| *n == "group" && v.starts_with("BUNDLE"))
        .map(|(_, v)| v.trim_start_matches("BUNDLE").trim().to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn session_changes(old: &Sdp, new: &Sdp, out: &mut Vec<String>) {
    let (o, n) = (bundle(old), bundle(new));
    match (o.is_empty(), n.is_empty()) {
        _ if o == n => {}
        (true, false) => out.push(format!("session: BUNDLE group {n} added")),
        (false, true) => out.push(format!("session: BUNDLE group {o} removed")),
        _ => out.push(format!("session: BUNDLE group changed {o} → {n}")),
    }
    let rest = |sdp: &Sdp| -> Vec<Line> {
        sdp.session
            .iter()
            .filter(|l| !matches!(l.attribute(), Some(("group", v)) if v.starts_with("BUNDLE")))
            .cloned()
            .collect()
    };
    attribute_changes("session", &rest(old), &rest(new), out);
}

fn section_changes(scope: &str, old: &MediaSection, new: &MediaSection, out: &mut Vec<String>) {
    if old.media.protocol != new.media.protocol {
        out.push(format!(
            "{scope}: protocol {} → {}",
            old.media.protocol, new.media.protocol
        ));
    }
    if old.media.port != new.media.port {
        let rejected = if new.media.is_rejected() {
            " (rejected)"
        } else {
            ""
        };
        out.push(format!(
            "{scope}: port {} → {}{rejected}",
            old.media.port, new.media.port
        ));
    }
    codec_changes(scope, &codecs(old), &codecs(new), out);
    extmap_changes(scope, old, new, out);
    // Payload types of either side: an rtpmap left behind by a removed codec is part of that
    // removal, not a line of its own.
    let formats: Vec<&String> = old.media.formats.iter().chain(&new.media.formats).collect();
    let rest = |s: &MediaSection| -> Vec<Line> {
        s.lines
            .iter()
            .filter(|l| !understood(&formats, l))
            .cloned()
            .collect()
    };
    attribute_changes(scope, &rest(old), &rest(new), out);
}

/// Lines that the codec and extmap comparisons already cover.
fn understood(formats: &[&String], line: &Line) -> bool {
    match line.attribute() {
        Some(("rtpmap" | "fmtp" | "rtcp-fb", value)) => {
            let pt = value.split(' ').next().unwrap_or("");
            formats.iter().any(|f| *f == pt)
        }
        Some(("extmap", _)) => true,
        _ => false,
    }
}

fn codec_changes(scope: &str, old: &[Codec], new: &[Codec], out: &mut Vec<String>) {
    // Pair codecs with the same description, in order.
    let mut taken = vec![false; new.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (i, o) in old.iter().enumerate() {
        let d = o.full_description();
        match (0..new.len()).find(|j| !taken[*j] && new[*j].full_description() == d) {
            Some(j) => {
                taken[j] = true;
                pairs.push((i, j));
            }
            None => out.push(format!("{scope}: codec {d} removed")),
        }
    }
    for (j, n) in new.iter().enumerate() {
        if !taken[j] {
            out.push(format!("{scope}: codec {} added", n.full_description()));
        }
    }
    for &(i, j) in &pairs {
        let (o, n) = (&old[i], &new[j]);
        let d = o.full_description();
        if o.payload_type != n.payload_type {
            out.push(format!(
                "{scope}: codec {d} payload type {} → {}",
                o.payload_type, n.payload_type
            ));
        }
        for fb in multiset_minus(&o.feedback, &n.feedback) {
            out.push(format!("{scope}: codec {d} rtcp-fb {fb} removed"));
        }
        for fb in multiset_minus(&n.feedback, &o.feedback) {
            out.push(format!("{scope}: codec {d} rtcp-fb {fb} added"));
        }
    }
    let mut by_new = pairs.clone();
    by_new.sort_by_key(|(_, j)| *j);
    if by_new.windows(2).any(|w| w[0].0 > w[1].0) {
        let names = |order: &[(usize, usize)]| {
            order
                .iter()
                .map(|(i, _)| old[*i].encoding.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(format!(
            "{scope}: codec order changed: {} → {}",
            names(&pairs),
            names(&by_new)
        ));
    }
}

/// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` by URI.
fn extmaps(section: &MediaSection) -> Vec<(String, String)> {
    section
        .attributes()
        .filter(|(n, _)| *n == "extmap")
        .filter_map(|(_, v)| {
            let mut t = v.split_ascii_whitespace();
            let id = t.next()?.to_string();
            let uri = t.next()?.to_string();
            Some((uri, id))
        })
        .collect()
}

fn extmap_changes(scope: &str, old: &MediaSection, new: &MediaSection, out: &mut Vec<String>) {
    let (o, n) = (extmaps(old), extmaps(new));
    for (uri, id) in &o {
        match n.iter().find(|(u, _)| u == uri) {
            None => out.push(format!("{scope}: extmap {uri} removed")),
            Some((_, new_id)) if new_id != id => {
                out.push(format!("{scope}: extmap {uri} id {id} → {new_id}"))
            }
            Some(_) => {}
        }
    }
    for (uri, _) in &n {
        if !o.iter().any(|(u, _)| u == uri) {
            out.push(format!("{scope}: extmap {uri} added"));
        }
    }
}

/// Attributes that appear once and whose value changes are worth a sentence, with the name
/// used in it.
const SINGLE: &[(&str, &str)] = &[
    ("setup", "setup"),
    ("mid", "mid"),
    ("direction", "direction"),
    ("ice-options", "ice-options"),
    ("fingerprint", "fingerprint"),
    ("msid-semantic", "msid-semantic"),
    ("sctp-port", "sctp port"),
    ("max-message-size", "sctp max-message-size"),
    ("candidate", "candidates"),
    ("ptime", "ptime"),
    ("maxptime", "maxptime"),
];

/// Flags worth a sentence when they come or go.
const FLAGS: &[&str] = &[
    "rtcp-mux",
    "rtcp-mux-only",
    "rtcp-rsize",
    "extmap-allow-mixed",
    "ice-lite",
    "end-of-candidates",
];

const DIRECTIONS: &[&str] = &["sendrecv", "sendonly", "recvonly", "inactive"];

/// Compares the remaining lines of a scope: known single-valued attributes and flags in words,
/// everything else as a line diff.
fn attribute_changes(scope: &str, old: &[Line], new: &[Line], out: &mut Vec<String>) {
    let key = |l: &Line| -> (String, String) {
        match l.attribute() {
            Some((name, "")) if DIRECTIONS.contains(&name) => {
                ("direction".to_string(), name.to_string())
            }
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (format!("{}=", l.kind), l.value.clone()),
        }
    };
    let group = |lines: &[Line]| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for l in lines {
            let (k, v) = key(l);
            map.entry(k).or_default().push(v);
        }
        map
    };
    let start = out.len();
    let (o, n) = (group(old), group(new));
    let mut unknown_old = Vec::new();
    let mut unknown_new = Vec::new();
    let mut seen = Vec::new();
    for (k, _) in old.iter().chain(new).map(key) {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        let empty = Vec::new();
        let (ov, nv) = (o.get(&k).unwrap_or(&empty), n.get(&k).unwrap_or(&empty));
        if ov == nv {
            continue;
        }
        if let Some((_, name)) = SINGLE.iter().find(|(n, _)| *n == k)
            && ov.len() <= 1
            && nv.len() <= 1
        {
            let (ov, nv) = (ov.first().map(|v| v.trim()), nv.first().map(|v| v.trim()));
            out.push(match (ov, nv) {
                (Some(a), Some(b)) => format!("{scope}: {name} {a} → {b}"),
                (Some(a), None) => format!("{scope}: {name} {a} removed"),
                (None, b) => format!("{scope}: {name} {} added", b.unwrap_or("")),
            });
            continue;
        }
        if FLAGS.contains(&k.as_str()) && ov.iter().chain(nv).all(String::is_empty) {
            let change = if nv.len() > ov.len() {
                "added"
            } else {
                "removed"
            };
            out.push(format!("{scope}: {k} {change}"));
            continue;
        }
        let text = |k: &str, v: &str| match k.strip_suffix('=') {
            Some(kind) => format!("{kind}={v}"),
            None if v.is_empty() => format!("a={k}"),
            None => format!("a={k}:{v}"),
        };
        unknown_old.extend(ov.iter().map(|v| text(&k, v)));
        unknown_new.extend(nv.iter().map(|v| text(&k, v)));
    }
    let prefix = format!("{scope}: ");
    out.extend(line_diff(
        &prefix,
        &unknown_old.join("\n"),
        &unknown_new.join("\n"),
    ));
    let texts = |ls: &[Line]| ls.iter().map(Line::text).collect::<Vec<_>>();
    if out.len() == start && texts(old) != texts(new) {
        out.push(format!("{scope}: attribute order changed"));
    }
}

/// Lines only in `old` (removed) and only in `new` (added), counting repeats.
fn line_diff(prefix: &str, old: &str, new: &str) -> Vec<String> {
    let o: Vec<String> = old.lines().map(String::from).collect();
    let n: Vec<String> = new.lines().map(String::from).collect();
    let mut out: Vec<String> = multiset_minus(&o, &n)
        .into_iter()
        .map(|l| format!("{prefix}line removed: {l}"))
        .collect();
    out.extend(
        multiset_minus(&n, &o)
            .into_iter()
            .map(|l| format!("{prefix}line added: {l}")),
    );
    if out.is_empty() && o != n {
        let at = o.iter().zip(&n).position(|(a, b)| a != b).unwrap_or(0);
        out.push(format!("{prefix}line order changed from line {}", at + 1));
    }
    out
}

/// Items of `a` not matched by an equal item of `b`, in `a`'s order.
fn multiset_minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: Vec<Option<&String>> = b.iter().map(Some).collect();
    a.iter()
        .filter(
            |x| match left.iter_mut().find(|y| y.is_some_and(|y| y == *x)) {
                Some(slot) => {
                    *slot = None;
                    false
                }
                None => true,
            },
        )
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "v=0\no=- <session-id> <session-version> IN IP4 127.0.0.1\ns=-\nt=0 0\n\
        a=group:BUNDLE 0 1\na=extmap-allow-mixed\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0\nc=IN IP4 0.0.0.0\na=mid:0\na=sendrecv\n\
        a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n\
        a=rtpmap:111 opus/48000/2\na=rtcp-fb:111 transport-cc\na=fmtp:111 minptime=10;useinbandfec=1\n\
        a=rtpmap:0 PCMU/8000\na=rtcp-mux\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=mid:1\n\
        a=setup:actpass\na=sctp-port:5000\na=max-message-size:262144\n";

    fn changed(from: &str, to: &str) -> Vec<String> {
        assert!(BASE.contains(from), "`{from}` is not in the base");
        describe_changes(BASE, &BASE.replacen(from, to, 1))
    }

    #[test]
    fn equal_texts_have_no_changes() {
        assert!(describe_changes(BASE, BASE).is_empty());
        assert!(describe_changes(BASE, &BASE.replace('\n', "\r\n")).is_empty());
    }

    #[test]
    fn session_changes_in_words() {
        assert_eq!(
            changed("a=group:BUNDLE 0 1\n", "a=group:BUNDLE 0\n"),
            ["session: BUNDLE group changed 0 1 → 0"]
        );
        assert_eq!(
            changed("a=extmap-allow-mixed\n", ""),
            ["session: extmap-allow-mixed removed"]
        );
        assert_eq!(
            changed("s=-\n", "s=x\n"),
            ["session: line removed: s=-", "session: line added: s=x"]
        );
    }

    #[test]
    fn media_changes_in_words() {
        assert_eq!(
            changed("a=max-message-size:262144", "a=max-message-size:65536"),
            ["m=application: sctp max-message-size 262144 → 65536"]
        );
        assert_eq!(
            changed("a=setup:actpass", "a=setup:active"),
            ["m=application: setup actpass → active"]
        );
        assert_eq!(
            changed("a=sendrecv", "a=recvonly"),
            ["m=audio: direction sendrecv → recvonly"]
        );
        assert_eq!(
            changed("a=rtcp-mux\n", "a=rtcp-mux\na=rtcp-rsize\n"),
            ["m=audio: rtcp-rsize added"]
        );
        assert_eq!(
            changed(
                "a=rtcp-mux\n",
                "a=rtcp-mux\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\n"
            ),
            ["m=audio: extmap urn:ietf:params:rtp-hdrext:sdes:mid added"]
        );
        assert_eq!(
            changed("a=extmap:1 urn", "a=extmap:2 urn"),
            ["m=audio: extmap urn:ietf:params:rtp-hdrext:ssrc-audio-level id 1 → 2"]
        );
        assert_eq!(
            changed("a=rtcp-mux\n", "a=rtcp-mux\na=x-unknown:1\n"),
            ["m=audio: line added: a=x-unknown:1"]
        );
    }

    #[test]
    fn codec_changes_in_words() {
        assert_eq!(
            changed("111 0\n", "111\n"),
            ["m=audio: codec PCMU/8000 removed"]
        );
        assert_eq!(
            changed("111 0\n", "0 111\n"),
            ["m=audio: codec order changed: opus/48000/2, PCMU/8000 → PCMU/8000, opus/48000/2"]
        );
        assert_eq!(
            changed("a=rtcp-fb:111 transport-cc\n", ""),
            ["m=audio: codec opus/48000/2 minptime=10;useinbandfec=1 rtcp-fb transport-cc removed"]
        );
        assert_eq!(
            changed("useinbandfec=1", "useinbandfec=0"),
            [
                "m=audio: codec opus/48000/2 minptime=10;useinbandfec=1 removed",
                "m=audio: codec opus/48000/2 minptime=10;useinbandfec=0 added"
            ]
        );
    }

    #[test]
    fn sections_added_removed_reordered() {
        let audio_start = BASE.find("m=audio").unwrap();
        let app_start = BASE.find("m=application").unwrap();
        let without_audio = format!("{}{}", &BASE[..audio_start], &BASE[app_start..]);
        assert_eq!(describe_changes(BASE, &without_audio), ["m=audio removed"]);
        assert_eq!(describe_changes(&without_audio, BASE), ["m=audio added"]);
        let swapped = format!(
            "{}{}{}",
            &BASE[..audio_start],
            &BASE[app_start..],
            &BASE[audio_start..app_start]
        );
        assert_eq!(
            describe_changes(BASE, &swapped),
            ["session: media sections reordered: audio application → application audio"]
        );
    }

    #[test]
    fn unparsable_text_falls_back_to_lines() {
        assert_eq!(
            describe_changes("hello\n", "hello\nworld\n"),
            ["line added: world"]
        );
        assert_eq!(
            describe_changes("a\nb\n", "b\na\n"),
            ["line order changed from line 1"]
        );
    }
}
