//! The signaling lint: every message of a relay trace checked against the descriptions it belongs to.
//!
//! [`lint`] walks a case's trace in order and keeps, per sender, the last description (offer or
//! answer) it sent. Each `candidate` message is checked against that description's m-sections:
//! its `sdpMid` must be one of their `a=mid:` values (an empty string is reported, not ignored:
//! webrtc-rs 0.21 sends `"sdpMid": ""`), its `sdpMLineIndex` must be in range, and when it carries
//! both they must name the same section. A non-empty candidate string must parse
//! ([`parse_candidate`]), and must carry at least one of the two fields. End-of-candidates (an empty
//! candidate string) is sent once per gathering: a description carrying an `a=ice-ufrag` the
//! sender's previous description did not (an ICE restart) starts a new one. A frame that is not a
//! protocol message at all (unknown `type`, missing or mistyped fields) is a finding too.
//!
//! The lint only reports; whether its findings are warnings or failures is the scenario's call
//! (`[expect] signaling_lint`).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::observe::parse_candidate;
use crate::relay::TraceEntry;

/// One thing wrong with one message of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintFinding {
    /// The sender's id (`m`); for a frame without one, `connection <n>` (the relay's number).
    pub sender: String,
    /// The message's index in the trace (0-based).
    pub message_index: usize,
    /// The rule it breaks.
    pub rule: LintRule,
    /// One sentence naming the message and what is wrong, e.g. `candidate #3: sdpMid "" names no
    /// m-section (offer has mids 0)`. Candidates are numbered per sender from 1, counting every
    /// `candidate` frame the sender sent, end-of-candidates included.
    pub detail: String,
}

impl LintFinding {
    /// The finding as a report line: the sender, then the detail, e.g.
    /// `` `offerer-native` candidate #4: sdpMid "" names no m-section (offer has mids 0) ``.
    pub fn sentence(&self) -> String {
        format!("`{}` {}", self.sender, self.detail)
    }
}

/// The rules of the signaling lint. Serialized as [`LintRule::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LintRule {
    /// `sdpMid` is not the mid of any m-section of the sender's description (`""` included).
    UnknownMid,
    /// `sdpMLineIndex` is not less than the number of m-sections of the sender's description.
    MlineIndexOutOfRange,
    /// `sdpMid` and `sdpMLineIndex` are both valid but name different m-sections.
    MidAndIndexDisagree,
    /// A non-empty candidate carries neither `sdpMid` nor `sdpMLineIndex`.
    MissingMidAndIndex,
    /// A non-empty candidate string does not parse as a `candidate:` attribute.
    UnparseableCandidate,
    /// A candidate (or end-of-candidates) sent before the sender sent any offer or answer.
    CandidateBeforeDescription,
    /// End-of-candidates sent more than once in one gathering (between ICE restarts).
    RepeatedEndOfCandidates,
    /// A frame that is not a signaling protocol message.
    UnknownMessage,
}

impl LintRule {
    /// The rule's name in reports and JSON: `unknown-mid`, `mline-index-out-of-range`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            LintRule::UnknownMid => "unknown-mid",
            LintRule::MlineIndexOutOfRange => "mline-index-out-of-range",
            LintRule::MidAndIndexDisagree => "mid-and-index-disagree",
            LintRule::MissingMidAndIndex => "missing-mid-and-index",
            LintRule::UnparseableCandidate => "unparseable-candidate",
            LintRule::CandidateBeforeDescription => "candidate-before-description",
            LintRule::RepeatedEndOfCandidates => "repeated-end-of-candidates",
            LintRule::UnknownMessage => "unknown-message",
        }
    }
}

impl fmt::Display for LintRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Lints a case's signaling trace; findings come in trace order.
pub fn lint(trace: &[TraceEntry]) -> Vec<LintFinding> {
    let mut senders: HashMap<&str, SenderState> = HashMap::new();
    let mut findings = Vec::new();
    for (index, entry) in trace.iter().enumerate() {
        let mut report = |sender: &str, rule: LintRule, detail: String| {
            findings.push(LintFinding {
                sender: sender.to_string(),
                message_index: index,
                rule,
                detail,
            })
        };
        let message = match check_message(&entry.message) {
            Ok(message) => message,
            Err(reason) => {
                let sender = match &entry.sender {
                    Some(sender) => sender.clone(),
                    None => format!("connection {}", entry.connection),
                };
                let detail = format!(
                    "{:?} frame at trace index {index} is not a signaling message: {reason}",
                    entry.kind
                );
                report(&sender, LintRule::UnknownMessage, detail);
                // A malformed candidate still takes a number, so numbers match the trace.
                if entry.kind == "candidate"
                    && let Some(sender) = &entry.sender
                {
                    senders.entry(sender).or_default().candidates += 1;
                }
                continue;
            }
        };
        match message {
            Message::Other => {}
            Message::Description { kind, sender, sdp } => {
                senders.entry(sender).or_default().described(kind, sdp);
            }
            Message::Candidate {
                sender,
                candidate,
                mid,
                mline_index,
            } => {
                let state = senders.entry(sender).or_default();
                state.candidates += 1;
                let number = state.candidates;
                let name = if candidate.is_empty() {
                    format!("candidate #{number} (end-of-candidates)")
                } else {
                    format!("candidate #{number}")
                };
                let mut report = |rule, detail| report(sender, rule, detail);
                match &state.description {
                    None => report(
                        LintRule::CandidateBeforeDescription,
                        format!("{name} was sent before the sender's first offer or answer"),
                    ),
                    Some(description) => {
                        for (rule, problem) in check_section(description, mid, mline_index) {
                            report(rule, format!("{name}: {problem}"));
                        }
                    }
                }
                if candidate.is_empty() {
                    match state.end_of_candidates {
                        Some(first) => report(
                            LintRule::RepeatedEndOfCandidates,
                            format!(
                                "{name} repeats end-of-candidates, already sent as candidate \
                                 #{first} in the same gathering"
                            ),
                        ),
                        None => state.end_of_candidates = Some(number),
                    }
                } else {
                    if mid.is_none() && mline_index.is_none() {
                        report(
                            LintRule::MissingMidAndIndex,
                            format!("{name} carries neither sdpMid nor sdpMLineIndex"),
                        );
                    }
                    if let Err(e) = parse_candidate(candidate) {
                        report(
                            LintRule::UnparseableCandidate,
                            format!("{name} does not parse: {e}"),
                        );
                    }
                }
            }
        }
    }
    findings
}

/// What the lint remembers about one sender.
#[derive(Default)]
struct SenderState<'a> {
    /// The last description it sent.
    description: Option<Description<'a>>,
    /// How many `candidate` frames it sent so far.
    candidates: usize,
    /// The number of the candidate that ended the current gathering, if one did.
    end_of_candidates: Option<usize>,
}

impl<'a> SenderState<'a> {
    fn described(&mut self, kind: &'a str, sdp: &str) {
        let description = Description::scan(kind, sdp);
        let restart = match &self.description {
            None => true,
            Some(previous) => description
                .ufrags
                .iter()
                .any(|ufrag| !previous.ufrags.contains(ufrag)),
        };
        if restart {
            self.end_of_candidates = None;
        }
        self.description = Some(description);
    }
}

/// The parts of a description the lint needs.
struct Description<'a> {
    /// `offer` or `answer`.
    kind: &'a str,
    /// Each m-section's `a=mid:` value, in order (`None`: the section has none).
    mids: Vec<Option<String>>,
    /// Every `a=ice-ufrag:` value, session or media level.
    ufrags: Vec<String>,
}

impl<'a> Description<'a> {
    /// Scans SDP text (CRLF or LF) for its m-lines, mids and ufrags.
    fn scan(kind: &'a str, sdp: &str) -> Self {
        let mut mids = Vec::new();
        let mut ufrags = Vec::new();
        for line in sdp.lines().map(str::trim) {
            if line.starts_with("m=") {
                mids.push(None);
            } else if let Some(mid) = line.strip_prefix("a=mid:") {
                if let Some(last) = mids.last_mut() {
                    *last = Some(mid.to_string());
                }
            } else if let Some(ufrag) = line.strip_prefix("a=ice-ufrag:") {
                ufrags.push(ufrag.to_string());
            }
        }
        Description { kind, mids, ufrags }
    }

    /// `offer has mids 0, 1` / `answer has no m-sections`, for details.
    fn summary(&self) -> String {
        let mids: Vec<&str> = self.mids.iter().flatten().map(String::as_str).collect();
        match (self.mids.len(), mids.len()) {
            (0, _) => format!("{} has no m-sections", self.kind),
            (n, 0) => format!("{} has {n} m-section(s) and no mids", self.kind),
            _ => format!("{} has mids {}", self.kind, mids.join(", ")),
        }
    }
}

/// Checks a candidate's `sdpMid` / `sdpMLineIndex` against the sender's description.
fn check_section(
    description: &Description<'_>,
    mid: Option<&str>,
    mline_index: Option<u16>,
) -> Vec<(LintRule, String)> {
    let mut problems = Vec::new();
    let mid_section = mid.map(|mid| {
        let found = description
            .mids
            .iter()
            .position(|m| m.as_deref() == Some(mid));
        if found.is_none() {
            problems.push((
                LintRule::UnknownMid,
                format!(
                    "sdpMid {mid:?} names no m-section ({})",
                    description.summary()
                ),
            ));
        }
        found
    });
    let sections = description.mids.len();
    let index_ok = match mline_index {
        Some(index) if usize::from(index) >= sections => {
            problems.push((
                LintRule::MlineIndexOutOfRange,
                format!(
                    "sdpMLineIndex {index} is out of range ({} has {sections} m-section(s))",
                    description.kind
                ),
            ));
            false
        }
        _ => true,
    };
    if let (Some(Some(section)), Some(index), true) = (mid_section, mline_index, index_ok)
        && section != usize::from(index)
    {
        problems.push((
            LintRule::MidAndIndexDisagree,
            format!(
                "sdpMid {:?} is m-section {section} but sdpMLineIndex is {index} ({})",
                mid.unwrap_or_default(),
                description.summary()
            ),
        ));
    }
    problems
}

/// A trace message, as far as the lint reads it.
enum Message<'a> {
    /// `hello` or `bye`.
    Other,
    /// An `offer` or `answer`.
    Description {
        kind: &'a str,
        sender: &'a str,
        sdp: &'a str,
    },
    /// A `candidate` (empty `candidate`: end-of-candidates).
    Candidate {
        sender: &'a str,
        candidate: &'a str,
        mid: Option<&'a str>,
        mline_index: Option<u16>,
    },
}

/// Reads one message the way the protocol's own parser (`SignalMessage::parse`) accepts it: a
/// known `type`, a string `m`, and each field its type (`null` counts as absent for the optional
/// ones; extra fields are ignored). `Err` says what is wrong.
fn check_message(message: &Value) -> Result<Message<'_>, String> {
    let kind = message
        .get("type")
        .and_then(Value::as_str)
        .ok_or("`type` is missing or not a string")?;
    let string = |field: &str| {
        message
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{field}` is missing or not a string"))
    };
    let optional = |field: &str| message.get(field).filter(|v| !v.is_null());
    match kind {
        "hello" | "offer" | "answer" | "candidate" | "bye" => {}
        _ => return Err(format!("unknown type {kind:?}")),
    }
    let sender = string("m")?;
    match kind {
        "offer" | "answer" => Ok(Message::Description {
            kind,
            sender,
            sdp: string("sdp")?,
        }),
        "candidate" => {
            let candidate = string("candidate")?;
            let mid = match optional("sdpMid") {
                None => None,
                Some(mid) => Some(mid.as_str().ok_or("`sdpMid` is not a string")?),
            };
            let mline_index = match optional("sdpMLineIndex") {
                None => None,
                Some(index) => Some(
                    index
                        .as_u64()
                        .and_then(|i| u16::try_from(i).ok())
                        .ok_or_else(|| format!("`sdpMLineIndex` {index} is not an m-line index"))?,
                ),
            };
            Ok(Message::Candidate {
                sender,
                candidate,
                mid,
                mline_index,
            })
        }
        _ => Ok(Message::Other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CHROMIUM_OFFER: &str = include_str!("../../fixtures/sdp/chromium-offer-to-chromium.sdp");
    const NATIVE_ANSWER: &str = include_str!("../../fixtures/sdp/native-answer-to-chromium.sdp");
    const MEDIA_OFFER: &str =
        include_str!("../../fixtures/sdp/chromium-media-offer-to-chromium-gathered.sdp");
    const HOST: &str = "candidate:3053364473 1 udp 2113937151 192.0.2.2 48627 typ host generation 0 ufrag I9x9 network-cost 999";

    fn entry(message: Value) -> TraceEntry {
        TraceEntry {
            at_ms: 0.0,
            room: "case".into(),
            connection: 1,
            kind: message["type"].as_str().unwrap_or_default().to_string(),
            sender: message["m"].as_str().map(str::to_string),
            delivered_to: 1,
            message,
        }
    }

    fn offer(m: &str, sdp: &str) -> TraceEntry {
        entry(json!({"type": "offer", "sdp": sdp, "m": m}))
    }

    fn answer(m: &str, sdp: &str) -> TraceEntry {
        entry(json!({"type": "answer", "sdp": sdp, "m": m}))
    }

    fn candidate(m: &str, candidate: &str, mid: Value, index: Value) -> TraceEntry {
        entry(
            json!({"type": "candidate", "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index, "m": m}),
        )
    }

    fn end_of_candidates(m: &str) -> TraceEntry {
        entry(json!({"type": "candidate", "candidate": "", "m": m}))
    }

    fn rules(findings: &[LintFinding]) -> Vec<LintRule> {
        findings.iter().map(|f| f.rule).collect()
    }

    /// A Chromium-to-webrtc-rs exchange as it should look.
    fn clean_trace() -> Vec<TraceEntry> {
        vec![
            entry(json!({"type": "hello", "m": "offerer"})),
            entry(json!({"type": "hello", "m": "answerer"})),
            offer("offerer", CHROMIUM_OFFER),
            candidate("offerer", HOST, json!("0"), json!(0)),
            answer("answerer", NATIVE_ANSWER),
            candidate(
                "offerer",
                "candidate:1 1 udp 1677729535 203.0.113.7 50001 typ srflx raddr 0.0.0.0 rport 0",
                json!("0"),
                json!(0),
            ),
            candidate(
                "answerer",
                "candidate:2 1 udp 2130706431 192.0.2.3 50000 typ host",
                json!("0"),
                Value::Null,
            ),
            end_of_candidates("offerer"),
            end_of_candidates("answerer"),
            entry(json!({"type": "bye", "m": "offerer"})),
        ]
    }

    #[test]
    fn clean_trace_has_no_findings() {
        assert_eq!(lint(&clean_trace()), vec![]);
    }

    #[test]
    fn webrtc_rs_empty_mid_is_unknown_mid() {
        let mut trace = clean_trace();
        trace[6] = candidate("answerer", HOST, json!(""), json!(0));
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::UnknownMid]);
        let f = &findings[0];
        assert_eq!((f.sender.as_str(), f.message_index), ("answerer", 6));
        assert_eq!(
            f.sentence(),
            r#"`answerer` candidate #1: sdpMid "" names no m-section (answer has mids 0)"#
        );
    }

    #[test]
    fn mline_index_out_of_range() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            candidate("a", HOST, Value::Null, json!(1)),
        ];
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::MlineIndexOutOfRange]);
        assert_eq!(
            findings[0].detail,
            "candidate #1: sdpMLineIndex 1 is out of range (offer has 1 m-section(s))"
        );
    }

    #[test]
    fn mid_and_index_disagree() {
        let trace = [
            offer("a", MEDIA_OFFER),
            candidate("a", HOST, json!("2"), json!(2)),
            candidate("a", HOST, json!("1"), json!(0)),
        ];
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::MidAndIndexDisagree]);
        assert_eq!(findings[0].message_index, 2);
        assert_eq!(
            findings[0].detail,
            r#"candidate #2: sdpMid "1" is m-section 1 but sdpMLineIndex is 0 (offer has mids 0, 1, 2)"#
        );
    }

    #[test]
    fn unknown_mid_and_bad_index_are_not_also_a_disagreement() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            candidate("a", HOST, json!("7"), json!(3)),
        ];
        assert_eq!(
            rules(&lint(&trace)),
            [LintRule::UnknownMid, LintRule::MlineIndexOutOfRange]
        );
    }

    #[test]
    fn missing_mid_and_index() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            entry(json!({"type": "candidate", "candidate": HOST, "m": "a"})),
            candidate("a", HOST, Value::Null, Value::Null),
        ];
        let findings = lint(&trace);
        assert_eq!(
            rules(&findings),
            [LintRule::MissingMidAndIndex, LintRule::MissingMidAndIndex]
        );
        assert_eq!(
            findings[1].detail,
            "candidate #2 carries neither sdpMid nor sdpMLineIndex"
        );
    }

    #[test]
    fn unparseable_candidate() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            candidate(
                "a",
                "candidate:1 1 udp 5 1.2.3.4 x typ host",
                json!("0"),
                json!(0),
            ),
            candidate("a", "1 1 udp 5 1.2.3.4 9 typ host", json!("0"), json!(0)),
        ];
        let findings = lint(&trace);
        assert_eq!(
            rules(&findings),
            [
                LintRule::UnparseableCandidate,
                LintRule::UnparseableCandidate
            ]
        );
        assert!(
            findings[0]
                .detail
                .starts_with("candidate #1 does not parse: ")
                && findings[0].detail.contains("port `x`"),
            "{}",
            findings[0].detail
        );
    }

    #[test]
    fn candidate_before_description() {
        let trace = [
            entry(json!({"type": "hello", "m": "a"})),
            candidate("a", HOST, json!("0"), json!(0)),
            offer("a", CHROMIUM_OFFER),
            candidate("a", HOST, json!("0"), json!(0)),
            // The other side's description does not count for this sender.
            candidate("b", HOST, json!("0"), json!(0)),
        ];
        let findings = lint(&trace);
        assert_eq!(
            rules(&findings),
            [
                LintRule::CandidateBeforeDescription,
                LintRule::CandidateBeforeDescription
            ]
        );
        assert_eq!(
            (findings[0].sender.as_str(), findings[0].message_index),
            ("a", 1)
        );
        assert_eq!(
            findings[1].sentence(),
            "`b` candidate #1 was sent before the sender's first offer or answer"
        );
    }

    #[test]
    fn repeated_end_of_candidates() {
        let mut trace = clean_trace();
        trace.push(end_of_candidates("offerer"));
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::RepeatedEndOfCandidates]);
        assert_eq!(findings[0].message_index, 10);
        assert_eq!(
            findings[0].detail,
            "candidate #4 (end-of-candidates) repeats end-of-candidates, already sent as \
             candidate #3 in the same gathering"
        );
    }

    #[test]
    fn renegotiation_without_restart_is_the_same_gathering() {
        let mut trace = clean_trace();
        trace.push(offer("offerer", CHROMIUM_OFFER));
        trace.push(end_of_candidates("offerer"));
        assert_eq!(rules(&lint(&trace)), [LintRule::RepeatedEndOfCandidates]);
    }

    #[test]
    fn ice_restart_allows_another_end_of_candidates() {
        let restarted = CHROMIUM_OFFER.replace("a=ice-ufrag:I9x9", "a=ice-ufrag:Zq7w");
        assert_ne!(restarted, CHROMIUM_OFFER);
        let mut trace = clean_trace();
        trace.push(offer("offerer", &restarted));
        trace.push(candidate("offerer", HOST, json!("0"), json!(0)));
        trace.push(end_of_candidates("offerer"));
        assert_eq!(lint(&trace), vec![]);
        trace.push(end_of_candidates("offerer"));
        assert_eq!(rules(&lint(&trace)), [LintRule::RepeatedEndOfCandidates]);
    }

    #[test]
    fn later_descriptions_define_the_sections() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            offer("a", MEDIA_OFFER),
            candidate("a", HOST, json!("2"), json!(2)),
        ];
        assert_eq!(lint(&trace), vec![]);
    }

    #[test]
    fn end_of_candidates_with_a_mid_is_checked_too() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            candidate("a", "", json!(""), json!(0)),
        ];
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::UnknownMid]);
        assert!(
            findings[0]
                .detail
                .starts_with("candidate #1 (end-of-candidates): sdpMid \"\"")
        );
    }

    #[test]
    fn frames_that_are_not_protocol_messages() {
        let mut no_sender = entry(json!({"type": "hello"}));
        no_sender.connection = 7;
        let trace = [
            entry(json!({"type": "wave", "m": "a"})),
            no_sender,
            entry(json!({"type": "offer", "m": "a"})),
            entry(json!({"type": "candidate", "candidate": HOST, "sdpMLineIndex": -1, "m": "a"})),
            entry(json!({"type": "candidate", "candidate": HOST, "sdpMid": 0, "m": "a"})),
            entry(json!({"type": "candidate", "m": "a"})),
        ];
        let findings = lint(&trace);
        assert_eq!(rules(&findings), [LintRule::UnknownMessage; 6]);
        assert_eq!(
            findings[0].sentence(),
            r#"`a` "wave" frame at trace index 0 is not a signaling message: unknown type "wave""#
        );
        assert_eq!(findings[1].sender, "connection 7");
        assert!(findings[1].detail.contains("`m`"), "{}", findings[1].detail);
        assert!(
            findings[2].detail.contains("`sdp`"),
            "{}",
            findings[2].detail
        );
        assert!(findings[3].detail.contains("`sdpMLineIndex` -1"));
        assert!(findings[4].detail.contains("`sdpMid`"));
        // Malformed candidates still take their number.
        let mut trace = trace.to_vec();
        trace.push(offer("a", CHROMIUM_OFFER));
        trace.push(candidate("a", HOST, json!("9"), json!(0)));
        let last = lint(&trace).pop().unwrap();
        assert!(last.detail.starts_with("candidate #4:"), "{}", last.detail);
    }

    #[test]
    fn null_mid_counts_as_absent() {
        let trace = [
            offer("a", CHROMIUM_OFFER),
            candidate("a", HOST, Value::Null, json!(0)),
        ];
        assert_eq!(lint(&trace), vec![]);
    }

    #[test]
    fn rules_serialize_as_their_names() {
        let all = [
            LintRule::UnknownMid,
            LintRule::MlineIndexOutOfRange,
            LintRule::MidAndIndexDisagree,
            LintRule::MissingMidAndIndex,
            LintRule::UnparseableCandidate,
            LintRule::CandidateBeforeDescription,
            LintRule::RepeatedEndOfCandidates,
            LintRule::UnknownMessage,
        ];
        for rule in all {
            assert_eq!(serde_json::to_value(rule).unwrap(), json!(rule.as_str()));
            assert_eq!(rule.to_string(), rule.as_str());
        }
        let finding = LintFinding {
            sender: "a".into(),
            message_index: 3,
            rule: LintRule::UnknownMid,
            detail: "d".into(),
        };
        assert_eq!(
            serde_json::to_value(&finding).unwrap(),
            json!({"sender": "a", "message_index": 3, "rule": "unknown-mid", "detail": "d"})
        );
    }

    #[test]
    fn every_fixture_scans_to_its_m_lines() {
        for sdp in [CHROMIUM_OFFER, NATIVE_ANSWER, MEDIA_OFFER] {
            let d = Description::scan("offer", sdp);
            assert_eq!(d.mids.len(), sdp.matches("\nm=").count());
            assert!(d.mids.iter().all(Option::is_some));
            assert!(!d.ufrags.is_empty());
        }
    }
}
