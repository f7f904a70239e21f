//! `rtc-interop bench report`: how long `report.html` takes to open in Chromium and Firefox when
//! it holds a whole CI matrix (5 000 cases by default, merged from shards).
//!
//! The big report is grown from a real run's report (its cases repeated, one failure in fifty),
//! rendered as `rtc-interop report` renders it, and opened from disk as people open it. Figures,
//! medians over the iterations: the page's load (navigation start → `loadEventEnd`), and the time
//! until the first failed case's evidence (timelines, ladder) is unpacked and shown. The baseline
//! is the real report it was grown from, opened in the same browser in the same run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::Value;

use crate::bench::median;
use crate::outcome::{CaseResult, Status};
use crate::peer::{DriverService, with_timeout};
use crate::provision;
use crate::report::ReportDocument;
use crate::scenario::{HostCandidates, PeerKind};

/// One navigation, or one wait for evidence, finishes within this or the bench stops.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// What to measure.
#[derive(Debug, Clone)]
pub struct ReportBenchSettings {
    /// A run's folder (or its report.json): the baseline, and what the big report is grown from.
    pub from: PathBuf,
    /// How many cases the big report has.
    pub cases: usize,
    /// Openings of each report in each browser.
    pub iterations: usize,
    /// Install a missing browser or driver first.
    pub install: bool,
}

/// One report opened in one browser, medians over the iterations.
#[derive(Debug, Clone)]
pub struct OpenFigures {
    /// How many cases the report holds.
    pub cases: usize,
    /// Navigation start → `loadEventEnd`, as the page's own Navigation Timing says (ms).
    pub load_ms: f64,
    /// `goto` → the first failed case's evidence unpacked and shown, WebDriver included (ms);
    /// `None` when the report has no failed case.
    pub first_failure_ms: Option<f64>,
}

/// One browser's row: the baseline and the big report.
#[derive(Debug, Clone)]
pub struct ReportBenchRow {
    /// The browser.
    pub kind: PeerKind,
    /// The real report.
    pub baseline: OpenFigures,
    /// The grown one.
    pub big: OpenFigures,
}

/// A report of `count` cases grown from `real`: its cases repeated in order, and one case in
/// fifty a failed one where `real` has any, as in a matrix with a few known problems. Each run of
/// 25 cases is a scenario of its own, so the page has as many matrices as a real big run.
pub fn grow(real: &ReportDocument, count: usize) -> ReportDocument {
    let (failed, others): (Vec<&CaseResult>, Vec<&CaseResult>) =
        real.cases.iter().partition(|c| c.status == Status::Failed);
    let pick = |pool: &[&CaseResult], i: usize| pool[i % pool.len()].clone();
    let cases: Vec<CaseResult> = (0..count)
        .map(|i| {
            let mut case = match (i % 50 == 0 && !failed.is_empty(), others.is_empty()) {
                (true, _) | (false, true) => pick(&failed, i / 50),
                (false, false) => pick(&others, i),
            };
            case.index = i;
            case.scenario = format!("scenario-{:03}", i / 25);
            case.repetition = Some((i % 25) as u32 + 1);
            case
        })
        .collect();
    let mut run = real.run.clone();
    run.selected_cases = count;
    run.scenarios = cases
        .iter()
        .map(|c| (c.scenario.clone(), String::new()))
        .collect();
    ReportDocument::new(run, cases, Vec::new())
}

/// Runs the benchmark.
pub async fn run(settings: &ReportBenchSettings) -> Result<Vec<ReportBenchRow>, String> {
    let real = ReportDocument::read(&ReportDocument::file_of(&settings.from))?;
    if real.cases.is_empty() {
        return Err(format!(
            "{} has no cases to grow a report from",
            ReportDocument::file_of(&settings.from).display()
        ));
    }
    let work = tempfile::tempdir().map_err(|e| format!("a temporary folder: {e}"))?;
    let render = |document: &ReportDocument, name: &str| -> Result<PathBuf, String> {
        let folder = work.path().join(name);
        document
            .render_into(&folder)
            .map_err(|e| format!("rendering the {name} report: {e}"))?;
        Ok(folder.join("report.html"))
    };
    let baseline = render(&real, "baseline")?;
    let big = render(&grow(&real, settings.cases), "big")?;

    let mut rows = Vec::new();
    for kind in [PeerKind::Chromium, PeerKind::Firefox] {
        let install = {
            let install = settings.install;
            tokio::task::spawn_blocking(move || provision::ensure(kind, install))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{kind}: {e}"))?
        };
        let driver = DriverService::start(install).await?;
        let (client, _) = driver.new_session(HostCandidates::Ip, None).await?;
        let mut baseline_runs = Vec::new();
        let mut big_runs = Vec::new();
        // Alternating, so that whatever else the machine does weighs on both alike.
        for _ in 0..settings.iterations {
            baseline_runs.push(open(&client, &baseline).await?);
            big_runs.push(open(&client, &big).await?);
        }
        let _ = client.close().await;
        rows.push(ReportBenchRow {
            kind,
            baseline: medians(real.cases.len(), &baseline_runs),
            big: medians(settings.cases, &big_runs),
        });
    }
    Ok(rows)
}

/// One opening of `page`: (load ms, first failure shown ms).
async fn open(client: &Client, page: &Path) -> Result<(f64, Option<f64>), String> {
    let started = Instant::now();
    let url = format!("file://{}", page.display());
    with_timeout(STEP_TIMEOUT, "opening the report", async {
        client.goto(&url).await.map_err(|e| e.to_string())
    })
    .await?;
    let first_failure = if eval(
        client,
        "return !!document.querySelector('details.case.failed');",
    )
    .await?
        == Value::Bool(true)
    {
        eval(
            client,
            "document.querySelector('details.case.failed').scrollIntoView(); return true;",
        )
        .await?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        while eval(
            client,
            "return !!document.querySelector('details.case.failed .evidence.filled');",
        )
        .await?
            != Value::Bool(true)
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: the first failed case's evidence was not shown within {} s",
                    page.display(),
                    STEP_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(started.elapsed().as_secs_f64() * 1000.0)
    } else {
        None
    };
    let load = eval(
        client,
        "return performance.getEntriesByType('navigation')[0].loadEventEnd;",
    )
    .await?;
    let load_ms = load
        .as_f64()
        .ok_or_else(|| format!("the page's loadEventEnd is {load}"))?;
    Ok((load_ms, first_failure))
}

async fn eval(client: &Client, script: &str) -> Result<Value, String> {
    with_timeout(STEP_TIMEOUT, "a script in the report", async {
        client
            .execute(script, vec![])
            .await
            .map_err(|e| e.to_string())
    })
    .await
}

fn medians(cases: usize, runs: &[(f64, Option<f64>)]) -> OpenFigures {
    OpenFigures {
        cases,
        load_ms: median(runs.iter().map(|r| r.0)).unwrap_or(f64::NAN),
        first_failure_ms: median(runs.iter().filter_map(|r| r.1)),
    }
}

/// The figures as a table, with the big report's ratio against the baseline.
pub fn render(rows: &[ReportBenchRow], settings: &ReportBenchSettings) -> String {
    let mut out = format!(
        "report.html opening, medians of {} opening(s) from disk; baseline: the real report it was grown from\n\n",
        settings.iterations
    );
    let _ = writeln!(
        out,
        "{:<10} {:>7} {:>10} {:>8} {:>16} {:>8}",
        "browser", "cases", "load ms", "× base", "1st failure ms", "× base"
    );
    let shown = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_string(),
    };
    for row in rows {
        for (figures, base) in [(&row.baseline, None), (&row.big, Some(&row.baseline))] {
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>10.0} {:>8} {:>16} {:>8}",
                row.kind.to_string(),
                figures.cases,
                figures.load_ms,
                ratio(
                    Some(figures.load_ms),
                    Some(base.map_or(figures.load_ms, |b| b.load_ms))
                ),
                shown(figures.first_failure_ms),
                ratio(
                    figures.first_failure_ms,
                    base.map_or(figures.first_failure_ms, |b| b.first_failure_ms)
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunInfo;
    use crate::report::test_fixtures::case;

    #[test]
    fn a_grown_report_repeats_the_cases_with_one_failure_in_fifty() {
        let real = ReportDocument::new(
            RunInfo::default(),
            vec![
                case(PeerKind::Native, PeerKind::Native, Status::Passed),
                case(PeerKind::Native, PeerKind::Chromium, Status::Failed),
                case(PeerKind::Chromium, PeerKind::Native, Status::Skipped),
            ],
            Vec::new(),
        );
        let big = grow(&real, 1000);
        assert_eq!(big.cases.len(), 1000);
        assert_eq!(big.run.selected_cases, 1000);
        let failed = big.cases.iter().filter(|c| c.status == Status::Failed);
        assert_eq!(failed.count(), 20);
        assert!(big.cases.iter().any(|c| c.status == Status::Skipped));
        assert!(big.cases.iter().enumerate().all(|(i, c)| c.index == i));
        assert_eq!(big.cases[999].scenario, "scenario-039");
        assert_eq!(big.cases[999].repetition, Some(25));
        assert_eq!(big.run.scenarios.len(), 40);
        // Only failures to grow from: every case is one.
        let failing = ReportDocument::new(
            RunInfo::default(),
            vec![case(PeerKind::Native, PeerKind::Native, Status::Failed)],
            Vec::new(),
        );
        assert!(
            grow(&failing, 10)
                .cases
                .iter()
                .all(|c| c.status == Status::Failed)
        );
    }
}
