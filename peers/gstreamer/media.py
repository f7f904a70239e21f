"""Media for the gstreamer peer: `add_track` sends a live test picture (videotestsrc, SMPTE bars
scrolling sideways) or a 440 Hz tone (audiotestsrc), encoded by GStreamer in the negotiated codec
(vp8enc, vp9enc, x264enc, opusenc) and payloaded into a webrtcbin sink pad; every received stream
(webrtcbin's `pad-added`) is depayloaded and really decoded (vp8dec, vp9dec, avdec_h264, opusdec),
counted and looked at. `expect_media` waits for the plan's `[[expect.media]]` entries. Track logs
have the shape of MediaTrackLog (harness/src/observe/media.rs); peers/aiortc/media.py is the
model this file follows (same codec specs, same moving-picture look, same shortfall words).

How a track meets webrtcbin (1.22):
- The offerer binds its tracks at `add_track`: a request sink pad whose transceiver gets
  `codec-preferences` naming the one codec it sends (our payload type) — a recvonly track is a
  transceiver (`add-transceiver`) listing every codec the adapter decodes.
- The answerer binds its tracks when the offer arrives, *before* setRemoteDescription, with the
  offer's payload type: webrtcbin pairs an offered m-line with an unassociated transceiver only when
  their caps intersect, payload type included (otherwise it makes a new recvonly transceiver and the
  track is never sent; docs/findings/gstreamer.md). An offered m-line no track of ours takes gets a
  recvonly transceiver listing what the adapter decodes, so nothing undecodable is accepted.

Threads: pad probes run on GStreamer's streaming threads and only bump plain counters of a
`TrackEntry`; the asyncio loop copies them into the logs every SAMPLE_INTERVAL_S.
"""

import re
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtp", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import Gst, GstRtp, GstVideo, GstWebRTC  # noqa: E402
from media_rules import (  # noqa: E402
    codec_matches,
    new_track_log,
    now_ms,
    packed_rgb,
    parse_params,
    picture_check,
    remember_look,
    shown_codec,
    wait_for_media,
)

# How often counters are sampled (MEDIA_SAMPLE_INTERVAL_MS on the Rust side).
SAMPLE_INTERVAL_S = 0.5
# How often a received picture is looked at (and compared with the looks before it).
FRAME_CHECK_INTERVAL_S = 1.0
# The width a received picture is scaled to before it is looked at (the page's canvas: 320).
LOOK_WIDTH = 160
# What a video track sends when the step has no constraints (the native peer's clips: 320x240@30).
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS = 320, 240, 30
# How long an offer or answer waits for a freshly linked sender's caps (so it carries a=ssrc).
SEND_CAPS_WAIT_S = 1.0

DIRECTIONS = {
    "sendrecv": GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV,
    "sendonly": GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY,
    "recvonly": GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
}


def have(*elements):
    return all(Gst.ElementFactory.find(e) is not None for e in elements)


def h264_profile(params):
    """GStreamer's name for an H.264 fmtp's profile-level-id (webrtcbin turns the offer's
    profile-level-id into this `profile` caps field before it intersects caps): 42e0xx, 42c0xx,
    4240xx are Constrained Baseline, other 42xxxx Baseline."""
    level_id = (params.get("profile-level-id") or "42000a").lower()
    if not level_id.startswith("42"):
        return None
    try:
        iop = int(level_id[2:4], 16)
    except ValueError:
        return None
    return "constrained-baseline" if iop & 0x40 else "baseline"


class Codec:
    """A codec the adapter can send and/or receive, with the GStreamer elements for it."""

    def __init__(self, name, kind, clock_rate, payload_type, params, channels=None):
        self.name = name
        self.kind = kind
        self.clock_rate = clock_rate
        self.payload_type = payload_type  # ours, when we offer it
        self.params = params  # the fmtp we offer
        self.channels = channels

    def shown(self):
        return shown_codec(self.name, ";".join(f"{k}={v}" for k, v in self.params.items()))

    def can_send(self, params):
        """Whether the adapter's encoder makes what an fmtp asks for."""
        name = self.name.lower()
        if name == "vp9":
            return params.get("profile-id", "0") == "0"
        if name == "h264":
            level_id = params.get("profile-level-id", "42000a").lower()
            # x264enc's constrained-baseline stream is valid Baseline and Constrained Baseline;
            # packetization-mode 0 would need every NAL unit to fit one packet.
            return params.get("packetization-mode", "0") == "1" and level_id.startswith("42")
        return True

    def can_receive(self, params):
        name = self.name.lower()
        if name == "vp9":
            return params.get("profile-id", "0") in ("0", "2")
        return True

    def caps(self, payload_type, params=None, with_params=True):
        """codec-preferences caps for this codec under `payload_type`."""
        s = Gst.Structure.new_empty("application/x-rtp")
        s.set_value("media", self.kind)
        s.set_value("encoding-name", self.name.upper())
        s.set_value("payload", int(payload_type))
        s.set_value("clock-rate", int(self.clock_rate))
        if self.channels:
            s.set_value("encoding-params", str(self.channels))
        if with_params:
            for key, value in (self.params if params is None else params).items():
                s.set_value(key, str(value))
        caps = Gst.Caps.new_empty()
        caps.append_structure(s)
        return caps


def available_codecs():
    codecs = []
    if have("vp8enc", "rtpvp8pay", "rtpvp8depay", "vp8dec"):
        codecs.append(Codec("VP8", "video", 90000, 96, {}))
    if have("vp9enc", "rtpvp9pay", "rtpvp9depay", "vp9dec"):
        codecs.append(Codec("VP9", "video", 90000, 98, {"profile-id": "0"}))
    if have("rtph264pay", "rtph264depay", "h264parse", "capssetter") and (have("x264enc") or have("openh264enc")) and (
        have("avdec_h264") or have("openh264dec")
    ):
        codecs.append(
            Codec("H264", "video", 90000, 102, {"packetization-mode": "1", "profile-level-id": "42e01f", "level-asymmetry-allowed": "1"})
        )
    if have("opusenc", "rtpopuspay", "rtpopusdepay", "opusdec"):
        codecs.append(Codec("opus", "audio", 48000, 111, {"minptime": "10", "useinbandfec": "1"}, channels=2))
    return codecs


def sdp_sections(sdp):
    """Every m-section of `sdp`: kind, port, mid, payload types in order, rtpmap and fmtp."""
    sections = []
    for chunk in re.split(r"\r?\n(?=m=)", sdp or "")[1:]:
        lines = chunk.splitlines()
        head = lines[0][2:].split()
        section = {
            "kind": head[0],
            "port": int(head[1]) if len(head) > 1 and head[1].isdigit() else 0,
            "pts": [int(p) for p in head[3:] if p.isdigit()],
            "mid": None,
            "bundle_only": False,
            "rtpmap": {},
            "fmtp": {},
        }
        for line in lines[1:]:
            if line.startswith("a=mid:"):
                section["mid"] = line[6:].strip()
            elif line.strip() == "a=bundle-only":
                section["bundle_only"] = True
            elif line.startswith("a=rtpmap:"):
                pt, _, rest = line[9:].partition(" ")
                parts = rest.strip().split("/")
                section["rtpmap"][int(pt)] = (parts[0], int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0)
            elif line.startswith("a=fmtp:"):
                pt, _, rest = line[7:].partition(" ")
                if pt.isdigit():
                    section["fmtp"][int(pt)] = rest.strip()
        sections.append(section)
    return sections


def section_codecs(section):
    """(payload type, name, params dict, fmtp text) of every codec of an m-section, in order."""
    found = []
    for pt in section["pts"]:
        if pt not in section["rtpmap"]:
            continue
        name = section["rtpmap"][pt][0]
        fmtp = section["fmtp"].get(pt)
        params = {k.lower(): v for k, v in parse_params(fmtp)}
        found.append((pt, name, params, fmtp))
    return found


class TrackEntry:
    """One track sent or received: the counters the streaming threads bump, and its log."""

    def __init__(self, kind, direction):
        self.kind = kind
        self.direction = direction
        self.transceiver = None
        self.payload_type = None
        self.encoding = None
        self.ssrc = None
        self.bin = None
        self.looks = []  # the last looks at the received picture, newest first
        self.last_look_at = 0.0
        # Bumped by pad probes (streaming threads); copied into the log on the loop.
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.key_frames = 0
        self.width = None
        self.height = None
        self.started_at_ms = None
        self.first_frame_at_ms = None
        self.log = new_track_log(kind, direction)

    def copy_counters(self):
        log = self.log
        log["packets"], log["bytes"], log["frames"], log["key_frames"] = self.packets, self.bytes, self.frames, self.key_frames
        log["started_at_ms"] = self.started_at_ms
        log["first_frame_at_ms"] = self.first_frame_at_ms
        if self.width is not None:
            log["frame_width"], log["frame_height"] = self.width, self.height


class SendTrack:
    """A track an `add_track` step asked for, until it is bound to a transceiver."""

    def __init__(self, step, codecs):
        self.kind = step.get("kind")
        self.direction = step.get("direction") or "sendrecv"
        self.specs = step.get("codecs") or []
        self.codecs = codecs  # ours matching the specs, in the specs' order
        self.enabled = step.get("enabled", True) is not False
        constraints = step.get("constraints") or {}
        self.width = int(constraints.get("width") or DEFAULT_WIDTH)
        self.height = int(constraints.get("height") or DEFAULT_HEIGHT)
        self.fps = int(constraints.get("frame_rate") or DEFAULT_FPS)
        self.entry = None
        self.bound = False


def is_key_frame(encoding, buffer):
    if encoding in ("VP8", "VP9"):
        head = buffer.extract_dup(0, min(buffer.get_size(), 2))
        if not head:
            return False
        if encoding == "VP8":
            return head[0] & 0x01 == 0  # RFC 6386 9.1: frame type 0 is a key frame
        # VP9 uncompressed header: frame_marker(2) profile_low(1) profile_high(1)
        # [reserved_zero(1) when profile 3] show_existing_frame(1) frame_type(1), 0 = key frame.
        bits = (head[0] << 8) | (head[1] if len(head) > 1 else 0)
        if bits >> 14 != 2:
            return False
        profile = ((bits >> 13) & 1) | (((bits >> 12) & 1) << 1)
        position = 11 if profile < 3 else 10  # bit index (from the top of 16) of show_existing_frame
        if (bits >> position) & 1:
            return False
        return (bits >> (position - 1)) & 1 == 0
    return not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)


def rtp_payload_bytes(buffer):
    ok, rtp = GstRtp.RTPBuffer.map(buffer, Gst.MapFlags.READ)
    if not ok:
        return 0
    try:
        return rtp.get_payload_len()
    finally:
        rtp.unmap()


def count_rtp(entry, info):
    """A probe's buffer or buffer list, counted as RTP packets into `entry`."""
    if info.type & Gst.PadProbeType.BUFFER_LIST:
        buffers = info.get_buffer_list()
        items = [buffers.get(i) for i in range(buffers.length())]
    else:
        items = [info.get_buffer()]
    for buffer in items:
        if buffer is None:
            continue
        entry.packets += 1
        entry.bytes += rtp_payload_bytes(buffer)
    if entry.started_at_ms is None:
        entry.started_at_ms = now_ms()


class Media:
    def __init__(self, peer):
        self.peer = peer
        self.codecs = available_codecs()
        self.entries = []
        self.logs = []  # the observations' `tracks` (the same list)
        self.pending = []  # SendTracks not bound to a transceiver yet
        self.sampler = None
        self.stopped = False
        self.samples_taken = 0

    def log(self, text):
        self.peer.log_line(f"media: {text}")

    def new_entry(self, kind, direction):
        entry = TrackEntry(kind, direction)
        self.entries.append(entry)
        self.logs.append(entry.log)
        self.peer.changed()
        if self.sampler is None and not self.stopped:
            self.sampler = self.peer.loop.create_task(self.keep_sampling())
        return entry

    # ---- add_track ----

    def add_track(self, ctx):
        """Records the track; the offerer binds it at once, the answerer when the offer comes."""
        step = ctx.step
        kind = step.get("kind")
        if kind not in ("audio", "video"):
            raise self.peer.StepFailure(f"add_track: unknown kind `{kind}`")
        track = SendTrack(step, self.preferred(kind, step.get("codecs")))
        if track.direction not in DIRECTIONS:
            raise self.peer.StepFailure(f"add_track: unknown direction `{track.direction}`")
        if track.direction != "recvonly":
            track.entry = self.new_entry(kind, "outbound")
            if not track.enabled:
                self.log("add_track: enabled = false: sending black frames / silence, as browsers do")
        self.pending.append(track)
        self.log(f"add_track: {kind} {track.direction}" + (f" preferring {track.specs}" if track.specs else ""))
        if self.peer.plan["role"] == "offerer":
            self.bind_for_offer()

    def preferred(self, kind, specs):
        """The adapter's codecs of `kind` matching any of `specs`, in the specs' order (all when
        there are none); a spec nothing matches fails the step, naming what the adapter has."""
        mine = [c for c in self.codecs if c.kind == kind]
        if not specs:
            return mine
        chosen = []
        for spec in specs:
            for codec in mine:
                if codec not in chosen and codec_matches(spec, codec.name, codec.params):
                    chosen.append(codec)
        if not chosen:
            has = ", ".join(c.shown() for c in mine) or f"no {kind} codec"
            raise self.peer.StepFailure(f"no codec of gstreamer matches {' or '.join(specs)} (it has {has})")
        return chosen

    def bind_for_offer(self):
        """Binds every pending track with the adapter's own payload types (it is about to offer)."""
        for track in list(self.pending):
            if track.direction == "recvonly":
                caps = Gst.Caps.new_empty()
                for codec in track.codecs:
                    caps.append(codec.caps(codec.payload_type))
                self.add_recvonly(track.kind, caps)
            else:
                codec = track.codecs[0]
                self.bind_sender(track, codec, codec.payload_type, codec.params, codec.caps(codec.payload_type))
            self.pending.remove(track)

    def prepare_for_offer(self, sdp):
        """Before a remote offer is set: binds pending tracks to the offer's new m-lines (with the
        offer's payload types) and gives every other new audio/video m-line a recvonly
        transceiver listing what the adapter decodes, in m-line order."""
        known = {t.props.mid for t in self.peer.transceivers() if t.props.mid}
        for section in sdp_sections(sdp):
            rejected = section["port"] == 0 and not section["bundle_only"]  # max-bundle offers: port 0 + bundle-only
            if section["kind"] not in ("audio", "video") or rejected or section["mid"] in known:
                continue
            offered = section_codecs(section)
            track = next((t for t in self.pending if t.kind == section["kind"]), None)
            if track is not None:
                self.pending.remove(track)
                if track.direction == "recvonly":
                    self.add_recvonly(track.kind, self.receivable_caps(offered, track.codecs))
                    continue
                choice = self.choose(track, offered)
                if choice is None:
                    offered_text = ", ".join(shown_codec(name, fmtp) for _pt, name, _p, fmtp in offered) or "nothing"
                    self.peer.error(
                        "answering an offer",
                        f"no codec of the offer's {section['kind']} m-line (mid {section['mid']}: {offered_text}) is one gstreamer "
                        f"sends for this track ({', '.join(c.shown() for c in track.codecs)}): the track is not sent",
                    )
                    self.add_recvonly(track.kind, self.receivable_caps(offered, track.codecs))
                    continue
                codec, pt, params = choice
                self.bind_sender(track, codec, pt, params, codec.caps(pt, with_params=False))
            else:
                caps = self.receivable_caps(offered, [c for c in self.codecs if c.kind == section["kind"]])
                if caps.is_empty():
                    self.log(f"offer m-line {section['mid']} ({section['kind']}): no codec gstreamer decodes; left to webrtcbin")
                    continue
                self.add_recvonly(section["kind"], caps)
                self.log(f"offer m-line {section['mid']} ({section['kind']}): a recvonly transceiver takes it")

    def choose(self, track, offered):
        """The codec a sending track uses from an offer: with specs, the first spec's codec the
        offer has (the specs' order); without, the first offered codec the adapter sends."""
        candidates = []
        for codec in track.codecs:
            for pt, name, params, _fmtp in offered:
                if name.lower() == codec.name.lower() and codec.can_send(params):
                    if not track.specs or any(codec_matches(spec, name, params) for spec in track.specs):
                        candidates.append((codec, pt, params))
        if not candidates:
            return None
        order = [pt for pt, *_ in offered]

        def rank(candidate):
            codec, pt, params = candidate
            # With specs: the specs' order; without: the offer's. Among H.264 payload types,
            # Constrained Baseline (what x264enc makes) before plain Baseline.
            first = track.codecs.index(codec) if track.specs else order.index(pt)
            return (first, 0 if h264_profile(params) == "constrained-baseline" else 1, order.index(pt))

        return min(candidates, key=rank)

    def receivable_caps(self, offered, codecs):
        caps = Gst.Caps.new_empty()
        for pt, name, params, _fmtp in offered:
            codec = next((c for c in codecs if c.name.lower() == name.lower() and c.can_receive(params)), None)
            if codec is not None:
                caps.append(codec.caps(pt, with_params=False))
        return caps

    def add_recvonly(self, kind, caps):
        transceiver = self.peer.webrtc.emit("add-transceiver", DIRECTIONS["recvonly"], caps)
        if transceiver is None:
            raise self.peer.StepFailure(f"webrtcbin refused a recvonly {kind} transceiver ({caps.to_string()})")
        self.log(f"recvonly {kind} transceiver: {caps.to_string()}")
        return transceiver

    def bind_sender(self, track, codec, pt, params, preferences):
        """Builds the source → encoder → payloader bin for `codec` under `pt` and links it to a
        new webrtcbin sink pad whose transceiver prefers exactly that codec."""
        entry = track.entry
        description = self.sender_description(track, codec, pt, params)
        self.log(f"sending {track.kind} as {codec.name} pt {pt}: {description}")
        sender = Gst.parse_bin_from_description(description, True)
        pipeline = self.peer.pipeline
        pipeline.add(sender)
        webrtc = self.peer.webrtc
        pad = webrtc.request_pad(webrtc.get_pad_template("sink_%u"), None, preferences)
        if pad is None:
            raise self.peer.StepFailure(f"webrtcbin gave no sink pad for {preferences.to_string()}")
        transceiver = pad.props.transceiver
        transceiver.set_property("codec-preferences", preferences)
        transceiver.set_property("direction", DIRECTIONS[track.direction])
        link = sender.get_static_pad("src").link(pad)
        if link != Gst.PadLinkReturn.OK:
            raise self.peer.StepFailure(f"linking the {codec.name} sender to webrtcbin failed: {link.value_nick}")
        entry.transceiver, entry.payload_type, entry.bin = transceiver, pt, sender
        entry.width, entry.height = (track.width, track.height) if track.kind == "video" else (None, None)
        encoder, payloader = sender.get_by_name("enc"), sender.get_by_name("pay")
        if track.kind == "video":
            encoder.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.on_encoded, entry)
        payloader.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self.on_sent, entry)
        entry.send_pad = pad
        sender.sync_state_with_parent()
        track.bound = True

    def sender_description(self, track, codec, pt, params):
        name = codec.name.lower()
        if track.kind == "audio":
            wave = "sine" if track.enabled else "silence"
            return (
                f"audiotestsrc is-live=true wave={wave} freq=440 volume=0.3 ! audioconvert ! audioresample ! "
                f"audio/x-raw,rate=48000,channels=1 ! opusenc name=enc ! rtpopuspay name=pay pt={pt}"
            )
        pattern = "smpte horizontal-speed=2" if track.enabled else "black"
        # ~500 kbit/s at 320x240, more for larger pictures (a camera's figures, not a test of rate control).
        kbps = max(300, min(2000, int(500 * (track.width * track.height / 76800) ** 0.75)))
        source = (
            f"videotestsrc is-live=true pattern={pattern} ! "
            f"video/x-raw,width={track.width},height={track.height},framerate={track.fps}/1 ! videoconvert ! "
            "queue max-size-buffers=2 leaky=downstream"
        )
        if name == "vp8":
            encode = (
                f"vp8enc name=enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate={kbps * 1000} "
                f"keyframe-max-dist={track.fps} lag-in-frames=0 threads=2 ! rtpvp8pay name=pay pt={pt} picture-id-mode=15-bit mtu=1200"
            )
        elif name == "vp9":
            encode = (
                f"vp9enc name=enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate={kbps * 1000} "
                f"keyframe-max-dist={track.fps} lag-in-frames=0 threads=2 ! rtpvp9pay name=pay pt={pt} picture-id-mode=15-bit mtu=1200"
            )
        elif name == "h264":
            level_id = params.get("profile-level-id", "42e01f")
            if have("x264enc"):
                encoder = f"x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max={track.fps} bitrate={kbps} threads=2"
            else:
                encoder = f"openh264enc name=enc complexity=low gop-size={track.fps} bitrate={kbps * 1000}"
            # The payloader puts the stream's own profile-level-id (x264: 42c015…) in its caps, which
            # must intersect the transceiver's codec-preferences (the negotiated one).
            # ... and webrtcbin compares the `profile` field it derives from the offer's
            # profile-level-id: a Constrained Baseline stream is valid Baseline, so it is named so
            # when a Baseline payload type was chosen.
            profile = h264_profile(params) or "constrained-baseline"
            encode = (
                f"{encoder} ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay pt={pt} "
                f"config-interval=-1 aggregate-mode=zero-latency mtu=1200 ! "
                f'capssetter caps="application/x-rtp,profile-level-id=(string){level_id},packetization-mode=(string)1,'
                f'profile=(string){profile}"'
            )
        else:
            raise self.peer.StepFailure(f"gstreamer cannot send {codec.name}")
        return f"{source} ! {encode}"

    async def wait_for_send_caps(self):
        """Lets freshly linked senders' caps reach webrtcbin, so the description names their SSRC."""
        deadline = time.monotonic() + SEND_CAPS_WAIT_S
        while time.monotonic() < deadline:
            pads = [getattr(e, "send_pad", None) for e in self.entries if e.direction == "outbound"]
            if all(p is None or p.get_current_caps() is not None for p in pads):
                return
            await self.peer.sleep(0.02)
        self.log("a sender's caps had not reached webrtcbin: the description may lack its a=ssrc")

    # ---- Probes (streaming threads) ----

    def on_encoded(self, _pad, info, entry):
        buffer = info.get_buffer()
        if buffer is not None:
            entry.frames += 1
            if not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT):
                entry.key_frames += 1
        return Gst.PadProbeReturn.OK

    def on_sent(self, _pad, info, entry):
        count_rtp(entry, info)
        return Gst.PadProbeReturn.OK

    def on_received(self, _pad, info, entry):
        count_rtp(entry, info)
        if entry.kind == "audio" and entry.first_frame_at_ms is None:
            entry.first_frame_at_ms = now_ms()
        return Gst.PadProbeReturn.OK

    def on_decoder_input(self, _pad, info, entry):
        """A key frame, told from the bitstream for VP8/VP9 (rtpvp9depay flags every frame a
        key frame when the sender leaves the descriptor's P bit unset), from h264parse's flags
        for H.264."""
        buffer = info.get_buffer()
        if buffer is not None and is_key_frame(entry.encoding, buffer):
            entry.key_frames += 1
        return Gst.PadProbeReturn.OK

    def on_decoded(self, pad, info, entry):
        if info.type & Gst.PadProbeType.EVENT_DOWNSTREAM:
            event = info.get_event()
            if event.type == Gst.EventType.CAPS:
                s = event.parse_caps().get_structure(0)
                ok_w, width = s.get_int("width")
                ok_h, height = s.get_int("height")
                if ok_w and ok_h:
                    entry.width, entry.height = width, height
            return Gst.PadProbeReturn.OK
        entry.frames += 1
        if entry.first_frame_at_ms is None:
            entry.first_frame_at_ms = now_ms()
        return Gst.PadProbeReturn.OK

    # ---- Receiving ----

    def on_pad_added(self, _webrtc, pad):
        """A received stream (webrtcbin's thread): depayload, decode, count, look."""
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps()
        s = caps.get_structure(0) if caps is not None and caps.get_size() else None
        kind = (s.get_string("media") if s else None) or "video"
        encoding = ((s.get_string("encoding-name") if s else None) or "").upper()
        entry = TrackEntry(kind, "inbound")
        entry.encoding = encoding
        entry.started_at_ms = now_ms()
        entry.transceiver = pad.props.transceiver if pad.find_property("transceiver") else None
        if s is not None:
            ok, pt = s.get_int("payload")
            entry.payload_type = pt if ok else None
            ok, ssrc = s.get_uint("ssrc")
            entry.ssrc = ssrc if ok else None
        description = self.receiver_description(encoding)
        receiver = Gst.parse_bin_from_description(description, True)
        self.peer.pipeline.add(receiver)
        receiver.sync_state_with_parent()
        pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self.on_received, entry)
        decoder = receiver.get_by_name("dec")
        if decoder is not None and kind == "video":
            decoder.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.on_decoder_input, entry)
            decoder.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, self.on_decoded, entry
            )
        entry.bin = receiver
        link = pad.link(receiver.get_static_pad("sink"))
        self.peer.post(self.adopt_received, entry, pad.get_name(), caps.to_string() if caps else None, description, link)

    def receiver_description(self, encoding):
        look = (
            "videoconvert ! videoscale ! "
            f"video/x-raw,format=RGB,width={LOOK_WIDTH},pixel-aspect-ratio=1/1 ! "
            "fakesink name=sink sync=false async=false enable-last-sample=true"
        )
        h264_decoder = "avdec_h264" if have("avdec_h264") else "openh264dec"
        chains = {
            "VP8": f"rtpvp8depay ! vp8dec name=dec ! {look}",
            "VP9": f"rtpvp9depay ! vp9dec name=dec ! {look}",
            "H264": f"rtph264depay ! h264parse ! {h264_decoder} name=dec ! {look}",
            "OPUS": "rtpopusdepay ! opusdec name=dec ! fakesink sync=false async=false",
        }
        chain = chains.get(encoding, "fakesink name=sink sync=false async=false")
        return f"queue max-size-time=500000000 ! {chain}"

    def adopt_received(self, entry, pad_name, caps, description, link):
        self.entries.append(entry)
        self.logs.append(entry.log)
        self.peer.changed()
        self.log(f"received a {entry.kind} stream on {pad_name} ({caps}): {description} (link {link.value_nick})")
        if self.sampler is None and not self.stopped:
            self.sampler = self.peer.loop.create_task(self.keep_sampling())

    # ---- Counters ----

    async def keep_sampling(self):
        while not self.stopped:
            await self.peer.sleep(SAMPLE_INTERVAL_S)
            if self.stopped:
                return
            await self.sample()

    async def sample(self):
        at = now_ms()
        self.samples_taken += 1
        stats = None
        if any(e.packets for e in self.entries) and not self.peer.closed:
            try:
                stats = (await self.peer.promise("get-stats", None, timeout=1.0)).get("stats")
            except RuntimeError as e:
                self.log(f"get-stats: {e}")
        for entry in self.entries:
            entry.copy_counters()
            self.name_codec(entry)
            if stats:
                self.read_stats(entry, stats)
            if entry.direction == "inbound" and entry.kind == "video" and time.monotonic() - entry.last_look_at >= FRAME_CHECK_INTERVAL_S - 0.05:
                entry.last_look_at = time.monotonic()
                self.look(entry)
            entry.log["samples"].append({"at_ms": at, "packets": entry.packets, "bytes": entry.bytes, "frames": entry.frames})
        self.peer.changed()

    def name_codec(self, entry):
        """The codec and fmtp of the entry's payload type, from the negotiated descriptions
        (received: as this side declared it; sent: as the other side accepted it)."""
        transceiver = entry.transceiver
        mid = transceiver.props.mid if transceiver is not None else None
        if mid is None or entry.payload_type is None:
            return
        entry.log["mid"] = mid
        order = (self.peer.local_sdp, self.peer.remote_sdp)
        if entry.direction == "outbound":
            order = order[::-1]
        for sdp in order:
            section = next((s for s in sdp_sections(sdp) if s["mid"] == mid), None)
            if section is not None and entry.payload_type in section["rtpmap"]:
                name = section["rtpmap"][entry.payload_type][0]
                entry.log["codec"] = f"{entry.kind}/{name}"
                entry.log["fmtp"] = section["fmtp"].get(entry.payload_type)
                return

    def read_stats(self, entry, stats):
        if entry.ssrc is None and entry.direction == "outbound" and getattr(entry, "send_pad", None) is not None:
            caps = entry.send_pad.get_current_caps()
            if caps is not None and caps.get_size():
                ok, ssrc = caps.get_structure(0).get_uint("ssrc")
                entry.ssrc = ssrc if ok else None
        if entry.ssrc is None:
            return
        wanted = "inbound-rtp" if entry.direction == "inbound" else "outbound-rtp"
        for s in stats.values():
            if s.get("type") != wanted or s.get("ssrc") != entry.ssrc:
                continue
            if entry.direction == "inbound":
                if isinstance(s.get("jitter"), (int, float)):
                    entry.log["jitter_ms"] = s["jitter"] * 1000.0
                if isinstance(s.get("packets-lost"), int):
                    entry.log["packets_lost"] = s["packets-lost"]
            for key, field in (("nack_count", "nack-count"), ("pli_count", "pli-count")):
                if isinstance(s.get(field), int) and s[field] >= 0:
                    entry.log[key] = s[field]

    def look(self, entry):
        """Compares the received picture (scaled to LOOK_WIDTH, RGB) with the looks one and
        two seconds before (media_rules.picture_check)."""
        sink = entry.bin.get_by_name("sink") if entry.bin is not None else None
        sample = sink.get_property("last-sample") if sink is not None else None
        if sample is None:
            return
        info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        buffer = sample.get_buffer()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if not ok:
            return
        try:
            data = bytes(mapped.data)
        finally:
            buffer.unmap(mapped)
        width, height = info.width, info.height
        look = (width, height, packed_rgb(data, width, height, info.stride[0]))
        check = picture_check(entry.looks, look, f"RGB {width}x{height} of {entry.width}x{entry.height}")
        if check is not None:
            entry.log["frame_checks"].append(check)
        entry.looks = remember_look(entry.looks, look)

    # ---- expect_media ----

    async def expect(self, ctx):
        def received(kind):
            return next((e.log for e in self.entries if e.direction == "inbound" and e.kind == kind), None)

        await wait_for_media(ctx, self.peer.plan.get("media"), received)

    def stop(self):
        self.stopped = True
        if self.sampler is not None:
            self.sampler.cancel()
