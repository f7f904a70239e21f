//! The native peer: an RTCPeerConnection from the `webrtc` crate (webrtc-rs), in this process,
//! talking to the relay as a WebSocket client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidate, RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSdpType,
    RTCSessionDescription, SettingEngine, SettingEngineBuilder,
};

use super::{Peer, PeerError, PeerPlan, Role};
use crate::clock::epoch_ms;
use crate::observe::{
    DataChannelLog, Description, EchoLog, Observations, PairEnd, SelectedPair, Transition,
};
use crate::scenario::{IceTransportPolicy, NativeProfile, PeerKind};
use crate::signaling::SignalMessage;

/// How long joining the relay may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer that has done its part waits for the other side's end-of-candidates, so that the
/// candidates it reports are all the other side sent.
pub const END_OF_CANDIDATES_GRACE: Duration = Duration::from_secs(2);
/// How long closing the connection may take before it is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

type Shared = Arc<Mutex<Observations>>;

/// A webrtc-rs peer.
pub struct NativePeer {
    profile: NativeProfile,
    name: String,
    observations: Shared,
    connection: Option<Arc<dyn PeerConnection>>,
    session: Option<JoinHandle<()>>,
    outbox: Option<mpsc::UnboundedSender<SignalMessage>>,
    id: String,
}

impl NativePeer {
    /// A native peer using the given settings profile.
    pub fn new(profile: NativeProfile) -> Self {
        Self {
            profile,
            name: "native".into(),
            observations: Shared::default(),
            connection: None,
            session: None,
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
        self.name = format!("native {}", plan.role.as_str());
        self.id = plan.id.clone();
        let fail =
            |reason: String| PeerError::new(format!("native {}", plan.role.as_str()), reason);

        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(plan.signal_url.as_str()),
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
        let (progress, progress_rx) = mpsc::unbounded_channel();
        let handler = Arc::new(Handler {
            observations: self.observations.clone(),
            outbox: outbox.clone(),
            progress: progress.clone(),
            id: plan.id.clone(),
        });
        let policy = match plan.ice_transport_policy {
            IceTransportPolicy::All => RTCIceTransportPolicy::All,
            IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
        };
        let config = RTCConfigurationBuilder::new()
            .with_ice_transport_policy(policy)
            .with_ice_servers(plan.ice_servers.iter().map(Into::into).collect())
            .build();
        {
            // webrtc-rs has no state getters; its constructor starts every state machine in `new`.
            let now = epoch_ms();
            let mut guard = self.observations.lock().unwrap();
            let obs = &mut *guard;
            for states in [
                &mut obs.ice_connection_states,
                &mut obs.connection_states,
                &mut obs.ice_gathering_states,
            ] {
                states.push(Transition {
                    state: "new".into(),
                    at_ms: now,
                });
            }
        }
        let connection = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(setting_engine(self.profile))
            .with_handler(handler)
            .with_udp_addrs(vec!["0.0.0.0:0".to_string()])
            .build()
            .await
            .map_err(|e| fail(format!("cannot create the RTCPeerConnection: {e}")))?;
        let connection: Arc<dyn PeerConnection> = Arc::new(connection);

        let session = Session {
            plan: plan.clone(),
            connection: connection.clone(),
            observations: self.observations.clone(),
            outbox: outbox.clone(),
            progress,
            pending_candidates: Vec::new(),
            remote_description_set: false,
            known_peers: Vec::new(),
            offered: false,
        };
        outbox
            .send(SignalMessage::Hello { m: plan.id.clone() })
            .expect("the outbox lives as long as the peer");
        self.session = Some(tokio::spawn(session.run(ws, outbox_rx, progress_rx)));
        self.connection = Some(connection);
        self.outbox = Some(outbox);
        Ok(())
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        Ok(self.observations.lock().unwrap().clone())
    }

    async fn close(&mut self) {
        if let Some(outbox) = self.outbox.take() {
            let _ = outbox.send(SignalMessage::Bye { m: self.id.clone() });
            // Give the session a moment to put `bye` on the wire before it is stopped.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(connection) = self.connection.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close()).await;
        }
        if let Some(session) = self.session.take() {
            session.abort();
        }
    }
}

impl Drop for NativePeer {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.abort();
        }
    }
}

/// What moves a peer toward being finished.
enum Progress {
    Connected,
    Ended,
    EchoDone,
    RemoteCandidatesComplete,
}

/// Receives webrtc-rs events and records them.
struct Handler {
    observations: Shared,
    outbox: mpsc::UnboundedSender<SignalMessage>,
    progress: mpsc::UnboundedSender<Progress>,
    id: String,
}

impl Handler {
    fn record(&self, pick: fn(&mut Observations) -> &mut Vec<Transition>, state: String) {
        let mut obs = self.observations.lock().unwrap();
        pick(&mut obs).push(Transition {
            state,
            at_ms: epoch_ms(),
        });
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = match event.candidate.to_json() {
            Ok(init) => init,
            Err(e) => {
                let mut obs = self.observations.lock().unwrap();
                obs.errors
                    .push(format!("cannot serialize a local candidate: {e}"));
                return;
            }
        };
        self.observations
            .lock()
            .unwrap()
            .local_candidates
            .push(init.candidate.clone());
        let _ = self.outbox.send(SignalMessage::Candidate {
            candidate: init.candidate,
            sdp_mid: init.sdp_mid,
            sdp_mline_index: init.sdp_mline_index,
            m: self.id.clone(),
        });
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.record(|o| &mut o.ice_connection_states, state.to_string());
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.record(|o| &mut o.ice_gathering_states, state.to_string());
        if state == RTCIceGatheringState::Complete {
            let _ = self.outbox.send(SignalMessage::end_of_candidates(&self.id));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.record(|o| &mut o.connection_states, state.to_string());
        let progress = match state {
            RTCPeerConnectionState::Connected => Progress::Connected,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => Progress::Ended,
            _ => return,
        };
        let _ = self.progress.send(progress);
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        // Only the answerer is handed a channel: the offerer created its own.
        tokio::spawn(echo_back(
            channel,
            self.observations.clone(),
            self.progress.clone(),
        ));
    }
}

/// Plays the signaling role and decides when the peer is finished.
struct Session {
    plan: PeerPlan,
    connection: Arc<dyn PeerConnection>,
    observations: Shared,
    outbox: mpsc::UnboundedSender<SignalMessage>,
    progress: mpsc::UnboundedSender<Progress>,
    pending_candidates: Vec<RTCIceCandidateInit>,
    remote_description_set: bool,
    known_peers: Vec<String>,
    offered: bool,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Session {
    async fn run(
        mut self,
        ws: Socket,
        mut outbox_rx: mpsc::UnboundedReceiver<SignalMessage>,
        mut progress_rx: mpsc::UnboundedReceiver<Progress>,
    ) {
        let (mut sink, mut frames) = ws.split();
        let mut connected = false;
        let mut echo_done = false;
        let mut remote_complete = false;
        // Set once the peer has done its part; from then on it only waits for the other side's
        // end-of-candidates, at most END_OF_CANDIDATES_GRACE.
        let mut done_at: Option<tokio::time::Instant> = None;
        let needs_echo = self.plan.data_channel.is_some();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(done_at.unwrap_or_else(tokio::time::Instant::now) + END_OF_CANDIDATES_GRACE), if done_at.is_some() => {
                    self.finish().await;
                    done_at = None;
                }
                Some(message) = outbox_rx.recv() => {
                    if let Err(e) = sink.send(Message::text(message.to_json())).await {
                        self.error(format!("cannot send to the relay: {e}"));
                        break;
                    }
                }
                Some(progress) = progress_rx.recv() => {
                    match progress {
                        Progress::Connected => connected = true,
                        Progress::EchoDone => echo_done = true,
                        Progress::RemoteCandidatesComplete => remote_complete = true,
                        Progress::Ended => {
                            self.finish().await;
                            continue;
                        }
                    }
                    if connected && (echo_done || !needs_echo) {
                        if remote_complete {
                            self.finish().await;
                        } else if done_at.is_none() {
                            done_at = Some(tokio::time::Instant::now());
                        }
                    }
                }
                frame = frames.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_frame(&text).await,
                    Some(Ok(Message::Close(_))) | None => {
                        self.error("the relay closed the connection".into());
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        self.error(format!("the relay connection failed: {e}"));
                        break;
                    }
                },
            }
        }
        // Without signaling nothing more can happen: report what was seen.
        self.finish().await;
    }

    fn error(&self, error: String) {
        self.observations.lock().unwrap().errors.push(error);
    }

    async fn on_frame(&mut self, text: &str) {
        let message = match SignalMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                // The relay's own error frames and foreign message kinds land here.
                self.error(format!("ignored a frame: {e}: {text}"));
                return;
            }
        };
        let result = match message {
            SignalMessage::Hello { m } => self.on_hello(m).await,
            SignalMessage::Offer { sdp, .. } if self.plan.role == Role::Answerer => {
                self.on_offer(sdp).await
            }
            SignalMessage::Answer { sdp, .. } if self.plan.role == Role::Offerer => {
                self.on_answer(sdp).await
            }
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
                .await
            }
            SignalMessage::Bye { .. } => Ok(()),
            other => Err(format!(
                "a {} is not expected by the {}",
                kind_of(&other),
                self.plan.role.as_str()
            )),
        };
        if let Err(e) = result {
            self.error(e);
        }
    }

    async fn on_hello(&mut self, sender: String) -> Result<(), String> {
        if sender == self.plan.id || self.known_peers.contains(&sender) {
            return Ok(());
        }
        self.known_peers.push(sender);
        let _ = self.outbox.send(SignalMessage::Hello {
            m: self.plan.id.clone(),
        });
        if self.plan.role == Role::Offerer && !self.offered {
            self.offered = true;
            self.make_offer().await?;
        }
        Ok(())
    }

    async fn make_offer(&mut self) -> Result<(), String> {
        if let Some(spec) = &self.plan.data_channel {
            let init = RTCDataChannelInit {
                ordered: spec.ordered,
                max_packet_life_time: spec.max_packet_life_time,
                max_retransmits: spec.max_retransmits,
                protocol: spec.protocol.clone(),
                ..Default::default()
            };
            let channel = self
                .connection
                .create_data_channel(&spec.label, Some(init))
                .await
                .map_err(|e| format!("createDataChannel failed: {e}"))?;
            self.observations.lock().unwrap().data_channel = Some(DataChannelLog {
                label: spec.label.clone(),
                ..Default::default()
            });
            tokio::spawn(probe_echo(
                channel,
                self.plan.echo_message.clone(),
                self.observations.clone(),
                self.progress.clone(),
            ));
        }
        let offer = self
            .connection
            .create_offer(None)
            .await
            .map_err(|e| format!("createOffer failed: {e}"))?;
        self.observations.lock().unwrap().offer_created_at_ms = Some(epoch_ms());
        self.set_local(offer).await
    }

    async fn set_local(&mut self, description: RTCSessionDescription) -> Result<(), String> {
        let kind = description.sdp_type.to_string();
        self.connection
            .set_local_description(description.clone())
            .await
            .map_err(|e| format!("setLocalDescription({kind}) failed: {e}"))?;
        self.observations
            .lock()
            .unwrap()
            .local_descriptions
            .push(Description {
                kind: kind.clone(),
                sdp: description.sdp.clone(),
                at_ms: epoch_ms(),
            });
        let m = self.plan.id.clone();
        let message = if description.sdp_type == RTCSdpType::Offer {
            SignalMessage::Offer {
                sdp: description.sdp,
                m,
            }
        } else {
            SignalMessage::Answer {
                sdp: description.sdp,
                m,
            }
        };
        let _ = self.outbox.send(message);
        Ok(())
    }

    async fn on_offer(&mut self, sdp: String) -> Result<(), String> {
        let offer = RTCSessionDescription::offer(sdp)
            .map_err(|e| format!("the offer does not parse: {e}"))?;
        self.set_remote(offer).await?;
        let answer = self
            .connection
            .create_answer(None)
            .await
            .map_err(|e| format!("createAnswer failed: {e}"))?;
        self.set_local(answer).await
    }

    async fn on_answer(&mut self, sdp: String) -> Result<(), String> {
        let answer = RTCSessionDescription::answer(sdp)
            .map_err(|e| format!("the answer does not parse: {e}"))?;
        self.set_remote(answer).await
    }

    async fn set_remote(&mut self, description: RTCSessionDescription) -> Result<(), String> {
        let kind = description.sdp_type.to_string();
        self.connection
            .set_remote_description(description)
            .await
            .map_err(|e| format!("setRemoteDescription({kind}) failed: {e}"))?;
        self.remote_description_set = true;
        for candidate in std::mem::take(&mut self.pending_candidates) {
            self.add_candidate(candidate).await?;
        }
        Ok(())
    }

    async fn on_candidate(&mut self, candidate: RTCIceCandidateInit) -> Result<(), String> {
        if candidate.candidate.is_empty() {
            // End-of-candidates: nothing to add, but the evidence of this side is now complete.
            self.observations.lock().unwrap().remote_candidates_complete = true;
            let _ = self.progress.send(Progress::RemoteCandidatesComplete);
            return Ok(());
        }
        if self.remote_description_set {
            self.add_candidate(candidate).await
        } else {
            // Trickled candidates may overtake the description they belong to.
            self.pending_candidates.push(candidate);
            Ok(())
        }
    }

    async fn add_candidate(&mut self, candidate: RTCIceCandidateInit) -> Result<(), String> {
        let text = candidate.candidate.clone();
        self.connection
            .add_ice_candidate(candidate)
            .await
            .map_err(|e| format!("addIceCandidate({text}) failed: {e}"))?;
        self.observations
            .lock()
            .unwrap()
            .remote_candidates
            .push(text);
        Ok(())
    }

    async fn finish(&mut self) {
        if self.observations.lock().unwrap().finished {
            return;
        }
        let pair = selected_pair(&self.connection).await;
        let mut obs = self.observations.lock().unwrap();
        obs.selected_pair = pair;
        obs.finished = true;
    }
}

fn kind_of(message: &SignalMessage) -> &'static str {
    match message {
        SignalMessage::Hello { .. } => "hello",
        SignalMessage::Offer { .. } => "offer",
        SignalMessage::Answer { .. } => "answer",
        SignalMessage::Candidate { .. } => "candidate",
        SignalMessage::Bye { .. } => "bye",
    }
}

/// The pair the ICE transport selected (`RTCIceTransport.getSelectedCandidatePair()`).
///
/// Read from the transport rather than from stats: webrtc-rs 0.21 does not list peer-reflexive
/// remote candidates in its stats, so a stats pair can point at a candidate the report lacks.
async fn selected_pair(connection: &Arc<dyn PeerConnection>) -> Option<SelectedPair> {
    let sctp = connection.sctp().await?;
    let ice = sctp.transport().ice_transport();
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

/// Offerer: once the channel opens, send the probe and wait for it to come back.
async fn probe_echo(
    channel: Arc<dyn DataChannel>,
    message: String,
    observations: Shared,
    progress: mpsc::UnboundedSender<Progress>,
) {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => {
                let sent_at_ms = epoch_ms();
                if let Some(log) = observations.lock().unwrap().data_channel.as_mut() {
                    log.opened_at_ms = Some(sent_at_ms);
                    log.echo = Some(EchoLog {
                        sent: message.clone(),
                        sent_at_ms,
                        received: None,
                        received_at_ms: None,
                    });
                }
                if let Err(e) = channel.send_text(&message).await {
                    let mut obs = observations.lock().unwrap();
                    obs.errors
                        .push(format!("sending the echo probe failed: {e}"));
                }
            }
            DataChannelEvent::OnMessage(received) => {
                let at = epoch_ms();
                let text = String::from_utf8_lossy(&received.data).into_owned();
                if let Some(echo) = observations
                    .lock()
                    .unwrap()
                    .data_channel
                    .as_mut()
                    .and_then(|log| log.echo.as_mut())
                    && echo.received.is_none()
                {
                    echo.received = Some(text);
                    echo.received_at_ms = Some(at);
                }
                let _ = progress.send(Progress::EchoDone);
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}

/// Answerer: send every message back as it came.
async fn echo_back(
    channel: Arc<dyn DataChannel>,
    observations: Shared,
    progress: mpsc::UnboundedSender<Progress>,
) {
    let label = channel.label().await.unwrap_or_default();
    observations.lock().unwrap().data_channel = Some(DataChannelLog {
        label,
        ..Default::default()
    });
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => {
                if let Some(log) = observations.lock().unwrap().data_channel.as_mut() {
                    log.opened_at_ms = Some(epoch_ms());
                }
            }
            DataChannelEvent::OnMessage(message) => {
                let sent = if message.is_string {
                    channel
                        .send_text(&String::from_utf8_lossy(&message.data))
                        .await
                } else {
                    channel.send(BytesMut::from(&message.data[..])).await
                };
                let mut obs = observations.lock().unwrap();
                match sent {
                    Ok(()) => {
                        if let Some(log) = obs.data_channel.as_mut() {
                            log.messages_echoed += 1;
                        }
                        let _ = progress.send(Progress::EchoDone);
                    }
                    Err(e) => obs.errors.push(format!("echoing a message failed: {e}")),
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}
