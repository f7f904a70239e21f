"""The aiortc end of rtc-interop: an external peer (docs/external-peers.md).

Started as `peer.py --plan PLAN.json --observations OUT.json`, it joins the plan's relay room,
walks the plan's steps with aiortc's RTCPeerConnection exactly as the browser page
(fixtures/browser/peer.js) does — acting on its own steps, waiting for the evidence of the other
side's — and reports what it saw in OUT.json (the harness's Observations schema).

aiortc cannot trickle: setLocalDescription() gathers every candidate before it returns, so every
description goes out with its candidates inside (vanilla) and no `candidate` message is ever sent.
"""

import sys

# Keep the peers/ folder free of __pycache__ (it is the project's source tree).
sys.dont_write_bytecode = True

import argparse  # noqa: E402
import asyncio
import json
import logging
import os
import re
import signal
import time

import aiortc
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
import websockets

# Shared with the other Python adapter: peers/python-common/ (media_rules.py, channel_rules.py,
# observation_log.py, signaling.py).
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python-common"))
from channel_rules import (  # noqa: E402
    MAX_SENT_MESSAGE_BYTES,
    advertised_max_message_size,
    make_message,
    may_come_back,
    resolve_size,
    skip_reason,
    to_bytes,
)
import media
from media_rules import now_ms  # noqa: E402
from observation_log import (  # noqa: E402
    candidate_key,
    ice_ufrag,
    new_channel_log,
    new_observations,
    new_step_entry,
    round_to_answer_after,
    rounds_through,
    shown_data,
)
from signaling import dispatch_frame, is_new_peer  # noqa: E402

log = logging.getLogger("rtc-interop.aiortc")

# How long a peer that has done its part waits for the other side's end-of-candidates
# (END_OF_CANDIDATES_GRACE on the Rust side).
END_OF_CANDIDATES_GRACE_S = 2.0
POLL_S = 0.01
# How often the observations file is rewritten when something changed.
SAVE_INTERVAL_S = 0.2
# How long joining the relay may take.
JOIN_TIMEOUT_S = 5.0
# How long closing the connection may take (aiortc awaits its transports).
CLOSE_TIMEOUT_S = 1.0
# Once finished, the connection stays up (echoing, answering) until `bye`, the relay closing, or
# this long: the other side may still be waiting for an echo. The harness ends it with SIGTERM.
LINGER_S = 30.0


class StepFailure(Exception):
    """A step that could not complete: its message is the step's `error`."""


def describe_error(e):
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def candidates_in(sdp):
    """The `candidate:…` lines of a description, in order."""
    return [line[2:].strip() for line in (sdp or "").splitlines() if line.startswith("a=candidate:")]


class Channel:
    """One data channel and its log (DataChannelLog)."""

    def __init__(self, peer, channel, echoes):
        self.peer = peer
        self.channel = channel
        self.unmatched = []  # bytes sent and not yet seen back
        # Messages sent larger than this side advertises: the echoer may not send them back
        # (RFC 8841 §6), so expect_echo does not wait for them.
        self.too_big_to_come_back = 0
        self.log = new_channel_log(channel.label, channel.id, echoes)
        channel.on("open", self.on_open)
        channel.on("close", self.on_close)
        channel.on("message", self.on_message)
        if channel.readyState == "open":
            self.on_open()

    def on_open(self):
        if self.log["opened_at_ms"] is None:
            self.log["opened_at_ms"] = now_ms()
        self.log["id"] = self.channel.id
        log.info("channel `%s` (id %s): open", self.channel.label, self.channel.id)

    def on_close(self):
        if self.log["closed_at_ms"] is None:
            self.log["closed_at_ms"] = now_ms()
        log.info("channel `%s`: close fired", self.channel.label)

    def on_message(self, data):
        raw = to_bytes(data)
        self.log["messages_received"] += 1
        self.log["bytes_received"] += len(raw)
        if self.log["echoes"]:
            # The other side opened it: send everything back unchanged.
            try:
                self.channel.send(data)
                self.log["messages_echoed"] += 1
            except Exception as e:  # noqa: BLE001 - the stack's refusal is evidence
                self.log["send_errors"].append(describe_error(e))
            return
        echo = self.log["echo"]
        if echo is not None and echo["received"] is None:
            echo["received"] = shown_data(data)
            echo["received_at_ms"] = now_ms()
        if raw in self.unmatched:
            self.unmatched.remove(raw)
            self.log["echoes_matched"] += 1

    def closed_now(self):
        if self.channel.readyState == "closed" and self.log["closed_at_ms"] is None:
            self.log["closed_at_ms"] = now_ms()


class Peer:
    def __init__(self, plan, out_path):
        self.plan = plan
        self.out_path = out_path
        self.obs = new_observations()
        self.channels = {}  # label -> Channel
        self.known_peers = set()
        self.pending_candidates = []  # remote candidates waiting for a remote description
        self.remote_ufrag = None
        self.making_offer = False
        self.ignore_offer = False
        self.answering = False
        self.current_step = 0
        self.final_read = False
        self.leaving = False
        self.finishing = False
        self.socket = None
        self.outbox = asyncio.Queue()
        self.last_saved = None
        self.closed = asyncio.Event()  # bye received, the connection closed, or the relay left
        self.close_recorded = False  # close_connection() has recorded the states after the close
        self.tearing_down = False
        self.last_pair = None  # the selected pair as last read while connected
        self.pc = RTCPeerConnection(self.configuration())
        self.media = media.Media(self)
        self.watch_states()

    # ---- Set-up ----

    def configuration(self):
        """Exactly the plan's ICE servers: an empty list, never aiortc's default Google STUN
        server (RTCIceGatherer.getDefaultIceServers, used when iceServers is None)."""
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.plan.get("ice_servers") or []
        ]
        policy = RTCIceTransportPolicy.RELAY if self.plan.get("ice_transport_policy") == "relay" else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)

    def watch_states(self):
        pc = self.pc
        watched = {
            "iceconnectionstatechange": ("ice_connection_states", lambda: pc.iceConnectionState),
            "connectionstatechange": ("connection_states", lambda: pc.connectionState),
            "icegatheringstatechange": ("ice_gathering_states", lambda: pc.iceGatheringState),
            "signalingstatechange": ("signaling_states", lambda: pc.signalingState),
        }
        for event, (field, read) in watched.items():
            self.record(field, read())
            pc.on(event, lambda field=field, read=read: self.record(field, read()))
        pc.on("datachannel", lambda channel: self.adopt(channel, echoes=True))
        pc.on("track", self.media.on_remote_track)

    def record(self, field, state):
        """A state as read now; aiortc fires signalingstatechange without a change, so only
        changes are kept. Nothing is recorded once the program is leaving: the tear-down at
        exit is not part of the case."""
        if self.tearing_down:
            return
        if field == "connection_states" and state == "connected":
            self.remember_pair()
        states = self.obs[field]
        if states and states[-1]["state"] == state:
            return
        states.append({"state": state, "at_ms": now_ms()})
        log.info("%s: %s", field.replace("_states", ""), state)

    def error(self, where, e):
        text = f"{where}: {e if isinstance(e, str) else describe_error(e)}"
        self.obs["errors"].append(text)
        log.warning("%s", text)

    # ---- Observations ----

    def save(self):
        """Writes the whole document next to its place and renames it over (atomic); nothing
        once the program tears down at exit (what it saw until then is the report)."""
        if self.tearing_down:
            return
        self.obs["tracks"] = self.media.logs()
        text = json.dumps(self.obs)
        if text == self.last_saved:
            return
        tmp = f"{self.out_path}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.out_path)
        self.last_saved = text

    def save_now(self):
        """Saves at once (a step began or ended): the harness may end the case any moment."""
        try:
            self.save()
        except OSError as e:
            log.warning("writing observations: %s", e)

    def remember_pair(self):
        """Reads the selected pair while the transports are up: aioice forgets its nominated
        pairs when the connection closes (a hang-up may close it before the final read)."""
        try:
            pair = selected_pair(self.pc)
        except Exception as e:  # noqa: BLE001 - private aioice fields may move
            log.debug("reading the selected pair: %s", describe_error(e))
            return
        if pair is not None:
            self.last_pair = pair

    async def keep_saving(self):
        while True:
            await asyncio.sleep(SAVE_INTERVAL_S)
            if self.pc.connectionState == "connected":
                self.remember_pair()
            try:
                self.save()
            except OSError as e:
                log.warning("writing observations: %s", e)

    # ---- Signaling ----

    def send(self, type_, **fields):
        self.outbox.put_nowait(json.dumps({"type": type_, **fields, "m": self.plan["id"]}))

    async def join(self):
        url = self.plan["signal_url"]
        try:
            self.socket = await asyncio.wait_for(websockets.connect(url, max_size=None), JOIN_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"cannot join the relay at {url}: {describe_error(e)}") from e
        self.send("hello")

    async def write_frames(self):
        while True:
            text = await self.outbox.get()
            if text is None:
                return
            try:
                await self.socket.send(text)
            except Exception as e:  # noqa: BLE001
                if not self.leaving:
                    self.error("signaling", f"sending failed: {describe_error(e)}")
                return

    async def read_frames(self):
        """Handles frames one after another, in arrival order (as the page does)."""
        try:
            async for text in self.socket:
                try:
                    await dispatch_frame(self, text)
                except Exception as e:  # noqa: BLE001
                    self.error("signaling", e)
        except websockets.ConnectionClosed:
            pass
        if not self.obs["finished"] and not self.leaving:
            self.error("signaling", "the relay closed the connection")
        self.closed.set()

    def on_hello(self, sender):
        if is_new_peer(sender, self.plan["id"], self.known_peers):
            self.obs["remote_id"] = sender
            self.send("hello")  # whoever joined first learns of us too

    # ---- Offers and answers ----

    async def set_local(self, description):
        """Sets a description; aiortc gathers every candidate before this returns."""
        await self.pc.setLocalDescription(description)
        local = self.pc.localDescription
        self.obs["local_descriptions"].append({"type": local.type, "sdp": local.sdp, "at_ms": now_ms()})
        known = set(self.obs["local_candidates"])
        for candidate in candidates_in(local.sdp):
            if candidate not in known:
                known.add(candidate)
                self.obs["local_candidates"].append(candidate)
        return local

    async def make_offer(self):
        self.making_offer = True
        try:
            offer = await self.pc.createOffer()
            if self.obs["offer_created_at_ms"] is None:
                self.obs["offer_created_at_ms"] = now_ms()
            local = await self.set_local(offer)
        finally:
            self.making_offer = False
        self.send("offer", sdp=local.sdp)
        log.info("sent an offer with %d candidates", len(candidates_in(local.sdp)))

    async def ready_for_offer(self):
        """An offer arriving while this side is still in the add_track steps before the round
        it completes waits for them, so the answer carries the tracks."""
        target = round_to_answer_after(self.plan, self.obs["negotiations"], self.current_step)
        if target is None:
            return
        log.info("an offer arrived during add_track steps: answering it after them")
        deadline = time.monotonic() + self.longest_step_s()
        while self.current_step < target and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)

    async def on_offer(self, sdp):
        await self.ready_for_offer()
        if self.plan.get("perfect_negotiation"):
            collision = self.making_offer or self.pc.signalingState != "stable"
            self.ignore_offer = collision and self.plan["role"] != "answerer"
            if self.ignore_offer:
                log.info("ignored a colliding offer (impolite; signaling %s)", self.pc.signalingState)
                return
        self.answering = True
        try:
            await self.set_remote(RTCSessionDescription(sdp=sdp, type="offer"))
            answer = await self.pc.createAnswer()
            local = await self.set_local(answer)
            self.obs["negotiations"] += 1
            self.send("answer", sdp=local.sdp)
            log.info("answered an offer (%d candidates in the answer)", len(candidates_in(local.sdp)))
        except Exception as e:  # noqa: BLE001
            self.error("answering an offer (setRemoteDescription/createAnswer/setLocalDescription)", e)
        finally:
            self.answering = False

    async def on_answer(self, sdp):
        try:
            await self.set_remote(RTCSessionDescription(sdp=sdp, type="answer"))
            self.obs["negotiations"] += 1
            log.info("applied the answer (round %d)", self.obs["negotiations"])
        except Exception as e:  # noqa: BLE001
            self.error("applying an answer (setRemoteDescription)", e)

    async def set_remote(self, description):
        previous = self.remote_ufrag
        await self.pc.setRemoteDescription(description)
        self.remote_ufrag = ice_ufrag(description.sdp)
        if previous and self.remote_ufrag != previous:
            self.obs["remote_candidates_complete"] = False
        # A peer that does not trickle has its candidates in the description: they count too.
        for line in description.sdp.splitlines():
            if line.startswith("a=candidate:"):
                self.add_remote_candidate(line[2:].strip())
            if line.startswith("a=end-of-candidates"):
                self.obs["remote_candidates_complete"] = True
        queued, self.pending_candidates = self.pending_candidates, []
        for message in queued:
            await self.add_candidate(message)

    def add_remote_candidate(self, text):
        key = candidate_key(text)
        for seen in self.obs["remote_candidates"]:
            if seen == text or (key is not None and candidate_key(seen) == key):
                return
        self.obs["remote_candidates"].append(text)

    async def on_candidate(self, message):
        if self.pc.remoteDescription is None:
            self.pending_candidates.append(message)  # trickled candidates may overtake it
            return
        await self.add_candidate(message)

    async def add_candidate(self, message):
        text = message.get("candidate") or ""
        if text == "":
            # End-of-candidates: aioice may now give up on pairs that will never succeed.
            self.obs["remote_candidates_complete"] = True
            try:
                await self.pc.addIceCandidate(None)
            except Exception as e:  # noqa: BLE001
                self.error("addIceCandidate(end-of-candidates)", e)
            return
        try:
            candidate = candidate_from_sdp(re.sub(r"^(a=)?candidate:", "", text))
            candidate.sdpMid = message.get("sdpMid")
            candidate.sdpMLineIndex = message.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)
            self.add_remote_candidate(text)
        except Exception as e:  # noqa: BLE001
            if self.ignore_offer:
                log.info("addIceCandidate(%s) after ignoring a colliding offer: %s", text, e)
            else:
                self.error(f"addIceCandidate({text})", e)

    async def on_bye(self):
        if self.obs["bye_received_at_ms"] is not None:
            return
        # Recorded even when the connection is closed already: aiortc closes itself as soon as
        # its DTLS transports are closed (RTCPeerConnection.__updateConnectionState), and a
        # browser that hangs up sends its DTLS close_notify before its `bye` reaches the relay.
        self.obs["bye_received_at_ms"] = now_ms()
        await self.read_final()
        # When aiortc is closing itself already, its close() waits for that close to end.
        await self.close_connection()
        self.leaving = True
        self.outbox.put_nowait(None)
        self.closed.set()

    async def close_connection(self):
        """Closes the connection and records the states read after it."""
        self.media.stop()
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001
            log.warning("closing the connection: %s", describe_error(e))
        self.record("connection_states", self.pc.connectionState)
        self.record("ice_connection_states", self.pc.iceConnectionState)
        self.record("signaling_states", self.pc.signalingState)
        for channel in self.channels.values():
            channel.closed_now()
        self.close_recorded = True
        self.closed.set()

    # ---- Data channels ----

    def adopt(self, channel, echoes):
        entry = Channel(self, channel, echoes)
        self.obs["channels"].append(entry.log)
        self.channels[channel.label] = entry
        return entry

    def messages_sent_up_to(self, index, label):
        """Every message the send steps up to `index` put on `label` (not refused nor skipped)."""
        total = 0
        for i, step in enumerate(self.plan["steps"][: index + 1]):
            if step["do"] != "send" or step.get("channel") != label or step.get("expect_error"):
                continue
            if i < len(self.obs["steps"]) and self.obs["steps"][i].get("skipped"):
                continue
            total += step.get("count") or 1
        return total

    # ---- The steps ----

    def longest_step_s(self):
        return max([s.get("within_secs") or 20.0 for s in self.plan["steps"]] or [20.0])

    async def run_steps(self):
        for index, step in enumerate(self.plan["steps"]):
            self.current_step = index
            entry = new_step_entry(index, step, self.plan["role"], self.obs)
            acted = entry["acted"]
            self.obs["steps"].append(entry)
            self.save_now()
            ctx = StepContext(self, step, index, acted, entry)
            log.info("step %d (%s, %s): %s", index, step["do"], entry["by"], "acting" if acted else "counterpart")
            try:
                handler = STEPS.get(step["do"])
                if handler is None:
                    raise StepFailure(f"the aiortc peer does not know the step `{step['do']}`")
                await handler(self, ctx)
            except StepFailure as e:
                entry["error"] = str(e)
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"{step['do']} failed: {describe_error(e)}"
            entry["ended_at_ms"] = now_ms()
            self.save_now()
            if entry["error"]:
                log.warning("step %d (%s, %s) failed: %s", index, step["do"], entry["by"], entry["error"])
                self.current_step = len(self.plan["steps"])
                return
        self.current_step = len(self.plan["steps"])
        deadline = time.monotonic() + END_OF_CANDIDATES_GRACE_S
        while not self.obs["remote_candidates_complete"] and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)

    async def read_final(self):
        if self.final_read:
            return
        self.final_read = True
        await self.media.sample()
        try:
            self.obs["selected_pair"] = selected_pair(self.pc) or self.last_pair
        except Exception as e:  # noqa: BLE001 - private aioice fields may move
            self.obs["selected_pair"] = self.last_pair
            if self.last_pair is None:
                self.error("reading the selected pair", e)

    async def finish(self):
        if self.finishing:
            return
        self.finishing = True
        await self.read_final()
        self.obs["finished"] = True
        self.save()

    def on_sigterm(self):
        """The case's time is up: report what there is and leave within the 2 s allowed."""
        log.info("SIGTERM: writing the observations and leaving")
        self.obs["finished"] = True
        try:
            self.save()
        finally:
            os._exit(0)


class StepContext:
    """One step being played: its deadline and how to wait within it."""

    def __init__(self, peer, step, index, acted, entry):
        self.step = step
        self.index = index
        self.acted = acted
        self.entry = entry
        self.within_secs = step.get("within_secs") or peer.longest_step_s()
        self.deadline = time.monotonic() + self.within_secs
        # This step's offer/answer round is the target-th.
        self.target = rounds_through(peer.plan, index)

    @property
    def within(self):
        secs = self.within_secs
        return f"within {int(secs) if secs == int(secs) else secs} s"

    def left(self):
        return self.deadline - time.monotonic()

    async def wait(self, predicate, describe_failure):
        while not predicate():
            if time.monotonic() >= self.deadline:
                raise StepFailure(describe_failure())
            await asyncio.sleep(POLL_S)


async def step_open_channel(peer, ctx):
    step = ctx.step
    if not ctx.acted and not step.get("negotiated"):
        return  # announced by the datachannel event once negotiated
    channel = peer.pc.createDataChannel(
        step["label"],
        ordered=step.get("ordered") is not False,
        maxRetransmits=step.get("max_retransmits"),
        maxPacketLifeTime=step.get("max_packet_life_time"),
        protocol=step.get("protocol") or "",
        negotiated=bool(step.get("negotiated")),
        id=step.get("id"),
    )
    peer.adopt(channel, echoes=not ctx.acted)


async def step_negotiate(peer, ctx):
    pc = peer.pc
    rounds = ctx.target
    never = lambda: round_never_completed(peer, rounds, ctx)  # noqa: E731
    if ctx.acted:
        await ctx.wait(lambda: peer.known_peers, lambda: f"the other peer never said hello {ctx.within}")
        # An offer is made in the stable state: an offer of the other side's being answered goes first.
        await ctx.wait(
            lambda: pc.signalingState == "stable" and not peer.answering,
            lambda: f"signaling never returned to stable to make an offer {ctx.within} (signaling {pc.signalingState})",
        )
        if peer.obs["negotiations"] >= rounds:
            log.info("round %d was completed by the other side's offer before ours: no collision", rounds)
        else:
            await peer.make_offer()
        await ctx.wait(lambda: peer.obs["negotiations"] >= rounds and pc.signalingState == "stable", never)
    else:
        await ctx.wait(lambda: peer.obs["negotiations"] >= rounds, never)


def round_never_completed(peer, rounds, ctx):
    last = next(
        (e for e in reversed(peer.obs["errors"]) if re.search(r"Description|createAnswer|does not parse", e)),
        None,
    )
    why = f"; last error: {last}" if last else ""
    return (
        f"offer/answer round {rounds} never completed {ctx.within} (signaling `{peer.pc.signalingState}`, "
        f"{peer.obs['negotiations']} rounds done{why})"
    )


async def step_restart_ice(peer, ctx):
    raise StepFailure(
        f"aiortc {aiortc.__version__} has no restartIce(): RTCPeerConnection cannot make an ICE-restart offer "
        "(aiortc/rtcpeerconnection.py keeps one RTCIceGatherer per transport and gathers only once)"
    )


def skip(entry, size, advertised):
    entry["skipped"] = skip_reason(size, advertised)


async def step_send(peer, ctx):
    step, label = ctx.step, ctx.step.get("channel")
    count = step.get("count") or 1
    if not ctx.acted:
        # The acting side resolves a relative size against what this side advertises.
        own = advertised_max_message_size(peer.pc.localDescription and peer.pc.localDescription.sdp)
        size = resolve_size(step.get("size"), own)
        if size is not None and size > MAX_SENT_MESSAGE_BYTES:
            return skip(ctx.entry, size, own)
        if step.get("expect_error"):
            return
        expected = peer.messages_sent_up_to(ctx.index, label)
        received = lambda: peer.channels[label].log["messages_received"] if label in peer.channels else 0  # noqa: E731
        await ctx.wait(
            lambda: received() >= expected,
            lambda: f"{received()} of {expected} messages arrived on `{label}` {ctx.within}",
        )
        return
    entry = await opened_channel(peer, ctx, label)
    remote = peer.pc.remoteDescription
    advertised = advertised_max_message_size(remote and remote.sdp)
    size = resolve_size(step.get("size"), advertised)
    if size is not None and size > MAX_SENT_MESSAGE_BYTES:
        return skip(ctx.entry, size, advertised)
    own = advertised_max_message_size(peer.pc.localDescription and peer.pc.localDescription.sdp)
    accepted, refused = [], []
    for i in range(count):
        data = make_message(step, i, count, size, peer.plan.get("echo_message", ""))
        raw = to_bytes(data)
        sent_at = now_ms()
        try:
            entry.channel.send(data)
        except Exception as e:  # noqa: BLE001 - aiortc raises ValueError above max-message-size
            text = describe_error(e)
            entry.log["send_errors"].append(text)
            refused.append(f"sending {len(raw)} bytes on `{label}` failed: {text}")
            continue
        accepted.append(len(raw))
        entry.log["messages_sent"] += 1
        entry.log["bytes_sent"] += len(raw)
        entry.unmatched.append(raw)
        if not may_come_back(len(raw), own):
            entry.too_big_to_come_back += 1
        if entry.log["echo"] is None:
            entry.log["echo"] = {"sent": shown_data(data), "sent_at_ms": sent_at, "received": None, "received_at_ms": None}
    if step.get("expect_error") and accepted:
        raise StepFailure(
            f"sent {accepted[0]} bytes on `{label}` without an error, although the other side advertises "
            f"max-message-size {advertised}"
        )
    if not step.get("expect_error") and refused:
        raise StepFailure(refused[0])


async def opened_channel(peer, ctx, label):
    state = lambda: peer.channels[label].channel.readyState if label in peer.channels else "absent"  # noqa: E731
    await ctx.wait(
        lambda: state() == "open",
        lambda: f"channel `{label}` never opened {ctx.within} (it was `{state()}`)",
    )
    return peer.channels[label]


async def step_expect_echo(peer, ctx):
    if not ctx.acted:
        return
    label = ctx.step.get("channel")
    entry = lambda: peer.channels.get(label)  # noqa: E731
    matched = lambda: entry().log["echoes_matched"] if entry() else 0  # noqa: E731
    wanted = lambda: entry().log["messages_sent"] - entry().too_big_to_come_back if entry() else 0  # noqa: E731
    await ctx.wait(
        lambda: entry() is not None and matched() >= wanted(),
        lambda: f"{matched()} of {wanted()} messages came back on `{label}` {ctx.within}",
    )


async def step_close_channel(peer, ctx):
    label = ctx.step.get("channel")
    if ctx.acted:
        await ctx.wait(lambda: label in peer.channels, lambda: f"channel `{label}` was never announced {ctx.within}")
        entry = peer.channels[label]
        entry.channel.close()
        await ctx.wait(
            lambda: entry.channel.readyState == "closed",
            lambda: f"channel `{label}` never closed {ctx.within}",
        )
        entry.closed_now()
    else:
        await ctx.wait(
            lambda: label in peer.channels and peer.channels[label].log["closed_at_ms"] is not None,
            lambda: f"channel `{label}` never closed {ctx.within}",
        )


async def step_hang_up(peer, ctx):
    pc = peer.pc
    if ctx.acted:
        await peer.read_final()
        peer.send("bye")
        await peer.close_connection()
        peer.leaving = True
        peer.outbox.put_nowait(None)  # the writer sends what is queued (bye), then closes
    else:
        # Not pc.signalingState: pc.close() makes it `closed` at once, while the connection's
        # `closed` is recorded only once close() returns (the side finished in between).
        await ctx.wait(
            lambda: peer.obs["bye_received_at_ms"] is not None and peer.close_recorded,
            lambda: f"no `bye` arrived {ctx.within} (connection `{pc.connectionState}`)"
            if peer.obs["bye_received_at_ms"] is None
            else f"the connection did not close after bye {ctx.within} (connection {pc.connectionState})",
        )


async def step_wait_for(peer, ctx):
    if not ctx.acted:
        return
    pc, step = peer.pc, ctx.step
    of, state, label = step.get("of"), step.get("state"), step.get("channel")
    watched = {
        "ice": lambda: pc.iceConnectionState,
        "connection": lambda: pc.connectionState,
        "gathering": lambda: pc.iceGatheringState,
        "signaling": lambda: pc.signalingState,
        "channel": lambda: peer.channels[label].channel.readyState if label in peer.channels else "(not created)",
    }
    read = watched[of]
    await ctx.wait(lambda: read() == state, lambda: f"{of} never became `{state}` {ctx.within}; last saw `{read()}`")


async def step_add_track(peer, ctx):
    if not ctx.acted:
        return
    try:
        peer.media.add_track(ctx)
    except media.NoCodec as e:
        raise StepFailure(str(e)) from e


async def step_expect_media(peer, ctx):
    if ctx.acted:
        await peer.media.expect(ctx)


STEPS = {
    "open_channel": step_open_channel,
    "negotiate": step_negotiate,
    "restart_ice": step_restart_ice,
    "send": step_send,
    "expect_echo": step_expect_echo,
    "close_channel": step_close_channel,
    "hang_up": step_hang_up,
    "wait_for": step_wait_for,
    "add_track": step_add_track,
    "expect_media": step_expect_media,
}


def selected_pair(pc):
    """The nominated pair, from aioice's Connection behind the first ICE transport that has one.
    aiortc has no candidate-pair stats (RTCPeerConnection.getStats reports RTP only), so this reads
    aioice.ice.Connection._nominated (component 1) directly."""
    transports = []
    if pc.sctp is not None:
        transports.append(pc.sctp.transport.transport)
    transports += [t.receiver.transport.transport for t in pc.getTransceivers()]
    for ice in transports:
        connection = ice._connection
        pair = connection._nominated.get(1)
        if pair is None:
            continue
        local, remote = pair.local_candidate, pair.remote_candidate
        local_end = {"type": local.type, "protocol": local.transport.lower(), "address": local.host, "port": local.port}
        if local.type == "relay":
            local_end["relay_protocol"] = connection.turn_transport
        remote_end = {"type": remote.type, "protocol": remote.transport.lower(), "address": remote.host, "port": remote.port}
        return {"local": local_end, "remote": remote_end}
    return None


async def play(peer):
    saver = asyncio.ensure_future(peer.keep_saving())
    try:
        await peer.join()
    except RuntimeError as e:
        peer.error("signaling", str(e))
        await peer.finish()
        saver.cancel()
        return
    writer = asyncio.ensure_future(peer.write_frames())
    reader = asyncio.ensure_future(peer.read_frames())
    await peer.run_steps()
    await peer.finish()
    failed = any(s["error"] for s in peer.obs["steps"])
    if not failed:
        # The other side may still wait for an echo or for this side's media.
        log.info("finished; staying up for the other side until bye or the relay closes (at most %d s)", LINGER_S)
        try:
            await asyncio.wait_for(peer.closed.wait(), LINGER_S)
        except asyncio.TimeoutError:
            pass
    # The tear-down at exit is not reported (docs/external-peers.md: only a hang_up or the
    # other side's bye closes the connection in a report).
    peer.save()
    peer.tearing_down = True
    if peer.pc.signalingState != "closed":
        await peer.close_connection()
    peer.leaving = True
    peer.outbox.put_nowait(None)
    try:
        await asyncio.wait_for(writer, 1.0)
        await asyncio.wait_for(peer.socket.close(), 1.0)
    except Exception:  # noqa: BLE001
        pass
    reader.cancel()
    saver.cancel()
    peer.save()


def main():
    parser = argparse.ArgumentParser(description="rtc-interop external peer on aiortc")
    parser.add_argument("--plan", help="the plan (JSON)")
    parser.add_argument("--observations", help="where to write the observations (JSON)")
    parser.add_argument("--version", action="store_true", help="print aiortc's version and exit")
    args = parser.parse_args()
    if args.version:
        print(aiortc.__version__)
        return 0
    if not args.plan or not args.observations:
        parser.error("--plan and --observations are required")

    debug = os.environ.get("RTC_INTEROP_DEBUG") == "1"
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not debug:
        for noisy in ("aiortc", "aioice", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    with open(args.plan) as f:
        plan = json.load(f)
    log.info("aiortc %s as %s (%s), ICE servers %s", aiortc.__version__, plan["id"], plan["role"], plan.get("ice_servers"))
    asyncio.run(run(plan, args.observations))
    return 0


async def run(plan, out_path):
    peer = Peer(plan, out_path)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, peer.on_sigterm)
    peer.save()
    try:
        await play(peer)
    except Exception as e:  # noqa: BLE001 - whatever happens, the observations are written
        peer.error("aiortc peer", e)
        peer.obs["finished"] = True
        peer.save()


if __name__ == "__main__":
    sys.exit(main())
