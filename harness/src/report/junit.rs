//! `junit.xml`: one test suite per scenario, one test case per pairing, for CI dashboards,
//! written by `quick-junit` (the writer cargo-nextest uses).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::document::UnplayedCase;
use super::{Reporter, RunEvent, visible};
use crate::outcome::{CaseResult, Status};

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
        if let RunEvent::Finished {
            results, unplayed, ..
        } = event
        {
            std::fs::write(&self.path, render(results, unplayed))?;
        }
        Ok(())
    }
}

/// The JUnit XML document for `results`, and for the cases an interruption left `unplayed`
/// (skipped, saying so).
pub fn render(results: &[CaseResult], unplayed: &[UnplayedCase]) -> String {
    let mut suites: Vec<TestSuite> = Vec::new();
    for result in results {
        let mut case = TestCase::new(visible(&result.pairing_label()), status(result));
        case.set_classname(format!("rtc-interop.{}", visible(&result.scenario)))
            .set_time(Duration::from_secs_f64(
                result.duration_ms.max(0.0) / 1000.0,
            ));
        let suite = suite_of(&mut suites, &result.scenario);
        suite.time = Some(suite.time.unwrap_or_default() + case.time.unwrap_or_default());
        suite.add_test_case(case);
    }
    for case in unplayed {
        let mut status = TestCaseStatus::skipped();
        status.set_message("not played: the run was interrupted");
        let mut test_case = TestCase::new(visible(&case.pairing), status);
        test_case.set_classname(format!("rtc-interop.{}", visible(&case.scenario)));
        suite_of(&mut suites, &case.scenario).add_test_case(test_case);
    }
    let mut report = Report::new("rtc-interop");
    report.add_test_suites(suites);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write the JUnit report: {e} -->\n"))
}

/// The suite of `scenario`, added at the end when it is new.
fn suite_of<'a>(suites: &'a mut Vec<TestSuite>, scenario: &str) -> &'a mut TestSuite {
    let name = visible(scenario);
    let at = match suites.iter().position(|s| s.name.as_str() == name) {
        Some(at) => at,
        None => {
            suites.push(TestSuite::new(name));
            suites.len() - 1
        }
    };
    &mut suites[at]
}

fn status(result: &CaseResult) -> TestCaseStatus {
    // Controls are shown as text (`\u{1b}`), which quick-junit would otherwise drop silently.
    let message = visible(result.failure.as_deref().unwrap_or_default()).into_owned();
    // Earlier failed attempts: `flakyFailure` under a case that then passed, `rerunFailure`
    // under one that never did (as cargo-nextest writes them).
    let attempts = result.attempts.iter().map(|attempt| {
        let failure = visible(attempt.failure.as_deref().unwrap_or_default()).into_owned();
        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
        rerun
            .set_time(Duration::from_secs_f64(
                attempt.duration_ms.max(0.0) / 1000.0,
            ))
            .set_message(failure.clone())
            .set_description(failure);
        rerun
    });
    match result.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Flaky => TestCaseStatus::Success {
            flaky_runs: attempts.collect(),
        },
        Status::Failed | Status::UnexpectedPass => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(message.clone())
                .set_description(message)
                .add_reruns(attempts);
            status
        }
        // A known failure is not a regression: CI dashboards show it as skipped, with why.
        Status::Skipped | Status::ExpectedFailure => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(message);
            status
        }
    }
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
        let xml = render(&[failed, known], &[]);
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

    #[test]
    fn retried_cases_carry_their_failed_attempts_as_nextest_writes_them() {
        let earlier = || {
            let mut r = case(PeerKind::Native, PeerKind::Native, Status::Failed);
            r.failure = Some("ICE never connected".into());
            r
        };
        let flaky = case(PeerKind::Native, PeerKind::Chromium, Status::Passed)
            .after_attempts(vec![earlier()]);
        let failed = case(PeerKind::Chromium, PeerKind::Native, Status::Failed)
            .after_attempts(vec![earlier()]);
        let xml = render(&[flaky, failed], &[]);
        let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        let under = |pairing: &str| -> Vec<String> {
            document
                .descendants()
                .find(|n| n.attribute("name") == Some(pairing))
                .unwrap()
                .children()
                .filter(|n| n.is_element())
                .map(|n| {
                    format!(
                        "{} {}",
                        n.tag_name().name(),
                        n.attribute("message").unwrap_or("")
                    )
                })
                .collect()
        };
        // A flaky case passed: its failed attempt is a flakyFailure, nothing else.
        assert_eq!(
            under("native→chromium"),
            ["flakyFailure ICE never connected"]
        );
        // A case that never passed fails, with its earlier attempt as a rerunFailure.
        assert_eq!(
            under("chromium→native"),
            ["failure it failed", "rerunFailure ICE never connected"]
        );
        let suite = document
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("failures"), Some("1"));
    }
}
