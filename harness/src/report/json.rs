//! `report.json`: one object per case, with every observation behind its verdict (the document
//! itself is [`super::ReportDocument`]).

use std::io;
use std::path::PathBuf;

use super::document::{ReportDocument, RunInfo};
use super::{Reporter, RunEvent};

/// Writes `report.json` into the run folder when the run finishes.
pub struct JsonReport {
    path: PathBuf,
    run: RunInfo,
}

impl JsonReport {
    /// A report written to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            run: RunInfo::default(),
        }
    }
}

impl Reporter for JsonReport {
    fn name(&self) -> &'static str {
        "JSON"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        match event {
            RunEvent::Started { run, .. } => self.run = (*run).clone(),
            RunEvent::Finished {
                results, unplayed, ..
            } => {
                let document =
                    ReportDocument::new(self.run.clone(), results.to_vec(), unplayed.to_vec());
                std::fs::write(&self.path, document.to_json())?;
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
    use crate::outcome::{RunSummary, Status};
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
