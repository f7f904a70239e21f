//! The Python adapters' reading of relay frames (`peers/python-common/signaling.py`, used by the
//! aiortc and GStreamer peers): each type reaches its handler with its fields, coroutine handlers
//! are awaited, and a frame that is not the protocol's is named in the page's words, not dropped.

use crate::common::python;

/// The handler calls and errors, in order, of a peer fed `frames` (a `{"binary": …}` entry is
/// fed as bytes).
fn dispatched(frames: serde_json::Value) -> serde_json::Value {
    let script = r#"
import asyncio, json, sys
from signaling import dispatch_frame

class Peer:
    def __init__(self):
        self.calls = []
    def error(self, where, what):
        self.calls.append(["error", where, what])
    def on_hello(self, sender):
        self.calls.append(["hello", sender])
    def on_candidate(self, message):
        self.calls.append(["candidate", message])
    async def on_offer(self, sdp):
        await asyncio.sleep(0)
        self.calls.append(["offer", sdp])
    async def on_answer(self, sdp):
        await asyncio.sleep(0)
        self.calls.append(["answer", sdp])
    async def on_bye(self):
        await asyncio.sleep(0)
        self.calls.append(["bye"])

async def main():
    peer = Peer()
    for frame in json.loads(sys.argv[1]):
        await dispatch_frame(peer, frame["binary"].encode() if isinstance(frame, dict) else frame)
    print(json.dumps(peer.calls))

asyncio.run(main())
"#;
    serde_json::from_str(&python(script, &frames)).expect("JSON")
}

#[test]
fn each_frame_type_reaches_its_handler_and_async_ones_are_awaited() {
    let calls = dispatched(serde_json::json!([
        r#"{"type":"hello","m":"peer-1"}"#,
        r#"{"type":"offer","sdp":"v=0 offer"}"#,
        r#"{"type":"answer"}"#,
        r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0"}"#,
        r#"{"type":"error","error":"the room is full"}"#,
        r#"{"type":"bye"}"#,
    ]));
    assert_eq!(
        calls,
        serde_json::json!([
            ["hello", "peer-1"],
            ["offer", "v=0 offer"],
            ["answer", ""],
            ["candidate", {
                "type": "candidate",
                "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host",
                "sdpMid": "0"
            }],
            ["error", "relay", "the room is full"],
            ["bye"],
        ])
    );
}

#[test]
fn a_frame_outside_the_protocol_is_named_and_handled_by_nobody() {
    let calls = dispatched(serde_json::json!([
        "not json",
        "[1, 2]",
        r#"{"type":"dance"}"#,
        {"binary": "{\"type\":\"bye\"}"},
    ]));
    assert_eq!(
        calls,
        serde_json::json!([
            [
                "error",
                "signaling",
                "ignored a frame that is not JSON: not json"
            ],
            [
                "error",
                "signaling",
                "ignored a frame that is not a JSON object: [1, 2]"
            ],
            [
                "error",
                "signaling",
                "ignored a frame of unknown type: {\"type\":\"dance\"}"
            ],
            ["error", "signaling", "ignored a binary frame"],
        ])
    );
}

#[test]
fn only_a_hello_from_a_peer_not_met_before_is_new() {
    let script = r#"
import json, sys
from signaling import is_new_peer
known = set()
print(json.dumps([is_new_peer(s, "me", known) for s in json.loads(sys.argv[1])]))
"#;
    let said = python(
        script,
        &serde_json::json!(["me", "peer-1", "peer-1", null, "peer-2"]),
    );
    assert_eq!(said, "[false, true, false, false, true]");
}
