//! The signaling wire protocol every peer speaks through the relay.
//!
//! It is the flow of the seed tutorials: a peer joins a room and sends `hello`; the offerer answers a
//! `hello` with an `offer`; the answerer replies with an `answer`; every ICE candidate travels as a
//! `candidate`; `bye` says a peer hangs up. Each message is one JSON object in one WebSocket text
//! frame, and carries the sender's id in `m` (the seed's field name).
//!
//! ```json
//! {"type":"hello","m":"native-1"}
//! {"type":"offer","sdp":"v=0\r\n…","m":"native-1"}
//! {"type":"answer","sdp":"v=0\r\n…","m":"chromium-2"}
//! {"type":"candidate","candidate":"candidate:1 1 udp 2130706431 192.0.2.2 50000 typ host","sdpMid":"0","sdpMLineIndex":0,"m":"native-1"}
//! {"type":"bye","m":"native-1"}
//! ```
//!
//! Because the offerer may join before or after the answerer, a peer that sees a `hello` from an id it
//! has not seen before replies with one `hello` of its own: whoever joined first then learns of the other.
//! A `candidate` whose `candidate` string is empty is the end-of-candidates marker (what Firefox
//! emits as its last candidate): every peer sends one when its ICE gathering completes, and a peer
//! reports its evidence only once it has the other side's marker (or after a short grace time).

use serde::{Deserialize, Serialize};

/// One message of the signaling protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SignalMessage {
    /// "I am here": sent on joining a room, and once in reply to a new peer's `hello`.
    Hello {
        /// The sender's id.
        m: String,
    },
    /// The offerer's session description.
    Offer {
        /// The SDP text.
        sdp: String,
        /// The sender's id.
        m: String,
    },
    /// The answerer's session description.
    Answer {
        /// The SDP text.
        sdp: String,
        /// The sender's id.
        m: String,
    },
    /// One trickled ICE candidate (`candidate` empty: end of candidates).
    Candidate {
        /// The candidate attribute, `candidate:…`.
        candidate: String,
        /// The media section's mid.
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// The media section's index.
        #[serde(
            rename = "sdpMLineIndex",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sdp_mline_index: Option<u16>,
        /// The sender's id.
        m: String,
    },
    /// The sender hangs up.
    Bye {
        /// The sender's id.
        m: String,
    },
}

impl SignalMessage {
    /// The id of the peer that sent this message.
    pub fn sender(&self) -> &str {
        match self {
            SignalMessage::Hello { m }
            | SignalMessage::Offer { m, .. }
            | SignalMessage::Answer { m, .. }
            | SignalMessage::Candidate { m, .. }
            | SignalMessage::Bye { m } => m,
        }
    }

    /// The end-of-candidates marker: a `candidate` whose candidate string is empty.
    pub fn end_of_candidates(sender: &str) -> Self {
        SignalMessage::Candidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_mline_index: None,
            m: sender.to_string(),
        }
    }

    /// Parses one frame, naming what is wrong with it when it is not a protocol message.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a signaling message: {e}"))
    }

    /// The JSON text of this message, as sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("signaling messages always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_uses_browser_field_names() {
        let text = r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 192.0.2.2 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"m":"a"}"#;
        let msg = SignalMessage::parse(text).unwrap();
        assert_eq!(
            msg,
            SignalMessage::Candidate {
                candidate: "candidate:1 1 udp 1 192.0.2.2 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                m: "a".into()
            }
        );
        assert_eq!(SignalMessage::parse(&msg.to_json()).unwrap(), msg);
    }

    #[test]
    fn unknown_type_is_named_in_the_error() {
        let err = SignalMessage::parse(r#"{"type":"wave","m":"a"}"#).unwrap_err();
        assert!(err.contains("wave"), "{err}");
    }
}
