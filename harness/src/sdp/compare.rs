//! Browser-vs-native SDP comparison (`rtc-interop sdp compare`, and the HTML and JSON reports):
//! per scenario, the features of every peer kind's offer side by side, and of every answer.
//!
//! A peer kind's description usually does not depend on the pairing (an offer is made before the
//! other side is known); where it does (an answer follows the offer it answers), the kind gets one
//! column per distinct description, named by the peers it was made for:
//! `chromium answer (to native)`, `chromium answer (to chromium, firefox)`.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::check::snapshot_form;
use super::features::{SdpFeatures, features};
use super::snapshot::{Side, read_snapshot};
use super::table::compare_table;
use crate::outcome::CaseResult;
use crate::scenario::PeerKind;

/// One local description of one case, ready to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The scenario's name.
    pub scenario: String,
    /// The offering peer kind (`native`).
    pub offerer: String,
    /// The answering peer kind.
    pub answerer: String,
    /// Which side set the description.
    pub side: Side,
    /// `offer` or `answer`.
    pub kind: String,
    /// 1 for the first description of this kind the side set, 2 for the next, …
    pub nth: usize,
    /// The SDP (raw, normalized or in snapshot form: features are the same).
    pub sdp: String,
}

impl Described {
    /// The kind of peer that set the description.
    pub fn peer(&self) -> &str {
        match self.side {
            Side::Offerer => &self.offerer,
            Side::Answerer => &self.answerer,
        }
    }

    /// The other peer of the pairing.
    pub fn other(&self) -> &str {
        match self.side {
            Side::Offerer => &self.answerer,
            Side::Answerer => &self.offerer,
        }
    }

    /// `offer`, `offer #2`, …
    pub fn label(&self) -> String {
        if self.nth > 1 {
            format!("{} #{}", self.kind, self.nth)
        } else {
            self.kind.clone()
        }
    }
}

/// Every description the results recorded, in result order.
pub fn from_results(results: &[CaseResult]) -> Vec<Described> {
    let mut out = Vec::new();
    for r in results {
        for (side, list) in [
            (Side::Offerer, &r.sdp.offerer),
            (Side::Answerer, &r.sdp.answerer),
        ] {
            let mut seen: Vec<&str> = Vec::new();
            for d in list {
                let nth = seen.iter().filter(|k| **k == d.kind).count() + 1;
                seen.push(&d.kind);
                out.push(Described {
                    scenario: r.scenario.clone(),
                    offerer: r.offerer.to_string(),
                    answerer: r.answerer.to_string(),
                    side,
                    kind: d.kind.clone(),
                    nth,
                    sdp: d.sdp.clone(),
                });
            }
        }
    }
    out
}

/// Every description recorded in a run's `report.json`.
pub fn from_report(path: &Path) -> io::Result<Vec<Described>> {
    let text = std::fs::read_to_string(path)?;
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let cases = report["cases"].as_array().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "not an rtc-interop report.json (no `cases` list)",
        )
    })?;
    let mut out = Vec::new();
    for case in cases {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        for (side, key) in [(Side::Offerer, "offerer"), (Side::Answerer, "answerer")] {
            let mut seen: Vec<String> = Vec::new();
            for d in case["sdp"][key].as_array().into_iter().flatten() {
                let kind = text(&d["type"]);
                let nth = seen.iter().filter(|k| **k == kind).count() + 1;
                seen.push(kind.clone());
                out.push(Described {
                    scenario: text(&case["scenario"]),
                    offerer: text(&case["offerer"]),
                    answerer: text(&case["answerer"]),
                    side,
                    kind,
                    nth,
                    sdp: text(&d["sdp"]),
                });
            }
        }
    }
    Ok(out)
}

/// Every accepted snapshot (`*.snap`, not the pending `*.snap.new`) in `dir`, sorted by name.
/// Files whose names are not snapshot names of descriptions are left out.
pub fn from_snapshots(dir: &Path) -> io::Result<Vec<Described>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Some(mut described) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(parse_name)
        else {
            continue;
        };
        let (_, contents) =
            read_snapshot(&path).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        described.sdp = contents;
        out.push(described);
    }
    Ok(out)
}

/// `<scenario>__<offerer>-to-<answerer>__<offerer|answerer>-<kind>[-<nth>]`, as
/// [`super::snapshot::SnapshotId::for_description`] names them; the SDP is left empty.
fn parse_name(name: &str) -> Option<Described> {
    let mut parts = name.rsplitn(3, "__");
    let (description, pairing, scenario) = (parts.next()?, parts.next()?, parts.next()?);
    let (offerer, answerer) = pairing.split_once("-to-")?;
    let (side, kind) = description.split_once('-')?;
    let side = match side {
        "offerer" => Side::Offerer,
        "answerer" => Side::Answerer,
        _ => return None,
    };
    let (kind, nth) = match kind.rsplit_once('-') {
        Some((kind, n)) if n.parse::<usize>().is_ok_and(|n| n > 1) => (kind, n.parse().ok()?),
        _ => (kind, 1),
    };
    Some(Described {
        scenario: scenario.to_string(),
        offerer: offerer.to_string(),
        answerer: answerer.to_string(),
        side,
        kind: kind.to_string(),
        nth,
        sdp: String::new(),
    })
}

/// One column of a comparison: the description one peer kind made, for the pairings listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// The column's heading: `chromium offer`, `chromium answer (to native)`.
    pub label: String,
    /// The peer kind that made the description.
    pub peer: String,
    /// The other peers of the pairings it was made in.
    pub to: Vec<String>,
    /// What it negotiates.
    pub features: SdpFeatures,
}

/// The descriptions of one kind (`offer`, `answer`, `offer #2`, …) side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// `offer`, `answer`, …
    pub description: String,
    /// One per peer kind and distinct description.
    pub columns: Vec<Column>,
    /// The columns as a text table (see [`compare_table`]): rows marked `*` differ.
    pub table: String,
}

/// A scenario's comparisons: offers, then answers (then later descriptions, if any).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioComparison {
    /// The scenario's name.
    pub scenario: String,
    /// One per kind of description.
    pub comparisons: Vec<Comparison>,
    /// Descriptions that could not be read, each naming the pairing.
    pub errors: Vec<String>,
}

impl ScenarioComparison {
    /// The comparison as text: a heading and a table per kind of description.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.comparisons {
            out.push_str(&format!("{}: {}s\n\n", self.scenario, c.description));
            out.push_str(&c.table);
            out.push('\n');
        }
        for e in &self.errors {
            out.push_str(&format!("{}: {e}\n", self.scenario));
        }
        out
    }
}

/// Sorts peer kinds as the matrix lists them; unknown names after, alphabetically.
fn peer_rank(name: &str) -> (usize, String) {
    let index = PeerKind::CORE
        .iter()
        .position(|k| k.as_str() == name)
        .unwrap_or(PeerKind::CORE.len());
    (index, name.to_string())
}

/// Sets `described` side by side, per scenario (in order of first appearance).
pub fn compare(described: &[Described]) -> Vec<ScenarioComparison> {
    let mut scenarios: Vec<&str> = Vec::new();
    for d in described {
        if !scenarios.contains(&d.scenario.as_str()) {
            scenarios.push(&d.scenario);
        }
    }
    scenarios
        .into_iter()
        .map(|scenario| compare_scenario(scenario, described))
        .collect()
}

fn compare_scenario(scenario: &str, all: &[Described]) -> ScenarioComparison {
    let mut errors = Vec::new();
    let mut parsed: Vec<(&Described, SdpFeatures)> = Vec::new();
    for d in all.iter().filter(|d| d.scenario == scenario) {
        match snapshot_form(&d.sdp).and_then(|form| features(&form)) {
            Ok(f) => parsed.push((d, f)),
            Err(e) => errors.push(format!(
                "{} {} in {}-to-{}: {e}",
                d.peer(),
                d.label(),
                d.offerer,
                d.answerer
            )),
        }
    }
    // Offers first, then answers, then later descriptions.
    let mut labels: Vec<(usize, usize, String)> = parsed
        .iter()
        .map(|(d, _)| {
            let kind_rank = match d.kind.as_str() {
                "offer" => 0,
                "answer" => 1,
                _ => 2,
            };
            (d.nth, kind_rank, d.label())
        })
        .collect();
    labels.sort();
    labels.dedup();
    let comparisons = labels
        .into_iter()
        .map(|(_, _, label)| {
            let here: Vec<&(&Described, SdpFeatures)> =
                parsed.iter().filter(|(d, _)| d.label() == label).collect();
            let columns = columns(&label, &here);
            // `chromium answer` over `(to native)`, to keep columns narrow.
            let rows: Vec<(String, SdpFeatures)> = columns
                .iter()
                .map(|c| (c.label.replacen(" (to ", "\n(to ", 1), c.features.clone()))
                .collect();
            Comparison {
                description: label,
                table: compare_table(&rows),
                columns,
            }
        })
        .collect();
    ScenarioComparison {
        scenario: scenario.to_string(),
        comparisons,
        errors,
    }
}

/// One column per peer kind and distinct features, in matrix order.
fn columns(label: &str, described: &[&(&Described, SdpFeatures)]) -> Vec<Column> {
    let mut peers: Vec<&str> = described.iter().map(|(d, _)| d.peer()).collect();
    peers.sort_by_key(|p| peer_rank(p));
    peers.dedup();
    let mut columns = Vec::new();
    for peer in peers {
        let mut mine: Vec<(&str, &SdpFeatures)> = described
            .iter()
            .filter(|(d, _)| d.peer() == peer)
            .map(|(d, f)| (d.other(), f))
            .collect();
        mine.sort_by_key(|(other, _)| peer_rank(other));
        // Distinct feature sets, in order of the first pairing that has each.
        let mut groups: Vec<(&SdpFeatures, Vec<String>)> = Vec::new();
        for (other, f) in mine {
            match groups.iter_mut().find(|(g, _)| *g == f) {
                Some((_, to)) => {
                    if !to.iter().any(|t| t == other) {
                        to.push(other.to_string());
                    }
                }
                None => groups.push((f, vec![other.to_string()])),
            }
        }
        let split = groups.len() > 1;
        for (f, to) in groups {
            let label = if split {
                format!("{peer} {label} (to {})", to.join(", "))
            } else {
                format!("{peer} {label}")
            };
            columns.push(Column {
                label,
                peer: peer.to_string(),
                to,
                features: f.clone(),
            });
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(offerer: &str, answerer: &str, side: Side, kind: &str, sdp: &str) -> Described {
        Described {
            scenario: "s".into(),
            offerer: offerer.into(),
            answerer: answerer.into(),
            side,
            kind: kind.into(),
            nth: 1,
            sdp: sdp.into(),
        }
    }

    const DC: &str = "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=setup:actpass\na=sctp-port:5000\na=max-message-size:262144\n";

    #[test]
    fn names_parse_back() {
        let p = parse_name("data__chan__chromium-to-native__answerer-answer").unwrap();
        assert_eq!(
            (p.scenario.as_str(), p.offerer.as_str(), p.answerer.as_str()),
            ("data__chan", "chromium", "native")
        );
        assert_eq!(
            (p.side, p.kind.as_str(), p.nth),
            (Side::Answerer, "answer", 1)
        );
        let p = parse_name("s__a-to-b__offerer-offer-2").unwrap();
        assert_eq!((p.kind.as_str(), p.nth), ("offer", 2));
        assert!(parse_name("lib").is_none());
        assert!(parse_name("s__a-b__offerer-offer").is_none());
    }

    #[test]
    fn a_kind_splits_into_columns_only_where_pairings_differ() {
        let answer = DC.replace("actpass", "active");
        let short = answer.replace("a=max-message-size:262144\n", "");
        let all = vec![
            d("chromium", "native", Side::Offerer, "offer", DC),
            d(
                "native",
                "chromium",
                Side::Offerer,
                "offer",
                &DC.replace("262144", "65536"),
            ),
            d("chromium", "chromium", Side::Offerer, "offer", DC),
            d("chromium", "chromium", Side::Answerer, "answer", &answer),
            d("native", "chromium", Side::Answerer, "answer", &short),
            d("firefox", "chromium", Side::Answerer, "answer", &answer),
            d("native", "native", Side::Offerer, "offer", "garbage"),
        ];
        let c = compare(&all);
        assert_eq!(c.len(), 1);
        let labels = |i: usize| -> Vec<String> {
            c[0].comparisons[i]
                .columns
                .iter()
                .map(|c| c.label.clone())
                .collect()
        };
        assert_eq!(c[0].comparisons[0].description, "offer");
        assert_eq!(labels(0), ["native offer", "chromium offer"]);
        assert_eq!(
            labels(1),
            [
                "chromium answer (to native)",
                "chromium answer (to chromium, firefox)"
            ]
        );
        assert_eq!(c[0].errors.len(), 1, "{:?}", c[0].errors);
        assert!(c[0].errors[0].starts_with("native offer in native-to-native: "));
        let text = c[0].render();
        assert!(text.starts_with("s: offers\n\n"), "{text}");
        assert!(text.contains("s: answers\n\n"), "{text}");
        let row = text
            .lines()
            .find(|l| l.contains("max-message-size"))
            .unwrap();
        assert!(row.starts_with('*') && row.contains("65536"), "{text}");
    }
}
