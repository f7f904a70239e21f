"""The media rules every Python adapter (peers/aiortc, peers/gstreamer) judges by, in the words of
the Rust side (scenario::CodecSpec::matches, observe::media::media_shortfall), so that a failure
reads the same whichever stack saw it. Stack-free: only the standard library."""

import time

# fmtp parameters whose absence means a value (IMPLIED_PARAMS on the Rust side).
IMPLIED_PARAMS = {
    ("vp9", "profile-id"): "0",
    ("av1", "profile"): "0",
    ("av1", "level-idx"): "5",
    ("av1", "tier"): "0",
    ("h264", "packetization-mode"): "0",
}
# Repair codecs ride along with whichever codecs are preferred.
REPAIR_CODECS = {"rtx", "red", "ulpfec", "flexfec-03"}


def now_ms():
    return time.time() * 1000.0


def codec_name(name_or_mime):
    """`VP8` for `video/VP8` (and for `VP8`)."""
    return name_or_mime.split("/")[-1]


def parse_params(text):
    """`a=1;b=2` as [(a, 1), (b, 2)]."""
    pairs = []
    for part in (text or "").split(";"):
        part = part.strip()
        if part:
            key, _, value = part.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def codec_matches(spec, name, params):
    """Whether codec `name` (or MIME type) with fmtp `params` (a dict) matches a spec
    `NAME[;key=value…]`: names and keys case-insensitive, a key the fmtp leaves out has its RFC
    default, a key the spec does not name may be anything."""
    spec_name, _, rest = spec.partition(";")
    spec_name = spec_name.strip()
    if spec_name.lower() != codec_name(name).lower():
        return False
    given = {k.lower(): str(v) for k, v in (params or {}).items()}
    for key, value in parse_params(rest):
        actual = given.get(key.lower(), IMPLIED_PARAMS.get((spec_name.lower(), key.lower())))
        if actual is None or actual.lower() != value.lower():
            return False
    return True


def shown_codec(name, fmtp):
    """`VP9 profile-id=0`: a codec (name or MIME type) as failures show it."""
    return f"{codec_name(name)} {fmtp}" if fmtp else codec_name(name)


def new_track_log(kind, direction):
    """A track's entry of the observations (`tracks`), before anything was counted."""
    return {
        "kind": kind,
        "direction": direction,
        "mid": None,
        "codec": None,
        "fmtp": None,
        "started_at_ms": None,
        "first_frame_at_ms": None,
        "packets": 0,
        "bytes": 0,
        "frames": 0,
        "key_frames": 0,
        "frame_width": None,
        "frame_height": None,
        "jitter_ms": None,
        "packets_lost": None,
        "nack_count": None,
        "pli_count": None,
        "frame_checks": [],
        "samples": [],
    }


def packed_rgb(data, width, height, stride):
    """The RGB bytes of a picture whose rows are `stride` bytes apart, without the padding."""
    row = width * 3
    return b"".join(data[y * stride : y * stride + row] for y in range(height))


# How many earlier looks a new look is compared with (the page's too: one and two seconds before).
LOOKS_KEPT = 2
# How many of the latest looks judge whether the picture moves (LOOKS_JUDGED on the Rust side,
# observe::media, says why).
LOOKS_JUDGED = 3


def picture_check(before, current, how):
    """Compares a look at a received picture (`(width, height, packed RGB)`) with the looks one
    and two seconds before it (`before`, newest first), as the browser page does with its canvas
    (fixtures/browser/peer.js, lookAtPicture): `changed` if over 0.5 % of the pixels moved by more
    than 24 in a channel against either, `black` if over 99 % have every channel below 24. Full
    colour, not luma only, and two seconds back, not one: Firefox's fake camera is one colour
    stepping one chroma unit a captured frame, and where a channel clips (its stream starts in
    such a corner: pure green for ~50 frames) a second can move no channel past 24. None when
    there is nothing of the same size to compare with yet."""
    width, height, pixels = current
    before = [look[2] for look in before if look[:2] == current[:2]]
    if not before:
        return None
    moved = [0] * len(before)
    dark = 0
    for i in range(0, len(pixels), 3):
        r, g, b = pixels[i], pixels[i + 1], pixels[i + 2]
        if r < 24 and g < 24 and b < 24:
            dark += 1
        for n, look in enumerate(before):
            if abs(r - look[i]) > 24 or abs(g - look[i + 1]) > 24 or abs(b - look[i + 2]) > 24:
                moved[n] += 1
    count = width * height
    return {
        "at_ms": now_ms(),
        "changed": any(m > count * 0.005 for m in moved),
        "black": dark > count * 0.99,
        "how": f"{how} against {'1 and 2 s' if len(before) == 2 else '1 s'} before",
    }


def remember_look(looks, look):
    """`looks` (newest first) with `look` added in front, as many as LOOKS_KEPT."""
    return [look, *looks][:LOOKS_KEPT]


def first_shortfall(expectations, inbound_log, within):
    """The first shortfall of the plan's `media` expectations (None: all met); `inbound_log(kind)`
    is the log of the received track of that kind, or None."""
    for expect in expectations or []:
        shortfall = media_shortfall(expect, inbound_log(expect["kind"]), within)
        if shortfall is not None:
            return shortfall
    return None


async def wait_for_media(ctx, expectations, inbound_log):
    """The `expect_media` step: waits (`ctx.wait`) until the plan's `media` expectations are all met,
    failing with the first shortfall when its time runs out; `inbound_log` as for first_shortfall."""

    def unmet():
        return first_shortfall(expectations, inbound_log, ctx.within)

    await ctx.wait(
        lambda: unmet() is None,
        lambda: unmet() or f"the media met its expectations only as the time ran out {ctx.within}",
    )


def media_shortfall(expect, log_, within):
    """What `expect` still lacks (None: nothing), in the words of observe::media::media_shortfall."""
    kind = expect["kind"]
    if log_ is None:
        return f"{kind}: no {kind} track arrived {within}"
    codec = shown_codec(log_["codec"], log_["fmtp"]) if log_["codec"] else "unknown"
    min_packets = expect.get("min_packets", 25)
    if log_["packets"] < min_packets:
        return f"{kind}: {log_['packets']} of {min_packets} packets received {within} (codec {codec})"
    if kind != "video":
        return None
    min_frames = expect.get("min_frames", 15)
    if log_["frames"] < min_frames:
        return f"{kind}: {log_['frames']} of {min_frames} frames decoded {within} ({log_['packets']} packets received, codec {codec})"
    if not expect.get("moving", True):
        return None
    looks = log_["frame_checks"][-LOOKS_JUDGED:]
    if not looks:
        return f"{kind}: the picture was never looked at {within} ({log_['frames']} frames decoded)"
    check = looks[-1]
    if check["black"]:
        return f"{kind}: the picture is black ({check['how']}; {log_['frames']} frames decoded, codec {codec})"
    if not any(c["changed"] and not c["black"] for c in looks):
        count = f"{len(looks)} look{'' if len(looks) == 1 else 's'}"
        return (
            f"{kind}: the picture is frozen: it did not change at the last {count}, a second apart "
            f"({check['how']}; {log_['frames']} frames decoded, codec {codec})"
        )
    return None
