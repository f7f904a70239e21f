//! What a peer observed: the evidence every verdict rests on.
//!
//! Native peers fill an [`Observations`] from webrtc-rs events; the browser page fills the same shape
//! (same field names) from DOM events and `getStats()` and hands it over as JSON. Timestamps are
//! milliseconds since the Unix epoch (see [`crate::clock`]).

mod candidate;

pub use candidate::{Candidate, parse_candidate};

use serde::{Deserialize, Serialize};

/// Everything one peer saw during one case.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
    /// The candidate pair ICE selected, read from the peer's stats.
    pub selected_pair: Option<SelectedPair>,
    /// The data channel, if one was opened or announced.
    pub data_channel: Option<DataChannelLog>,
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
}

/// A state as seen at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transition {
    /// The state, as the W3C API spells it (`checking`).
    pub state: String,
    /// When it was seen.
    pub at_ms: f64,
}

/// The two ends of the selected candidate pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SelectedPair {
    /// This peer's candidate.
    pub local: PairEnd,
    /// The other peer's candidate, as this peer knows it.
    pub remote: PairEnd,
}

/// One end of a candidate pair, as stats report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataChannelLog {
    /// The channel's label.
    pub label: String,
    /// When `open` fired.
    pub opened_at_ms: Option<f64>,
    /// The offerer's echo probe: what it sent and what came back.
    pub echo: Option<EchoLog>,
    /// How many messages the answerer sent back.
    pub messages_echoed: u32,
}

/// The echo probe: a message sent on the data channel and what came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Description {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The SDP text.
    pub sdp: String,
    /// When it was set.
    pub at_ms: f64,
}
