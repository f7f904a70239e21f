//! `report.json`: one object per case, with every observation behind its verdict.

use std::io;
use std::path::PathBuf;

use serde::Serialize;

use super::candidate_matrix::{self, ScenarioMatrix};
use super::{Reporter, RunEvent};
use crate::outcome::{CaseResult, PassRate, RunSummary, pass_rates};
use crate::sdp::compare::{self, ScenarioComparison};

/// Writes `report.json` into the run folder when the run finishes.
pub struct JsonReport {
    path: PathBuf,
    run_id: String,
}

#[derive(Serialize)]
struct Document<'a> {
    run_id: &'a str,
    tool_version: &'static str,
    #[serde(flatten)]
    summary: RunSummary,
    webrtc_rs_version: &'static str,
    /// The run was interrupted (Ctrl-C): `cases` holds only the finished ones.
    interrupted: bool,
    /// The cases an interruption left unfinished.
    unplayed: Vec<UnplayedCase<'a>>,
    cases: &'a [CaseResult],
    /// Per scenario and pairing, how its repetitions ended (`--repeat`; empty otherwise).
    pass_rates: Vec<PassRate>,
    /// Per scenario, each peer kind's offer and answer features side by side.
    sdp_comparison: Vec<ScenarioComparison>,
    /// Per scenario and pairing, the NATs, gathered candidate types and selected pair types.
    candidate_matrix: Vec<ScenarioMatrix>,
}

/// A case the run did not finish.
#[derive(Serialize)]
struct UnplayedCase<'a> {
    scenario: &'a str,
    pairing: String,
}

impl JsonReport {
    /// A report written to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            run_id: String::new(),
        }
    }
}

impl Reporter for JsonReport {
    fn name(&self) -> &'static str {
        "JSON"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { run_id, .. } => self.run_id = run_id.to_string(),
            RunEvent::Finished {
                results,
                summary,
                unplayed,
            } => {
                let document = Document {
                    run_id: &self.run_id,
                    tool_version: env!("CARGO_PKG_VERSION"),
                    summary: **summary,
                    webrtc_rs_version: crate::WEBRTC_RS_VERSION,
                    interrupted: !unplayed.is_empty(),
                    unplayed: unplayed
                        .iter()
                        .map(|c| UnplayedCase {
                            scenario: &c.scenario.name,
                            pairing: c.pairing(),
                        })
                        .collect(),
                    cases: results,
                    pass_rates: pass_rates(results),
                    sdp_comparison: compare::compare(&compare::from_results(results)),
                    candidate_matrix: candidate_matrix::build(results),
                };
                let text = serde_json::to_string_pretty(&document).map_err(io::Error::other)?;
                std::fs::write(&self.path, text)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::SelectedPair;
    use crate::outcome::Status;
    use crate::report::test_fixtures::{case, end};
    use crate::scenario::PeerKind;

    #[test]
    fn report_carries_the_candidate_matrix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut r = case(PeerKind::Native, PeerKind::Native, Status::Passed);
        r.selected_pair.answerer = Some(SelectedPair {
            local: end("host", 1),
            remote: end("prflx", 2),
        });
        let mut report = JsonReport::new(path.clone());
        report
            .on_event(&RunEvent::Finished {
                results: std::slice::from_ref(&r),
                summary: &RunSummary::of([&r]),
                unplayed: &[],
            })
            .unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            written["candidate_matrix"],
            serde_json::json!([{
                "scenario": "datachannel-echo",
                "rows": [{
                    "pairing": "native→native",
                    "offerer": "native",
                    "answerer": "native",
                    "nat": null,
                    "gathered": {"offerer": {}, "answerer": {}},
                    "selected": {"offerer": null, "answerer": {"local": "host", "remote": "prflx"}},
                    "mdns": {"offerer": null, "answerer": null},
                    "status": "passed",
                }],
            }])
        );
    }
}
