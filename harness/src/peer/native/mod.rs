//! The native peer: an RTCPeerConnection from the `webrtc` crate (webrtc-rs), in this process,
//! talking to the relay as a WebSocket client and executing the case's steps (see
//! `scenario::steps` for what each step does on either side).
//!
//! Three tasks share one `PeerState`: the *reader* handles every frame from the relay as it
//! arrives (offers, answers, candidates, `bye`), the *writer* puts messages on the wire, and the
//! *plan* walks the steps, waiting on what the others record. Everything that changes the
//! descriptions goes through one lock (`Negotiation`), so an offer arriving while this side makes
//! its own (glare) is handled after it, against the state it left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidate, RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSdpType,
    RTCSessionDescription, RTCSignalingState, SettingEngine, SettingEngineBuilder,
};

mod media;

use super::{Peer, PeerError, PeerPlan, Role};
use crate::clock::epoch_ms;
use crate::observe::{
    DataChannelLog, Description, EchoLog, Observations, PairEnd, SelectedPair, StepLog, Transition,
    candidates_in_description, description_ends_candidates, ice_ufrag, max_message_size,
    media_shortfall,
};
use crate::scenario::steps::{self, Payload, WaitTarget};
use crate::scenario::{
    Actor, IceMode, IceTransportPolicy, NativeProfile, PeerKind, Step, StepKind,
};
use crate::signaling::SignalMessage;

/// How long joining the relay may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer that has done its part waits for the other side's end-of-candidates, so that the
/// candidates it reports are all the other side sent.
pub const END_OF_CANDIDATES_GRACE: Duration = Duration::from_secs(2);
/// How long closing the connection may take before it is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an answer may wait for gathering to complete (vanilla ICE) before it goes out anyway.
const VANILLA_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a step may overrun its own limit (its waits are bounded by it) before it is abandoned.
const STEP_OVERRUN: Duration = Duration::from_secs(5);

/// A webrtc-rs peer.
pub struct NativePeer {
    profile: NativeProfile,
    state: Arc<PeerState>,
    connection: Option<Arc<dyn PeerConnection>>,
    tasks: Vec<JoinHandle<()>>,
    outbox: Option<mpsc::UnboundedSender<Outgoing>>,
    id: String,
}

impl NativePeer {
    /// A native peer using the given settings profile.
    pub fn new(profile: NativeProfile) -> Self {
        Self {
            profile,
            state: Arc::default(),
            connection: None,
            tasks: Vec::new(),
            outbox: None,
            id: String::new(),
        }
    }
}

/// The webrtc-rs settings behind each profile.
pub fn setting_engine(profile: NativeProfile) -> SettingEngine {
    match profile {
        NativeProfile::Default => SettingEngine::default(),
        // Where the default set-up time goes (measured, see docs/native-latency.md): ICE nominates
        // and DTLS starts only on a 200 ms ICE tick; a peer-reflexive pair (checks arriving before
        // the trickled candidates, the usual case through a relay) waits 1 s before nomination; and
        // the SCTP INIT and DCEP OPEN queued while handling events wait for the next tick, which
        // after connecting is min(200 ms, keepalive).
        NativeProfile::Fast => SettingEngineBuilder::default()
            // Check every 5 ms; 300 attempts keep a pair alive ~1.5 s (the default 7 would give up
            // after ~40 ms, too soon for a busy browser).
            .with_ice_connection_attempts(Some(Duration::from_millis(5)), Some(300))
            // `None` means "default" here, so zero waits must be spelled out.
            .with_host_acceptance_min_wait(Some(Duration::ZERO))
            .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_relay_acceptance_min_wait(Some(Duration::ZERO))
            // A 10 ms keepalive is the tick that flushes the queued SCTP INIT and DCEP OPEN.
            .with_ice_timeouts(None, None, Some(Duration::from_millis(10)))
            .build(),
    }
}

#[async_trait::async_trait]
impl Peer for NativePeer {
    fn kind(&self) -> PeerKind {
        PeerKind::Native
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.id = plan.id.clone();
        let fail =
            |reason: String| PeerError::new(format!("native {}", plan.role.as_str()), reason);

        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            // No Nagle: an offer and its first candidates go out back to back (see relay.rs).
            tokio_tungstenite::connect_async_with_config(plan.signal_url.as_str(), None, true),
        )
        .await
        .map_err(|_| {
            fail(format!(
                "joining the relay at {} timed out",
                plan.signal_url
            ))
        })?
        .map_err(|e| fail(format!("cannot join the relay at {}: {e}", plan.signal_url)))?;

        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            state: self.state.clone(),
            outbox: outbox.clone(),
            id: plan.id.clone(),
            ice_mode: plan.ice_mode,
        });
        let policy = match plan.ice_transport_policy {
            IceTransportPolicy::All => RTCIceTransportPolicy::All,
            IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
        };
        let config = RTCConfigurationBuilder::new()
            .with_ice_transport_policy(policy)
            .with_ice_servers(plan.ice_servers.iter().map(Into::into).collect())
            .build();
        self.state.update(|obs| {
            // webrtc-rs has no state getters; its constructor starts every state machine afresh.
            let now = epoch_ms();
            for (states, initial) in [
                (&mut obs.ice_connection_states, "new"),
                (&mut obs.connection_states, "new"),
                (&mut obs.ice_gathering_states, "new"),
                (&mut obs.signaling_states, "stable"),
            ] {
                states.push(Transition {
                    state: initial.into(),
                    at_ms: now,
                });
            }
        });
        let own_tracks: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::AddTrack && acts(s, plan.role))
            .collect();
        let (media_engine, interceptors) = media::media_engine(&own_tracks).map_err(fail)?;
        let connection = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(media_engine)
            .with_interceptor_registry(interceptors)
            .with_setting_engine(setting_engine(self.profile))
            .with_handler(handler)
            .with_udp_addrs(udp_bind_addrs())
            .build()
            .await
            .map_err(|e| fail(format!("cannot create the RTCPeerConnection: {e}")))?;
        let connection: Arc<dyn PeerConnection> = Arc::new(connection);

        let session = Arc::new(Session {
            plan: plan.clone(),
            connection: connection.clone(),
            state: self.state.clone(),
            outbox: outbox.clone(),
            negotiation: tokio::sync::Mutex::default(),
            channels: Mutex::default(),
            rounds_refused: Mutex::default(),
        });
        *self.state.session.lock().unwrap() = Some(Arc::downgrade(&session));
        let _ = outbox.send(Outgoing::Signal(SignalMessage::Hello {
            m: plan.id.clone(),
        }));
        let (sink, frames) = ws.split();
        self.tasks = vec![
            tokio::spawn(write_frames(sink, outbox_rx, self.state.clone())),
            tokio::spawn(session.clone().read_frames(frames)),
            tokio::spawn(session.run_plan()),
        ];
        self.connection = Some(connection);
        self.outbox = Some(outbox);
        Ok(())
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        Ok(self.state.read(Observations::clone))
    }

    async fn close(&mut self) {
        let hung_up = self
            .state
            .read(|o| o.final_connection_state() == Some("closed"));
        if let Some(outbox) = self.outbox.take()
            && !hung_up
        {
            let _ = outbox.send(Outgoing::Signal(SignalMessage::Bye { m: self.id.clone() }));
            let _ = outbox.send(Outgoing::Close);
            // Give the writer a moment to put `bye` on the wire before it is stopped.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(connection) = self.connection.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close()).await;
        }
        self.stop_tasks();
    }
}

impl NativePeer {
    /// Stops the relay, plan and media tasks.
    fn stop_tasks(&mut self) {
        let media = std::mem::take(&mut *self.state.media_tasks.lock().unwrap());
        for task in self.tasks.drain(..).chain(media) {
            task.abort();
        }
    }
}

impl Drop for NativePeer {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}

/// Whether the side in `role` acts in `step` (else it plays the counterpart).
/// Where the peer's UDP sockets bind: each lasting address of this thread's network namespace
/// ([`crate::net::addrs::peer_bind_ips`]), or every interface when there is none.
fn udp_bind_addrs() -> Vec<String> {
    let ips = crate::net::addrs::peer_bind_ips();
    if ips.is_empty() {
        return vec!["0.0.0.0:0".to_string()];
    }
    ips.into_iter()
        .map(|ip| std::net::SocketAddr::new(ip, 0).to_string())
        .collect()
}

fn acts(step: &Step, role: Role) -> bool {
    match step.by {
        Actor::Both => true,
        Actor::Offerer => role == Role::Offerer,
        Actor::Answerer => role == Role::Answerer,
    }
}

/// What the peer's tasks share: its observations, a wake-up for everyone waiting on them, and why
/// the plan cannot go on (the other side hung up, the relay went away).
#[derive(Default)]
struct PeerState {
    observations: Mutex<Observations>,
    changed: Notify,
    gone: Mutex<Option<String>>,
    /// The session, for the handler's `on_data_channel` (weak: the session owns the connection,
    /// whose handler owns this state).
    session: Mutex<Option<std::sync::Weak<Session>>>,
    /// Media senders, receivers and the sampler: stopped with the peer.
    media_tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The media sampler has been started.
    sampling: Mutex<bool>,
}

impl PeerState {
    /// Changes the observations and wakes everyone waiting on them.
    fn update<R>(&self, change: impl FnOnce(&mut Observations) -> R) -> R {
        let result = change(&mut self.observations.lock().unwrap());
        self.changed.notify_waiters();
        result
    }

    fn read<R>(&self, look: impl FnOnce(&Observations) -> R) -> R {
        look(&self.observations.lock().unwrap())
    }

    fn session(&self) -> Option<Arc<Session>> {
        self.session
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|s| s.upgrade())
    }

    fn error(&self, error: String) {
        self.update(|obs| obs.errors.push(error));
    }

    fn record(&self, pick: fn(&mut Observations) -> &mut Vec<Transition>, state: String) {
        self.update(|obs| {
            pick(obs).push(Transition {
                state,
                at_ms: epoch_ms(),
            })
        });
    }

    /// The plan cannot go on: every wait ends with `reason`.
    fn end(&self, reason: &str) {
        self.gone
            .lock()
            .unwrap()
            .get_or_insert_with(|| reason.to_string());
        self.changed.notify_waiters();
    }

    /// Waits until `ready` finds what it looks for in the observations, at most until `deadline`;
    /// else says why with `describe` (given the last observations).
    async fn wait_until<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&Observations) -> Option<T>,
        describe: impl FnOnce(&Observations) -> String,
    ) -> Result<T, String> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self.read(&mut ready) {
                return Ok(found);
            }
            if let Some(reason) = self.gone.lock().unwrap().clone() {
                return Err(format!("{}; {reason}", self.read(describe)));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.read(&mut ready).ok_or_else(|| self.read(describe));
            }
        }
    }
}

/// Something for the writer to do.
enum Outgoing {
    Signal(SignalMessage),
    /// Close the WebSocket with a close frame.
    Close,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Puts messages on the wire in order until told to close.
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    state: Arc<PeerState>,
) {
    while let Some(outgoing) = outbox.recv().await {
        let sent = match outgoing {
            Outgoing::Signal(message) => sink.send(Message::text(message.to_json())).await,
            Outgoing::Close => {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
                return;
            }
        };
        if let Err(e) = sent {
            state.error(format!("cannot send to the relay: {e}"));
            state.end("the relay connection failed");
            return;
        }
    }
}

/// Receives webrtc-rs events and records them.
struct Handler {
    state: Arc<PeerState>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    id: String,
    ice_mode: IceMode,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = match event.candidate.to_json() {
            Ok(init) => init,
            Err(e) => {
                self.state
                    .error(format!("cannot serialize a local candidate: {e}"));
                return;
            }
        };
        self.state
            .update(|obs| obs.local_candidates.push(init.candidate.clone()));
        if self.ice_mode == IceMode::Trickle {
            let _ = self.outbox.send(Outgoing::Signal(SignalMessage::Candidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                m: self.id.clone(),
            }));
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.state
            .record(|o| &mut o.ice_connection_states, state.to_string());
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.state
            .record(|o| &mut o.ice_gathering_states, state.to_string());
        if state == RTCIceGatheringState::Complete && self.ice_mode == IceMode::Trickle {
            let _ = self
                .outbox
                .send(Outgoing::Signal(SignalMessage::end_of_candidates(&self.id)));
        }
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.state
            .record(|o| &mut o.signaling_states, state.to_string());
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state
            .record(|o| &mut o.connection_states, state.to_string());
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(session) = self.state.session() {
            let task = tokio::spawn(session.receive_track(track));
            self.state.media_tasks.lock().unwrap().push(task);
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        if let Some(session) = self.state.session() {
            let label = channel.label().await.unwrap_or_default();
            // Announced by the other side: this side echoes what arrives on it.
            session.adopt_channel(label, channel, true, None);
        }
    }
}

/// The description state this side is in, as its own calls left it (webrtc-rs has no getter, and
/// its events arrive later than the calls return).
#[derive(Default)]
struct Negotiation {
    /// Candidates that arrived before a remote description they could be added to.
    pending_candidates: Vec<RTCIceCandidateInit>,
    remote_description_set: bool,
    /// An offer of ours awaits its answer (`have-local-offer`).
    offer_pending: bool,
    /// Perfect negotiation: the last offer was a collision this impolite side ignored.
    ignoring_offer: bool,
    /// The other side's ICE ufrag, from its last description.
    remote_ufrag: Option<String>,
    /// Candidates gathered and received when the current offer/answer round began.
    round_baseline: (usize, usize),
}

/// A data channel and what this side still expects back on it.
struct ChannelHandle {
    channel: Arc<dyn DataChannel>,
    /// Messages sent here that have not come back yet (the other side echoes them).
    awaiting_echo: Vec<Payload>,
    /// Messages sent here larger than this side advertises: the echoer may not send them back.
    too_big_to_come_back: u32,
}

/// Plays the signaling protocol and the plan.
struct Session {
    plan: PeerPlan,
    connection: Arc<dyn PeerConnection>,
    state: Arc<PeerState>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    negotiation: tokio::sync::Mutex<Negotiation>,
    channels: Mutex<HashMap<String, ChannelHandle>>,
    /// Rounds whose offer (of the other side's) this side failed to answer: the other side offers
    /// a round only once, so a step waiting for such a round can stop waiting.
    rounds_refused: Mutex<std::collections::BTreeSet<u32>>,
}

impl Session {
    fn send(&self, message: SignalMessage) {
        let _ = self.outbox.send(Outgoing::Signal(message));
    }

    // ---- The reader: everything the other side sends, handled as it arrives. ----

    async fn read_frames(self: Arc<Self>, mut frames: futures_util::stream::SplitStream<Socket>) {
        loop {
            match frames.next().await {
                Some(Ok(Message::Text(text))) => self.on_frame(&text).await,
                Some(Ok(Message::Close(_))) | None => {
                    if !self.hung_up() {
                        self.state.error("the relay closed the connection".into());
                        self.state.end("the relay closed the connection");
                    }
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if !self.hung_up() {
                        self.state
                            .error(format!("the relay connection failed: {e}"));
                        self.state.end("the relay connection failed");
                    }
                    return;
                }
            }
        }
    }

    fn hung_up(&self) -> bool {
        self.state
            .read(|o| o.final_connection_state() == Some("closed"))
    }

    async fn on_frame(&self, text: &str) {
        let message = match SignalMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                // The relay's own error frames and foreign message kinds land here.
                self.state.error(format!("ignored a frame: {e}: {text}"));
                return;
            }
        };
        if message.sender() == self.plan.id {
            return;
        }
        let result = match message {
            SignalMessage::Hello { m } => {
                self.on_hello(m);
                Ok(())
            }
            SignalMessage::Offer { sdp, .. } => self.on_offer(sdp).await,
            SignalMessage::Answer { sdp, .. } => self.on_answer(sdp).await,
            SignalMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                ..
            } => {
                self.on_candidate(RTCIceCandidateInit {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    ..Default::default()
                })
                .await;
                Ok(())
            }
            SignalMessage::Bye { .. } => {
                self.on_bye().await;
                Ok(())
            }
        };
        if let Err(e) = result {
            self.state.error(e);
        }
    }

    fn on_hello(&self, sender: String) {
        let new = self.state.update(|obs| {
            let new = obs.remote_id.is_none();
            obs.remote_id.get_or_insert(sender);
            new
        });
        if new {
            // Whoever joined first learns of us too.
            self.send(SignalMessage::Hello {
                m: self.plan.id.clone(),
            });
        }
    }

    /// An offer that arrives while this side is still adding the tracks (and channels) that come
    /// before the round it completes waits for them: answered at once, it would leave them out
    /// (a browser's getUserMedia takes a while; see `scenario::steps`).
    async fn ready_for_offer(&self) {
        let steps = &self.plan.steps;
        let (done, current) = self
            .state
            .read(|o| (o.negotiations as usize, o.steps.len().saturating_sub(1)));
        let Some(target) = (0..steps.len())
            .filter(|&i| steps[i].kind.is_round())
            .nth(done)
        else {
            return;
        };
        if current >= target {
            return;
        }
        let before = &steps[current..target];
        let adds_tracks = before.iter().any(|s| s.kind == StepKind::AddTrack);
        let only_set_up = before
            .iter()
            .all(|s| matches!(s.kind, StepKind::AddTrack | StepKind::OpenChannel));
        if adds_tracks && only_set_up {
            let longest = steps
                .iter()
                .filter_map(|s| s.within_secs)
                .fold(0.0, f64::max);
            let deadline = Instant::now() + Duration::from_secs_f64(longest);
            let _ = self
                .state
                .wait_until(
                    deadline,
                    |o| (o.steps.len() > target).then_some(()),
                    |_| String::new(),
                )
                .await;
        }
    }

    async fn on_offer(&self, sdp: String) -> Result<(), String> {
        let round = self.state.read(|o| o.negotiations) + 1;
        let answered = self.answer_offer(sdp).await;
        if answered.is_err() && self.state.read(|o| o.negotiations) < round {
            self.rounds_refused.lock().unwrap().insert(round);
        }
        answered
    }

    async fn answer_offer(&self, sdp: String) -> Result<(), String> {
        self.ready_for_offer().await;
        let mut negotiation = self.negotiation.lock().await;
        if negotiation.offer_pending && self.plan.perfect_negotiation {
            if self.plan.role == Role::Offerer {
                // Impolite: our offer stands; theirs is dropped (and so are its candidates).
                negotiation.ignoring_offer = true;
                self.state.update(|obs| {
                    obs.console.push(
                        "ignored a colliding offer (impolite side of perfect negotiation)".into(),
                    )
                });
                return Ok(());
            }
            // Polite: withdraw our offer and answer theirs.
            self.connection
                .set_local_description(
                    RTCSessionDescription::rollback(None)
                        .map_err(|e| format!("a rollback description: {e}"))?,
                )
                .await
                .map_err(|e| format!("setLocalDescription(rollback) failed: {e}"))?;
            negotiation.offer_pending = false;
        }
        negotiation.ignoring_offer = false;
        negotiation.round_baseline = self.candidate_counts();
        let offer = RTCSessionDescription::offer(sdp.clone())
            .map_err(|e| format!("the offer does not parse: {e}"))?;
        self.set_remote(&mut negotiation, offer, &sdp).await?;
        let answer = self
            .connection
            .create_answer(None)
            .await
            .map_err(|e| format!("createAnswer failed: {e}"))?;
        let deadline = Instant::now() + VANILLA_ANSWER_TIMEOUT;
        self.set_local(answer, deadline, negotiation.round_baseline)
            .await?;
        self.state.update(|obs| obs.negotiations += 1);
        Ok(())
    }

    async fn on_answer(&self, sdp: String) -> Result<(), String> {
        let mut negotiation = self.negotiation.lock().await;
        let answer = RTCSessionDescription::answer(sdp.clone())
            .map_err(|e| format!("the answer does not parse: {e}"))?;
        self.set_remote(&mut negotiation, answer, &sdp).await?;
        negotiation.offer_pending = false;
        self.state.update(|obs| obs.negotiations += 1);
        Ok(())
    }

    /// Sets the remote description, records the candidates inside it, and adds the candidates
    /// that were waiting for it.
    async fn set_remote(
        &self,
        negotiation: &mut Negotiation,
        description: RTCSessionDescription,
        sdp: &str,
    ) -> Result<(), String> {
        let kind = description.sdp_type.to_string();
        self.connection
            .set_remote_description(description)
            .await
            .map_err(|e| format!("setRemoteDescription({kind}) failed: {e}"))?;
        negotiation.remote_description_set = true;
        let ufrag = ice_ufrag(sdp).map(str::to_string);
        let restarted = negotiation.remote_ufrag.is_some() && negotiation.remote_ufrag != ufrag;
        negotiation.remote_ufrag = ufrag;
        self.state.update(|obs| {
            // New credentials (an ICE restart): a new generation of candidates is coming, so the
            // evidence is complete again only with its end-of-candidates.
            if restarted {
                obs.remote_candidates_complete = false;
                obs.remote_generation_start = obs.remote_candidates.len();
            }
            // A peer that does not trickle hands its candidates over inside its description.
            for candidate in candidates_in_description(sdp) {
                obs.add_remote_candidate(candidate);
            }
            if description_ends_candidates(sdp) {
                obs.remote_candidates_complete = true;
            }
        });
        for candidate in std::mem::take(&mut negotiation.pending_candidates) {
            self.add_candidate(negotiation, candidate).await;
        }
        Ok(())
    }

    async fn on_candidate(&self, candidate: RTCIceCandidateInit) {
        if candidate.candidate.is_empty() {
            // End-of-candidates: nothing to add, but the evidence of this side is now complete.
            self.state
                .update(|obs| obs.remote_candidates_complete = true);
            return;
        }
        let mut negotiation = self.negotiation.lock().await;
        if negotiation.remote_description_set {
            self.add_candidate(&negotiation, candidate).await;
        } else {
            // Trickled candidates may overtake the description they belong to.
            negotiation.pending_candidates.push(candidate);
        }
    }

    /// Adds one remote candidate. One that fails is recorded and skipped: the others still count.
    async fn add_candidate(&self, negotiation: &Negotiation, candidate: RTCIceCandidateInit) {
        let text = candidate.candidate.clone();
        match self.connection.add_ice_candidate(candidate).await {
            Ok(()) => self.state.update(|obs| obs.add_remote_candidate(text)),
            // Candidates of an offer this side ignored (perfect negotiation) cannot be added.
            Err(_) if negotiation.ignoring_offer => {}
            Err(e) => self
                .state
                .error(format!("addIceCandidate({text}) failed: {e}")),
        }
    }

    async fn on_bye(&self) {
        self.hang_up(Some(epoch_ms())).await;
        self.state.end("the other side hung up (`bye`)");
    }

    // ---- Descriptions. ----

    /// Candidates gathered and received so far.
    fn candidate_counts(&self) -> (usize, usize) {
        self.state
            .read(|o| (o.local_candidates.len(), o.remote_candidates.len()))
    }

    /// Sets a local description and sends it: at once (trickle), or once gathering is complete
    /// with every candidate inside (vanilla, waiting at most until `deadline`). `baseline`: the
    /// candidate counts when its round began.
    async fn set_local(
        &self,
        description: RTCSessionDescription,
        deadline: Instant,
        baseline: (usize, usize),
    ) -> Result<(), String> {
        let kind = description.sdp_type;
        self.connection
            .set_local_description(description.clone())
            .await
            .map_err(|e| format!("setLocalDescription({kind}) failed: {e}"))?;
        let sdp = match self.plan.ice_mode {
            IceMode::Trickle => description.sdp,
            IceMode::Vanilla => {
                self.state
                    .wait_until(
                        deadline,
                        |o| (last_state(&o.ice_gathering_states) == "complete").then_some(()),
                        |o| {
                            format!(
                                "gathering never completed for a vanilla {kind} (last saw {})",
                                last_state(&o.ice_gathering_states)
                            )
                        },
                    )
                    .await?;
                self.connection
                    .local_description()
                    .await
                    .map_or(description.sdp, |d| d.sdp)
            }
        };
        self.state.update(|obs| {
            obs.local_descriptions.push(Description {
                kind: kind.to_string(),
                sdp: sdp.clone(),
                at_ms: epoch_ms(),
                local_candidates_before: Some(baseline.0),
                remote_candidates_before: Some(baseline.1),
            })
        });
        let m = self.plan.id.clone();
        self.send(if kind == RTCSdpType::Offer {
            SignalMessage::Offer { sdp, m }
        } else {
            SignalMessage::Answer { sdp, m }
        });
        Ok(())
    }

    /// This side's offer for round `round`: created, set, sent (the answer is applied by the
    /// reader) — unless the other side's offer, answered while this side waited for the lock,
    /// already completed that round (glare resolved in its favour).
    async fn make_offer(
        &self,
        round: u32,
        ice_restart: bool,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut negotiation = self.negotiation.lock().await;
        if self.state.read(|o| o.negotiations >= round) {
            return Ok(());
        }
        negotiation.round_baseline = self.candidate_counts();
        if ice_restart {
            // The next offer carries new ICE credentials (the W3C `restartIce()`).
            self.connection
                .restart_ice()
                .await
                .map_err(|e| format!("restartIce failed: {e}"))?;
        }
        let offer = self
            .connection
            .create_offer(None)
            .await
            .map_err(|e| format!("createOffer failed: {e}"))?;
        self.state.update(|obs| {
            obs.offer_created_at_ms.get_or_insert(epoch_ms());
        });
        negotiation.offer_pending = true;
        let sent = self
            .set_local(offer, deadline, negotiation.round_baseline)
            .await;
        if sent.is_err() {
            negotiation.offer_pending = false;
        }
        sent
    }

    // ---- Channels. ----

    /// Keeps `channel` under `label` and records what happens on it; `echoes`: this side sends back
    /// what arrives (the other side opened it).
    fn adopt_channel(
        self: &Arc<Self>,
        label: String,
        channel: Arc<dyn DataChannel>,
        echoes: bool,
        id: Option<u16>,
    ) {
        self.state.update(|obs| {
            if obs.channel(&label).is_none() {
                obs.channels.push(DataChannelLog {
                    label: label.clone(),
                    id,
                    echoes,
                    ..Default::default()
                });
            }
        });
        self.channels.lock().unwrap().insert(
            label.clone(),
            ChannelHandle {
                channel: channel.clone(),
                awaiting_echo: Vec::new(),
                too_big_to_come_back: 0,
            },
        );
        tokio::spawn(pump_channel(self.clone(), label, channel, echoes));
    }

    fn channel(&self, label: &str) -> Option<Arc<dyn DataChannel>> {
        self.channels
            .lock()
            .unwrap()
            .get(label)
            .map(|h| h.channel.clone())
    }

    fn update_channel(&self, label: &str, change: impl FnOnce(&mut DataChannelLog)) {
        self.state.update(|obs| {
            if let Some(log) = obs.channels.iter_mut().find(|c| c.label == label) {
                change(log);
            }
        });
    }

    /// A message arrived on a channel this side opened: is it one of ours coming back?
    fn on_echo(&self, label: &str, received: Payload) {
        let matched = {
            let mut channels = self.channels.lock().unwrap();
            let awaiting = channels.get_mut(label).map(|h| &mut h.awaiting_echo);
            match awaiting
                .and_then(|list| list.iter().position(|p| *p == received).map(|i| (list, i)))
            {
                Some((list, i)) => {
                    list.remove(i);
                    true
                }
                None => false,
            }
        };
        let at = epoch_ms();
        self.update_channel(label, |log| {
            if matched {
                log.echoes_matched += 1;
            }
            if let Some(echo) = log.echo.as_mut()
                && echo.received.is_none()
            {
                echo.received = Some(received.shown());
                echo.received_at_ms = Some(at);
            }
        });
        if !matched {
            self.state.error(format!(
                "channel `{label}`: {} came back, but this side never sent it (or it came back twice)",
                received.shown()
            ));
        }
    }

    // ---- The plan. ----

    async fn run_plan(self: Arc<Self>) {
        let steps = self.plan.steps.clone();
        for (index, step) in steps.iter().enumerate() {
            let acts = acts(step, self.plan.role);
            self.state.update(|obs| {
                let log = StepLog {
                    index,
                    kind: step.kind.as_str().into(),
                    by: step.by.as_str().into(),
                    acted: acts,
                    started_at_ms: epoch_ms(),
                    local_candidates_before: obs.local_candidates.len(),
                    remote_candidates_before: obs.remote_candidates.len(),
                    ..Default::default()
                };
                obs.steps.push(log);
            });
            let limit = Duration::from_secs_f64(step.within_secs.unwrap_or(20.0));
            let deadline = Instant::now() + limit;
            let outcome =
                tokio::time::timeout(limit + STEP_OVERRUN, self.play(index, step, acts, deadline))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("did not finish within {} s", limit.as_secs_f64()))
                    });
            let failed = outcome.is_err();
            self.state.update(|obs| {
                let log = obs.steps.last_mut().expect("pushed above");
                log.ended_at_ms = Some(epoch_ms());
                match outcome {
                    Ok(skipped) => log.skipped = skipped,
                    Err(error) => log.error = Some(error),
                }
            });
            if failed {
                self.finish().await;
                return;
            }
        }
        // The evidence is complete once the other side's end-of-candidates arrived.
        let grace = Instant::now() + END_OF_CANDIDATES_GRACE;
        let _ = self
            .state
            .wait_until(
                grace,
                |o| o.remote_candidates_complete.then_some(()),
                |_| String::new(),
            )
            .await;
        self.finish().await;
    }

    /// Plays step `index`: acting when `acts`, else its counterpart. `Ok(Some(why))`: skipped.
    async fn play(
        self: &Arc<Self>,
        index: usize,
        step: &Step,
        acts: bool,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let limit = step.within_secs.unwrap_or_default();
        let within = format!("within {limit} s");
        let label = step.channel.clone().unwrap_or_default();
        match (step.kind, acts) {
            (StepKind::OpenChannel, _) => {
                let negotiated = step.negotiated.unwrap_or(false);
                if acts || negotiated {
                    self.open_channel(step, !acts).await?;
                }
            }
            (StepKind::Negotiate | StepKind::RestartIce, _) => {
                let round = steps::round_of(&self.plan.steps, index);
                if acts {
                    self.state
                        .wait_until(
                            deadline,
                            |o| o.remote_id.as_ref().map(|_| ()),
                            |_| format!("the other peer never said hello {within}"),
                        )
                        .await?;
                    self.make_offer(round, step.kind == StepKind::RestartIce, deadline)
                        .await?;
                }
                let never_completed = |o: &Observations, why: &str| {
                    format!(
                        "offer/answer round {round} never completed {why} (signaling `{}`, {} rounds done{})",
                        last_state(&o.signaling_states),
                        o.negotiations,
                        o.last_description_error()
                            .map_or(String::new(), |e| format!("; last error: {e}"))
                    )
                };
                // The other side offers this round once: an offer this side failed to answer
                // decides it (a side that offered too may still get its own offer answered).
                let refused = || !acts && self.rounds_refused.lock().unwrap().contains(&round);
                self.state
                    .wait_until(
                        deadline,
                        |o| (o.negotiations >= round || refused()).then_some(()),
                        |o| never_completed(o, &within),
                    )
                    .await?;
                if self.state.read(|o| o.negotiations) < round {
                    return Err(self
                        .state
                        .read(|o| never_completed(o, "(its offer could not be answered)")));
                }
                if step.kind == StepKind::RestartIce {
                    self.state
                        .wait_until(
                            deadline,
                            |o| {
                                matches!(o.final_ice_state(), Some("connected" | "completed"))
                                    .then_some(())
                            },
                            |o| {
                                format!(
                                    "ICE never returned to connected {within}; last saw {}",
                                    o.final_ice_state().unwrap_or("(none)")
                                )
                            },
                        )
                        .await?;
                }
            }
            (StepKind::Send, true) => return self.send_messages(step, deadline, &within).await,
            (StepKind::Send, false) => {
                // The sender sizes messages by what this side advertises: it skips the same steps.
                let advertised = self
                    .connection
                    .local_description()
                    .await
                    .and_then(|d| max_message_size(&d.sdp));
                let skipped = |s: &Step| steps::resolve_size(s.size, advertised).is_err();
                if skipped(step) {
                    return Ok(steps::resolve_size(step.size, advertised).err());
                }
                if !step.expect_error.unwrap_or(false) {
                    let wanted =
                        steps::messages_sent_through(&self.plan.steps, index, &label, skipped);
                    self.state
                        .wait_until(
                            deadline,
                            |o| (o.channel(&label)?.messages_received >= wanted).then_some(()),
                            |o| {
                                let got = o.channel(&label).map_or(0, |c| c.messages_received);
                                format!("{got} of {wanted} messages arrived on `{label}` {within}")
                            },
                        )
                        .await?;
                }
            }
            (StepKind::ExpectEcho, true) => {
                // Fixed by now: the sends came in earlier steps.
                let too_big = (self.channels.lock().unwrap())
                    .get(&label)
                    .map_or(0, |h| h.too_big_to_come_back);
                self.state
                    .wait_until(
                        deadline,
                        |o| {
                            let log = o.channel(&label)?;
                            (log.echoes_matched + too_big >= log.messages_sent).then_some(())
                        },
                        |o| {
                            let (back, sent) = o
                                .channel(&label)
                                .map_or((0, 0), |c| (c.echoes_matched, c.messages_sent));
                            let wanted = sent.saturating_sub(too_big);
                            format!("{back} of {wanted} messages came back on `{label}` {within}")
                        },
                    )
                    .await?;
            }
            (StepKind::CloseChannel, _) => {
                if acts {
                    let channel = self
                        .channel(&label)
                        .ok_or_else(|| format!("no channel `{label}`"))?;
                    channel
                        .close()
                        .await
                        .map_err(|e| format!("closing `{label}` failed: {e}"))?;
                }
                self.state
                    .wait_until(
                        deadline,
                        |o| o.channel(&label)?.closed_at_ms.map(|_| ()),
                        |_| format!("channel `{label}` never closed {within}"),
                    )
                    .await?;
            }
            (StepKind::HangUp, true) => {
                self.hang_up(None).await;
            }
            (StepKind::HangUp, false) => {
                // `bye` ends every other wait; this one's predicate is read before that reason.
                self.state
                    .wait_until(
                        deadline,
                        |o| {
                            (o.bye_received_at_ms.is_some()
                                && o.final_connection_state() == Some("closed"))
                            .then_some(())
                        },
                        |o| {
                            format!(
                                "no `bye` arrived {within} (connection `{}`)",
                                o.final_connection_state().unwrap_or("(none)")
                            )
                        },
                    )
                    .await?;
            }
            (StepKind::WaitFor, true) => {
                let of = step.of.expect("validated: wait_for names `of`");
                let wanted = step.state.clone().unwrap_or_default();
                let current = move |o: &Observations| -> String {
                    match of {
                        WaitTarget::Ice => last_state(&o.ice_connection_states),
                        WaitTarget::Connection => last_state(&o.connection_states),
                        WaitTarget::Gathering => last_state(&o.ice_gathering_states),
                        WaitTarget::Signaling => last_state(&o.signaling_states),
                        WaitTarget::Channel => channel_state(o.channel(&label)),
                    }
                    .to_string()
                };
                self.state
                    .wait_until(
                        deadline,
                        |o| (current(o) == wanted).then_some(()),
                        |o| {
                            format!(
                                "{} never became `{wanted}` {within}; last saw `{}`",
                                of.as_str(),
                                current(o)
                            )
                        },
                    )
                    .await?;
            }
            (StepKind::AddTrack, true) => self.add_track(step).await?,
            (StepKind::ExpectMedia, true) => {
                let wanted = self.plan.media.clone();
                let shortfall = |o: &Observations| {
                    wanted.iter().find_map(|expect| {
                        media_shortfall(expect, o.received(expect.kind.as_str()), &within)
                    })
                };
                self.state
                    .wait_until(
                        deadline,
                        |o| shortfall(o).is_none().then_some(()),
                        |o| shortfall(o).unwrap_or_default(),
                    )
                    .await?;
            }
            (
                StepKind::ExpectEcho
                | StepKind::WaitFor
                | StepKind::AddTrack
                | StepKind::ExpectMedia,
                false,
            ) => {}
        }
        Ok(None)
    }

    async fn open_channel(self: &Arc<Self>, step: &Step, counterpart: bool) -> Result<(), String> {
        let label = step.label.clone().unwrap_or_default();
        let init = RTCDataChannelInit {
            ordered: step.ordered.unwrap_or(true),
            max_packet_life_time: step.max_packet_life_time,
            max_retransmits: step.max_retransmits,
            protocol: step.protocol.clone().unwrap_or_default(),
            negotiated: step
                .negotiated
                .unwrap_or(false)
                .then_some(step.id.unwrap_or_default()),
        };
        let channel = self
            .connection
            .create_data_channel(&label, Some(init))
            .await
            .map_err(|e| format!("createDataChannel(`{label}`) failed: {e}"))?;
        self.adopt_channel(label, channel, counterpart, step.id);
        Ok(())
    }

    /// The acting side of `send`: waits for the channel to open, then sends each message.
    async fn send_messages(
        &self,
        step: &Step,
        deadline: Instant,
        within: &str,
    ) -> Result<Option<String>, String> {
        let label = step.channel.clone().unwrap_or_default();
        self.state
            .wait_until(
                deadline,
                |o| o.channel(&label)?.opened_at_ms.map(|_| ()),
                |o| {
                    format!(
                        "channel `{label}` never opened {within} (it was `{}`)",
                        channel_state(o.channel(&label))
                    )
                },
            )
            .await?;
        let channel = self
            .channel(&label)
            .ok_or_else(|| format!("no channel `{label}`"))?;
        // What this side may send (W3C `RTCSctpTransport.maxMessageSize`): the other side's
        // `a=max-message-size`, capped by what webrtc-rs itself can send (65536).
        let remote = self
            .connection
            .remote_description()
            .await
            .and_then(|d| max_message_size(&d.sdp));
        let own = match self.connection.sctp().await {
            Some(sctp) => sctp.max_message_size().await.ok(),
            None => None,
        };
        let advertised = match (remote, own) {
            (Some(remote), Some(own)) => Some(remote.min(own.into())),
            (remote, own) => remote.or(own.map(u64::from)),
        };
        let size = match steps::resolve_size(step.size, advertised) {
            Ok(size) => size,
            Err(skipped) => return Ok(Some(skipped)),
        };
        let expect_error = step.expect_error.unwrap_or(false);
        let own = self
            .connection
            .local_description()
            .await
            .and_then(|d| max_message_size(&d.sdp));
        for index in 0..step.count.unwrap_or(1) {
            let payload = Payload::of(step, index, &self.plan.echo_message, size);
            let len = payload.bytes().len();
            match (send_payload(&channel, &payload).await, expect_error) {
                (Ok(()), false) => {
                    let at = epoch_ms();
                    if let Some(handle) = self.channels.lock().unwrap().get_mut(&label) {
                        handle.awaiting_echo.push(payload.clone());
                        if !steps::may_come_back(len, own) {
                            handle.too_big_to_come_back += 1;
                        }
                    }
                    self.update_channel(&label, |log| {
                        log.messages_sent += 1;
                        log.bytes_sent += len as u64;
                        log.echo.get_or_insert_with(|| EchoLog {
                            sent: payload.shown(),
                            sent_at_ms: at,
                            received: None,
                            received_at_ms: None,
                        });
                    });
                }
                (Ok(()), true) => {
                    return Err(format!(
                        "sent {len} bytes on `{label}` without an error, although the most it \
                         may send is {} (max-message-size)",
                        advertised.map_or("(none: 65536)".into(), |m| m.to_string())
                    ));
                }
                (Err(e), expected) => {
                    let error = e.to_string();
                    self.update_channel(&label, |log| log.send_errors.push(error.clone()));
                    if !expected {
                        return Err(format!("sending {len} bytes on `{label}` failed: {error}"));
                    }
                }
            }
        }
        Ok(None)
    }

    // ---- The end. ----

    /// Hangs up: final evidence first (a closed connection has no selected pair), then `bye` unless
    /// `bye_received_at_ms` says the other side sent one, the connection and the WebSocket closed.
    async fn hang_up(&self, bye_received_at_ms: Option<f64>) {
        if self.hung_up() {
            if bye_received_at_ms.is_some() {
                self.state.update(|obs| {
                    obs.bye_received_at_ms = obs.bye_received_at_ms.or(bye_received_at_ms)
                });
            }
            return;
        }
        let pair = selected_pair(&self.connection).await;
        self.state
            .update(|obs| obs.selected_pair = obs.selected_pair.take().or(pair));
        if bye_received_at_ms.is_none() && self.state.read(|o| o.bye_received_at_ms.is_none()) {
            self.send(SignalMessage::Bye {
                m: self.plan.id.clone(),
            });
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.connection.close()).await;
        // W3C close() fires no events, and webrtc-rs has no getters: every state is now `closed`.
        // One update with the `bye`: a side waiting for `bye` and `closed` must not see the
        // connection's own `closed` event before the rest (ICE, channels) is recorded.
        let now = epoch_ms();
        self.state.update(|obs| {
            obs.bye_received_at_ms = obs.bye_received_at_ms.or(bye_received_at_ms);
            for states in [
                &mut obs.connection_states,
                &mut obs.ice_connection_states,
                &mut obs.signaling_states,
            ] {
                if states.last().is_none_or(|t| t.state != "closed") {
                    states.push(Transition {
                        state: "closed".into(),
                        at_ms: now,
                    });
                }
            }
            for channel in &mut obs.channels {
                channel.closed_at_ms.get_or_insert(now);
            }
        });
        let _ = self.outbox.send(Outgoing::Close);
    }

    async fn finish(&self) {
        if self.state.read(|o| o.finished) {
            return;
        }
        let pair = if self.hung_up() {
            None
        } else {
            selected_pair(&self.connection).await
        };
        self.state.update(|obs| {
            obs.selected_pair = obs.selected_pair.take().or(pair);
            obs.finished = true;
        });
    }
}

/// Records what happens on one data channel until it closes: opening, closing, and messages —
/// echoed back when `echoes`, else matched against what this side sent.
async fn pump_channel(
    session: Arc<Session>,
    label: String,
    channel: Arc<dyn DataChannel>,
    echoes: bool,
) {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => {
                session.update_channel(&label, |log| {
                    log.opened_at_ms.get_or_insert(epoch_ms());
                });
            }
            DataChannelEvent::OnMessage(message) => {
                let len = message.data.len() as u64;
                session.update_channel(&label, |log| {
                    log.messages_received += 1;
                    log.bytes_received += len;
                });
                let payload = if message.is_string {
                    Payload::Text(String::from_utf8_lossy(&message.data).into_owned())
                } else {
                    Payload::Binary(message.data.to_vec())
                };
                if !echoes {
                    session.on_echo(&label, payload);
                    continue;
                }
                match send_payload(&channel, &payload).await {
                    Ok(()) => session.update_channel(&label, |log| log.messages_echoed += 1),
                    Err(e) => session
                        .state
                        .error(format!("echoing a message on `{label}` failed: {e}")),
                }
            }
            DataChannelEvent::OnClose => {
                session.update_channel(&label, |log| {
                    log.closed_at_ms.get_or_insert(epoch_ms());
                });
                break;
            }
            _ => {}
        }
    }
}

/// Sends one message as text or binary, as it is.
async fn send_payload(
    channel: &Arc<dyn DataChannel>,
    payload: &Payload,
) -> webrtc::error::Result<()> {
    match payload {
        Payload::Text(text) => channel.send_text(text).await,
        Payload::Binary(bytes) => channel.send(BytesMut::from(&bytes[..])).await,
    }
}

/// The last state in a list of transitions (`(none)` when empty).
fn last_state(states: &[Transition]) -> &str {
    states.last().map_or("(none)", |t| t.state.as_str())
}

/// A channel's `readyState` as its log shows it.
fn channel_state(log: Option<&DataChannelLog>) -> &'static str {
    match log {
        None => "(not created)",
        Some(log) if log.closed_at_ms.is_some() => "closed",
        Some(log) if log.opened_at_ms.is_some() => "open",
        Some(_) => "connecting",
    }
}

/// The pair the ICE transport selected (`RTCIceTransport.getSelectedCandidatePair()`).
///
/// Read from the transport rather than from stats: webrtc-rs 0.21 does not list peer-reflexive
/// remote candidates in its stats, so a stats pair can point at a candidate the report lacks.
async fn selected_pair(connection: &Arc<dyn PeerConnection>) -> Option<SelectedPair> {
    let dtls = match connection.sctp().await {
        Some(sctp) => sctp.transport(),
        // A connection carrying only media has no SCTP transport: its senders share the DTLS one.
        None => {
            let mut found = None;
            for sender in connection.get_senders().await {
                if let Ok(Some(transport)) = sender.transport().await {
                    found = Some(transport);
                    break;
                }
            }
            if found.is_none() {
                for receiver in connection.get_receivers().await {
                    if let Ok(Some(transport)) = receiver.transport().await {
                        found = Some(transport);
                        break;
                    }
                }
            }
            found?
        }
    };
    let ice = dtls.ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    let end = |c: &RTCIceCandidate, relay_protocol| PairEnd {
        kind: c.typ.to_string(),
        protocol: c.protocol.to_string().to_ascii_lowercase(),
        address: c.address.clone(),
        port: c.port,
        relay_protocol,
    };
    Some(SelectedPair {
        local: end(pair.local(), relay_protocol(pair.local())),
        remote: end(pair.remote(), None),
    })
}

/// How a local relay candidate reaches its TURN server, where webrtc-rs says (0.21 leaves it
/// unset on gathered candidates, and only allocates over UDP anyway).
fn relay_protocol(c: &RTCIceCandidate) -> Option<String> {
    // The type is not re-exported; its serde names are `udp`, `tcp`, `tls` (and `Unspecified`).
    let said = serde_json::to_value(c.relay_protocol).ok()?;
    match said.as_str()? {
        protocol @ ("udp" | "tcp" | "tls") => Some(protocol.to_string()),
        _ => None,
    }
}
