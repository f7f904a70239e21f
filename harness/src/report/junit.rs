//! `junit.xml`: one test suite per scenario, one test case per pairing, for CI dashboards.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use super::{Reporter, RunEvent, escape};
use crate::outcome::{CaseResult, RunSummary, Status};

/// Writes `junit.xml` into the run folder when the run finishes.
pub struct JunitReport {
    path: PathBuf,
}

impl JunitReport {
    /// A report written to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

impl Reporter for JunitReport {
    fn name(&self) -> &'static str {
        "JUnit"
    }

    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()> {
        if let RunEvent::Finished { results, .. } = event {
            std::fs::write(&self.path, render(results))?;
        }
        Ok(())
    }
}

/// The JUnit XML document for `results`.
pub fn render(results: &[CaseResult]) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for r in results {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rtc-interop\">\n",
    );
    for scenario in scenarios {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.scenario == scenario).collect();
        let summary = RunSummary::of(cases.iter().copied());
        let seconds: f64 = cases.iter().map(|r| r.duration_ms).sum::<f64>() / 1000.0;
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
            escape(scenario),
            cases.len(),
            summary.junit_failures(),
            summary.junit_skipped(),
        );
        for case in cases {
            let _ = write!(
                xml,
                "    <testcase classname=\"rtc-interop.{}\" name=\"{}\" time=\"{:.3}\"",
                escape(scenario),
                escape(&case.pairing),
                case.duration_ms / 1000.0
            );
            let message = case.failure.as_deref().unwrap_or_default();
            match case.status {
                Status::Passed => xml.push_str("/>\n"),
                Status::Failed | Status::UnexpectedPass => {
                    let _ = write!(
                        xml,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        escape(message),
                        escape(message)
                    );
                }
                // A known failure is not a regression: CI dashboards show it as skipped, with why.
                Status::Skipped | Status::ExpectedFailure => {
                    let _ = write!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                        escape(message)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixtures::case;
    use crate::scenario::PeerKind;

    #[test]
    fn control_characters_from_peers_leave_the_xml_well_formed() {
        let mut failed = case(PeerKind::Chromium, PeerKind::Native, Status::Failed);
        failed.failure = Some("console said \u{1b}[31mred\u{1b}[0m\0 and <b>&\"'".into());
        let mut known = case(PeerKind::Native, PeerKind::Firefox, Status::ExpectedFailure);
        known.failure = Some("bell\u{7}".into());
        let xml = render(&[failed, known]);
        // A real XML parser reads it, and the text comes back with the controls shown.
        let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        let failure = document
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message").unwrap(),
            "console said \\u{1b}[31mred\\u{1b}[0m\\u{0} and <b>&\"'"
        );
        let skipped = document
            .descendants()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert_eq!(skipped.attribute("message").unwrap(), "bell\\u{7}");
    }
}
