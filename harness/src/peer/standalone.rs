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

/// How long past its steps' own limits the plan may run before this peer gives up by itself
/// (a harness stops it sooner, with SIGTERM).
const PLAN_BACKSTOP: Duration = Duration::from_secs(5);
/// How long a finished peer stays up for the other side (its last echoes, its `bye`), unless
/// SIGTERM or the other side's `bye` ends it sooner.
const LINGER: Duration = Duration::from_secs(5);

/// Plays `plan` the way an external peer does (`docs/external-peers.md`): the native peer as a
/// program of the contract, reporting into `observations_path` as it goes. Once finished it stays
/// up a while for the other side, still reporting; SIGTERM ends it at any point. The tear-down at
/// the end is not reported: the harness judges the connection as it was while the case ran.
pub async fn play_plan(
    plan: &PeerPlan,
    profile: NativeProfile,
    observations_path: &std::path::Path,
) -> Result<Observations, PeerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| PeerError::new("native", format!("cannot watch SIGTERM: {e}")))?;
    let steps_time: f64 = plan.steps.iter().filter_map(|s| s.within_secs).sum();
    let mut deadline = tokio::time::Instant::now()
        + Duration::from_secs_f64(steps_time.clamp(0.0, 3600.0))
        + PLAN_BACKSTOP;
    let mut peer = NativePeer::new(profile);
    peer.start(plan).await?;
    let mut written = Observations::default();
    let mut lingering = false;
    loop {
        let mut observations = peer.observations().await?;
        let out_of_time = tokio::time::Instant::now() >= deadline;
        if out_of_time && !observations.finished {
            observations.finished = true;
            observations
                .errors
                .push("the plan's time ran out before every step was done".into());
        }
        if observations != written {
            write_report(observations_path, &observations)?;
            written = observations.clone();
        }
        if observations.finished && !lingering {
            lingering = true;
            deadline = tokio::time::Instant::now() + LINGER;
        }
        if out_of_time || (lingering && observations.bye_received_at_ms.is_some()) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = terminate.recv() => {
                if !written.finished {
                    written.finished = true;
                    write_report(observations_path, &written)?;
                }
                break;
            }
        }
    }
    peer.close().await;
    Ok(written)
}

/// Writes `observations` as JSON to `path` through a temporary file renamed over it, so a reader
/// never sees half a report.
fn write_report(path: &std::path::Path, observations: &Observations) -> Result<(), PeerError> {
    let fail = |e: std::io::Error| {
        PeerError::new("native", format!("cannot write {}: {e}", path.display()))
    };
    let partial = path.with_extension("json.partial");
    let json = serde_json::to_vec_pretty(observations).expect("observations serialize");
    std::fs::write(&partial, json).map_err(fail)?;
    std::fs::rename(&partial, path).map_err(fail)
}
