"""Media for the aiortc peer: `add_track` sends a generated moving picture (video) or a 440 Hz
tone (audio); every received track is decoded by aiortc and watched (frames, size, a moving
picture), and `expect_media` waits for the plan's `[[expect.media]]` entries. Track logs have the
shape of MediaTrackLog (harness/src/observe/media.rs).
"""

import asyncio
import fractions
import logging
import math
import time

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from av.video.frame import PictureType
from media_rules import (
    REPAIR_CODECS,
    codec_matches,
    codec_name,
    new_track_log,
    now_ms,
    packed_rgb,
    picture_check,
    remember_look,
    shown_codec,
    wait_for_media,
)

log = logging.getLogger("rtc-interop.aiortc")

# How often counters are sampled (MEDIA_SAMPLE_INTERVAL_MS on the Rust side).
SAMPLE_INTERVAL_S = 0.5
# How often a received picture is looked at (and compared with the looks before it).
FRAME_CHECK_INTERVAL_S = 1.0
# The width a received picture is scaled to before it is looked at (the page's canvas: 320).
LOOK_WIDTH = 160
VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS = 320, 240, 30
VIDEO_CLOCK_RATE = 90000
# Rows at the bottom of the sent picture that show the frame number (32: one block of it is 0.8 %
# of the picture, above the check's 0.5 % of pixels).
COUNTER_BAND_HEIGHT = 32
AUDIO_RATE, AUDIO_PTIME = 48000, 0.02


def fmtp_of(parameters):
    return ";".join(f"{k}={v}" for k, v in (parameters or {}).items()) or None


class NoCodec(Exception):
    """No codec of aiortc matches the step's codec specs."""


class MovingPicture(MediaStreamTrack):
    """A 320x240 test picture at 30 fps: a diagonal luma gradient that moves every frame, over a
    band showing the frame number in binary; all black when `black` (a disabled track: browsers
    send black frames).

    Built so that any two frames a receiver looks at a second apart differ far beyond the picture
    check's thresholds, however late its loop wakes: a second (30 frames) moves the gradient half
    its period (every pixel by ~128), and the band tells apart frames the gradient does not
    (a whole period, 64 frames, apart). The earlier stripes repeated every 32 frames, so a look
    1.07 s after the previous one saw the same picture and called a moving stream frozen."""

    kind = "video"

    def __init__(self, counters, black=False):
        super().__init__()
        self.counters = counters
        self.black = black
        self.index = 0
        self.start = None
        self.gradient = bytes(i % 256 for i in range(4096))

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.time()
        else:
            await asyncio.sleep(max(0.0, self.start + self.index / VIDEO_FPS - time.time()))
        frame = VideoFrame(width=VIDEO_WIDTH, height=VIDEO_HEIGHT, format="yuv420p")
        luma, *chroma = frame.planes
        shift = (self.index * 4) % 256
        stride = luma.line_size
        if self.black:
            luma.update(bytes([16]) * luma.buffer_size)
        else:
            moving = luma.height - COUNTER_BAND_HEIGHT
            rows = [self.gradient[(y + shift) % 256 : (y + shift) % 256 + stride] for y in range(moving)]
            luma.update(b"".join(rows) + self.counter_row(stride) * COUNTER_BAND_HEIGHT)
        for plane in chroma:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = int(self.index * VIDEO_CLOCK_RATE / VIDEO_FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self.index += 1
        self.counters.frame_out()
        return frame

    def counter_row(self, stride):
        """One row of the band: the frame number's 16 low bits as dark and light blocks."""
        block = VIDEO_WIDTH // 16
        bits = b"".join(bytes([235 if self.index >> bit & 1 else 16]) * block for bit in range(16))
        return bits + bytes([16]) * (stride - len(bits))


class Tone(MediaStreamTrack):
    """A 440 Hz tone, 20 ms frames at 48 kHz mono."""

    kind = "audio"

    def __init__(self, counters, silent=False):
        super().__init__()
        self.counters = counters
        self.silent = silent
        self.samples = int(AUDIO_RATE * AUDIO_PTIME)
        self.timestamp = None
        self.start = None
        period = AUDIO_RATE // 440 * 440  # one whole number of cycles per second
        wave = [int(8000 * math.sin(2 * math.pi * 440 * n / AUDIO_RATE)) for n in range(period)]
        self.wave = b"".join(v.to_bytes(2, "little", signed=True) for v in wave)

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.timestamp is None:
            self.start, self.timestamp = time.time(), 0
        else:
            self.timestamp += self.samples
            await asyncio.sleep(max(0.0, self.start + self.timestamp / AUDIO_RATE - time.time()))
        frame = AudioFrame(format="s16", layout="mono", samples=self.samples)
        offset = (self.timestamp * 2) % len(self.wave)
        chunk = (self.wave + self.wave)[offset : offset + self.samples * 2]
        frame.planes[0].update(bytes(len(chunk)) if self.silent else chunk)
        frame.pts = self.timestamp
        frame.sample_rate = AUDIO_RATE
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.counters.frame_out()
        return frame


class TrackEntry:
    """One track sent or received, with its MediaTrackLog."""

    def __init__(self, kind, direction, transceiver):
        self.transceiver = transceiver
        self.track = None
        self.looks = []  # the last looks at the received picture (width, height, RGB bytes), newest first
        self.tasks = []
        self.log = new_track_log(kind, direction)

    def frame_out(self):
        self.log["frames"] += 1
        if self.log["started_at_ms"] is None:
            self.log["started_at_ms"] = now_ms()


class Media:
    def __init__(self, peer):
        self.peer = peer
        self.entries = []
        self.sampler = None
        self.stopped = False

    def logs(self):
        return [e.log for e in self.entries]

    def new_entry(self, kind, direction, transceiver):
        entry = TrackEntry(kind, direction, transceiver)
        self.entries.append(entry)
        if self.sampler is None and not self.stopped:
            self.sampler = asyncio.ensure_future(self.keep_sampling())
        return entry

    # ---- Sending ----

    def add_track(self, ctx):
        """Adds a transceiver for a generated track (or a recvonly one), preferring the step's
        codecs. addTrack, not addTransceiver: aiortc gives a remote offer's m-section to a
        transceiver of the same kind without a mid (setRemoteDescription), as JSEP 5.10 says."""
        step = ctx.step
        kind = step.get("kind")
        direction = step.get("direction") or "sendrecv"
        pc = self.peer.pc
        codecs = self.preferred(kind, step.get("codecs"))
        if direction == "recvonly":
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            entry = None
        else:
            entry = self.new_entry(kind, "outbound", None)
            enabled = step.get("enabled", True) is not False
            track = MovingPicture(entry, black=not enabled) if kind == "video" else Tone(entry, silent=not enabled)
            sender = pc.addTrack(track)
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            transceiver.direction = direction
            entry.transceiver, entry.track = transceiver, track
            if not enabled:
                log.info("add_track: enabled = false: sending black frames / silence, as browsers do")
        if codecs:
            transceiver.setCodecPreferences(codecs)
        log.info("add_track: %s %s%s", kind, direction, f" preferring {step.get('codecs')}" if codecs else "")

    def preferred(self, kind, specs):
        """aiortc's codecs matching any of `specs`, in the specs' order, repair codecs after."""
        if not specs:
            return None
        available = RTCRtpSender.getCapabilities(kind).codecs
        chosen = []
        for spec in specs:
            for codec in available:
                if codec_name(codec.mimeType).lower() in REPAIR_CODECS or codec in chosen:
                    continue
                if codec_matches(spec, codec.mimeType, codec.parameters):
                    chosen.append(codec)
        if not chosen:
            has = []
            for c in available:
                if codec_name(c.mimeType).lower() not in REPAIR_CODECS:
                    text = shown_codec(c.mimeType, fmtp_of(c.parameters))
                    if text not in has:
                        has.append(text)
            raise NoCodec(f"no codec of aiortc matches {' or '.join(specs)} (it has {', '.join(has)})")
        return chosen + [c for c in available if codec_name(c.mimeType).lower() in REPAIR_CODECS]

    # ---- Receiving ----

    def on_remote_track(self, track):
        transceiver = next((t for t in self.peer.pc.getTransceivers() if t.receiver.track is track), None)
        log.info("track: %s (mid %s)", track.kind, transceiver.mid if transceiver else None)
        entry = next((e for e in self.entries if e.log["direction"] == "inbound" and e.log["kind"] == track.kind), None)
        if entry is None:
            entry = self.new_entry(track.kind, "inbound", transceiver)
            entry.log["started_at_ms"] = now_ms()
        entry.transceiver, entry.track = transceiver, track
        if transceiver is not None:
            self.count_packets(entry, transceiver.receiver)
        entry.tasks.append(asyncio.ensure_future(self.consume(entry, track)))
        if track.kind == "video":
            entry.tasks.append(asyncio.ensure_future(self.keep_looking(entry)))

    def count_packets(self, entry, receiver):
        """aiortc's inbound-rtp stats have no bytes and no codec: count what the receiver's
        RTP handler (RTCRtpReceiver._handle_rtp_packet) is given, and name its payload type."""
        handle = receiver._handle_rtp_packet

        async def counting(packet, arrival_time_ms):
            entry.log["bytes"] += len(packet.payload)
            if entry.log["codec"] is None or entry.payload_type != packet.payload_type:
                self.name_codec(entry, packet.payload_type)
            return await handle(packet, arrival_time_ms)

        entry.payload_type = None
        receiver._handle_rtp_packet = counting

    def name_codec(self, entry, payload_type):
        for codec in entry.transceiver._codecs if entry.transceiver else []:
            if codec.payloadType == payload_type and codec_name(codec.mimeType).lower() not in REPAIR_CODECS:
                entry.payload_type = payload_type
                entry.log["codec"] = codec.mimeType
                entry.log["fmtp"] = fmtp_of(codec.parameters)

    async def consume(self, entry, track):
        """Reads every decoded frame (aiortc decodes in its receiver)."""
        while not self.stopped:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if entry.log["first_frame_at_ms"] is None:
                entry.log["first_frame_at_ms"] = now_ms()
            if entry.log["kind"] != "video":
                continue
            entry.log["frames"] += 1
            if frame.key_frame or frame.pict_type == PictureType.I:
                entry.log["key_frames"] += 1
            entry.log["frame_width"], entry.log["frame_height"] = frame.width, frame.height
            entry.latest = frame

    async def keep_looking(self, entry):
        while not self.stopped:
            await asyncio.sleep(FRAME_CHECK_INTERVAL_S)
            frame = getattr(entry, "latest", None)
            if frame is not None:
                self.look(entry, frame)

    def look(self, entry, frame):
        """Compares the received picture, scaled to at most LOOK_WIDTH pixels wide and read as
        RGB, with the looks one and two seconds before (media_rules.picture_check)."""
        width = min(LOOK_WIDTH, frame.width)
        height = max(1, round(frame.height * width / frame.width))
        rgb = frame.reformat(width=width, height=height, format="rgb24")
        plane = rgb.planes[0]
        look = (width, height, packed_rgb(bytes(plane), width, height, plane.line_size))
        check = picture_check(entry.looks, look, f"RGB {width}x{height} of {frame.width}x{frame.height}")
        if check is not None:
            entry.log["frame_checks"].append(check)
        entry.looks = remember_look(entry.looks, look)

    # ---- Counters ----

    async def keep_sampling(self):
        while not self.stopped:
            await asyncio.sleep(SAMPLE_INTERVAL_S)
            await self.sample()

    async def sample(self):
        for entry in self.entries:
            try:
                await self.read_stats(entry)
            except Exception as e:  # noqa: BLE001 - stats of a closed transport
                log.debug("media stats: %s", e)
            entry.log["samples"].append(
                {"at_ms": now_ms(), "packets": entry.log["packets"], "bytes": entry.log["bytes"], "frames": entry.log["frames"]}
            )

    async def read_stats(self, entry):
        transceiver = entry.transceiver
        if transceiver is None:
            return
        entry.log["mid"] = transceiver.mid
        inbound = entry.log["direction"] == "inbound"
        part = transceiver.receiver if inbound else transceiver.sender
        stats = await part.getStats()
        for s in stats.values():
            if inbound and s.type == "inbound-rtp":
                entry.log["packets"] = s.packetsReceived
                entry.log["packets_lost"] = s.packetsLost
                # aiortc reports jitter in RTP clock units.
                codec = next((c for c in transceiver._codecs if c.payloadType == entry.payload_type), None)
                if codec is not None:
                    entry.log["jitter_ms"] = s.jitter * 1000.0 / codec.clockRate
            elif not inbound and s.type == "outbound-rtp":
                entry.log["packets"] = s.packetsSent
                entry.log["bytes"] = s.bytesSent
        if not inbound and transceiver._codecs:
            codec = transceiver._codecs[0]  # aiortc's sender sends the first negotiated codec
            entry.log["codec"], entry.log["fmtp"] = codec.mimeType, fmtp_of(codec.parameters)

    # ---- expect_media ----

    async def expect(self, ctx):
        def received(kind):
            return next((e.log for e in self.entries if e.log["direction"] == "inbound" and e.log["kind"] == kind), None)

        await wait_for_media(ctx, self.peer.plan.get("media"), received)

    def stop(self):
        self.stopped = True
        if self.sampler is not None:
            self.sampler.cancel()
        for entry in self.entries:
            for task in entry.tasks:
                task.cancel()
            if entry.track is not None and entry.log["direction"] == "outbound":
                entry.track.stop()
