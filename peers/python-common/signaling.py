"""The signaling protocol's frames as every Python adapter (peers/aiortc, peers/gstreamer) reads
them: one frame is one JSON object with a `type` (hello, offer, answer, candidate, bye, or the
relay's error), as `fixtures/browser/peer.js` reads them. Stack-free: only the standard library."""

import inspect
import json


async def dispatch_frame(peer, text):
    """Hands one relay frame to `peer`'s handler of its type (`on_hello(sender)`, `on_offer(sdp)`,
    `on_answer(sdp)`, `on_candidate(message)`, `on_bye()`; each may be a coroutine), or reports
    through `peer.error(where, what)` why it was ignored."""
    if isinstance(text, bytes):
        peer.error("signaling", "ignored a binary frame")
        return
    try:
        message = json.loads(text)
    except ValueError:
        peer.error("signaling", f"ignored a frame that is not JSON: {text}")
        return
    if not isinstance(message, dict):
        peer.error("signaling", f"ignored a frame that is not a JSON object: {text}")
        return
    handlers = {
        "hello": lambda: peer.on_hello(message.get("m")),
        "offer": lambda: peer.on_offer(message.get("sdp", "")),
        "answer": lambda: peer.on_answer(message.get("sdp", "")),
        "candidate": lambda: peer.on_candidate(message),
        "bye": peer.on_bye,
        "error": lambda: peer.error("relay", str(message.get("error"))),
    }
    handler = handlers.get(message.get("type"))
    if handler is None:
        peer.error("signaling", f"ignored a frame of unknown type: {text}")
        return
    handled = handler()
    if inspect.isawaitable(handled):
        await handled


def is_new_peer(sender, own_id, known_peers):
    """Whether a `hello` from `sender` introduces a peer not met before (it is then remembered in
    `known_peers`); one's own hello and repeats are not."""
    if sender is None or sender == own_id or sender in known_peers:
        return False
    known_peers.add(sender)
    return True
