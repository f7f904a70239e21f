//! What a peer observed: the evidence every verdict rests on.
//!
//! Native peers fill an [`Observations`] from webrtc-rs events; the browser page fills the same shape
//! (same field names) from DOM events and `getStats()` and hands it over as JSON. Timestamps are
//! milliseconds since the Unix epoch (see [`crate::clock`]).

mod candidate;
mod media;

pub use candidate::{
    Candidate, candidates_in_description, description_ends_candidates, ice_ufrag, max_message_size,
    parse_candidate,
};

pub use media::{
    FrameCheck, MEDIA_SAMPLE_INTERVAL_MS, MediaSample, MediaTrackLog, media_shortfall,
};

use serde::{Deserialize, Serialize};

/// Everything one peer saw during one case.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Observations {
    /// `iceConnectionState` changes; the first entry is the state read when the connection was made.
    pub ice_connection_states: Vec<Transition>,
    /// `connectionState` changes; the first entry is the state read when the connection was made.
    pub connection_states: Vec<Transition>,
    /// `iceGatheringState` changes; the first entry is the state read when the connection was made.
    pub ice_gathering_states: Vec<Transition>,
    /// Every candidate the peer gathered, as its `icecandidate` event gave it (`candidate:…`).
    pub local_candidates: Vec<String>,
    /// Every candidate received from the other peer and added to the connection.
    pub remote_candidates: Vec<String>,
    /// The other peer said it has no more candidates (an end-of-candidates `candidate` message).
    pub remote_candidates_complete: bool,
    /// Where the current ICE generation's candidates begin in `remote_candidates` (a peer's own
    /// bookkeeping: not reported).
    #[serde(skip)]
    #[schemars(skip)]
    pub remote_generation_start: usize,
    /// The candidate pair ICE selected, read from the peer's stats.
    pub selected_pair: Option<SelectedPair>,
    /// `signalingState` changes; the first entry is the state read when the connection was made.
    pub signaling_states: Vec<Transition>,
    /// Every data channel this side created or was announced, in order of appearance.
    pub channels: Vec<DataChannelLog>,
    /// Each step of the plan this side began, in order (see `scenario::steps`).
    pub steps: Vec<StepLog>,
    /// Every media track this side sent or received.
    pub tracks: Vec<MediaTrackLog>,
    /// Offer/answer rounds this side completed (as offerer: answer applied; as answerer: answer
    /// set locally).
    pub negotiations: u32,
    /// When the other side's `bye` arrived.
    pub bye_received_at_ms: Option<f64>,
    /// The other peer's id, once its `hello` arrived.
    pub remote_id: Option<String>,
    /// Descriptions the peer set locally (its offer or answer), in order.
    pub local_descriptions: Vec<Description>,
    /// When the offerer's `createOffer` resolved.
    pub offer_created_at_ms: Option<f64>,
    /// Errors the peer met (a rejected description or candidate, a bad signaling frame, …).
    pub errors: Vec<String>,
    /// What the browser page logged to its console, one line per call (browsers only).
    pub console: Vec<String>,
    /// The final `getStats()` report, every stats object as the browser gave it (browsers only).
    pub stats: Option<serde_json::Value>,
    /// The peer has done all it was asked to do (or given up); no more observations will come.
    pub finished: bool,
}

impl Observations {
    /// When the ICE connection state first became `connected` or `completed`.
    pub fn ice_connected_at_ms(&self) -> Option<f64> {
        self.ice_connection_states
            .iter()
            .find(|t| t.state == "connected" || t.state == "completed")
            .map(|t| t.at_ms)
    }

    /// The last connection state seen.
    pub fn final_connection_state(&self) -> Option<&str> {
        self.connection_states.last().map(|t| t.state.as_str())
    }

    /// The last ICE connection state seen.
    pub fn final_ice_state(&self) -> Option<&str> {
        self.ice_connection_states.last().map(|t| t.state.as_str())
    }

    /// Records a candidate received from the other side, once per ICE generation: the same
    /// transport address may come trickled and again inside a description, spelled a little
    /// differently, and again after an ICE restart (a stack may keep its sockets), then as new.
    pub fn add_remote_candidate(&mut self, text: String) {
        let key = |text: &str| {
            parse_candidate(text)
                .map(|c| (c.protocol, c.address, c.port, c.component))
                .ok()
        };
        let new = key(&text);
        let known = self.remote_candidates[self.remote_generation_start..]
            .iter()
            .any(|seen| *seen == text || (new.is_some() && key(seen) == new));
        if !known {
            self.remote_candidates.push(text);
        }
    }

    /// The first data channel (the one today's flow probes).
    pub fn first_channel(&self) -> Option<&DataChannelLog> {
        self.channels.first()
    }

    /// The channel labelled `label`.
    pub fn channel(&self, label: &str) -> Option<&DataChannelLog> {
        self.channels.iter().find(|c| c.label == label)
    }

    /// The track of `kind` (`video`) this side received, if one arrived.
    pub fn received(&self, kind: &str) -> Option<&MediaTrackLog> {
        self.tracks.iter().find(|t| t.is_inbound(kind))
    }

    /// The last error about a description (setting, creating or parsing an offer or answer):
    /// what a round that never completed most likely ran into. Both peer kinds word these with
    /// `Description`, `createAnswer` or `does not parse`.
    pub fn last_description_error(&self) -> Option<&str> {
        self.errors
            .iter()
            .rev()
            .find(|e| {
                e.contains("Description")
                    || e.contains("createAnswer")
                    || e.contains("does not parse")
            })
            .map(String::as_str)
    }

    /// The first step that failed, if any.
    pub fn failed_step(&self) -> Option<&StepLog> {
        self.steps.iter().find(|s| s.error.is_some())
    }
}

/// One step as one side played it.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StepLog {
    /// Its place in the plan, from 0.
    pub index: usize,
    /// Its `do` (`restart_ice`).
    #[serde(rename = "do")]
    pub kind: String,
    /// Its `by` (`offerer`, `answerer`, `both`).
    pub by: String,
    /// Whether this side acted (else it played the counterpart).
    pub acted: bool,
    /// When this side began it.
    pub started_at_ms: f64,
    /// When it was done (or failed).
    pub ended_at_ms: Option<f64>,
    /// Why it failed, in words (`ICE never returned to connected within 5 s; last saw checking`).
    pub error: Option<String>,
    /// Why it was not carried out although nothing failed (a size above what the harness sends).
    pub skipped: Option<String>,
    /// How many candidates this side had gathered when the step began.
    pub local_candidates_before: usize,
    /// How many candidates this side had received when the step began.
    pub remote_candidates_before: usize,
}

/// A state as seen at one moment.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transition {
    /// The state, as the W3C API spells it (`checking`).
    pub state: String,
    /// When it was seen.
    pub at_ms: f64,
}

/// The two ends of the selected candidate pair.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SelectedPair {
    /// This peer's candidate.
    pub local: PairEnd,
    /// The other peer's candidate, as this peer knows it.
    pub remote: PairEnd,
}

/// One end of a candidate pair, as stats report it.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairEnd {
    /// `host`, `srflx`, `prflx` or `relay`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// The address (may be empty where the stack hides it).
    pub address: String,
    /// The port.
    pub port: u16,
    /// For a local relay candidate: how the peer reaches its TURN server (`udp`, `tcp`, `tls`),
    /// where the stack says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<String>,
}

/// A data channel's life as one peer saw it.
#[derive(schemars::JsonSchema, Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataChannelLog {
    /// The channel's label.
    pub label: String,
    /// Its SCTP stream id, once known.
    pub id: Option<u16>,
    /// This side echoes what arrives on it (the other side opened it).
    pub echoes: bool,
    /// When `open` fired.
    pub opened_at_ms: Option<f64>,
    /// When it was seen closed (`close` fired, or its state read after the connection closed).
    pub closed_at_ms: Option<f64>,
    /// The first message this side sent on it, and what came back.
    pub echo: Option<EchoLog>,
    /// Messages this side sent (accepted by its stack).
    pub messages_sent: u32,
    /// Bytes in those messages.
    pub bytes_sent: u64,
    /// Messages that arrived.
    pub messages_received: u32,
    /// Bytes in those.
    pub bytes_received: u64,
    /// How many messages this side sent back (it echoes on channels the other side opened).
    pub messages_echoed: u32,
    /// How many of the messages this side sent came back intact.
    pub echoes_matched: u32,
    /// Sends the stack refused, in words.
    pub send_errors: Vec<String>,
}

/// The echo probe: a message sent on the data channel and what came back.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EchoLog {
    /// The text sent.
    pub sent: String,
    /// When it was sent.
    pub sent_at_ms: f64,
    /// The text that came back, if any.
    pub received: Option<String>,
    /// When it came back.
    pub received_at_ms: Option<f64>,
}

impl EchoLog {
    /// Round-trip time, when the message came back.
    pub fn round_trip_ms(&self) -> Option<f64> {
        self.received_at_ms.map(|r| r - self.sent_at_ms)
    }
}

/// A session description as set on the connection.
#[derive(schemars::JsonSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Description {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The SDP text.
    pub sdp: String,
    /// When it was set.
    pub at_ms: f64,
    /// How many candidates this side had gathered when the offer/answer round of this
    /// description began (creating its offer, or taking the other side's): the baseline for
    /// "new candidates" after an ICE restart, whenever the restart step itself began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_candidates_before: Option<usize>,
    /// How many candidates it had received from the other side at that moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidates_before: Option<usize>,
}
