//! Expanding scenarios into the cases a run executes: every ordered pairing of its peer kinds.

use std::fmt;
use std::sync::Arc;

use crate::peer::external::catalogue;
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
    /// Which of the `--repeat` runs this is (from 1); `None` without `--repeat`.
    pub repetition: Option<u32>,
}

impl Case {
    /// `native→chromium`: the pairing, offerer first.
    pub fn pairing(&self) -> String {
        format!("{}→{}", self.offerer, self.answerer)
    }

    /// The pairing, and which repetition this is under `--repeat`: `native→chromium #3`.
    pub fn pairing_label(&self) -> String {
        match self.repetition {
            Some(n) => format!("{} #{n}", self.pairing()),
            None => self.pairing(),
        }
    }

    /// A name that is unique within a run and safe in URLs and file names.
    pub fn slug(&self) -> String {
        let slug = format!("{}--{}-{}", self.scenario.name, self.offerer, self.answerer);
        match self.repetition {
            Some(n) => format!("{slug}-r{n}"),
            None => slug,
        }
    }

    /// The peer kinds this case needs.
    pub fn kinds(&self) -> [PeerKind; 2] {
        [self.offerer, self.answerer]
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.scenario.name, self.pairing())?;
        match self.repetition {
            Some(n) => write!(f, " #{n}"),
            None => Ok(()),
        }
    }
}

/// `cases` played `times` times over, each time in their order (so that repetitions of one case
/// are spread over the run rather than back to back), numbered from 1; once and unnumbered when
/// `times` is 1.
pub fn repeat(cases: &[Case], times: u32) -> Vec<Case> {
    if times <= 1 {
        return cases.to_vec();
    }
    (1..=times)
        .flat_map(|n| {
            cases.iter().map(move |case| Case {
                repetition: Some(n),
                ..case.clone()
            })
        })
        .collect()
}

/// Every ordered pairing (offerer × answerer) of the run's peer `kinds` that the scenario takes
/// (a scenario that names its `peers` takes only those).
pub fn expand(scenario: &Arc<Scenario>, kinds: &[PeerKind]) -> Vec<Case> {
    let kinds: Vec<PeerKind> = kinds
        .iter()
        .copied()
        .filter(|k| scenario.peers.is_empty() || scenario.peers.contains(k))
        .collect();
    let mut cases = Vec::new();
    for &offerer in &kinds {
        for &answerer in &kinds {
            cases.push(Case {
                scenario: scenario.clone(),
                offerer,
                answerer,
                repetition: None,
            });
        }
    }
    cases
}

/// Which cases of the expanded scenarios a run executes (`--scenario`, `--peers`, `--pairing`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Scenario names or `*`/`?` globs; empty: every scenario.
    pub scenarios: Vec<String>,
    /// Peer kinds that may take part; empty: every kind.
    pub peers: Vec<PeerKind>,
    /// Pairings (offerer, answerer; `None`: any kind); empty: every pairing.
    pub pairings: Vec<PairingPattern>,
}

impl Selection {
    /// The cases this selection keeps, in their original order. A scenario pattern that matches
    /// no scenario is an error naming the pattern and the scenarios there are.
    pub fn apply(&self, cases: Vec<Case>) -> Result<Vec<Case>, String> {
        for pattern in &self.scenarios {
            if !cases
                .iter()
                .any(|c| wildcard_match(pattern, &c.scenario.name))
            {
                let mut names: Vec<&str> = cases.iter().map(|c| c.scenario.name.as_str()).collect();
                names.dedup();
                return Err(format!(
                    "no scenario matches `{pattern}` (there are: {})",
                    names.join(", ")
                ));
            }
        }
        Ok(cases
            .into_iter()
            .filter(|c| {
                self.scenarios.is_empty()
                    || self
                        .scenarios
                        .iter()
                        .any(|p| wildcard_match(p, &c.scenario.name))
            })
            .filter(|c| self.peers.is_empty() || c.kinds().iter().all(|k| self.peers.contains(k)))
            .filter(|c| {
                self.pairings.is_empty()
                    || self
                        .pairings
                        .iter()
                        .any(|p| p.matches(c.offerer, c.answerer))
            })
            .collect())
    }
}

/// `offerer:answerer` where either may be `*` (`aiortc:*`: every pairing aiortc offers in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingPattern {
    /// The offering kind; `None`: any.
    pub offerer: Option<PeerKind>,
    /// The answering kind; `None`: any.
    pub answerer: Option<PeerKind>,
}

impl PairingPattern {
    /// Whether the pairing `offerer:answerer` is one of this pattern's.
    pub fn matches(&self, offerer: PeerKind, answerer: PeerKind) -> bool {
        self.offerer.is_none_or(|k| k == offerer) && self.answerer.is_none_or(|k| k == answerer)
    }

    /// The kinds the pattern names.
    pub fn kinds(&self) -> impl Iterator<Item = PeerKind> {
        self.offerer.into_iter().chain(self.answerer)
    }
}

impl From<(PeerKind, PeerKind)> for PairingPattern {
    fn from((offerer, answerer): (PeerKind, PeerKind)) -> Self {
        PairingPattern {
            offerer: Some(offerer),
            answerer: Some(answerer),
        }
    }
}

/// Parses `offerer:answerer`, either of them `*` (`myapp:*`).
pub fn parse_pairing_pattern(text: &str) -> Result<PairingPattern, String> {
    let (offerer, answerer) = text.split_once(':').ok_or_else(|| {
        format!("`{text}` is not `offerer:answerer` (e.g. `firefox:native`, `aiortc:*`)")
    })?;
    let side = |name: &str| match name.trim() {
        "*" => Ok(None),
        name => parse_kind(name).map(Some),
    };
    Ok(PairingPattern {
        offerer: side(offerer)?,
        answerer: side(answerer)?,
    })
}

/// Parses `offerer:answerer` (`firefox:native`).
pub fn parse_pairing(text: &str) -> Result<(PeerKind, PeerKind), String> {
    let (offerer, answerer) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `offerer:answerer` (e.g. `firefox:native`)"))?;
    Ok((parse_kind(offerer)?, parse_kind(answerer)?))
}

/// Parses a peer kind's name: a built-in kind or one in the catalogue of external kinds.
pub fn parse_kind(text: &str) -> Result<PeerKind, String> {
    let unknown = || {
        let kinds: Vec<&str> = catalogue::every_kind().iter().map(|k| k.as_str()).collect();
        format!(
            "unknown peer kind `{text}` (there are: {})",
            kinds.join(", ")
        )
    };
    let kind = PeerKind::named(text).map_err(|_| unknown())?;
    if catalogue::knows(kind) {
        Ok(kind)
    } else {
        Err(unknown())
    }
}

/// The kinds `--peers` names (comma-separated; `all`: every kind there is); none: the core ones.
pub fn parse_kinds(names: &[String]) -> Result<Vec<PeerKind>, String> {
    if names.is_empty() {
        return Ok(PeerKind::CORE.to_vec());
    }
    if names.iter().any(|n| n.trim() == "all") {
        return Ok(catalogue::every_kind());
    }
    let mut kinds = Vec::new();
    for name in names {
        let kind = parse_kind(name)?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Shell-style matching of `*` (any run of characters) and `?` (one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn matches(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(name: &str) -> Arc<Scenario> {
        let text = "[data_channel]\nlabel = \"x\"\n";
        Arc::new(crate::scenario::parse(text, name, Path::new("s.toml")).unwrap())
    }

    #[test]
    fn three_kinds_give_nine_ordered_pairings() {
        let pairings: Vec<String> = expand(&scenario("s"), &PeerKind::CORE)
            .iter()
            .map(Case::pairing)
            .collect();
        assert_eq!(
            pairings,
            [
                "native→native",
                "native→chromium",
                "native→firefox",
                "chromium→native",
                "chromium→chromium",
                "chromium→firefox",
                "firefox→native",
                "firefox→chromium",
                "firefox→firefox",
            ]
        );
    }

    #[test]
    fn a_scenario_naming_its_peers_takes_only_those_of_the_run() {
        let mine = catalogue::parse_peer_command("plan-test-kind=./client").unwrap();
        let mine_kind = mine.kind();
        catalogue::register(mine).unwrap();
        let text = "peers = [\"native\", \"plan-test-kind\"]\n[data_channel]\nlabel = \"x\"\n";
        let named = Arc::new(crate::scenario::parse(text, "s", Path::new("s.toml")).unwrap());
        let core: Vec<String> = expand(&named, &PeerKind::CORE)
            .iter()
            .map(Case::pairing)
            .collect();
        assert_eq!(core, ["native→native"]);
        let wider = expand(&named, &[PeerKind::Native, PeerKind::Chromium, mine_kind]);
        let wider: Vec<String> = wider.iter().map(Case::pairing).collect();
        assert_eq!(
            wider,
            [
                "native→native",
                "native→plan-test-kind",
                "plan-test-kind→native",
                "plan-test-kind→plan-test-kind"
            ]
        );
        assert_eq!(parse_kinds(&[]).unwrap(), PeerKind::CORE);
        let unknown = parse_kinds(&["native".into(), "nosuchstack".into()]).unwrap_err();
        assert!(
            unknown.contains("unknown peer kind `nosuchstack`"),
            "{unknown}"
        );
    }

    #[test]
    fn selection_by_scenario_glob_peers_and_pairing() {
        let mut cases = expand(&scenario("datachannel-echo"), &PeerKind::CORE);
        cases.extend(expand(&scenario("turn-relay-only"), &PeerKind::CORE));
        let names =
            |cases: &[Case]| -> Vec<String> { cases.iter().map(|c| c.to_string()).collect() };

        let only_turn = Selection {
            scenarios: vec!["turn-*".into()],
            ..Default::default()
        };
        assert_eq!(only_turn.apply(cases.clone()).unwrap().len(), 9);

        let peers = Selection {
            peers: vec![PeerKind::Chromium, PeerKind::Native],
            scenarios: vec!["datachannel-echo".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&peers.apply(cases.clone()).unwrap()),
            [
                "datachannel-echo [native→native]",
                "datachannel-echo [native→chromium]",
                "datachannel-echo [chromium→native]",
                "datachannel-echo [chromium→chromium]",
            ]
        );

        let pairing = Selection {
            pairings: vec![parse_pairing("firefox:native").unwrap().into()],
            ..Default::default()
        };
        assert_eq!(
            names(&pairing.apply(cases.clone()).unwrap()),
            [
                "datachannel-echo [firefox→native]",
                "turn-relay-only [firefox→native]"
            ]
        );

        let answering_firefox = Selection {
            pairings: vec![parse_pairing_pattern("*:firefox").unwrap()],
            scenarios: vec!["datachannel-echo".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&answering_firefox.apply(cases.clone()).unwrap()),
            [
                "datachannel-echo [native→firefox]",
                "datachannel-echo [chromium→firefox]",
                "datachannel-echo [firefox→firefox]"
            ]
        );
        assert!(
            parse_pairing_pattern("*:safari")
                .unwrap_err()
                .contains("safari")
        );

        let typo = Selection {
            scenarios: vec!["datachanel-*".into()],
            ..Default::default()
        };
        let err = typo.apply(cases).unwrap_err();
        assert!(err.contains("no scenario matches `datachanel-*`"), "{err}");
        assert!(err.contains("datachannel-echo, turn-relay-only"), "{err}");
    }

    #[test]
    fn pairings_and_kinds_parse_with_clear_errors() {
        assert_eq!(
            parse_pairing("chromium:native").unwrap(),
            (PeerKind::Chromium, PeerKind::Native)
        );
        assert!(
            parse_pairing("chromium")
                .unwrap_err()
                .contains("offerer:answerer")
        );
        assert!(
            parse_kind("safari")
                .unwrap_err()
                .contains("native, chromium, firefox")
        );
        assert!(wildcard_match("*-echo", "datachannel-echo"));
        assert!(wildcard_match("d?tachannel-*", "datachannel-echo"));
        assert!(!wildcard_match("echo", "datachannel-echo"));
    }
}
