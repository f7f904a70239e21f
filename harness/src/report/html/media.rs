//! The media of a case: a table of every track each side sent or received, and per side a chart
//! of bitrate and frame rate over time (ms since the case started), as inline SVG on the same
//! kind of time axis as the state timelines.
//!
//! Rates come from consecutive samples: the bytes (or frames) between two samples over the time
//! between them, drawn as a step over that stretch. Both sides share the time axis and each
//! chart's value scale, so what one side sent lines up with what the other received.

use std::fmt::Write as _;

use super::timeline::{AXIS_H, Axis, PLOT_LEFT, PLOT_RIGHT, WIDTH, nice_step};
use super::{escape, optional_ms, side_name};
use crate::observe::{MediaSample, MediaTrackLog};
use crate::outcome::CaseResult;
use crate::scenario::PeerKind;

/// Height of one chart's plot area.
const PANEL_H: f64 = 80.0;
/// Room above a plot area for the top tick's label.
const PANEL_GAP: f64 = 18.0;

/// The case's Media section, or nothing when neither side had a track.
pub(super) fn render(r: &CaseResult) -> String {
    if r.tracks.offerer.is_empty() && r.tracks.answerer.is_empty() {
        return String::new();
    }
    let sides: [(&str, PeerKind, &[MediaTrackLog]); 2] = [
        ("offerer", r.offerer, &r.tracks.offerer),
        ("answerer", r.answerer, &r.tracks.answerer),
    ];
    let mut html = String::from("<h4>Media</h4>\n");
    html.push_str(&table(&sides));

    let series = sides.map(|(_, _, tracks)| {
        tracks
            .iter()
            .map(Series::of)
            .filter(|s| !s.rates.is_empty())
            .collect::<Vec<_>>()
    });
    let all = || series.iter().flatten();
    let times = all().flat_map(|s| s.rates.iter().flat_map(|r| [r.from_ms, r.until_ms]));
    let Some(axis) = Axis::new(times) else {
        return html;
    };
    let bitrate = Scale::new(all().flat_map(|s| s.rates.iter().map(|r| r.kbps)));
    let fps = Scale::new(
        all()
            .filter(|s| s.video())
            .flat_map(|s| s.rates.iter().map(|r| r.fps)),
    );
    for ((role, kind, _), series) in sides.iter().zip(&series) {
        let _ = writeln!(html, "<h5>{}</h5>", side_name(role, *kind));
        if series.is_empty() {
            html.push_str("<p class=\"muted\">Too few samples to chart.</p>\n");
            continue;
        }
        html.push_str(&chart(&axis, bitrate.as_ref(), fps.as_ref(), series));
        html.push_str(&legend(series));
    }
    html
}

/// One row per side and track: what it carried and how it went.
fn table(sides: &[(&str, PeerKind, &[MediaTrackLog]); 2]) -> String {
    let mut html = String::from(
        "<table class=\"grid media\"><tr><th></th><th>kind</th><th>direction</th><th>codec</th>\
         <th>mid</th><th>packets</th><th>bytes</th><th>frames</th><th>key frames</th>\
         <th>frame size</th><th>first frame</th><th>jitter</th><th>lost</th><th>NACK</th>\
         <th>PLI</th><th>picture</th></tr>\n",
    );
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "—".to_string());
    for &(role, kind, tracks) in sides {
        if tracks.is_empty() {
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td colspan=\"15\" class=\"muted\">no tracks</td></tr>",
                side_name(role, kind)
            );
        }
        for t in tracks {
            let video = t.kind == "video";
            let frames = |n: u64| if video { n.to_string() } else { "—".into() };
            let size = match (t.frame_width, t.frame_height) {
                (Some(w), Some(h)) => format!("{w}x{h}"),
                _ => "—".into(),
            };
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{size}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td>{}</tr>",
                side_name(role, kind),
                escape(&t.kind),
                escape(direction(t)),
                escape(&t.codec_shown()),
                escape(t.mid.as_deref().unwrap_or("—")),
                t.packets,
                t.bytes,
                frames(t.frames),
                frames(t.key_frames),
                optional_ms(t.first_frame_at_ms),
                optional_ms(t.jitter_ms),
                or_dash(t.packets_lost.map(|n| n.to_string())),
                or_dash(t.nack_count.map(|n| n.to_string())),
                or_dash(t.pli_count.map(|n| n.to_string())),
                picture(t),
            );
        }
    }
    html.push_str("</table>\n");
    html
}

/// `received` or `sent` (or what the stack said, when neither).
fn direction(t: &MediaTrackLog) -> &str {
    match t.direction.as_str() {
        "inbound" => "received",
        "outbound" => "sent",
        other => other,
    }
}

/// The picture as the latest looks saw it, as a cell: `moving`, `frozen` or `black` (as the
/// verdict judges it: observe::media::media_shortfall), with how the last look was taken on hover.
fn picture(t: &MediaTrackLog) -> String {
    let Some(check) = t.frame_checks.last() else {
        return "<td>—</td>".to_string();
    };
    let (class, word) = if check.black == Some(true) {
        (" class=\"failed\"", "black")
    } else if t.moving() {
        ("", "moving")
    } else {
        (" class=\"failed\"", "frozen")
    };
    format!(
        "<td{class} title=\"{} @ {:.1} ms\">{word}</td>",
        escape(&check.how),
        check.at_ms
    )
}

/// The rates between two consecutive samples.
struct Rate {
    from_ms: f64,
    until_ms: f64,
    kbps: f64,
    fps: f64,
}

/// A track's rates over time.
struct Series<'a> {
    track: &'a MediaTrackLog,
    rates: Vec<Rate>,
}

impl<'a> Series<'a> {
    fn of(track: &'a MediaTrackLog) -> Self {
        Series {
            track,
            rates: rates(&track.samples),
        }
    }

    fn video(&self) -> bool {
        self.track.kind == "video"
    }

    /// `received video VP8 (mid 0)`.
    fn name(&self) -> String {
        let t = self.track;
        let mid = t
            .mid
            .as_deref()
            .map_or_else(String::new, |m| format!(" (mid {m})"));
        format!("{} {} {}{mid}", direction(t), t.kind, t.codec_shown())
    }

    /// Audio and video by color, received and sent by dash.
    fn stroke(&self) -> (&'static str, &'static str) {
        let color = if self.video() { "#0969da" } else { "#bc4c00" };
        let dash = if self.track.direction == "outbound" {
            "6 3"
        } else {
            ""
        };
        (color, dash)
    }
}

/// kbit/s and frames/s between each two consecutive samples; a stretch without time (or with
/// counters that went back) counts nothing.
fn rates(samples: &[MediaSample]) -> Vec<Rate> {
    samples
        .windows(2)
        .filter(|w| w[1].at_ms > w[0].at_ms)
        .map(|w| {
            let (a, b) = (&w[0], &w[1]);
            let dt_ms = b.at_ms - a.at_ms;
            Rate {
                from_ms: a.at_ms,
                until_ms: b.at_ms,
                // Bits per millisecond are kilobits per second.
                kbps: b.bytes.saturating_sub(a.bytes) as f64 * 8.0 / dt_ms,
                fps: b.frames.saturating_sub(a.frames) as f64 * 1000.0 / dt_ms,
            }
        })
        .collect()
}

/// A value axis from 0 to a round number at or above the highest value.
struct Scale {
    top: f64,
    step: f64,
}

impl Scale {
    /// `None` without any value.
    fn new(values: impl IntoIterator<Item = f64>) -> Option<Scale> {
        let max = values.into_iter().reduce(f64::max)?;
        let step = nice_step(max / 4.0);
        let top = ((max / step).ceil() * step).max(step);
        Some(Scale { top, step })
    }

    /// The y of `value` in a plot area whose top is at `top`.
    fn y(&self, value: f64, top: f64) -> f64 {
        top + PANEL_H * (1.0 - value / self.top)
    }
}

/// One plot area of a chart: a rate of each track over time.
struct Panel<'a> {
    title: &'static str,
    unit: &'static str,
    scale: &'a Scale,
    value: fn(&Rate) -> f64,
    /// Only video tracks have frames.
    video_only: bool,
}

/// A side's chart: the time axis on top, then bitrate and, when it has video, frame rate.
fn chart(axis: &Axis, bitrate: Option<&Scale>, fps: Option<&Scale>, series: &[Series]) -> String {
    let has_video = series.iter().any(Series::video);
    let bitrate = bitrate.map(|scale| Panel {
        title: "bitrate",
        unit: "kbit/s",
        scale,
        value: |r| r.kbps,
        video_only: false,
    });
    let fps = fps.filter(|_| has_video).map(|scale| Panel {
        title: "frame rate",
        unit: "frames/s",
        scale,
        value: |r| r.fps,
        video_only: true,
    });
    let panels: Vec<Panel> = [bitrate, fps].into_iter().flatten().collect();
    let height = AXIS_H + panels.len() as f64 * (PANEL_GAP + PANEL_H) + 8.0;
    let mut svg = format!(
        "<svg class=\"media-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"ui-monospace,Menlo,monospace\" font-size=\"11\">"
    );
    svg.push_str(&axis.draw(height));
    let mut top = AXIS_H + PANEL_GAP;
    for panel in &panels {
        svg.push_str(&value_axis(panel, top));
        for s in series.iter().filter(|s| s.video() || !panel.video_only) {
            svg.push_str(&line(axis, panel, top, s));
        }
        top += PANEL_H + PANEL_GAP;
    }
    svg.push_str("</svg>\n");
    svg
}

/// A plot area's title, its labelled ticks and their grid lines.
fn value_axis(panel: &Panel, top: f64) -> String {
    let (title, unit, scale) = (panel.title, panel.unit, panel.scale);
    let mut svg = format!(
        "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\" font-family=\"system-ui,sans-serif\" \
         font-size=\"12\">{title}</text><text x=\"4\" y=\"{:.1}\" fill=\"#656d76\" \
         font-family=\"system-ui,sans-serif\">{unit}</text>\
         <line x1=\"{PLOT_LEFT}\" y1=\"{:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{:.1}\" stroke=\"#8c959f\"/>",
        top + 12.0,
        top + 26.0,
        top + PANEL_H,
        top + PANEL_H,
    );
    let decimals = if scale.step < 1.0 { 1 } else { 0 };
    let mut i = 0.0;
    loop {
        let v = i * scale.step;
        if v > scale.top + 1e-9 {
            break;
        }
        let y = scale.y(v, top);
        let _ = write!(
            svg,
            "<line x1=\"{PLOT_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#656d76\">{v:.decimals$}</text>",
            PLOT_LEFT - 6.0,
            y + 4.0,
        );
        i += 1.0;
    }
    svg
}

/// One track's rate as a step line (each rate held over its stretch), with a dot per stretch that
/// tells its value on hover.
fn line(axis: &Axis, panel: &Panel, top: f64, s: &Series) -> String {
    let (unit, scale, value) = (panel.unit, panel.scale, panel.value);
    let (color, dash) = s.stroke();
    let name = escape(&s.name());
    let points: Vec<String> = s
        .rates
        .iter()
        .flat_map(|r| {
            let y = scale.y(value(r), top);
            [
                format!("{:.1},{y:.1}", axis.x(r.from_ms)),
                format!("{:.1},{y:.1}", axis.x(r.until_ms)),
            ]
        })
        .collect();
    let peak = s.rates.iter().map(value).fold(0.0, f64::max);
    let mut svg = format!(
        "<g class=\"track\"><polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"{}>\
         <title>{name}: up to {peak:.1} {unit}</title></polyline>",
        points.join(" "),
        if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        },
    );
    for r in &s.rates {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{color}\"><title>{name}: {:.1} {unit} \
             from {:.1} to {:.1} ms</title></circle>",
            axis.x((r.from_ms + r.until_ms) / 2.0),
            scale.y(value(r), top),
            value(r),
            r.from_ms,
            r.until_ms,
        );
    }
    svg.push_str("</g>");
    svg
}

/// A line sample per charted track.
fn legend(series: &[Series]) -> String {
    let mut html = String::from("<p class=\"legend\">");
    for s in series {
        let (color, dash) = s.stroke();
        let _ = write!(
            html,
            "<span><i class=\"line\" style=\"border-top:2px {} {color}\"></i>{}</span>",
            if dash.is_empty() { "solid" } else { "dashed" },
            escape(&s.name())
        );
    }
    html.push_str("</p>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: f64, bytes: u64, frames: u64) -> MediaSample {
        MediaSample {
            at_ms,
            packets: 0,
            bytes,
            frames,
        }
    }

    #[test]
    fn rates_come_from_consecutive_samples() {
        let list = rates(&[
            sample(0.0, 0, 0),
            sample(500.0, 62_500, 15),
            sample(500.0, 62_500, 15),
            sample(1500.0, 62_500, 15),
        ]);
        let got: Vec<(f64, f64, f64, f64)> = list
            .iter()
            .map(|r| (r.from_ms, r.until_ms, r.kbps, r.fps))
            .collect();
        assert_eq!(got, [(0.0, 500.0, 1000.0, 30.0), (500.0, 1500.0, 0.0, 0.0)]);
        assert!(rates(&[sample(0.0, 0, 0)]).is_empty());
    }

    #[test]
    fn scale_reaches_a_round_number_above_the_highest_value() {
        let s = Scale::new([120.0, 1000.0]).unwrap();
        assert_eq!((s.top, s.step), (1000.0, 500.0));
        let zero = Scale::new([0.0]).unwrap();
        assert_eq!((zero.top, zero.step), (1.0, 1.0));
        assert!(Scale::new([]).is_none());
    }
}
