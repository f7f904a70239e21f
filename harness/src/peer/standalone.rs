//! A native peer on its own, for `rtc-interop peer native`: it joins any signaling server that
//! speaks the documented protocol, plays its role, echoes on a data channel, and returns what it
//! observed, so users can test their own web app against webrtc-rs by hand.

use std::time::Duration;

use serde::Serialize;

use super::native::NativePeer;
use super::{Peer, PeerError, PeerPlan, Role};
use crate::observe::{Candidate, Observations, parse_candidate};
use crate::scenario::{DataChannelSpec, IceTransportPolicy, NativeProfile};

/// How often the observations are read while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What the standalone peer saw, as printed.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// `offerer` or `answerer`.
    pub role: Role,
    /// The signaling URL it joined.
    pub signal_url: String,
    /// Whether it connected (and, as offerer, got its echo back) within the time limit.
    pub connected: bool,
    /// Local and remote candidates, parsed.
    pub local_candidates: Vec<Candidate>,
    /// Candidates received from the other side, parsed.
    pub remote_candidates: Vec<Candidate>,
    /// Everything it recorded: states with times, candidates as sent, the selected pair, the data
    /// channel and echo, its SDP, errors.
    pub observations: Observations,
}

/// Joins `signal_url` as `role` and plays until connected and a message was echoed (the offerer
/// sends one and waits for it to come back; the answerer waits for one to send back), or until
/// `timeout` passes.
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
        // The offerer opens this channel; the answerer waits for a channel and echoes on it.
        data_channel: Some(DataChannelSpec {
            label: label.to_string(),
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: String::new(),
        }),
        echo_message: format!("rtc-interop echo probe from {}", std::process::id()),
    };
    let mut peer = NativePeer::new(profile);
    peer.start(&plan).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut observations = peer.observations().await?;
    while !observations.finished && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL_INTERVAL).await;
        observations = peer.observations().await?;
    }
    peer.close().await;
    let echoed = observations
        .data_channel
        .as_ref()
        .and_then(|d| d.echo.as_ref())
        .is_some_and(|e| e.received.as_deref() == Some(e.sent.as_str()));
    // Judged on what was reached: the other side may hang up first.
    let reached_connected = observations
        .connection_states
        .iter()
        .any(|t| t.state == "connected");
    let connected = reached_connected && (role == Role::Answerer || echoed);
    let parse = |list: &[String]| {
        list.iter()
            .filter_map(|c| parse_candidate(c).ok())
            .collect()
    };
    Ok(Outcome {
        role,
        signal_url: signal_url.to_string(),
        connected,
        local_candidates: parse(&observations.local_candidates),
        remote_candidates: parse(&observations.remote_candidates),
        observations,
    })
}
