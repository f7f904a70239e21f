//! When a case's outcome is decided before its time limit: waiting any longer could not change
//! what the peers observe, so the case ends at once instead of waiting out its limit.

use crate::observe::Observations;
use crate::plan::Case;
use crate::scenario::StepKind;

/// How long a side's gathering must have been `complete` with no candidate before that counts:
/// a stack may report the state a moment before its last candidate.
const SETTLE_MS: f64 = 1000.0;

/// Why neither side can connect any more, or `None` while it still can.
///
/// A side that finished gathering without a single candidate has nothing to pair, on its own
/// side or the other's (a relay-only policy with no TURN server it can use, say). Only an ICE
/// restart gathers anew, so this holds when no `restart_ice` step is left to play.
pub fn cannot_connect(
    case: &Case,
    offerer: &Observations,
    answerer: &Observations,
    now_ms: f64,
) -> Option<String> {
    let empty_handed = |role: &str, kind, obs: &Observations| {
        let complete = obs.ice_gathering_states.last()?;
        (complete.state == "complete"
            && now_ms - complete.at_ms >= SETTLE_MS
            && obs.local_candidates.is_empty())
        .then(|| {
            format!(
                "{role} ({kind}) finished gathering without a single candidate, so no candidate \
                 pair can form, and no ICE restart is left to gather anew"
            )
        })
    };
    let why = empty_handed("offerer", case.offerer, offerer)
        .or_else(|| empty_handed("answerer", case.answerer, answerer))?;
    // Read every poll, so the plan's steps are only looked at once a side came up empty-handed.
    let restart_left = case
        .scenario
        .steps()
        .iter()
        .enumerate()
        .any(|(index, step)| {
            step.kind == StepKind::RestartIce && !ended(offerer, index) && !ended(answerer, index)
        });
    (!restart_left).then_some(why)
}

fn ended(obs: &Observations, index: usize) -> bool {
    obs.steps
        .iter()
        .any(|s| s.index == index && s.ended_at_ms.is_some())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::observe::{StepLog, Transition};
    use crate::scenario::{self, PeerKind};

    fn case(steps: &str) -> Case {
        let text = format!("name = \"x\"\ntime_limit_secs = 12\n{steps}");
        let scenario = scenario::parse(&text, "x", "x.toml".as_ref()).unwrap();
        Case {
            scenario: Arc::new(scenario),
            offerer: PeerKind::Native,
            answerer: PeerKind::Chromium,
            repetition: None,
        }
    }

    fn gathered(candidates: usize, complete_at_ms: Option<f64>) -> Observations {
        let mut obs = Observations::default();
        obs.ice_gathering_states.push(Transition {
            state: "gathering".into(),
            at_ms: 0.0,
        });
        if let Some(at_ms) = complete_at_ms {
            obs.ice_gathering_states.push(Transition {
                state: "complete".into(),
                at_ms,
            });
        }
        obs.local_candidates = (0..candidates)
            .map(|i| format!("candidate:{i} 1 udp 1 10.0.0.1 {} typ host", 5000 + i))
            .collect();
        obs
    }

    const CHANNEL: &str = "[data_channel]\nlabel = \"echo\"\n";

    #[test]
    fn a_side_that_gathered_nothing_decides_the_case_once_that_settled() {
        let case = case(CHANNEL);
        let nothing = gathered(0, Some(100.0));
        let some = gathered(2, Some(100.0));
        let why = cannot_connect(&case, &nothing, &some, 1100.0).unwrap();
        assert!(why.starts_with("offerer (native) finished gathering without a single candidate"));
        let why = cannot_connect(&case, &some, &nothing, 1100.0).unwrap();
        assert!(why.starts_with("answerer (chromium)"), "{why}");
        // Not yet settled, still gathering, or candidates on both sides: undecided.
        assert_eq!(cannot_connect(&case, &nothing, &some, 900.0), None);
        assert_eq!(
            cannot_connect(&case, &gathered(0, None), &some, 5000.0),
            None
        );
        assert_eq!(cannot_connect(&case, &some, &some, 5000.0), None);
    }

    #[test]
    fn an_ice_restart_left_to_play_may_still_gather() {
        let case = case(
            "[[steps]]\ndo = \"open_channel\"\nlabel = \"a\"\n[[steps]]\ndo = \"negotiate\"\n\
             [[steps]]\ndo = \"restart_ice\"\nby = \"offerer\"\n",
        );
        let mut nothing = gathered(0, Some(100.0));
        let some = gathered(2, Some(100.0));
        assert_eq!(cannot_connect(&case, &nothing, &some, 5000.0), None);
        // Once the restart has been played on a side, nothing is left to gather anew.
        nothing.steps.push(StepLog {
            index: 2,
            kind: "restart_ice".into(),
            by: "offerer".into(),
            acted: true,
            started_at_ms: 200.0,
            ended_at_ms: Some(300.0),
            ..Default::default()
        });
        assert!(cannot_connect(&case, &nothing, &some, 5000.0).is_some());
    }
}
