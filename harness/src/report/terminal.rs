//! The terminal report: a line per finished case while the run goes, then the matrix as a table.

use std::io::{self, Write};

use super::{Reporter, RunEvent};
use crate::outcome::{CaseResult, Status};

/// Prints progress to stderr and the final table to stdout.
#[derive(Default)]
pub struct TerminalReport {
    total: usize,
    done: usize,
}

impl TerminalReport {
    /// A terminal report.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Reporter for TerminalReport {
    fn name(&self) -> &'static str {
        "terminal"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { run_id, cases } => {
                self.total = cases.len();
                eprintln!("rtc-interop: run {run_id}: {} case(s)", cases.len());
            }
            RunEvent::CaseStarted { .. } => {}
            RunEvent::CaseFinished { result } => {
                self.done += 1;
                eprintln!(
                    "[{}/{}] {} {} [{}] in {:.1}s{}",
                    self.done,
                    self.total,
                    result.status.as_str().to_uppercase(),
                    result.scenario,
                    result.pairing,
                    result.duration_ms / 1000.0,
                    result
                        .failure
                        .as_deref()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                );
            }
            RunEvent::Finished { results } => {
                let mut out = io::stdout().lock();
                out.write_all(table(results).as_bytes())?;
                if let Some(note) = pending_snapshots(results) {
                    eprintln!("{note}");
                }
            }
        }
        Ok(())
    }
}

/// The results as an aligned text table, with a summary line.
pub fn table(results: &[CaseResult]) -> String {
    let header = [
        "scenario",
        "pairing",
        "status",
        "connected",
        "echo rtt",
        "selected pair",
        "failure",
    ];
    let rows: Vec<[String; 7]> = results
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.pairing.clone(),
                r.status.as_str().to_string(),
                r.time_to_connected_ms
                    .map_or("-".into(), |ms| format!("{ms:.0} ms")),
                r.echo_round_trip_ms
                    .map_or("-".into(), |ms| format!("{ms:.1} ms")),
                r.selected_pair.offerer.as_ref().map_or("-".into(), |p| {
                    format!("{}↔{}", p.local.kind, p.remote.kind)
                }),
                r.failure.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row).take(6) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut text = line(&header.map(String::from));
    for row in &rows {
        text.push_str(&line(row));
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    text.push_str(&format!(
        "\n{} passed, {} failed, {} skipped\n",
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Skipped)
    ));
    let (expected, unexpected) = (
        count(Status::ExpectedFailure),
        count(Status::UnexpectedPass),
    );
    if expected + unexpected > 0 {
        text.push_str(&format!(
            "{expected} known failure(s) failed as expected, {unexpected} known failure(s) now pass\n"
        ));
    }
    text
}

/// How many SDP snapshots a run wrote for review, and how to review them; `None` if none.
pub fn pending_snapshots(results: &[CaseResult]) -> Option<String> {
    let pending: Vec<&std::path::Path> = results
        .iter()
        .flat_map(|r| &r.snapshots)
        .filter_map(|c| c.pending.as_deref())
        .collect();
    let folder = pending.first()?.parent()?;
    Some(format!(
        "rtc-interop: {} SDP snapshot(s) written for review in {}: `cargo insta review` \
         (or `cargo insta accept`, `cargo insta reject`)",
        pending.len(),
        folder.display()
    ))
}
