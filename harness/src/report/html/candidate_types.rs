//! A scenario's candidate-type matrix (see [`crate::report::candidate_matrix`]) as a table: per
//! pairing the NAT in front of each peer, the candidate types each side gathered, the types of the
//! pair each side selected, and the verdict.

use std::fmt::Write as _;

use super::escape;
use crate::report::candidate_matrix::{MatrixRow, PairTypes, ScenarioMatrix};

/// The table under a scenario's pairing matrix; nothing when no side gathered a candidate (every
/// case skipped, say), since a table of `none`s says nothing.
pub(super) fn render(matrix: &ScenarioMatrix) -> String {
    if !matrix.any_gathered() {
        return String::new();
    }
    let mut html = String::from(
        "<h4>Candidate types</h4>\n<table class=\"grid candidate-types\"><tr><th>pairing</th>\
         <th>offerer NAT</th><th>answerer NAT</th><th>offerer gathered</th>\
         <th>answerer gathered</th><th>offerer selected pair</th><th>answerer selected pair</th>",
    );
    let mdns = matrix.rows.iter().any(MatrixRow::any_mdns);
    if mdns {
        html.push_str(
            "<th>offerer: answerer's .local names</th><th>answerer: offerer's .local names</th>",
        );
    }
    html.push_str("<th>status</th></tr>\n");
    for row in &matrix.rows {
        html.push_str(&table_row(row, mdns));
    }
    html.push_str("</table>\n");
    html
}

fn table_row(row: &MatrixRow, mdns: bool) -> String {
    let nat = match &row.nat {
        Some(nat) => format!("<td>{}</td><td>{}</td>", nat.offerer, nat.answerer),
        // Not in a `[network]` scenario: no NAT to name, the peers shared the host's network.
        None => "<td colspan=\"2\" class=\"muted\">host network</td>".to_string(),
    };
    let mut html = format!("<tr><td>{}</td>{nat}", escape(&row.pairing));
    for gathered in [&row.gathered.offerer, &row.gathered.answerer] {
        let _ = write!(html, "<td>{gathered}</td>");
    }
    for pair in [&row.selected.offerer, &row.selected.answerer] {
        let _ = write!(html, "<td>{}</td>", selected(pair.as_ref()));
    }
    if mdns {
        for side in [row.mdns.offerer, row.mdns.answerer] {
            match side {
                Some(used) => {
                    let _ = write!(html, "<td>{used}</td>");
                }
                None => html.push_str("<td class=\"muted\">none received</td>"),
            }
        }
    }
    let status = row.status.as_str();
    let _ = writeln!(html, "<td class=\"{status}\">{status}</td></tr>");
    html
}

/// `srflx → prflx`, escaped (the types come from the peers' stats), or a muted `none`.
fn selected(pair: Option<&PairTypes>) -> String {
    pair.map_or_else(
        || "<span class=\"muted\">none</span>".to_string(),
        |p| escape(&p.to_string()),
    )
}
