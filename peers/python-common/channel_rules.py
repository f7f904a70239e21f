"""The data-channel message rules every Python adapter (peers/aiortc, peers/gstreamer) follows, in
the words of the Rust side (scenario::steps), so that every stack sends the same bytes and judges
sizes and echoes alike. Stack-free: only the standard library."""

import re

# The largest message a `send` step sends (MAX_SENT_MESSAGE_BYTES on the Rust side).
MAX_SENT_MESSAGE_BYTES = 16 * 1024 * 1024
# What a description without `a=max-message-size` allows (RFC 8841 §6).
DEFAULT_MAX_MESSAGE_SIZE = 65536


def advertised_max_message_size(sdp):
    """A description's `a=max-message-size` (65536 when absent or when there is no description)."""
    found = re.search(r"^a=max-message-size:(\d+)", sdp or "", re.M)
    return int(found.group(1)) if found else DEFAULT_MAX_MESSAGE_SIZE


def resolve_size(size, advertised):
    """A send step's message size in bytes (None: the text as it is), given the advertised maximum."""
    if size == "max-message-size":
        return advertised
    if size == "max-message-size+1":
        return advertised + 1
    return size


def may_come_back(length, own_advertised):
    """scenario::steps::may_come_back: the echoer may send a message back only if it fits what this
    side advertises itself (0: no limit), so expect_echo waits only for those."""
    return own_advertised == 0 or length <= own_advertised


def skip_reason(size, advertised):
    """The same words as scenario::steps::resolve_size."""
    return (
        f"not sent: {size} bytes (the other side advertises max-message-size {advertised}) is more than the "
        f"{MAX_SENT_MESSAGE_BYTES} bytes the harness sends"
    )


def make_message(step, i, count, size, default_text):
    """Message `i` of a send step: the same bytes on every peer (scenario::steps::Payload::of)."""
    text = step.get("text") if step.get("text") is not None else default_text
    base = text if count == 1 else f"{text} #{i + 1}"
    if step.get("binary"):
        length = size if size is not None else len(base.encode())
        return bytes((i + k) % 251 for k in range(length))
    if size is None or base == "":
        return base
    data = base.encode()
    return (data * (size // len(data) + 1))[:size].decode("latin-1")


def to_bytes(data):
    return data.encode() if isinstance(data, str) else bytes(data)
