//! The candidate-type matrix: per scenario and pairing, the NAT each peer sat behind, the candidate
//! types each side gathered, and the types of the pair each side selected.
//!
//! It answers "how did these two connect?" at a glance — `srflx → prflx` behind a symmetric NAT
//! tells a different story than `host → host` — without opening every case. Pure data; the HTML,
//! JSON and terminal reports render it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::observe::SelectedPair;
use crate::outcome::{CandidateSets, CaseResult, Sides, Status};
use crate::scenario::{CandidateType, NatType, PeerKind};

/// One scenario's rows, in run order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioMatrix {
    /// The scenario's name.
    pub scenario: String,
    /// One row per case (one per pairing).
    pub rows: Vec<MatrixRow>,
}

impl ScenarioMatrix {
    /// Whether any side of any case gathered a candidate: a matrix without any says nothing.
    pub fn any_gathered(&self) -> bool {
        self.rows
            .iter()
            .any(|r| !r.gathered.offerer.is_empty() || !r.gathered.answerer.is_empty())
    }

    /// Whether the scenario ran in network namespaces (a `[network]` scenario).
    pub fn has_network(&self) -> bool {
        self.rows.iter().any(|r| r.nat.is_some())
    }
}

/// One case of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixRow {
    /// `offerer→answerer`.
    pub pairing: String,
    /// The offering kind.
    pub offerer: PeerKind,
    /// The answering kind.
    pub answerer: PeerKind,
    /// The NAT in front of each peer; `None` when the case ran on the host network.
    pub nat: Option<Sides<NatType>>,
    /// The candidate types each side gathered, with how many of each.
    pub gathered: Sides<TypeCounts>,
    /// The types of the pair each side selected, from its own point of view; `None` when it
    /// selected none.
    pub selected: Sides<Option<PairTypes>>,
    /// What each side made of the other's mDNS (`.local`) host candidates; `None` for a side
    /// that received none.
    pub mdns: Sides<Option<MdnsUse>>,
    /// The case's verdict.
    pub status: Status,
}

impl MatrixRow {
    /// Whether either side received `.local` candidates.
    pub fn any_mdns(&self) -> bool {
        self.mdns.offerer.is_some() || self.mdns.answerer.is_some()
    }
}

/// What a side that received the other's `.local` host candidates did with them, read from the
/// pair it selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdnsUse {
    /// The selected pair's remote end is a host candidate: a `.local` name this side resolved.
    Resolved,
    /// The remote end is peer-reflexive: the name was not (or not yet) resolved, and the address
    /// came from the other side's connectivity checks instead.
    LearnedFromChecks,
    /// The remote end is a reflexive or relay candidate, not the named host.
    OtherPath,
    /// No pair was selected.
    NotConnected,
}

impl MdnsUse {
    /// What `sets` and `pair` say for one side; `None` when it received no `.local` candidate.
    pub fn of(sets: &CandidateSets, pair: Option<&SelectedPair>) -> Option<MdnsUse> {
        if !sets.remote.iter().any(|c| c.address.ends_with(".local")) {
            return None;
        }
        Some(match pair.map(|p| p.remote.kind.as_str()) {
            None => MdnsUse::NotConnected,
            Some("host") => MdnsUse::Resolved,
            Some("prflx") => MdnsUse::LearnedFromChecks,
            Some(_) => MdnsUse::OtherPath,
        })
    }

    /// `resolved`, `learned from checks`, …
    pub fn as_str(self) -> &'static str {
        match self {
            MdnsUse::Resolved => "resolved",
            MdnsUse::LearnedFromChecks => "learned from checks",
            MdnsUse::OtherPath => "other path",
            MdnsUse::NotConnected => "not connected",
        }
    }
}

impl fmt::Display for MdnsUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MatrixRow {
    /// The row of one case.
    pub fn of(result: &CaseResult) -> MatrixRow {
        MatrixRow {
            pairing: result.pairing.clone(),
            offerer: result.offerer,
            answerer: result.answerer,
            nat: result.network.as_ref().map(|n| n.map(|place| place.nat)),
            gathered: result.candidates.map(TypeCounts::gathered),
            selected: result
                .selected_pair
                .map(|pair| pair.as_ref().map(PairTypes::of)),
            mdns: Sides {
                offerer: MdnsUse::of(
                    &result.candidates.offerer,
                    result.selected_pair.offerer.as_ref(),
                ),
                answerer: MdnsUse::of(
                    &result.candidates.answerer,
                    result.selected_pair.answerer.as_ref(),
                ),
            },
            status: result.status,
        }
    }
}

/// How many candidates of each type, in the order host, srflx, prflx, relay.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct TypeCounts(pub BTreeMap<CandidateType, usize>);

impl TypeCounts {
    /// The types of the candidates a side gathered (its local ones).
    pub fn gathered(sets: &CandidateSets) -> TypeCounts {
        let mut counts = BTreeMap::new();
        for c in &sets.local {
            *counts.entry(c.kind).or_insert(0) += 1;
        }
        TypeCounts(counts)
    }

    /// Whether no candidate was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `host srflx×2`: each type once, with its count when more than one; `none` when empty.
impl fmt::Display for TypeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(kind, &count)| match count {
                1 => kind.to_string(),
                n => format!("{kind}×{n}"),
            })
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// The candidate types of a selected pair, as the selecting side saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairTypes {
    /// This side's end: `host`, `srflx`, `prflx` or `relay`.
    pub local: String,
    /// The other side's end, as this side knows it (often `prflx`: learned from a check).
    pub remote: String,
}

impl PairTypes {
    /// The types of `pair`'s two ends.
    pub fn of(pair: &SelectedPair) -> PairTypes {
        PairTypes {
            local: pair.local.kind.clone(),
            remote: pair.remote.kind.clone(),
        }
    }
}

/// `srflx → prflx` (local → remote).
impl fmt::Display for PairTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.local, self.remote)
    }
}

/// Per scenario, in the order scenarios first appear in `results`, a row per case.
pub fn build(results: &[CaseResult]) -> Vec<ScenarioMatrix> {
    let mut matrices: Vec<ScenarioMatrix> = Vec::new();
    for result in results {
        let row = MatrixRow::of(result);
        match matrices.iter_mut().find(|m| m.scenario == result.scenario) {
            Some(matrix) => matrix.rows.push(row),
            None => matrices.push(ScenarioMatrix {
                scenario: result.scenario.clone(),
                rows: vec![row],
            }),
        }
    }
    matrices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixtures::{candidate, case, end, network};

    #[test]
    fn gathered_types_are_counted_in_type_order() {
        use CandidateType::{Host, Relay, Srflx};
        let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
        r.candidates.offerer.local = vec![
            candidate(Relay, 1),
            candidate(Srflx, 2),
            candidate(Host, 3),
            candidate(Srflx, 4),
        ];
        // Received candidates are the other side's: they do not count as gathered.
        r.candidates.offerer.remote = vec![candidate(Relay, 5)];
        let row = MatrixRow::of(&r);
        assert_eq!(row.gathered.offerer.to_string(), "host srflx×2 relay");
        assert_eq!(row.gathered.answerer.to_string(), "none");
        assert_eq!(
            serde_json::to_value(&row.gathered.offerer).unwrap(),
            serde_json::json!({"host": 1, "srflx": 2, "relay": 1})
        );
    }

    #[test]
    fn mdns_use_is_read_from_the_selected_pair() {
        use CandidateType::Host;
        let mut r = case(PeerKind::Native, PeerKind::Chromium, Status::Passed);
        let mut named = candidate(Host, 9);
        named.address = "6ceec17e-8591-4221-abc9-f71c2cf7de0a.local".into();
        r.candidates.offerer.remote = vec![named.clone()];
        r.candidates.answerer.remote = vec![candidate(Host, 8)];
        r.selected_pair.offerer = Some(SelectedPair {
            local: end("host", 1),
            remote: end("host", 2),
        });
        let row = MatrixRow::of(&r);
        assert_eq!(row.mdns.offerer, Some(MdnsUse::Resolved));
        assert_eq!(
            row.mdns.answerer, None,
            "plain IP candidates are no mDNS use"
        );
        r.selected_pair.offerer.as_mut().unwrap().remote = end("prflx", 2);
        assert_eq!(
            MatrixRow::of(&r).mdns.offerer,
            Some(MdnsUse::LearnedFromChecks)
        );
        r.selected_pair.offerer = None;
        assert_eq!(MatrixRow::of(&r).mdns.offerer, Some(MdnsUse::NotConnected));
        assert!(MatrixRow::of(&r).any_mdns());
    }

    #[test]
    fn selected_pair_types_per_side_with_prflx_and_none() {
        let mut r = case(PeerKind::Chromium, PeerKind::Native, Status::Failed);
        r.selected_pair.offerer = Some(SelectedPair {
            local: end("srflx", 1),
            remote: end("prflx", 2),
        });
        let row = MatrixRow::of(&r);
        let offerer = row.selected.offerer.as_ref().unwrap();
        assert_eq!(offerer.to_string(), "srflx → prflx");
        assert_eq!(row.selected.answerer, None);
        assert_eq!(row.status, Status::Failed);
    }

    #[test]
    fn nat_types_come_from_the_network_or_are_absent() {
        let mut behind = case(PeerKind::Native, PeerKind::Native, Status::Passed);
        behind.network = network(NatType::Symmetric, NatType::None);
        let host_network = case(PeerKind::Native, PeerKind::Native, Status::Passed);
        assert_eq!(
            MatrixRow::of(&behind).nat,
            Some(Sides {
                offerer: NatType::Symmetric,
                answerer: NatType::None
            })
        );
        assert_eq!(MatrixRow::of(&host_network).nat, None);
    }

    #[test]
    fn rows_are_grouped_by_scenario_in_run_order() {
        use PeerKind::{Chromium, Native};
        let mut other = case(Native, Chromium, Status::Passed);
        other.scenario = "nat-symmetric".into();
        other.network = network(NatType::Symmetric, NatType::PortRestricted);
        let results = [
            case(Native, Native, Status::Passed),
            other,
            case(Chromium, Native, Status::Skipped),
        ];
        let matrices = build(&results);
        let names: Vec<&str> = matrices.iter().map(|m| m.scenario.as_str()).collect();
        assert_eq!(names, ["datachannel-echo", "nat-symmetric"]);
        let pairings: Vec<&str> = matrices[0]
            .rows
            .iter()
            .map(|r| r.pairing.as_str())
            .collect();
        assert_eq!(pairings, ["native→native", "chromium→native"]);
        assert!(!matrices[0].has_network() && matrices[1].has_network());
        assert!(!matrices[0].any_gathered());
    }
}
