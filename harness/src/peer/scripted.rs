//! A scripted peer: it plays back observations programmed in advance, each shown from a given
//! time after it started. With two of them the runner, the verdicts, known failures and every
//! report format can be exercised in milliseconds, without a browser, a socket or webrtc-rs.

use std::time::Duration;

use tokio::time::Instant;

use super::{Peer, PeerError, PeerPlan};
use crate::clock::epoch_ms;
use crate::observe::{Observations, StepLog, Transition};
use crate::scenario::PeerKind;

/// A peer whose observations are a script.
pub struct ScriptedPeer {
    kind: PeerKind,
    /// What it shows from when on (after `start`), in order.
    script: Vec<(Duration, Observations)>,
    start_error: Option<String>,
    started: Option<Instant>,
}

impl ScriptedPeer {
    /// A peer of `kind` that shows nothing until told otherwise.
    pub fn new(kind: PeerKind) -> Self {
        Self {
            kind,
            script: Vec::new(),
            start_error: None,
            started: None,
        }
    }

    /// From `after` its start on, the peer shows `observations`.
    pub fn then(mut self, after: Duration, observations: Observations) -> Self {
        self.script.push((after, observations));
        self
    }

    /// The peer cannot start, for `reason`.
    pub fn failing_to_start(kind: PeerKind, reason: &str) -> Self {
        Self {
            start_error: Some(reason.to_string()),
            ..Self::new(kind)
        }
    }
}

#[async_trait::async_trait]
impl Peer for ScriptedPeer {
    fn kind(&self) -> PeerKind {
        self.kind
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        if let Some(reason) = &self.start_error {
            return Err(PeerError::new(
                format!("{} {}", self.kind, plan.role.as_str()),
                reason.clone(),
            ));
        }
        self.started = Some(Instant::now());
        Ok(())
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        let elapsed = self.started.map_or(Duration::ZERO, |t| t.elapsed());
        Ok(self
            .script
            .iter()
            .rev()
            .find(|(after, _)| *after <= elapsed)
            .map(|(_, observations)| observations.clone())
            .unwrap_or_default())
    }

    async fn close(&mut self) {}
}

/// What a side that connected over host candidates and did every one of `steps` (`(do, by,
/// acted)`) looks like, stamped from now: the usual states, a candidate each way, one channel
/// whose probe came back, finished.
pub fn connected_side(steps: &[(&str, &str, bool)]) -> Observations {
    let now = epoch_ms();
    let states = |list: &[&str]| -> Vec<Transition> {
        list.iter()
            .enumerate()
            .map(|(i, state)| Transition {
                state: state.to_string(),
                at_ms: now + 10.0 * i as f64,
            })
            .collect()
    };
    Observations {
        ice_connection_states: states(&["new", "checking", "connected"]),
        connection_states: states(&["new", "connecting", "connected"]),
        ice_gathering_states: states(&["new", "gathering", "complete"]),
        signaling_states: states(&["stable", "have-local-offer", "stable"]),
        local_candidates: vec!["candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host".into()],
        remote_candidates: vec!["candidate:2 1 udp 2130706431 192.0.2.2 50001 typ host".into()],
        remote_candidates_complete: true,
        selected_pair: Some(crate::observe::SelectedPair {
            local: host_end(50000),
            remote: host_end(50001),
        }),
        channels: vec![crate::observe::DataChannelLog {
            label: "echo".into(),
            opened_at_ms: Some(now + 30.0),
            echo: Some(crate::observe::EchoLog {
                sent: "probe".into(),
                sent_at_ms: now + 30.0,
                received: Some("probe".into()),
                received_at_ms: Some(now + 31.0),
            }),
            messages_sent: 1,
            echoes_matched: 1,
            ..Default::default()
        }],
        steps: steps
            .iter()
            .enumerate()
            .map(|(index, (kind, by, acted))| StepLog {
                index,
                kind: kind.to_string(),
                by: by.to_string(),
                acted: *acted,
                started_at_ms: now + index as f64,
                ended_at_ms: Some(now + index as f64 + 1.0),
                ..Default::default()
            })
            .collect(),
        negotiations: 1,
        offer_created_at_ms: Some(now),
        finished: true,
        ..Default::default()
    }
}

fn host_end(port: u16) -> crate::observe::PairEnd {
    crate::observe::PairEnd {
        kind: "host".into(),
        protocol: "udp".into(),
        address: "192.0.2.2".into(),
        port,
        relay_protocol: None,
    }
}
