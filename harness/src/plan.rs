//! Expanding scenarios into the cases a run executes: every ordered pairing of its peer kinds.

use std::fmt;
use std::sync::Arc;

use crate::scenario::{PeerKind, Scenario};

/// One scenario played by one ordered pair of peer kinds.
#[derive(Debug, Clone)]
pub struct Case {
    /// The scenario being played.
    pub scenario: Arc<Scenario>,
    /// The kind that creates the offer (and the data channel).
    pub offerer: PeerKind,
    /// The kind that answers.
    pub answerer: PeerKind,
}

impl Case {
    /// `native→chromium`: the pairing, offerer first.
    pub fn pairing(&self) -> String {
        format!("{}→{}", self.offerer, self.answerer)
    }

    /// A name that is unique within a run and safe in URLs and file names.
    pub fn slug(&self) -> String {
        format!("{}--{}-{}", self.scenario.name, self.offerer, self.answerer)
    }

    /// The peer kinds this case needs.
    pub fn kinds(&self) -> [PeerKind; 2] {
        [self.offerer, self.answerer]
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.scenario.name, self.pairing())
    }
}

/// Every ordered pairing (offerer × answerer) of the scenario's peer kinds; a scenario that names
/// no kinds uses all of them.
pub fn expand(scenario: &Arc<Scenario>) -> Vec<Case> {
    let kinds: Vec<PeerKind> = if scenario.peers.is_empty() {
        PeerKind::ALL.to_vec()
    } else {
        scenario.peers.clone()
    };
    let mut cases = Vec::new();
    for &offerer in &kinds {
        for &answerer in &kinds {
            cases.push(Case {
                scenario: scenario.clone(),
                offerer,
                answerer,
            });
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn two_kinds_give_four_ordered_pairings() {
        let scenario =
            crate::scenario::parse("[data_channel]\nlabel = \"x\"\n", "s", Path::new("s.toml"))
                .unwrap();
        let cases = expand(&Arc::new(scenario));
        let pairings: Vec<String> = cases.iter().map(Case::pairing).collect();
        assert_eq!(
            pairings,
            [
                "native→native",
                "native→chromium",
                "chromium→native",
                "chromium→chromium"
            ]
        );
    }
}
