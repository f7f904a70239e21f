//! The signaling ladder: a sequence diagram of every message the relay forwarded for a case, with
//! three lifelines (offerer | relay | answerer) and one arrow per trace entry, top to bottom in the
//! order the relay saw them.

use std::fmt::Write as _;

use super::escape;
use crate::observe::{StepLog, parse_candidate};
use crate::outcome::CaseResult;
use crate::relay::TraceEntry;

const WIDTH: f64 = 1000.0;
const OFFERER_X: f64 = 190.0;
const RELAY_X: f64 = 540.0;
const ANSWERER_X: f64 = 890.0;
const BOX_W: f64 = 190.0;
const BOX_H: f64 = 26.0;
/// Where the first arrow's row starts.
const FIRST_ROW: f64 = 44.0;
const ROW_H: f64 = 30.0;
const OFFERER_INK: &str = "#0969da";
const ANSWERER_INK: &str = "#8250df";
const UNKNOWN_INK: &str = "#57606a";

/// Which side sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Offerer,
    Answerer,
    /// Neither id nor connection says: drawn on the relay's lifeline.
    Unknown,
}

impl Side {
    /// The color of this side's messages, here and on the timeline.
    pub(super) fn ink(self) -> &'static str {
        match self {
            Side::Offerer => OFFERER_INK,
            Side::Answerer => ANSWERER_INK,
            Side::Unknown => UNKNOWN_INK,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Side::Offerer => "the offerer",
            Side::Answerer => "the answerer",
            Side::Unknown => "an unknown sender",
        }
    }
}

/// The side an id names: the runner signs messages `offerer-<kind>` and `answerer-<kind>`.
fn side_of_id(sender: Option<&str>) -> Option<Side> {
    let sender = sender?;
    if sender.starts_with("offerer") {
        Some(Side::Offerer)
    } else if sender.starts_with("answerer") {
        Some(Side::Answerer)
    } else {
        None
    }
}

/// The sender of each entry: by its id, or else by its relay connection when another message on the
/// same connection carried a known id.
pub(super) fn senders(entries: &[TraceEntry]) -> Vec<Side> {
    let known: Vec<(u64, Side)> = entries
        .iter()
        .filter_map(|e| side_of_id(e.sender.as_deref()).map(|side| (e.connection, side)))
        .collect();
    entries
        .iter()
        .map(|e| {
            side_of_id(e.sender.as_deref())
                .or_else(|| {
                    known
                        .iter()
                        .find(|(connection, _)| *connection == e.connection)
                        .map(|&(_, side)| side)
                })
                .unwrap_or(Side::Unknown)
        })
        .collect()
}

/// The message in a few words: its type, and for a candidate its type, protocol and address.
fn describe(entry: &TraceEntry) -> String {
    if entry.kind != "candidate" {
        return entry.kind.clone();
    }
    match entry.message.get("candidate").and_then(|c| c.as_str()) {
        None | Some("") => "end-of-candidates".to_string(),
        Some(text) => match parse_candidate(text) {
            Ok(c) if c.address.contains(':') => {
                format!(
                    "candidate {} {} [{}]:{}",
                    c.kind, c.protocol, c.address, c.port
                )
            }
            Ok(c) => format!(
                "candidate {} {} {}:{}",
                c.kind, c.protocol, c.address, c.port
            ),
            Err(_) => "candidate (unparseable)".to_string(),
        },
    }
}

/// The ladder for one case as SVG, or a note when the relay forwarded nothing.
pub(super) fn render(r: &CaseResult) -> String {
    if r.signaling.is_empty() {
        return "<p class=\"muted\">The relay recorded no messages.</p>\n".to_string();
    }
    let sides = senders(&r.signaling);
    // Messages and the steps each side acted in, in the order they happened.
    let mut rows: Vec<(f64, Row<'_>)> = r
        .signaling
        .iter()
        .zip(sides)
        .enumerate()
        .map(|(index, (entry, side))| (entry.at_ms, Row::Message(index, entry, side)))
        .collect();
    for (side, steps) in [
        (Side::Offerer, &r.steps.offerer),
        (Side::Answerer, &r.steps.answerer),
    ] {
        rows.extend(
            steps
                .iter()
                .filter(|s| s.acted || s.error.is_some())
                .map(|s| (s.started_at_ms, Row::Step(side, s))),
        );
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bottom = FIRST_ROW + ROW_H * rows.len() as f64 + 8.0;
    let mut svg = format!(
        "<svg class=\"ladder\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{bottom:.0}\" \
         viewBox=\"0 0 {WIDTH} {bottom:.0}\" font-family=\"ui-monospace,Menlo,monospace\" font-size=\"11\">"
    );
    for (x, name, ink) in [
        (OFFERER_X, format!("offerer ({})", r.offerer), OFFERER_INK),
        (RELAY_X, "relay".to_string(), UNKNOWN_INK),
        (
            ANSWERER_X,
            format!("answerer ({})", r.answerer),
            ANSWERER_INK,
        ),
    ] {
        svg.push_str(&lifeline(x, &name, ink, bottom));
    }
    for (row, (_, item)) in rows.iter().enumerate() {
        svg.push_str(&match item {
            Row::Message(index, entry, side) => arrow(row, *index, entry, *side),
            Row::Step(side, step) => step_mark(row, *side, step),
        });
    }
    svg.push_str("</svg>\n");
    svg
}

/// A named box on top and a dashed line down to `bottom`.
fn lifeline(x: f64, name: &str, ink: &str, bottom: f64) -> String {
    format!(
        "<rect x=\"{:.1}\" y=\"2\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"4\" fill=\"#f6f8fa\" stroke=\"{ink}\"/>\
         <text x=\"{x:.1}\" y=\"19\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" font-size=\"12\" \
         font-weight=\"bold\" fill=\"{ink}\">{}</text>\
         <line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{ink}\" stroke-dasharray=\"4 3\"/>",
        x - BOX_W / 2.0,
        escape(name),
        2.0 + BOX_H,
    )
}

/// One row of the ladder.
enum Row<'a> {
    /// Trace entry `index`.
    Message(usize, &'a TraceEntry, Side),
    /// A step a side began (acting, or failing as the counterpart).
    Step(Side, &'a StepLog),
}

/// A step on its side's lifeline at row `row`: a marker, and its number, kind, times and outcome.
fn step_mark(row: usize, side: Side, step: &StepLog) -> String {
    let y = FIRST_ROW + ROW_H * row as f64 + ROW_H - 8.0;
    let x = match side {
        Side::Offerer => OFFERER_X,
        Side::Answerer => ANSWERER_X,
        Side::Unknown => RELAY_X,
    };
    let outcome = match (&step.error, step.ended_at_ms) {
        (Some(_), _) => "failed",
        (None, Some(_)) => "done",
        (None, None) => "still waiting",
    };
    let label = format!(
        "step {} {} @ {:.1} → {} ms · {outcome}",
        step.index + 1,
        step.kind,
        step.started_at_ms,
        step.ended_at_ms
            .map_or("…".to_string(), |t| format!("{t:.1}"))
    );
    // Offerer steps are labelled to the lifeline's right, answerer steps to its left.
    let (anchor, text_x) = match side {
        Side::Answerer => ("end", x - 10.0),
        _ => ("start", x + 10.0),
    };
    let ink = if step.error.is_some() {
        "#cf222e"
    } else {
        side.ink()
    };
    format!(
        "<g class=\"step\"><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" \
         fill=\"{ink}\"/><text x=\"{text_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{ink}\" \
         font-style=\"italic\">{}</text></g>",
        escape(step.error.as_deref().unwrap_or(&label)),
        x - 5.0,
        y - 5.0,
        y + 4.0,
        escape(&label),
    )
}

/// Entry `index` at row `row`: an arrow from its sender towards the other side, stopping at the
/// relay when the relay had no one to deliver it to. A message from an unknown sender is a dot on
/// the relay.
fn arrow(row: usize, index: usize, entry: &TraceEntry, side: Side) -> String {
    let y = FIRST_ROW + ROW_H * row as f64 + ROW_H - 8.0;
    let mut label = format!("{} @ {:.1} ms", describe(entry), entry.at_ms);
    let ink = side.ink();
    let (from, to) = match side {
        Side::Offerer => (OFFERER_X, ANSWERER_X),
        Side::Answerer => (ANSWERER_X, OFFERER_X),
        Side::Unknown => (RELAY_X, RELAY_X),
    };
    let delivered = entry.delivered_to > 0;
    let to = if delivered { to } else { RELAY_X };
    if !delivered {
        label.push_str(" · not delivered");
    }
    let tooltip = format!(
        "#{} from {} on connection {}, delivered to {}: {}",
        index + 1,
        entry.sender.as_deref().unwrap_or("(no id)"),
        entry.connection,
        entry.delivered_to,
        entry.message
    );
    let mut svg = format!(
        "<g class=\"msg\" data-index=\"{index}\"><title>{}</title>\
         <text x=\"8\" y=\"{:.1}\" fill=\"#8c959f\">#{}</text>",
        escape(&tooltip),
        y + 4.0,
        index + 1
    );
    if side == Side::Unknown {
        let sender = entry.sender.as_deref().unwrap_or("unknown sender");
        let _ = write!(
            svg,
            "<circle cx=\"{RELAY_X}\" cy=\"{y:.1}\" r=\"4\" fill=\"{ink}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ink}\">{} (from {})</text></g>",
            RELAY_X + 8.0,
            y + 4.0,
            escape(&label),
            escape(sender),
        );
        return svg;
    }
    let direction = if to > from { 1.0 } else { -1.0 };
    let _ = write!(
        svg,
        "<line x1=\"{from:.1}\" y1=\"{y:.1}\" x2=\"{to:.1}\" y2=\"{y:.1}\" stroke=\"{ink}\" stroke-width=\"1.5\"/>"
    );
    if delivered {
        let tip = to - direction;
        let back = tip - direction * 9.0;
        let _ = write!(
            svg,
            "<polygon points=\"{tip:.1},{y:.1} {back:.1},{:.1} {back:.1},{:.1}\" fill=\"{ink}\"/>",
            y - 4.5,
            y + 4.5,
        );
    } else {
        let _ = write!(
            svg,
            "<path d=\"M{:.1},{:.1} l10,10 m0,-10 l-10,10\" stroke=\"#cf222e\" stroke-width=\"2\"/>",
            to - 5.0,
            y - 5.0,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{ink}\" stroke=\"#ffffff\" stroke-width=\"4\" \
         paint-order=\"stroke\" stroke-linejoin=\"round\">{}</text></g>",
        (from + to) / 2.0,
        y - 5.0,
        escape(&label),
    );
    svg
}
