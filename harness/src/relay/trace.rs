//! The signaling trace: kept only for rooms the runner asked to trace, and bounded per room.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One message the relay forwarded, as the case's signaling trace shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TraceEntry {
    /// When the relay received it (milliseconds since the Unix epoch).
    pub at_ms: f64,
    /// The room it was sent in.
    pub room: String,
    /// The relay's number for the sending connection.
    pub connection: u64,
    /// The message's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The sender's id (`m`), when the message carries one.
    pub sender: Option<String>,
    /// How many other members it was forwarded to.
    pub delivered_to: usize,
    /// The message itself.
    pub message: serde_json::Value,
}

/// The trace of one room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The messages recorded, oldest first.
    pub entries: Vec<TraceEntry>,
    /// Messages forwarded after the room's limit was reached, counted but not recorded.
    pub dropped: usize,
}

/// The traces of the rooms being traced.
#[derive(Default)]
pub(super) struct Traces {
    rooms: HashMap<String, Trace>,
}

impl Traces {
    /// Starts recording `room` (keeps what it has, if it is already traced).
    pub(super) fn start(&mut self, room: &str) {
        self.rooms.entry(room.to_string()).or_default();
    }

    pub(super) fn is_traced(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    /// Records `entry` if its room is traced and below `limit` entries; counts it otherwise.
    pub(super) fn record(&mut self, entry: TraceEntry, limit: usize) {
        if let Some(trace) = self.rooms.get_mut(&entry.room) {
            if trace.entries.len() < limit {
                trace.entries.push(entry);
            } else {
                trace.dropped += 1;
            }
        }
    }

    pub(super) fn peek(&self, room: &str) -> Vec<TraceEntry> {
        self.rooms
            .get(room)
            .map(|t| t.entries.clone())
            .unwrap_or_default()
    }

    /// Stops recording `room` and hands over what it recorded.
    pub(super) fn take(&mut self, room: &str) -> Trace {
        self.rooms.remove(room).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(room: &str) -> TraceEntry {
        TraceEntry {
            at_ms: 1.0,
            room: room.into(),
            connection: 1,
            kind: "hello".into(),
            sender: None,
            delivered_to: 1,
            message: serde_json::json!({"type": "hello"}),
        }
    }

    #[test]
    fn only_traced_rooms_are_recorded_up_to_the_limit() {
        let mut traces = Traces::default();
        traces.start("a");
        for _ in 0..5 {
            traces.record(entry("a"), 3);
            traces.record(entry("b"), 3);
        }
        assert_eq!(traces.peek("b"), Vec::new());
        let a = traces.take("a");
        assert_eq!((a.entries.len(), a.dropped), (3, 2));
        assert!(!traces.is_traced("a"), "taking a trace ends it");
    }
}
