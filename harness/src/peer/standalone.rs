//! A native peer on its own, for `rtc-interop peer native`: it joins any signaling server that
//! speaks the documented protocol, plays its role, echoes on a data channel, and returns what it
//! observed, so users can test their own web app against webrtc-rs by hand.

use std::time::Duration;

use serde::Serialize;

use super::native::NativePeer;
use super::{Peer, PeerError, PeerPlan, Role};
use crate::observe::{Candidate, Observations, parse_candidate};
use crate::scenario::steps::default_steps;
use crate::scenario::{DataChannelSpec, IceMode, IceTransportPolicy, NativeProfile};

/// How often the observations are read while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long past the time limit the peer may take to report its own failed step.
const BACKSTOP_GRACE: Duration = Duration::from_secs(2);

/// What the standalone peer saw, as printed.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// `offerer` or `answerer`.
    pub role: Role,
    /// The signaling URL it joined.
    pub signal_url: String,
    /// Whether it reached `connected`.
    pub connected: bool,
    /// Whether it did everything it was asked within the time limit: as offerer, its probe came
    /// back; as answerer, a message arrived on the channel and was echoed.
    pub completed: bool,
    /// Local and remote candidates, parsed.
    pub local_candidates: Vec<Candidate>,
    /// Candidates received from the other side, parsed.
    pub remote_candidates: Vec<Candidate>,
    /// Everything it recorded: states with times, candidates as sent, the selected pair, the data
    /// channel and echo, its SDP, errors.
    pub observations: Observations,
}

/// Joins `signal_url` as `role` and plays today's flow on a channel labelled `label` (the offerer
/// opens it, sends one message and waits for it to come back; the answerer waits for one message
/// on it and sends it back), or until `timeout` passes.
pub async fn play(
    signal_url: &str,
    role: Role,
    profile: NativeProfile,
    label: &str,
    timeout: Duration,
) -> Result<Outcome, PeerError> {
    let plan = PeerPlan {
        id: format!("native-{}", std::process::id()),
        role,
        signal_url: signal_url.to_string(),
        ice_transport_policy: IceTransportPolicy::All,
        // Host candidates only: this peer is for a machine's own network, without STUN/TURN.
        ice_servers: Vec::new(),
        // Today's flow: the offerer opens this channel and probes the echo; the answerer waits
        // for one message on it and echoes it.
        steps: default_steps(&DataChannelSpec {
            label: label.to_string(),
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: String::new(),
        })
        .into_iter()
        .map(|mut step| {
            step.within_secs = Some(timeout.as_secs_f64());
            step
        })
        .collect(),
        echo_message: format!("rtc-interop echo probe from {}", std::process::id()),
        ice_mode: IceMode::Trickle,
        perfect_negotiation: false,
        media: Vec::new(),
    };
    let mut peer = NativePeer::new(profile);
    peer.start(&plan).await?;
    // Each step has `timeout` of its own, from when the peer reaches it: the steps say why they
    // stopped, and this is only the backstop.
    let deadline = tokio::time::Instant::now() + timeout + BACKSTOP_GRACE;
    let mut observations = peer.observations().await?;
    while !observations.finished && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL_INTERVAL).await;
        observations = peer.observations().await?;
    }
    peer.close().await;
    // Judged on what was reached: the other side may hang up first.
    let connected = observations
        .connection_states
        .iter()
        .any(|t| t.state == "connected");
    let steps_done = observations.steps.len() == plan.steps.len()
        && observations
            .steps
            .iter()
            .all(|s| s.ended_at_ms.is_some() && s.error.is_none());
    let parse = |list: &[String]| {
        list.iter()
            .filter_map(|c| parse_candidate(c).ok())
            .collect()
    };
    Ok(Outcome {
        role,
        signal_url: signal_url.to_string(),
        connected,
        completed: connected && steps_done,
        local_candidates: parse(&observations.local_candidates),
        remote_candidates: parse(&observations.remote_candidates),
        observations,
    })
}
