//! The terminal report: a line per finished case while the run goes, then the matrix as a table,
//! and for `[network]` scenarios the candidate types of each pairing.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::candidate_matrix::{self, MatrixRow};
use super::{Reporter, RunEvent};
use crate::outcome::{CaseResult, RunSummary, Sides, pass_rates};

/// Prints progress to stderr and the final table to stdout. On a terminal a live line shows the
/// cases done, running and left, the failures so far and an estimate of the time left; elsewhere
/// (CI logs, pipes) only plain lines are printed, one per finished case.
pub struct TerminalReport {
    total: usize,
    done: usize,
    running: usize,
    failed: usize,
    progress: Option<indicatif::ProgressBar>,
    live: bool,
}

impl Default for TerminalReport {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalReport {
    /// A terminal report, with the live line when stderr is a terminal.
    pub fn new() -> Self {
        Self::with_live_line(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    /// A terminal report, with the live line or without.
    pub fn with_live_line(live: bool) -> Self {
        Self {
            total: 0,
            done: 0,
            running: 0,
            failed: 0,
            progress: None,
            live,
        }
    }

    /// A line above the live line (or a plain one without it).
    fn line(&self, text: String) {
        match &self.progress {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn update_live_line(&self) {
        if let Some(bar) = &self.progress {
            bar.set_position(self.done as u64);
            bar.set_message(progress_message(
                self.done,
                self.running,
                self.total,
                self.failed,
            ));
        }
    }
}

/// `12 done, 2 running, 67 left, 1 failed`.
fn progress_message(done: usize, running: usize, total: usize, failed: usize) -> String {
    let left = total.saturating_sub(done + running);
    let mut text = format!("{done} done, {running} running, {left} left");
    if failed > 0 {
        text.push_str(&format!(", {failed} failed"));
    }
    text
}

impl Reporter for TerminalReport {
    fn name(&self) -> &'static str {
        "terminal"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { run, cases } => {
                self.total = cases.len();
                let shard = run
                    .shard
                    .as_ref()
                    .map(|s| {
                        format!(
                            " (shard {}/{} of {} selected)",
                            s.index, s.count, run.selected_cases
                        )
                    })
                    .unwrap_or_default();
                eprintln!(
                    "rtc-interop: run {}: {} case(s){shard}",
                    run.run_id,
                    cases.len()
                );
                if self.live && !cases.is_empty() {
                    let bar = indicatif::ProgressBar::new(cases.len() as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:24} {pos}/{len} {msg} · {elapsed} elapsed, ~{eta} left",
                        )
                        .expect("a valid template"),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(500));
                    self.progress = Some(bar);
                    self.update_live_line();
                }
            }
            RunEvent::CaseStarted { .. } => {
                self.running += 1;
                self.update_live_line();
            }
            RunEvent::CaseFinished { result } => {
                self.done += 1;
                self.running = self.running.saturating_sub(1);
                if result.status.fails_run() {
                    self.failed += 1;
                }
                self.line(format!(
                    "[{}/{}] {} {} [{}] in {:.1}s{}",
                    self.done,
                    self.total,
                    result.status.as_str().to_uppercase(),
                    result.scenario,
                    result.pairing_label(),
                    result.duration_ms / 1000.0,
                    result
                        .failure
                        .as_deref()
                        .map(|f| format!(": {}", super::visible(f)))
                        .unwrap_or_default()
                ));
                self.update_live_line();
            }
            RunEvent::Finished {
                results, unplayed, ..
            } => {
                if let Some(bar) = self.progress.take() {
                    bar.finish_and_clear();
                }
                let mut out = io::stdout().lock();
                out.write_all(table(results).as_bytes())?;
                if !unplayed.is_empty() {
                    eprintln!(
                        "rtc-interop: interrupted: {} case(s) not played or not finished; the \
                         reports cover the {} that finished",
                        unplayed.len(),
                        results.len()
                    );
                }
                if let Some(matrix) = candidate_table(results) {
                    out.write_all(matrix.as_bytes())?;
                }
                if let Some(note) = pending_snapshots(results) {
                    eprintln!("{note}");
                }
                if let Some(lines) = lint_warnings(results) {
                    eprint!("{lines}");
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
    let rows = results.iter().map(|r| {
        [
            r.scenario.clone(),
            r.pairing_label(),
            r.status.as_str().to_string(),
            r.time_to_connected_ms
                .map_or("-".into(), |ms| format!("{ms:.0} ms")),
            r.echo_round_trip_ms
                .map_or("-".into(), |ms| format!("{ms:.1} ms")),
            r.selected_pair.offerer.as_ref().map_or("-".into(), |p| {
                format!("{}↔{}", p.local.kind, p.remote.kind)
            }),
            super::visible(r.failure.as_deref().unwrap_or_default()).into_owned(),
        ]
    });
    let mut text = aligned(std::iter::once(header.map(String::from)).chain(rows));
    let rates = pass_rates(results);
    if !rates.is_empty() {
        text.push_str("\npass rate per pairing (--repeat):\n");
        text.push_str(&aligned(
            rates
                .iter()
                .map(|r| [r.scenario.clone(), r.pairing.clone(), r.describe()]),
        ));
    }
    let summary = RunSummary::of(results);
    text.push_str(&format!(
        "\n{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    ));
    if summary.flaky > 0 {
        text.push_str(&format!(
            ", {} flaky (failed, then passed on a retry)",
            summary.flaky
        ));
    }
    text.push('\n');
    let (expected, unexpected) = (summary.expected_failures, summary.unexpected_passes);
    if expected + unexpected > 0 {
        text.push_str(&format!(
            "{expected} known failure(s) failed as expected, {unexpected} known failure(s) now pass\n"
        ));
    }
    text
}

/// Per pairing of the `[network]` scenarios, the NATs, the candidate types each side gathered and
/// the types of the pair it selected, one line each; `None` when no scenario had a `[network]`
/// (elsewhere every peer sits on the host network and the types say little).
pub fn candidate_table(results: &[CaseResult]) -> Option<String> {
    let matrices: Vec<_> = candidate_matrix::build(results)
        .into_iter()
        .filter(|m| m.has_network())
        .collect();
    if matrices.is_empty() {
        return None;
    }
    let header = [
        "scenario",
        "pairing",
        "NAT",
        "gathered",
        "selected pair",
        "other's .local names",
        "status",
    ]
    .map(String::from);
    let rows = matrices
        .iter()
        .flat_map(|m| m.rows.iter().map(|row| candidate_line(&m.scenario, row)));
    let table = aligned(std::iter::once(header).chain(rows));
    Some(format!(
        "\nCandidate types in [network] scenarios (offerer / answerer):\n{table}"
    ))
}

/// One pairing's line of [`candidate_table`].
fn candidate_line(scenario: &str, row: &MatrixRow) -> [String; 7] {
    let selected = row
        .selected
        .map(|pair| pair.as_ref().map_or("none".into(), ToString::to_string));
    let mdns = row
        .mdns
        .map(|m| m.map_or("-".into(), |m| m.as_str().to_string()));
    [
        scenario.to_string(),
        row.pairing.clone(),
        row.nat.as_ref().map_or("host network".into(), both),
        both(&row.gathered),
        both(&selected),
        if row.any_mdns() {
            both(&mdns)
        } else {
            "-".into()
        },
        row.status.as_str().to_string(),
    ]
}

/// `offerer / answerer`.
fn both<T: std::fmt::Display>(sides: &Sides<T>) -> String {
    format!("{} / {}", sides.offerer, sides.answerer)
}

/// Rows as columns two spaces apart, each column as wide as its widest cell; the last column is
/// not padded (it may be long, like a failure).
fn aligned<const N: usize>(rows: impl IntoIterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = rows.into_iter().collect();
    let mut widths = [0; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The signaling lint's findings, a line each under its case; `None` if there are none.
pub fn lint_warnings(results: &[CaseResult]) -> Option<String> {
    let mut out = String::new();
    for r in results.iter().filter(|r| !r.lint.is_empty()) {
        let mut block = format!("signaling lint, {} [{}]:\n", r.scenario, r.pairing);
        for finding in &r.lint {
            let _ = writeln!(
                block,
                "  warning [{}] {}",
                finding.rule.as_str(),
                super::visible(&finding.sentence())
            );
        }
        // Repetitions of a case (`--repeat`) usually find the same: said once.
        if !out.contains(&block) {
            out.push_str(&block);
        }
    }
    (!out.is_empty()).then_some(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::SelectedPair;
    use crate::outcome::Status;
    use crate::report::test_fixtures::{candidate, case, end, network};
    use crate::scenario::{CandidateType, NatType, PeerKind};

    #[test]
    fn the_live_line_counts_done_running_left_and_failed() {
        assert_eq!(
            progress_message(12, 2, 81, 0),
            "12 done, 2 running, 67 left"
        );
        assert_eq!(
            progress_message(80, 1, 81, 3),
            "80 done, 1 running, 0 left, 3 failed"
        );
        let mut report = TerminalReport::with_live_line(false);
        report
            .on_event(&RunEvent::CaseStarted {
                case: &crate::plan::Case {
                    scenario: std::sync::Arc::new(
                        crate::scenario::parse(
                            "[data_channel]\nlabel = \"x\"\n",
                            "s",
                            std::path::Path::new("s.toml"),
                        )
                        .unwrap(),
                    ),
                    offerer: PeerKind::Native,
                    answerer: PeerKind::Native,
                    repetition: None,
                },
                index: 0,
            })
            .unwrap();
        assert_eq!((report.running, report.progress.is_none()), (1, true));
        let failed = case(PeerKind::Native, PeerKind::Native, Status::Failed);
        report
            .on_event(&RunEvent::CaseFinished { result: &failed })
            .unwrap();
        assert_eq!((report.done, report.running, report.failed), (1, 0, 1));
    }

    #[test]
    fn table_aligns_columns_but_not_the_failure() {
        let mut failed = case(PeerKind::Chromium, PeerKind::Native, Status::Failed);
        failed.failure = Some("no echo".into());
        let text = table(&[
            case(PeerKind::Native, PeerKind::Native, Status::Passed),
            failed,
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "scenario          pairing          status  connected  echo rtt  selected pair  failure"
        );
        assert_eq!(
            lines[2],
            "datachannel-echo  chromium→native  failed  -          -         -              no echo"
        );
        assert_eq!(lines[4], "1 passed, 1 failed, 0 skipped");
    }

    #[test]
    fn candidate_table_only_for_network_scenarios() {
        let host_network = case(PeerKind::Native, PeerKind::Native, Status::Passed);
        assert_eq!(candidate_table(std::slice::from_ref(&host_network)), None);

        let mut behind = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
        behind.scenario = "nat-symmetric".into();
        behind.network = network(NatType::Symmetric, NatType::None);
        behind.candidates.offerer.local = vec![
            candidate(CandidateType::Host, 1),
            candidate(CandidateType::Srflx, 2),
        ];
        behind.candidates.answerer.local = vec![candidate(CandidateType::Host, 3)];
        behind.selected_pair.offerer = Some(SelectedPair {
            local: end("srflx", 2),
            remote: end("host", 3),
        });
        let text = candidate_table(&[host_network, behind]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[3],
            "nat-symmetric  native→chromium  symmetric / none  host srflx / host  \
             srflx → host / none  -                     passed"
        );
    }
}
