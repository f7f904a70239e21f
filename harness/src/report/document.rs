//! `report.json` as a document: written at the end of a run, read back to re-render a run's other
//! reports (`rtc-interop report`) and to merge the reports of shards (`rtc-interop merge`).
//!
//! What can be derived from the cases (the counts, pass rates, SDP comparison and candidate
//! matrix) is written for readers of the file but recomputed when it is read, so a re-rendered or
//! merged report can never disagree with its cases.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::candidate_matrix::{self, ScenarioMatrix};
use super::{HtmlReport, JsonReport, JunitReport, Reporter, RunEvent};
use crate::outcome::{CaseResult, PassRate, RunSummary, pass_rates};
use crate::plan::Case;
use crate::sdp::compare::{self, ScenarioComparison};

/// What identifies a run and the selection it played: the header of its report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id (its folder name under `reports/`).
    pub run_id: String,
    /// The rtc-interop version that played the cases.
    pub tool_version: String,
    /// The webrtc-rs version native peers were built on.
    pub webrtc_rs_version: String,
    /// `--shard K/N`: which part of the selection this run played; null when it played all of it
    /// (a merged report included).
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// The ids of the shard runs a merged report combines (empty for a run).
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// Every selected scenario, with a digest of its file: reports of different scenario
    /// versions are not merged.
    #[serde(default)]
    pub scenarios: BTreeMap<String, String>,
    /// How many cases the whole selection has, every shard together.
    #[serde(default)]
    pub selected_cases: usize,
}

impl RunInfo {
    /// A run `run_id` of this build, playing `selected` (every shard's cases).
    pub fn new(run_id: &str, selected: &[Case]) -> RunInfo {
        RunInfo {
            run_id: run_id.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            webrtc_rs_version: crate::WEBRTC_RS_VERSION.to_string(),
            shard: None,
            merged_from: Vec::new(),
            scenarios: selected
                .iter()
                .map(|c| (c.scenario.name.clone(), c.scenario.digest.clone()))
                .collect(),
            selected_cases: selected.len(),
        }
    }
}

/// Which part of a selection a sharded run played.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// K of `K/N`, from 1.
    pub index: u32,
    /// N of `K/N`.
    pub count: u32,
    /// How cases were spread: `count` (round-robin in run order) or `duration` (balanced by the
    /// durations of a previous report).
    pub balanced_by: String,
}

/// A case a run did not finish (interrupted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnplayedCase {
    /// The scenario.
    pub scenario: String,
    /// `offerer→answerer`, with ` #N` for a repetition.
    pub pairing: String,
    /// Its position in the whole selection's run order (as [`CaseResult::index`]).
    #[serde(default)]
    pub index: usize,
}

impl UnplayedCase {
    /// `case`, at `index` in the run order.
    pub fn of(case: &Case, index: usize) -> UnplayedCase {
        UnplayedCase {
            scenario: case.scenario.name.clone(),
            pairing: case.pairing_label(),
            index,
        }
    }
}

impl std::fmt::Display for UnplayedCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.scenario, self.pairing)
    }
}

/// The contents of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDocument {
    /// The run.
    #[serde(flatten)]
    pub run: RunInfo,
    /// How the cases ended (derived).
    #[serde(flatten)]
    summary: RunSummary,
    /// The run was interrupted (Ctrl-C): `cases` holds only the finished ones.
    pub interrupted: bool,
    /// The cases an interruption left unfinished.
    pub unplayed: Vec<UnplayedCase>,
    /// Every finished case, in run order.
    pub cases: Vec<CaseResult>,
    /// Per scenario and pairing, how its repetitions ended (`--repeat`; empty otherwise; derived).
    #[serde(skip_deserializing)]
    pass_rates: Vec<PassRate>,
    /// Per scenario, each peer kind's offer and answer features side by side (derived).
    #[serde(skip_deserializing)]
    sdp_comparison: Vec<ScenarioComparison>,
    /// Per scenario and pairing, the NATs, gathered candidate types and selected pair types
    /// (derived).
    #[serde(skip_deserializing)]
    candidate_matrix: Vec<ScenarioMatrix>,
}

impl ReportDocument {
    /// The report of `run`, which finished `cases` and left `unplayed`.
    pub fn new(run: RunInfo, cases: Vec<CaseResult>, unplayed: Vec<UnplayedCase>) -> Self {
        ReportDocument {
            run,
            summary: RunSummary::default(),
            interrupted: false,
            unplayed,
            cases,
            pass_rates: Vec::new(),
            sdp_comparison: Vec::new(),
            candidate_matrix: Vec::new(),
        }
        .derived()
    }

    /// This document with what derives from its cases computed.
    fn derived(mut self) -> Self {
        self.summary = RunSummary::of(&self.cases);
        self.interrupted = !self.unplayed.is_empty();
        self.pass_rates = pass_rates(&self.cases);
        self.sdp_comparison = compare::compare(&compare::from_results(&self.cases));
        self.candidate_matrix = candidate_matrix::build(&self.cases);
        self
    }

    /// The counts of the cases.
    pub fn summary(&self) -> RunSummary {
        self.summary
    }

    /// The report.json of a run folder, or `path` itself when it is a file.
    pub fn file_of(path: &Path) -> std::path::PathBuf {
        if path.is_dir() {
            path.join("report.json")
        } else {
            path.to_path_buf()
        }
    }

    /// Reads `report.json`, naming the file and the field that does not fit.
    pub fn read(path: &Path) -> Result<ReportDocument, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let document: ReportDocument = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not an rtc-interop report.json: {e} (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        Ok(document.derived())
    }

    /// Points the paths of every case's files (`--capture`), relative to `from` (the folder this
    /// report was read from), at the same files from `to` (where a merged report is written).
    pub fn move_file_links(&mut self, from: &Path, to: &Path) {
        for case in &mut self.cases {
            for artifact in &mut case.artifacts {
                artifact.path = relative_path(to, &from.join(&artifact.path))
                    .display()
                    .to_string();
            }
        }
    }

    /// The JSON text of `report.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is JSON")
    }

    /// Writes `report.json`, `report.html` and `junit.xml` of this document into `folder`: the
    /// same reporters a run uses, given the run's events again.
    pub fn render_into(&self, folder: &Path) -> io::Result<()> {
        std::fs::create_dir_all(folder)?;
        let mut reporters: Vec<Box<dyn Reporter>> = vec![
            Box::new(JsonReport::new(folder.join("report.json"))),
            Box::new(JunitReport::new(folder.join("junit.xml"))),
            Box::new(HtmlReport::new(folder.join("report.html"))),
        ];
        for reporter in &mut reporters {
            reporter.on_event(&RunEvent::Started {
                run: &self.run,
                cases: &[],
            })?;
            reporter.on_event(&RunEvent::Finished {
                results: &self.cases,
                summary: &self.summary,
                unplayed: &self.unplayed,
            })?;
        }
        Ok(())
    }
}

/// `target` as a path relative to the folder `base` (both made absolute against the current
/// folder first).
fn relative_path(base: &Path, target: &Path) -> std::path::PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (base, target) = (absolute(base), absolute(target));
    let base: Vec<_> = base.components().collect();
    let target: Vec<_> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut relative = std::path::PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for part in &target[common..] {
        relative.push(part);
    }
    relative
}

/// Combines the reports of a run's shards into the report of the whole selection: its cases in
/// the order a single run plays them. Reports of different tool or scenario versions, of
/// different selections, or missing a shard are refused (naming the difference) unless `force`.
pub fn merge(
    run_id: &str,
    parts: Vec<(String, ReportDocument)>,
    force: bool,
) -> Result<ReportDocument, String> {
    let Some((first_name, first)) = parts.first() else {
        return Err("nothing to merge: name the shard reports' folders".into());
    };
    let mut problems = Vec::new();
    for (name, part) in &parts[1..] {
        let mut differs = |what: &str, a: String, b: String| {
            if a != b {
                problems.push(format!("{what}: {first_name} has {a}, {name} has {b}"));
            }
        };
        differs(
            "rtc-interop version",
            first.run.tool_version.clone(),
            part.run.tool_version.clone(),
        );
        differs(
            "webrtc-rs version",
            first.run.webrtc_rs_version.clone(),
            part.run.webrtc_rs_version.clone(),
        );
        differs(
            "cases selected",
            first.run.selected_cases.to_string(),
            part.run.selected_cases.to_string(),
        );
        let scenarios = |d: &ReportDocument| {
            d.run
                .scenarios
                .iter()
                .map(|(n, digest)| format!("{n}@{}", digest.get(..12).unwrap_or(digest)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        differs("scenarios", scenarios(first), scenarios(part));
    }
    let counts: Vec<u32> = parts
        .iter()
        .filter_map(|(_, p)| p.run.shard.as_ref().map(|s| s.count))
        .collect();
    if let Some(&count) = counts.first() {
        let mut have: Vec<u32> = parts
            .iter()
            .filter_map(|(_, p)| p.run.shard.as_ref().map(|s| s.index))
            .collect();
        have.sort_unstable();
        let missing: Vec<String> = (1..=count)
            .filter(|k| !have.contains(k))
            .map(|k| format!("{k}/{count}"))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("shard(s) {} missing", missing.join(", ")));
        }
        if counts.iter().any(|&c| c != count) {
            problems.push(format!("shards of different counts: {counts:?}"));
        }
    }
    let mut cases: Vec<CaseResult> = Vec::new();
    let mut unplayed: Vec<UnplayedCase> = Vec::new();
    let mut seen = BTreeMap::new();
    for (name, part) in &parts {
        for case in &part.cases {
            if let Some(other) = seen.insert(case.index, name) {
                problems.push(format!(
                    "case #{} ({} [{}]) is in both {other} and {name}",
                    case.index,
                    case.scenario,
                    case.pairing_label()
                ));
            }
        }
        cases.extend(part.cases.iter().cloned());
        unplayed.extend(part.unplayed.iter().cloned());
    }
    if !problems.is_empty() && !force {
        return Err(format!(
            "these reports are not shards of one run ({}); `--force` merges them anyway",
            problems.join("; ")
        ));
    }
    cases.sort_by_key(|c| c.index);
    unplayed.sort_by_key(|c| c.index);
    let run = RunInfo {
        run_id: run_id.to_string(),
        shard: None,
        merged_from: parts.iter().map(|(_, p)| p.run.run_id.clone()).collect(),
        scenarios: parts
            .iter()
            .flat_map(|(_, p)| p.run.scenarios.clone())
            .collect(),
        ..first.run.clone()
    };
    Ok(ReportDocument::new(run, cases, unplayed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::report::test_fixtures::case;
    use crate::scenario::PeerKind::{Chromium, Firefox, Native};

    fn whole_run() -> ReportDocument {
        let mut cases = Vec::new();
        for (index, (offerer, answerer, status)) in [
            (Native, Native, Status::Passed),
            (Native, Chromium, Status::Failed),
            (Chromium, Firefox, Status::ExpectedFailure),
            (Firefox, Native, Status::Skipped),
            (Firefox, Firefox, Status::Passed),
        ]
        .into_iter()
        .enumerate()
        {
            let mut c = case(offerer, answerer, status);
            c.index = index;
            c.failure = (status != Status::Passed).then(|| format!("failure {index}"));
            cases.push(c);
        }
        let run = RunInfo {
            run_id: "whole".into(),
            tool_version: "1.0.0".into(),
            webrtc_rs_version: "0.21.0".into(),
            scenarios: [("datachannel-echo".to_string(), "abc".to_string())].into(),
            selected_cases: 5,
            ..RunInfo::default()
        };
        ReportDocument::new(run, cases, Vec::new())
    }

    /// `whole` split into `count` shards by `index % count`.
    fn shards(whole: &ReportDocument, count: u32) -> Vec<(String, ReportDocument)> {
        (1..=count)
            .map(|k| {
                let run = RunInfo {
                    run_id: format!("shard-{k}"),
                    shard: Some(ShardInfo {
                        index: k,
                        count,
                        balanced_by: "count".into(),
                    }),
                    ..whole.run.clone()
                };
                let cases = whole
                    .cases
                    .iter()
                    .filter(|c| c.index as u32 % count == k - 1)
                    .cloned()
                    .collect();
                (
                    format!("reports/shard-{k}"),
                    ReportDocument::new(run, cases, Vec::new()),
                )
            })
            .collect()
    }

    #[test]
    fn report_json_round_trips_field_for_field() {
        let mut whole = whole_run();
        whole.unplayed.push(UnplayedCase {
            scenario: "datachannel-echo".into(),
            pairing: "native→firefox #2".into(),
            index: 9,
        });
        let whole = whole.derived();
        let dir = tempfile::tempdir().unwrap();
        whole.render_into(dir.path()).unwrap();
        let written = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
        let read = ReportDocument::read(&dir.path().join("report.json")).unwrap();
        assert_eq!(read, whole);
        assert_eq!(read.to_json(), written);
        assert!(read.interrupted);
        assert_eq!(read.summary().failed, 1);
    }

    #[test]
    fn merged_shards_equal_the_whole_run() {
        let whole = whole_run();
        for count in [1, 2, 3, 5] {
            let mut parts = shards(&whole, count);
            parts.reverse();
            let merged = merge("whole", parts, false).unwrap();
            assert_eq!(
                merged.run.merged_from.len(),
                count as usize,
                "{:?}",
                merged.run
            );
            let merged = ReportDocument {
                run: whole.run.clone(),
                ..merged
            };
            assert_eq!(merged.to_json(), whole.to_json(), "{count} shards");
        }
    }

    #[test]
    fn merge_refuses_what_is_not_one_run() {
        let whole = whole_run();
        let mut parts = shards(&whole, 3);
        parts[1].1.run.tool_version = "2.0.0".into();
        parts[2]
            .1
            .run
            .scenarios
            .insert("datachannel-echo".into(), "def".into());
        let e = merge("m", parts.clone(), false).unwrap_err();
        assert!(
            e.contains("rtc-interop version: reports/shard-1 has 1.0.0, reports/shard-2 has 2.0.0"),
            "{e}"
        );
        assert!(e.contains("scenarios: reports/shard-1 has datachannel-echo@abc, reports/shard-3 has datachannel-echo@def"), "{e}");
        assert!(merge("m", parts, true).is_ok());

        let mut parts = shards(&whole, 3);
        parts.remove(1);
        let e = merge("m", parts, false).unwrap_err();
        assert!(e.contains("shard(s) 2/3 missing"), "{e}");

        let mut parts = shards(&whole, 2);
        parts.push(parts[0].clone());
        let e = merge("m", parts, false).unwrap_err();
        assert!(
            e.contains("is in both reports/shard-1 and reports/shard-1"),
            "{e}"
        );
        assert!(merge("m", Vec::new(), true).is_err());
    }

    #[test]
    fn merged_reports_link_the_shards_files_from_their_own_folder() {
        assert_eq!(
            relative_path(
                Path::new("/r/merged"),
                Path::new("/r/shards/s1/run/cases/0/a.pcap")
            ),
            Path::new("../shards/s1/run/cases/0/a.pcap")
        );
        assert_eq!(
            relative_path(Path::new("/r"), Path::new("/r/x/a.pcap")),
            Path::new("x/a.pcap")
        );
        let mut report = whole_run();
        report.cases[0].artifacts.push(crate::outcome::Artifact {
            name: "capture.pcap".into(),
            path: "cases/0-x/capture.pcap".into(),
            about: String::new(),
        });
        report.move_file_links(Path::new("/r/shards/1/run"), Path::new("/r/merged"));
        assert_eq!(
            report.cases[0].artifacts[0].path,
            "../shards/1/run/cases/0-x/capture.pcap"
        );
    }

    #[test]
    fn a_file_that_is_not_a_report_is_named_with_its_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, r#"{"run_id": "x", "cases": [{"scenario": 3}]}"#).unwrap();
        let e = ReportDocument::read(&path).unwrap_err();
        assert!(e.contains("is not an rtc-interop report.json"), "{e}");
        assert!(e.contains("report.json"), "{e}");
        assert!(
            ReportDocument::read(&dir.path().join("none.json"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
