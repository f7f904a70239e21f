//! A scenario's SDP comparison: every peer kind's offer and answer side by side, the features that
//! differ highlighted (see [`crate::sdp::compare`]).

use std::fmt::Write as _;

use super::escape;
use crate::sdp::compare::ScenarioComparison;

/// The comparison as a folded section, its summary counting the features that differ.
/// `offers`, `answers #2`: the descriptions of one kind (and round) across peer kinds.
fn plural(description: &str) -> String {
    match description.split_once(' ') {
        Some((kind, round)) => format!("{kind}s {round}"),
        None => format!("{description}s"),
    }
}

pub(super) fn render(comparison: &ScenarioComparison) -> String {
    if comparison.comparisons.is_empty() && comparison.errors.is_empty() {
        return String::new();
    }
    let differing: Vec<String> = comparison
        .comparisons
        .iter()
        .map(|c| {
            let rows = c.table.lines().filter(|l| l.starts_with('*')).count();
            format!("{rows} in {}", plural(&c.description))
        })
        .collect();
    let mut html = format!(
        "<details class=\"sdp-compare\"><summary>SDP across peer kinds \
         <span class=\"muted\">(features that differ: {})</span></summary>\n",
        escape(&differing.join(", "))
    );
    for c in &comparison.comparisons {
        let _ = write!(
            html,
            "<h5>{}</h5>\n<pre class=\"sdp-table\">",
            escape(&plural(&c.description))
        );
        for line in c.table.lines() {
            if line.starts_with('*') {
                let _ = writeln!(html, "<mark>{}</mark>", escape(line));
            } else {
                let _ = writeln!(html, "{}", escape(line));
            }
        }
        html.push_str("</pre>\n");
    }
    if !comparison.errors.is_empty() {
        html.push_str("<ul class=\"errors\">");
        for e in &comparison.errors {
            let _ = write!(html, "<li>{}</li>", escape(e));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</details>\n");
    html
}
