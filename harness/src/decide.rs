//! One place decides a case: from the problems its evidence shows, the scenario's known failure
//! for the pairing and whether it ran at all, to its status and the failure line reports show.
//!
//! Problems stay typed until here ([`ProblemKind`]), so the rules can say which problems a known
//! failure may explain: what the pairing *does* (it could not connect, a step or an expectation
//! failed, the lint objected) — never an SDP change (that is news, known bug or not) nor a
//! clean-up the harness could not finish (that is the harness's own trouble).

use serde::{Deserialize, Serialize};

use crate::outcome::Status;
use crate::scenario::{ExpectedOutcome, KnownFailure};

/// Where a problem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The case could not be played as planned: its servers, network or peers did not start, or a
    /// peer stopped answering.
    Setup,
    /// The case reached its time limit with a side still busy.
    Timeout,
    /// An expectation or a step was not met.
    Expectation,
    /// A signaling-lint finding, in a scenario that makes them failures.
    Lint,
    /// A description differs from its accepted snapshot (or has none).
    Snapshot,
    /// Something the case set up could not be removed.
    Cleanup,
}

impl ProblemKind {
    /// Whether a known failure may explain a problem of this kind.
    pub fn known_failure_may_explain(self) -> bool {
        match self {
            ProblemKind::Setup
            | ProblemKind::Timeout
            | ProblemKind::Expectation
            | ProblemKind::Lint => true,
            ProblemKind::Snapshot | ProblemKind::Cleanup => false,
        }
    }
}

/// One thing wrong with a case, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where it comes from.
    pub kind: ProblemKind,
    /// One sentence naming the side, what was expected and what was seen.
    pub text: String,
}

impl Problem {
    /// A problem of `kind`.
    pub fn new(kind: ProblemKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
}

/// A case's status and the failure line that explains it (`None` when it passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub status: Status,
    /// Why, in words.
    pub failure: Option<String>,
}

/// Decides a case. `skipped`: it was not played, and why. `known`: the scenario's known failure
/// for this pairing, if any.
///
/// - Not played: `skipped`.
/// - No problem: `passed` — or `xpass` when a known failure (`expect = "fail"`) says it fails.
/// - Problems a known failure may explain, all of them: `xfail` when the entry covers the pairing
///   and one of them shows its `symptom` (any, without one); else `failed`, saying the symptom is
///   missing.
/// - Any snapshot or clean-up problem: `failed`, whatever else holds.
pub fn decide(
    problems: &[Problem],
    known: Option<&KnownFailure>,
    skipped: Option<&str>,
) -> Decision {
    if let Some(reason) = skipped {
        return Decision {
            status: Status::Skipped,
            failure: Some(format!("skipped: {reason}")),
        };
    }
    let (explainable, news): (Vec<&Problem>, Vec<&Problem>) = problems
        .iter()
        .partition(|p| p.kind.known_failure_may_explain());
    let joined = |list: &[&Problem]| {
        list.iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let failure = joined(&explainable);
    let shows_symptom = |known: &KnownFailure| {
        known
            .symptom
            .as_deref()
            .is_none_or(|symptom| explainable.iter().any(|p| p.text.contains(symptom)))
    };
    let (status, failure) = match (known, explainable.is_empty()) {
        (None, true) => (Status::Passed, None),
        (Some(known), true) if known.expect == ExpectedOutcome::Flaky => (Status::Passed, None),
        (Some(known), true) => (
            Status::UnexpectedPass,
            Some(format!(
                "passed, but the scenario lists `{}` as a known failure ({}): remove the entry",
                known.pairing, known.reason
            )),
        ),
        (None, false) => (Status::Failed, Some(failure)),
        (Some(known), false) if !shows_symptom(known) => (
            Status::Failed,
            Some(format!(
                "{failure} (not the known failure of `{}`: it does not mention \"{}\")",
                known.pairing,
                known.symptom.as_deref().unwrap_or_default()
            )),
        ),
        (Some(known), false) => (
            Status::ExpectedFailure,
            Some(format!(
                "known {} ({}): {failure}",
                match known.expect {
                    ExpectedOutcome::Fail => "failure",
                    ExpectedOutcome::Flaky => "flaky failure",
                },
                known.reason
            )),
        ),
    };
    if news.is_empty() {
        return Decision { status, failure };
    }
    let mut lines: Vec<String> = failure.into_iter().collect();
    lines.push(joined(&news));
    Decision {
        status: Status::Failed,
        failure: Some(lines.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(expect: ExpectedOutcome, symptom: Option<&str>) -> KnownFailure {
        KnownFailure {
            pairing: "native:*".into(),
            expect,
            reason: "why".into(),
            symptom: symptom.map(str::to_string),
        }
    }

    fn expectation(text: &str) -> Problem {
        Problem::new(ProblemKind::Expectation, text)
    }

    #[test]
    fn a_known_failure_that_passes_is_flagged_but_a_flaky_one_is_not() {
        let failed = [expectation("it broke")];
        let fail = known(ExpectedOutcome::Fail, None);
        let decided = decide(&failed, Some(&fail), None);
        assert_eq!(decided.status, Status::ExpectedFailure);
        assert_eq!(decided.failure.unwrap(), "known failure (why): it broke");
        assert_eq!(
            decide(&[], Some(&fail), None).status,
            Status::UnexpectedPass
        );

        let flaky = known(ExpectedOutcome::Flaky, None);
        let decided = decide(&failed, Some(&flaky), None);
        assert_eq!(decided.status, Status::ExpectedFailure);
        assert_eq!(
            decided.failure.unwrap(),
            "known flaky failure (why): it broke"
        );
        let passed = decide(&[], Some(&flaky), None);
        assert_eq!((passed.status, passed.failure), (Status::Passed, None));
    }

    #[test]
    fn a_failure_without_the_known_symptom_is_an_ordinary_failure() {
        let entry = known(ExpectedOutcome::Flaky, Some("stays `connecting`"));
        let decided = decide(
            &[
                expectation("offerer: stays `connecting`"),
                expectation("no echo"),
            ],
            Some(&entry),
            None,
        );
        assert_eq!(decided.status, Status::ExpectedFailure);
        assert_eq!(
            decided.failure.unwrap(),
            "known flaky failure (why): offerer: stays `connecting`; no echo"
        );

        let decided = decide(&[expectation("no echo")], Some(&entry), None);
        assert_eq!(decided.status, Status::Failed);
        assert_eq!(
            decided.failure.unwrap(),
            "no echo (not the known failure of `native:*`: it does not mention \"stays `connecting`\")"
        );
    }

    #[test]
    fn the_symptom_is_looked_for_in_explainable_problems_only() {
        // A snapshot line that happens to contain the symptom must not make a failure "known".
        let entry = known(ExpectedOutcome::Fail, Some("connecting"));
        let decided = decide(
            &[
                expectation("no echo"),
                Problem::new(ProblemKind::Snapshot, "answer changed: a=connecting"),
            ],
            Some(&entry),
            None,
        );
        assert_eq!(decided.status, Status::Failed);
        assert!(decided.failure.unwrap().contains("not the known failure"));
    }

    #[test]
    fn snapshot_and_cleanup_problems_fail_even_a_known_failure() {
        let entry = known(ExpectedOutcome::Fail, None);
        let decided = decide(
            &[
                expectation("no echo"),
                Problem::new(ProblemKind::Cleanup, "cleaning up its network: ns left"),
            ],
            Some(&entry),
            None,
        );
        assert_eq!(decided.status, Status::Failed);
        assert_eq!(
            decided.failure.unwrap(),
            "known failure (why): no echo; cleaning up its network: ns left"
        );
        let decided = decide(
            &[Problem::new(ProblemKind::Snapshot, "offer changed")],
            None,
            None,
        );
        assert_eq!(
            (decided.status, decided.failure.as_deref()),
            (Status::Failed, Some("offer changed"))
        );
    }

    #[test]
    fn a_case_not_played_is_skipped_whatever_else() {
        let decided = decide(&[expectation("x")], None, Some("no namespaces"));
        assert_eq!(decided.status, Status::Skipped);
        assert_eq!(decided.failure.unwrap(), "skipped: no namespaces");
    }
}
