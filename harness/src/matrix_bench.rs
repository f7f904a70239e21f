//! `rtc-interop bench matrix`: where a run's wall time went, from its report.json — cases per
//! second over the whole run, and for host and `[network]` cases apart.
//!
//! Cases play side by side (`--jobs`), so a class of cases has no wall time of its own; each is
//! given the share of the run's wall time that its cases' durations make of all case time.

use std::fmt::Write as _;
use std::path::Path;

use crate::bench::median;
use crate::outcome::CaseResult;
use crate::report::ReportDocument;

/// The figures of one class of cases (or of all).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFigures {
    /// `all`, `host` or `[network]`.
    pub name: &'static str,
    /// Cases played.
    pub cases: usize,
    /// Their durations added up (s).
    pub case_seconds: f64,
    /// The median case (s).
    pub median_case_s: f64,
    /// Peers starting (browser windows, or drivers and browsers in namespaces), added up (s).
    pub start_seconds: f64,
    /// Cases that waited out a time limit (a step's or the case's).
    pub at_a_limit: usize,
    /// The class's share of the wall time (s).
    pub wall_seconds: f64,
}

impl ClassFigures {
    /// Cases per second of the class's share of the wall time.
    pub fn cases_per_s(&self) -> f64 {
        self.cases as f64 / self.wall_seconds
    }
}

/// The run's figures: all cases first, then host and `[network]` ones.
pub fn figures(cases: &[CaseResult]) -> Vec<ClassFigures> {
    let played: Vec<&CaseResult> = cases.iter().filter(|c| c.duration_ms > 0.0).collect();
    let first = played
        .iter()
        .map(|c| c.started_at_ms)
        .fold(f64::MAX, f64::min);
    let last = played
        .iter()
        .map(|c| c.started_at_ms + c.duration_ms)
        .fold(f64::MIN, f64::max);
    let wall_s = ((last - first) / 1000.0).max(0.0);
    let all_case_s: f64 = played.iter().map(|c| c.duration_ms / 1000.0).sum();
    let class = |name: &'static str, pick: &dyn Fn(&CaseResult) -> bool| {
        let of: Vec<&&CaseResult> = played.iter().filter(|c| pick(c)).collect();
        let case_seconds: f64 = of.iter().map(|c| c.duration_ms / 1000.0).sum();
        ClassFigures {
            name,
            cases: of.len(),
            case_seconds,
            median_case_s: median(of.iter().map(|c| c.duration_ms / 1000.0)).unwrap_or(0.0),
            start_seconds: of
                .iter()
                .filter_map(|c| c.phases.peers_started_ms)
                .sum::<f64>()
                / 1000.0,
            at_a_limit: of.iter().filter(|c| waited_out_a_limit(c)).count(),
            wall_seconds: if all_case_s > 0.0 {
                wall_s * case_seconds / all_case_s
            } else {
                0.0
            },
        }
    };
    vec![
        class("all", &|_| true),
        class("host", &|c| c.network.is_none()),
        class("[network]", &|c| c.network.is_some()),
    ]
}

/// Whether the case ended on a time limit rather than on what its peers did.
fn waited_out_a_limit(case: &CaseResult) -> bool {
    let failure = case.failure.as_deref().unwrap_or_default();
    failure.contains("timed out after") || failure.contains(" within ")
}

/// Reads a run's report and renders its figures.
pub fn run(from: &Path) -> Result<String, String> {
    let report = ReportDocument::read(&ReportDocument::file_of(from))?;
    Ok(render(&figures(&report.cases), from))
}

/// The figures as a table.
pub fn render(figures: &[ClassFigures], from: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "matrix bench: {}", from.display());
    let _ = writeln!(
        out,
        "{:<10} {:>6} {:>9} {:>9} {:>11} {:>12} {:>12} {:>9}",
        "cases", "count", "cases/s", "wall (s)", "case-s", "median case", "peers start", "at limit"
    );
    for f in figures {
        let _ = writeln!(
            out,
            "{:<10} {:>6} {:>9.2} {:>9.0} {:>11.0} {:>11.1}s {:>11.0}s {:>9}",
            f.name,
            f.cases,
            f.cases_per_s(),
            f.wall_seconds,
            f.case_seconds,
            f.median_case_s,
            f.start_seconds,
            f.at_a_limit
        );
    }
    let _ = writeln!(
        out,
        "wall (s) of a class: its share of the run's wall time, by its cases' durations; peers \
         start: starting both peers, added up (in namespaces: a driver and browser each); at \
         limit: cases that waited out a step's or the case's time limit. Target (#14): ≥ 1 case/s \
         over the whole default matrix."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::report::test_fixtures;
    use crate::scenario::{NatType, PeerKind};

    fn case(
        started_at_ms: f64,
        duration_ms: f64,
        network: bool,
        failure: Option<&str>,
    ) -> CaseResult {
        let mut case = test_fixtures::case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
        case.started_at_ms = started_at_ms;
        case.duration_ms = duration_ms;
        case.failure = failure.map(str::to_string);
        case.phases.peers_started_ms = Some(duration_ms / 2.0);
        if network {
            case.network = test_fixtures::network(NatType::Symmetric, NatType::Symmetric);
        }
        case
    }

    #[test]
    fn each_class_gets_its_share_of_the_wall_time() {
        // Two host cases of 1 s and one network case of 2 s, side by side in 2 s of wall time.
        let cases = [
            case(0.0, 1000.0, false, None),
            case(
                1000.0,
                1000.0,
                false,
                Some("a step failed: x never opened within 5 s"),
            ),
            case(0.0, 2000.0, true, Some("timed out after 2s: …")),
        ];
        let figures = figures(&cases);
        let all = &figures[0];
        assert_eq!(
            (all.cases, all.wall_seconds, all.case_seconds),
            (3, 2.0, 4.0)
        );
        assert_eq!(all.cases_per_s(), 1.5);
        assert_eq!(all.at_a_limit, 2);
        let (host, network) = (&figures[1], &figures[2]);
        assert_eq!(
            (host.cases, host.wall_seconds, host.start_seconds),
            (2, 1.0, 1.0)
        );
        assert_eq!(host.cases_per_s(), 2.0);
        assert_eq!((network.cases, network.wall_seconds), (1, 1.0));
        assert_eq!(network.median_case_s, 2.0);
        let text = render(&figures, Path::new("reports/x"));
        assert!(text.contains("[network]"), "{text}");
    }
}
