//! State timelines: the ICE connection, peer connection and ICE gathering states of both sides on
//! one time axis (ms since the case started), as inline SVG.
//!
//! Each state machine of each side is a horizontal band cut into one segment per state, colored by
//! the state's name. A segment too narrow for its label gets it below the band instead, in the first
//! row where it overlaps no other label.

use std::fmt::Write as _;

use super::{escape, ladder};
use crate::observe::{StepLog, Transition};
use crate::outcome::{CaseResult, Sides};

pub(super) const WIDTH: f64 = 1100.0;
/// Room for the band names on the left.
pub(super) const PLOT_LEFT: f64 = 170.0;
pub(super) const PLOT_RIGHT: f64 = WIDTH - 16.0;
pub(super) const AXIS_H: f64 = 26.0;
const GROUP_TITLE_H: f64 = 18.0;
const BAND_H: f64 = 20.0;
const LANE_H: f64 = 14.0;
const BAND_GAP: f64 = 5.0;
/// Width of one character of the 11px monospace font the SVG uses.
const CHAR_W: f64 = 6.7;

/// The page's timeline for one case (SVG and its color legend), or a note when nothing was seen.
pub(super) fn render(r: &CaseResult) -> String {
    let groups = [
        ("ICE connection state", &r.ice_states),
        ("peer connection state", &r.connection_states),
        ("ICE gathering state", &r.gathering_states),
    ];
    let mut times = focus_times(&groups.map(|(_, sides)| sides));
    // Steps that end after the states settle (a renegotiation, a hang-up) widen the axis to them.
    if let Some(first) = times.iter().copied().reduce(f64::min) {
        times.extend(
            [&r.steps.offerer, &r.steps.answerer]
                .into_iter()
                .flatten()
                .filter_map(|s| s.ended_at_ms)
                .filter(|&t| t > first),
        );
    }
    let Some(axis) = Axis::new(times) else {
        return "<p class=\"muted\">No state changes were observed.</p>\n".to_string();
    };

    let mut body = String::new();
    let (signaling, marks, mut y) = signaling_row(r, &axis, AXIS_H + 4.0);
    body.push_str(&signaling);
    let bands_top = y;
    // The state machines, then the plan's steps as each side went through them, on one axis.
    let steps = r.steps.map(|list| step_transitions(list));
    let has_steps = !(r.steps.offerer.is_empty() && r.steps.answerer.is_empty());
    let step_group = has_steps.then_some(("steps", &steps));
    for (title, sides) in groups.into_iter().chain(step_group) {
        let _ = write!(
            body,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\" font-family=\"system-ui,sans-serif\" \
             font-size=\"12\">{title}</text>",
            y + 13.0
        );
        y += GROUP_TITLE_H;
        for (name, list) in side_bands(r, sides) {
            let band = Band::layout(&axis, list);
            body.push_str(&band.draw(&name, y));
            y += band.height() + BAND_GAP;
        }
        y += 4.0;
    }
    let height = y + 4.0;
    let mut svg = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"ui-monospace,Menlo,monospace\" font-size=\"11\">"
    );
    svg.push_str(&axis.draw(height));
    // Behind the bands: the marks show in the gaps between them without hiding any label.
    for (x, ink) in marks {
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{bands_top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{ink}\" \
             stroke-dasharray=\"3 3\"/>",
            height - 4.0
        );
    }
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg.push_str(&legend(&groups.map(|(_, sides)| sides)));
    svg
}

/// The times the axis must show. The first entry of each list is the state read when the
/// connection was made; a browser may have made it long before the other peer came, so those are
/// left out unless nothing else was seen: the axis then shows how the connection came up, and a
/// state that began earlier is cut at the axis' start.
fn focus_times(groups: &[&Sides<Vec<Transition>>]) -> Vec<f64> {
    let lists = || {
        groups
            .iter()
            .flat_map(|sides| [&sides.offerer, &sides.answerer])
    };
    let later: Vec<f64> = lists()
        .flat_map(|list| list.iter().skip(1).map(|t| t.at_ms))
        .collect();
    let all = lists().flat_map(|list| list.iter().map(|t| t.at_ms));
    match later.iter().copied().reduce(f64::min) {
        // First entries that came later still count, for the axis' end.
        Some(lo) => later.into_iter().chain(all.filter(|&t| t > lo)).collect(),
        None => all.collect(),
    }
}

/// The signaling row at `y`: a tick per candidate and a labelled mark for the offer and the answer
/// as they passed the relay, within the axis. Returns its SVG, the marks to draw down across the
/// bands (x and color), and where the row ends.
fn signaling_row(r: &CaseResult, axis: &Axis, y: f64) -> (String, Vec<(f64, &'static str)>, f64) {
    let mut svg = format!(
        "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\" font-family=\"system-ui,sans-serif\" \
         font-size=\"12\">signaling (relay)</text>",
        y + 11.0
    );
    let mut lanes = Lanes::default();
    let mut marks = Vec::new();
    let in_view = |t: f64| t >= axis.start && t <= axis.end;
    for (entry, side) in r.signaling.iter().zip(ladder::senders(&r.signaling)) {
        if !in_view(entry.at_ms) {
            continue;
        }
        let x = axis.x(entry.at_ms);
        let ink = side.ink();
        match entry.kind.as_str() {
            "candidate" => {
                let _ = write!(
                    svg,
                    "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{ink}\">\
                     <title>candidate from {} @ {:.1} ms</title></line>",
                    y + 8.0,
                    side.name(),
                    entry.at_ms
                );
            }
            "offer" | "answer" => {
                let text = format!("{} @{:.1}", entry.kind, entry.at_ms);
                let (row, left) = lanes.place(x, text_width(&text));
                let text_y = y + 8.0 + (row as f64 + 1.0) * LANE_H - 3.0;
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{text_y:.1}\" fill=\"{ink}\">{text}</text>",
                    if left < x { left } else { left + 3.0 },
                );
                marks.push((x, ink));
            }
            _ => {}
        }
    }
    let rows = lanes.count().max(1) as f64;
    for &(x, ink) in &marks {
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{ink}\" stroke-width=\"1.5\"/>",
            y + 8.0 + rows * LANE_H
        );
    }
    (svg, marks, y + 8.0 + rows * LANE_H + 4.0)
}

/// A side's steps as a band: `3. send` from when the step began, and at the end `done` (or
/// `failed`, or `waiting` if the case ended first).
fn step_transitions(steps: &[StepLog]) -> Vec<Transition> {
    let mut list: Vec<Transition> = steps
        .iter()
        .map(|s| Transition {
            state: format!("{}. {}", s.index + 1, s.kind),
            at_ms: s.started_at_ms,
        })
        .collect();
    if let Some(last) = steps.last() {
        let end = match (&last.error, last.ended_at_ms) {
            (Some(_), Some(at)) => Some(("failed", at)),
            (None, Some(at)) => Some(("done", at)),
            (_, None) => None,
        };
        if let Some((state, at_ms)) = end {
            list.push(Transition {
                state: state.into(),
                at_ms,
            });
        }
    }
    list
}

/// The two bands of one state machine: `offerer (native)` and `answerer (chromium)`.
fn side_bands<'a>(
    r: &CaseResult,
    sides: &'a Sides<Vec<Transition>>,
) -> [(String, &'a [Transition]); 2] {
    [
        (format!("offerer ({})", r.offerer), &sides.offerer),
        (format!("answerer ({})", r.answerer), &sides.answerer),
    ]
}

/// The shared time axis: `start..end` ms mapped onto the plot's width.
pub(super) struct Axis {
    start: f64,
    end: f64,
    step: f64,
}

impl Axis {
    /// An axis covering `times` with a little room after the last one, so the final state shows.
    /// It starts at 0 unless everything happened late (a browser starting up), then at a tick just
    /// before the first event. `None` without any time.
    pub(super) fn new(times: impl IntoIterator<Item = f64>) -> Option<Axis> {
        let (lo, hi) = times
            .into_iter()
            .fold(None, |acc: Option<(f64, f64)>, t| match acc {
                None => Some((t, t)),
                Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
            })?;
        let end = hi + ((hi - lo) * 0.08).max(2.0);
        let first = if lo <= 0.2 * end { 0.0_f64.min(lo) } else { lo };
        let step = nice_step((end - first) / 8.0);
        let start = (first / step).floor() * step;
        Some(Axis { start, end, step })
    }

    pub(super) fn x(&self, t: f64) -> f64 {
        PLOT_LEFT + (t - self.start) / (self.end - self.start) * (PLOT_RIGHT - PLOT_LEFT)
    }

    /// Tick labels on top and a faint grid line per tick down to `height`.
    pub(super) fn draw(&self, height: f64) -> String {
        let mut svg = format!(
            "<text x=\"4\" y=\"14\" fill=\"#656d76\" font-family=\"system-ui,sans-serif\">ms since case start</text>\
             <line x1=\"{PLOT_LEFT}\" y1=\"{AXIS_H}\" x2=\"{PLOT_RIGHT}\" y2=\"{AXIS_H}\" stroke=\"#8c959f\"/>"
        );
        let decimals = if self.step < 1.0 { 1 } else { 0 };
        let mut i = 0.0;
        loop {
            let t = self.start + i * self.step;
            if t > self.end + 1e-9 {
                break;
            }
            let x = self.x(t);
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\" stroke=\"#eaeef2\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#656d76\">{t:.decimals$}</text>",
                AXIS_H - 4.0,
                AXIS_H - 9.0,
            );
            i += 1.0;
        }
        svg
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let factor = raw / power;
    let nice = if factor <= 1.0 {
        1.0
    } else if factor <= 2.0 {
        2.0
    } else if factor <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// One state's stretch of a band.
struct Segment<'a> {
    state: &'a str,
    from_ms: f64,
    until_ms: Option<f64>,
    x0: f64,
    x1: f64,
    /// The label drawn inside the segment, when it fits.
    inside: Option<String>,
    /// Otherwise the label's position below the band: its row and its left edge.
    callout: Option<(usize, f64)>,
}

/// A band laid out: segments and how many label rows it needs below.
struct Band<'a> {
    segments: Vec<Segment<'a>>,
    lanes: usize,
}

/// Rows of labels below a band, filled left to right: a label goes into the first row where it
/// overlaps no other.
#[derive(Default)]
struct Lanes {
    /// The right edge of the last label in each row.
    ends: Vec<f64>,
}

impl Lanes {
    /// Places a label `width` wide that belongs at `x` (shifted left if it would leave the plot);
    /// returns its row and left edge. Labels must come in order of `x`.
    fn place(&mut self, x: f64, width: f64) -> (usize, f64) {
        let left = x.min(PLOT_RIGHT - width).max(PLOT_LEFT);
        let row = match self.ends.iter().position(|&end| end + 8.0 <= left) {
            Some(row) => row,
            None => {
                self.ends.push(0.0);
                self.ends.len() - 1
            }
        };
        self.ends[row] = left + width;
        (row, left)
    }

    fn count(&self) -> usize {
        self.ends.len()
    }
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_W
}

/// `checking @1849.3`.
fn label(t: &Transition) -> String {
    format!("{} @{:.1}", t.state, t.at_ms)
}

impl<'a> Band<'a> {
    fn layout(axis: &Axis, transitions: &'a [Transition]) -> Band<'a> {
        let mut lanes = Lanes::default();
        let mut segments = Vec::with_capacity(transitions.len());
        for (i, t) in transitions.iter().enumerate() {
            let until_ms = transitions.get(i + 1).map(|next| next.at_ms);
            let cut = t.at_ms < axis.start;
            let x0 = axis.x(t.at_ms).max(PLOT_LEFT);
            let x1 = axis.x(until_ms.unwrap_or(axis.end)).max(x0 + 1.5);
            let room = x1 - x0 - 6.0;
            let full = if cut {
                format!("‹ {}", label(t))
            } else {
                label(t)
            };
            let inside = [full, t.state.clone()]
                .into_iter()
                .find(|text| text_width(text) <= room);
            let callout = match inside {
                Some(_) => None,
                None => Some(lanes.place(x0, text_width(&label(t)))),
            };
            segments.push(Segment {
                state: &t.state,
                from_ms: t.at_ms,
                until_ms,
                x0,
                x1,
                inside,
                callout,
            });
        }
        Band {
            segments,
            lanes: lanes.count(),
        }
    }

    fn height(&self) -> f64 {
        BAND_H + self.lanes as f64 * LANE_H
    }

    /// The band named `name` with its top at `y`.
    fn draw(&self, name: &str, y: f64) -> String {
        let mut svg = format!(
            "<text x=\"14\" y=\"{:.1}\">{}</text>",
            y + 14.0,
            escape(name)
        );
        if self.segments.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#8c959f\">not observed</text>",
                PLOT_LEFT + 4.0,
                y + 14.0
            );
        }
        for s in &self.segments {
            let until = s
                .until_ms
                .map_or_else(|| "the end".to_string(), |t| format!("{t:.1} ms"));
            let _ = write!(
                svg,
                "<g class=\"segment\" data-state=\"{state}\"><title>{state}: from {:.1} ms until {until}</title>\
                 <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAND_H}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.5\"/>",
                s.from_ms,
                s.x0,
                s.x1 - s.x0,
                state_color(s.state),
                state = escape(s.state),
            );
            if let Some(text) = &s.inside {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    s.x0 + 4.0,
                    y + 14.0,
                    escape(text)
                );
            }
            if let Some((lane, left)) = s.callout {
                let text_y = y + BAND_H + (lane as f64 + 1.0) * LANE_H - 3.0;
                let _ = write!(
                    svg,
                    "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#57606a\"/>\
                     <text x=\"{:.1}\" y=\"{text_y:.1}\" fill=\"#424a53\">{}</text>",
                    y + BAND_H,
                    text_y - 9.0,
                    if left < s.x0 { left } else { left + 3.0 },
                    escape(&format!("{} @{:.1}", s.state, s.from_ms)),
                    x = s.x0,
                );
            }
            svg.push_str("</g>");
        }
        svg
    }
}

/// The fill of a state, the same wherever the state appears; states the W3C does not define get a
/// color from their name.
fn state_color(state: &str) -> &'static str {
    match state {
        "new" => "#e6eaef",
        "checking" | "connecting" | "gathering" => "#ffe08a",
        "connected" => "#9be9a8",
        "completed" | "complete" | "done" => "#4ac26b",
        "disconnected" => "#ffb77c",
        "failed" => "#ff8182",
        "closed" => "#afb8c1",
        other => {
            const PALETTE: [&str; 5] = ["#b6e3ff", "#d8b9ff", "#ffc8e6", "#c2e0c6", "#f5d0a9"];
            let sum: usize = other.bytes().map(usize::from).sum();
            PALETTE[sum % PALETTE.len()]
        }
    }
}

/// A swatch per state the timelines show, in order of appearance.
fn legend(groups: &[&Sides<Vec<Transition>>]) -> String {
    let mut states: Vec<&str> = Vec::new();
    for sides in groups {
        for t in sides.offerer.iter().chain(&sides.answerer) {
            if !states.contains(&t.state.as_str()) {
                states.push(&t.state);
            }
        }
    }
    let mut html = String::from("<p class=\"legend\">");
    for state in states {
        let _ = write!(
            html,
            "<span><i style=\"background:{}\"></i>{}</span>",
            state_color(state),
            escape(state)
        );
    }
    html.push_str("</p>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transitions(list: &[(&str, f64)]) -> Vec<Transition> {
        list.iter()
            .map(|&(state, at_ms)| Transition {
                state: state.into(),
                at_ms,
            })
            .collect()
    }

    #[test]
    fn narrow_segments_get_labels_below_that_do_not_overlap() {
        let axis = Axis::new([0.0, 1000.0]).unwrap();
        let list = transitions(&[
            ("new", 0.0),
            ("checking", 995.0),
            ("connected", 996.0),
            ("completed", 997.0),
            ("closed", 998.0),
        ]);
        let band = Band::layout(&axis, &list);
        let placed: Vec<Option<usize>> = band
            .segments
            .iter()
            .map(|s| s.callout.map(|(lane, _)| lane))
            .collect();
        // `new` and the last state fit inside their segments; the three 1 ms ones do not, and each
        // needs its own row.
        assert_eq!(placed, [None, Some(0), Some(1), Some(2), None]);
        assert_eq!(band.segments[0].inside.as_deref(), Some("new @0.0"));
        assert_eq!(band.lanes, 3);
        for s in &band.segments[1..4] {
            let (_, left) = s.callout.unwrap();
            assert!(left >= PLOT_LEFT && left + text_width(&label_of(s)) <= PLOT_RIGHT);
        }
    }

    fn label_of(s: &Segment<'_>) -> String {
        format!("{} @{:.1}", s.state, s.from_ms)
    }

    #[test]
    fn labels_that_are_far_apart_share_a_row() {
        let axis = Axis::new([0.0, 1000.0]).unwrap();
        let list = transitions(&[
            ("new", 0.0),
            ("checking", 1.0),
            ("connected", 500.0),
            ("x", 501.0),
        ]);
        let band = Band::layout(&axis, &list);
        let lanes: Vec<Option<usize>> = band
            .segments
            .iter()
            .map(|s| s.callout.map(|c| c.0))
            .collect();
        assert_eq!(lanes, [Some(0), None, Some(0), None]);
    }

    #[test]
    fn axis_starts_at_zero_unless_everything_happened_late() {
        let early = Axis::new([1.2, 45.0, 1254.3]).unwrap();
        assert_eq!(early.start, 0.0);
        assert!(early.end > 1254.3);
        let late = Axis::new([1342.6, 1857.6]).unwrap();
        assert!(
            late.start > 1000.0 && late.start <= 1342.6,
            "{}",
            late.start
        );
        assert_eq!(late.start % late.step, 0.0);
        assert!(Axis::new([]).is_none());
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(0.04), 0.05);
    }
}
