#!/usr/bin/python3
"""The gstreamer kind of rtc-interop: GStreamer's webrtcbin, driven from Python GObject.

Started by the harness as `peer.py --plan PLAN.json --observations OBSERVATIONS.json` (the
contract is docs/external-peers.md). It joins the plan's relay room, plays its role and the plan's
steps with one webrtcbin, and reports what it saw in the observations schema the browser page
(fixtures/browser/peer.js) and the native peer use; this file follows peer.js step by step.

Threads: everything the adapter decides runs on one asyncio loop (the main thread). webrtcbin
calls back from its own threads (its operations thread, libnice's, the SCTP receive thread);
every callback only reads what it must at once and hands the rest to the loop with
`call_soon_threadsafe`, so the observations are only ever touched by the loop. A GLib main loop
runs in a daemon thread for the pipeline's bus.

Run with Debian's /usr/bin/python3 (python3-gi, python3-websockets).
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import urllib.parse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

import websockets  # noqa: E402

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
import media  # noqa: E402  (peers/gstreamer/media.py)
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

# How long a side that has done its part waits for the other side's end-of-candidates.
END_OF_CANDIDATES_GRACE_S = 2.0
POLL_S = 0.01
# How often the observations file is rewritten while something changed.
WRITE_INTERVAL_S = 0.25
# How long joining the relay may take.
JOIN_TIMEOUT_S = 5.0
# After finishing, the program stays up (echoing, reporting) until the other side's bye, the
# relay closing, or this long; the harness ends it with SIGTERM once both sides have finished.
LINGER_MAX_S = 30.0
# How long stopping the pipeline may take before the adapter gives up on it.
STOP_TIMEOUT_S = 1.5


def log(text):
    print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {text}", file=sys.stderr, flush=True)


class StepFailure(Exception):
    """A step's failure, in the words the report shows."""


def nick(value):
    """An enum value as the W3C API spells it (webrtcbin's nicks are the same words)."""
    try:
        return value.value_nick
    except AttributeError:
        return str(value)


def media_mids(sdp):
    """The mid of every m-section of `sdp`, in order (None where it has none)."""
    mids = []
    for section in re.split(r"\r?\nm=", sdp or "")[1:]:
        found = re.search(r"^a=mid:(\S+)", section, re.M)
        mids.append(found.group(1) if found else None)
    return mids


def ice_server_uris(ice_servers):
    """W3C RTCIceServers as webrtcbin URIs: (stun URIs, turn URIs with credentials inside)."""
    stuns, turns = [], []
    for server in ice_servers or []:
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else (urls or [])
        user = urllib.parse.quote(server.get("username") or "", safe="")
        password = urllib.parse.quote(server.get("credential") or "", safe="")
        for url in urls:
            scheme, _, rest = url.partition(":")
            scheme = scheme.lower()
            if scheme in ("stun", "stuns"):
                stuns.append(f"{scheme}://{rest}")
            elif scheme in ("turn", "turns"):
                turns.append(f"{scheme}://{user}:{password}@{rest}")
            else:
                log(f"ignored an ICE server URL of unknown scheme: {url}")
    return stuns, turns


class Channel:
    """A data channel and its log (one entry of `channels`)."""

    def __init__(self, peer, channel, echoes):
        self.channel = channel
        self.unmatched = []  # bytes sent, not yet echoed back
        # Messages sent larger than this side advertises: the echoer may not send them back
        # (RFC 8841 §6), so expect_echo does not wait for them.
        self.too_big_to_come_back = 0
        self.log = new_channel_log(channel.props.label, None, echoes)
        self.read_id()

    def read_id(self):
        channel_id = self.channel.props.id
        if channel_id is not None and channel_id >= 0:
            self.log["id"] = channel_id

    def ready_state(self):
        state = self.channel.props.ready_state
        # webrtcbin reads 0 (no such W3C state) before the channel was negotiated.
        return "connecting" if int(state) == 0 else nick(state)

    def send(self, data):
        """Sends `data`; raises GLib.Error when webrtcbin refuses it."""
        if isinstance(data, str):
            self.channel.send_string_full(data)
        else:
            self.channel.send_data_full(GLib.Bytes.new(data))


class Peer:
    StepFailure = StepFailure  # for media.py
    log_line = staticmethod(log)

    def __init__(self, plan, observations_path):
        self.plan = plan
        self.path = observations_path
        self.loop = None
        self.obs = new_observations()
        self.dirty = True
        self.socket = None
        self.pipeline = None
        self.webrtc = None
        self.ice_agent = None  # kept: see build()
        self.closed = False  # closing the connection began (hang-up, bye)
        self.closed_recorded = False  # ... and its states were recorded
        self.leaving = False  # this side closed its WebSocket on purpose
        self.known_peers = set()
        self.channels = {}  # label → Channel
        self.pending_candidates = []  # remote candidates waiting for a remote description
        self.local_sdp = None  # the description last set locally (its text)
        self.remote_sdp = None
        self.remote_ufrag = None
        self.making_offer = False
        self.ignore_offer = False
        self.answering = False
        self.remote_offers_taken = 0
        self.current_step = 0
        self.final_read = False
        self.finishing = False
        self.sent_end_of_candidates = False
        # Candidates of a description that has not gone out yet wait for it (signal_candidate).
        self.description_unsent = False
        self.held_candidates = []
        self.last_message_at = 0.0  # time.monotonic() of the last data channel message
        self.media = media.Media(self)
        self.obs["tracks"] = self.media.logs

    # ---- Observations ----

    def changed(self):
        self.dirty = True

    def error(self, where, what):
        text = f"{where}: {what}"
        self.obs["errors"].append(text)
        log(f"error: {text}")
        self.changed()

    def record(self, key, state, at_ms=None):
        self.obs[key].append({"state": state, "at_ms": at_ms if at_ms is not None else now_ms()})
        log(f"{key[:-1].replace('_', ' ')}: {state}")
        self.changed()

    def write(self):
        """Writes the whole document atomically (a temporary file renamed over the target)."""
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as out:
            json.dump(self.obs, out)
        os.replace(tmp, self.path)
        self.dirty = False

    async def writer(self):
        """Rewrites the observations while something changed, until the program leaves (what
        happens after `finished` — a bye, echoes — counts too)."""
        while True:
            if self.dirty:
                try:
                    self.write()
                except OSError as e:
                    log(f"writing the observations failed: {e}")
            await asyncio.sleep(WRITE_INTERVAL_S)

    def add_remote_candidate(self, text):
        text = re.sub(r"^a=", "", text)
        key = candidate_key(text)
        for seen in self.obs["remote_candidates"]:
            if seen == text or (key is not None and candidate_key(seen) == key):
                return
        self.obs["remote_candidates"].append(text)
        self.changed()

    # ---- From webrtcbin's threads to the loop ----

    def post(self, fn, *args):
        """Runs fn(*args) on the loop (from any thread)."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is gone: the peer is exiting

    async def promise(self, signal_name, *args, timeout):
        """Emits a webrtcbin action signal taking a GstPromise; returns its reply structure
        (a copy: the reply dies with the promise) or raises with webrtcbin's error."""
        future = self.loop.create_future()

        def settle(reply_text, values, error):
            if future.done():
                return
            if error:
                future.set_exception(RuntimeError(error))
            else:
                future.set_result(values)

        def on_change(promise, *_):
            # On webrtcbin's thread: read the reply while the promise still owns it.
            error, values, reply_text = None, {}, None
            try:
                reply = promise.get_reply()
                if reply is not None:
                    reply_text = reply.to_string()
                    if reply.has_field("error"):
                        err = reply.get_value("error")
                        error = err.message if hasattr(err, "message") else reply_text
                    for field in ("offer", "answer"):
                        if reply.has_field(field):
                            values[field] = reply.get_value(field).sdp.as_text()
                    if signal_name == "get-stats":
                        values["stats"] = stats_to_dict(reply)
            except Exception as e:  # noqa: BLE001 — reported, never lost
                error = f"reading webrtcbin's reply: {e}"
            self.post(settle, reply_text, values, error)

        promise = Gst.Promise.new_with_change_func(on_change)
        self.webrtc.emit(signal_name, *args, promise)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise RuntimeError(f"webrtcbin never answered {signal_name} within {timeout} s") from None

    # ---- The connection ----

    def build(self):
        self.pipeline = Gst.Pipeline.new("peer")
        webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        if webrtc is None:
            raise RuntimeError("no webrtcbin element (gstreamer1.0-plugins-bad / gstreamer1.0-nice missing?)")
        self.webrtc = webrtc
        webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        if self.plan.get("ice_transport_policy") == "relay":
            webrtc.set_property("ice-transport-policy", GstWebRTC.WebRTCICETransportPolicy.RELAY)
        stuns, turns = ice_server_uris(self.plan.get("ice_servers"))
        if stuns:
            webrtc.set_property("stun-server", stuns[0])
            for extra in stuns[1:]:
                log(f"webrtcbin takes one STUN server: {extra} is not used")
        for turn in turns:
            if not webrtc.emit("add-turn-server", turn):
                self.error("add-turn-server", f"webrtcbin refused {re.sub(r'//[^@]*@', '//…@', turn)}")
        self.pipeline.add(webrtc)
        # libnice would look for a UPnP gateway (SSDP multicast on the LAN, and 200 ms more
        # gathering): traffic stays on this machine.
        # webrtcbin 1.22 holds its ICE agent by a floating reference: the first binding that
        # reads the property sinks it and owns the only reference, and the agent dies with that
        # wrapper (docs/findings/gstreamer.md). So it is read once and kept for good.
        self.ice_agent = webrtc.get_property("ice-agent")
        if self.ice_agent is not None and self.ice_agent.find_property("agent"):
            self.ice_agent.props.agent.set_property("upnp", False)

        webrtc.connect("on-negotiation-needed", lambda *_: log("on-negotiation-needed"))
        webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        webrtc.connect("on-data-channel", self.on_data_channel)
        webrtc.connect("pad-added", self.media.on_pad_added)
        for prop, key in (
            ("ice-connection-state", "ice_connection_states"),
            ("connection-state", "connection_states"),
            ("ice-gathering-state", "ice_gathering_states"),
            ("signaling-state", "signaling_states"),
        ):
            webrtc.connect(f"notify::{prop}", self.on_state, prop, key)

        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", lambda _b, m: self.post(self.pipeline_error, m))
        bus.connect("message::warning", lambda _b, m: log(f"pipeline warning: {m.parse_warning()[0].message}"))

        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("the pipeline refused to start")
        for prop, key in (
            ("ice-connection-state", "ice_connection_states"),
            ("connection-state", "connection_states"),
            ("ice-gathering-state", "ice_gathering_states"),
            ("signaling-state", "signaling_states"),
        ):
            self.record(key, nick(webrtc.get_property(prop)))

    def state(self, prop):
        return nick(self.webrtc.get_property(prop))

    def pipeline_error(self, message):
        error, debug = message.parse_error()
        where = message.src.get_path_string() if message.src is not None else "?"
        if self.closed:
            # The connection is being torn down (hang-up, bye): a sink writing to a closed
            # socket says so; that is not something the case went through.
            log(f"pipeline error while closing (not recorded): {error.message} ({where})")
            return
        log(f"pipeline error: {error.message} ({where}): {debug}")
        self.error("pipeline", f"{error.message} ({where})")

    def on_state(self, webrtc, _pspec, prop, key):
        state, at = nick(webrtc.get_property(prop)), now_ms()
        self.post(self.state_changed, key, state, at)

    def state_changed(self, key, state, at):
        if self.closed:
            return
        if self.obs[key] and self.obs[key][-1]["state"] == state:
            return  # webrtcbin notifies some states twice
        self.record(key, state, at)
        if key == "ice_gathering_states" and state == "complete":
            self.gathering_complete()

    def on_ice_candidate(self, _webrtc, mline, candidate):
        self.post(self.local_candidate, mline, candidate)

    def local_candidate(self, mline, candidate):
        if not candidate:
            return  # the protocol's end-of-candidates goes out once gathering is complete
        self.obs["local_candidates"].append(candidate)
        self.changed()
        self.sent_end_of_candidates = False
        if self.vanilla():
            return  # the candidates travel inside the description
        mids = media_mids(self.local_sdp)
        mid = mids[mline] if mline < len(mids) else None
        self.signal_candidate(candidate=candidate, sdpMid=mid, sdpMLineIndex=mline)

    def signal_candidate(self, **fields):
        """Sends a candidate message, after the description it belongs to. webrtcbin emits
        on-ice-candidate only after replying to set-local-description, but the reply and the
        candidates reach the loop as separate callbacks, and the candidates' run before the
        coroutine awaiting the reply resumes to send the description: unheld, they would go out
        before the offer or answer (the signaling lint's candidate-before-description)."""
        if self.description_unsent:
            self.held_candidates.append(fields)
        else:
            self.send("candidate", **fields)

    def release_held_candidates(self):
        self.description_unsent = False
        held, self.held_candidates = self.held_candidates, []
        for fields in held:
            self.send("candidate", **fields)

    def gathering_complete(self):
        if self.vanilla() or self.sent_end_of_candidates or self.closed:
            return
        # Candidates come through the loop in webrtcbin's order; let any in flight go first.
        self.loop.call_later(0.02, self.send_end_of_candidates)

    def send_end_of_candidates(self):
        if not self.sent_end_of_candidates and not self.closed:
            self.sent_end_of_candidates = True
            self.signal_candidate(candidate="")

    def vanilla(self):
        return self.plan.get("ice_mode") == "vanilla"

    def ice_up(self):
        return self.state("ice-connection-state") in ("connected", "completed")

    # ---- Signaling ----

    def send(self, kind, **fields):
        if self.socket is None or self.leaving:
            return
        message = json.dumps({"type": kind, **fields, "m": self.plan["id"]})
        self.loop.create_task(self.send_text(message))

    async def send_text(self, message):
        try:
            await self.socket.send(message)
        except Exception as e:  # noqa: BLE001
            if not self.leaving:
                self.error("signaling", f"sending failed: {e}")

    async def join(self):
        try:
            self.socket = await asyncio.wait_for(
                websockets.connect(self.plan["signal_url"], compression=None, max_size=None, open_timeout=JOIN_TIMEOUT_S),
                JOIN_TIMEOUT_S + 1,
            )
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"cannot join the relay at {self.plan['signal_url']}: {e}") from None
        self.send("hello")

    async def receive(self):
        """Handles the relay's frames one after another, in arrival order."""
        try:
            async for text in self.socket:
                try:
                    await dispatch_frame(self, text)
                except Exception as e:  # noqa: BLE001
                    self.error("signaling", f"{e.__class__.__name__}: {e}")
                    log(traceback.format_exc())
        except websockets.ConnectionClosed:
            pass
        if not self.obs["finished"] and not self.leaving:
            self.error("signaling", "the relay closed the connection")

    def on_hello(self, sender):
        if is_new_peer(sender, self.plan["id"], self.known_peers):
            self.obs["remote_id"] = sender
            self.changed()
            self.send("hello")  # whoever joined first learns of us too

    def description(self, kind, sdp):
        sdp_type = {"offer": GstWebRTC.WebRTCSDPType.OFFER, "answer": GstWebRTC.WebRTCSDPType.ANSWER}[kind]
        result, message = GstSdp.SDPMessage.new_from_text(sdp)
        if result != GstSdp.SDPResult.OK:
            raise RuntimeError(f"the {kind} does not parse ({result.value_nick})")
        return GstWebRTC.WebRTCSessionDescription.new(sdp_type, message)

    async def set_local(self, kind, sdp):
        """Sets and records a local description; returns a predicate telling whether its
        candidates are all gathered (new credentials mean a new gathering)."""
        transitions_before = len(self.obs["ice_gathering_states"])
        fresh = ice_ufrag(sdp) != ice_ufrag(self.local_sdp)
        self.local_sdp = sdp
        self.description_unsent = True
        try:
            await self.promise("set-local-description", self.description(kind, sdp), timeout=self.longest_step_s())
        except RuntimeError as e:
            self.release_held_candidates()
            raise RuntimeError(f"setLocalDescription({kind}): {e}") from None
        self.obs["local_descriptions"].append({"type": kind, "sdp": sdp, "at_ms": now_ms()})
        self.changed()

        def gathered():
            completed = any(t["state"] == "complete" for t in self.obs["ice_gathering_states"][transitions_before:])
            return self.state("ice-gathering-state") == "complete" and (not fresh or completed)

        return gathered

    async def send_description(self, kind, gathered, limit_s, within):
        """Sends the local description, then the candidates that waited for it; vanilla: once
        gathered, with every candidate inside."""
        try:
            if self.vanilla():
                await self.wait_until(gathered, limit_s, lambda: f"ICE gathering never completed {within} (gathering {self.state('ice-gathering-state')})")
                current = self.webrtc.get_property("local-description")
                sdp = current.sdp.as_text() if current is not None else self.local_sdp
            else:
                sdp = self.local_sdp
            self.send(kind, sdp=sdp)
        finally:
            self.release_held_candidates()

    async def set_remote(self, kind, sdp):
        try:
            await self.promise("set-remote-description", self.description(kind, sdp), timeout=self.longest_step_s())
        except RuntimeError as e:
            raise RuntimeError(f"setRemoteDescription({kind}): {e}") from None
        previous = self.remote_ufrag
        self.remote_sdp = sdp
        self.remote_ufrag = ice_ufrag(sdp)
        if previous and self.remote_ufrag != previous:
            self.obs["remote_candidates_complete"] = False
        for line in re.split(r"\r?\n", sdp):
            if line.startswith("a=candidate:"):
                self.add_remote_candidate(line[2:])
            if line.startswith("a=end-of-candidates"):
                self.obs["remote_candidates_complete"] = True
        queued, self.pending_candidates = self.pending_candidates, []
        for message in queued:
            self.add_candidate(message)

    async def make_offer(self, ctx):
        offers_before = self.remote_offers_taken
        self.making_offer = True
        try:
            self.media.bind_for_offer()
            await self.media.wait_for_send_caps()
            reply = await self.promise("create-offer", None, timeout=ctx.left())
            self.obs["offer_created_at_ms"] = self.obs["offer_created_at_ms"] or now_ms()
            gathered = await self.set_local("offer", reply["offer"])
        except RuntimeError as e:
            if self.remote_offers_taken > offers_before:
                log(f"our offer gave way to the other side's ({e}); answering theirs completes the round")
                return
            raise StepFailure(f"making an offer failed: {e}") from None
        finally:
            self.making_offer = False
        await self.send_description("offer", gathered, ctx.left(), ctx.within)

    async def ready_for_offer(self):
        """An offer arriving while this side is still in the add_track steps before its round
        is answered once they are done (peer.js readyForOffer)."""
        target = round_to_answer_after(self.plan, self.obs["negotiations"], self.current_step)
        if target is None:
            return
        log(f"an offer arrived while steps {self.current_step}..{target - 1} (add_track) were under way: answering it after them")
        try:
            await self.wait_until(lambda: self.current_step >= target, self.longest_step_s(), lambda: "")
        except StepFailure:
            pass

    async def on_offer(self, sdp):
        await self.ready_for_offer()
        if self.plan.get("perfect_negotiation"):
            collision = self.making_offer or self.state("signaling-state") != "stable"
            self.ignore_offer = collision and self.plan["role"] != "answerer"
            if self.ignore_offer:
                log(f"ignored a colliding offer (impolite; signaling {self.state('signaling-state')})")
                return
        self.remote_offers_taken += 1
        self.answering = True
        try:
            self.media.prepare_for_offer(sdp)
            await self.media.wait_for_send_caps()
            await self.set_remote("offer", sdp)
            reply = await self.promise("create-answer", None, timeout=self.longest_step_s())
            gathered = await self.set_local("answer", reply["answer"])
            self.obs["negotiations"] += 1
            self.changed()
            longest = self.longest_step_s()
            await self.send_description("answer", gathered, longest, f"within {longest:g} s")
        except (RuntimeError, StepFailure) as e:
            self.error("answering an offer", e)
        finally:
            self.answering = False

    async def on_answer(self, sdp):
        try:
            await self.set_remote("answer", sdp)
            self.obs["negotiations"] += 1
            self.changed()
        except RuntimeError as e:
            self.error("applying an answer", e)

    def on_candidate(self, message):
        if not message.get("candidate"):
            self.obs["remote_candidates_complete"] = True
            self.changed()
            return
        if self.remote_sdp is not None:
            self.add_candidate(message)
        else:
            self.pending_candidates.append(message)

    def add_candidate(self, message):
        """add-ice-candidate takes an m-line index: sdpMid is mapped through the remote
        description. webrtcbin 1.22 reports no failure (it only logs one)."""
        text = message["candidate"]
        mline = message.get("sdpMLineIndex")
        mids = media_mids(self.remote_sdp)
        if message.get("sdpMid") in mids:
            mline = mids.index(message["sdpMid"])
        if mline is None:
            if self.ignore_offer:
                return
            self.error(f"addIceCandidate({text})", "neither its sdpMid nor its sdpMLineIndex names an m-section of the remote description")
            return
        if not text.startswith("candidate:") and not text.startswith("a=candidate:"):
            self.error(f"addIceCandidate({text})", "not a candidate attribute")
            return
        self.webrtc.emit("add-ice-candidate", mline, text)
        self.add_remote_candidate(text)

    async def on_bye(self):
        if self.obs["bye_received_at_ms"] is not None or self.closed:
            return
        self.obs["bye_received_at_ms"] = now_ms()
        self.changed()
        log("bye received")
        await self.read_final()
        await self.close_connection()

    async def close_connection(self):
        """webrtcbin has no close(): the pipeline is stopped, and the states read after it are
        recorded as `closed` (a stopped webrtcbin keeps reporting its last states)."""
        if self.closed:
            return
        self.closed = True
        self.media.stop()
        for entry in self.channels.values():
            try:
                entry.channel.close()
            except Exception as e:  # noqa: BLE001
                log(f"closing channel {entry.log['label']}: {e}")
        await self.stop_pipeline()
        at = now_ms()
        read = {key: self.state(prop) for prop, key in (
            ("connection-state", "connection_states"),
            ("ice-connection-state", "ice_connection_states"),
            ("signaling-state", "signaling_states"),
        )}
        log(f"after stopping webrtcbin it reads {read}; recorded as closed")
        for key in ("connection_states", "ice_connection_states", "signaling_states"):
            self.record(key, "closed", at)
        for entry in self.channels.values():
            if entry.log["closed_at_ms"] is None:
                entry.log["closed_at_ms"] = at
        self.closed_recorded = True
        self.changed()

    async def stop_pipeline(self):
        if self.pipeline is None:
            return
        pipeline = self.pipeline
        done = threading.Event()

        def stop():
            pipeline.set_state(Gst.State.NULL)
            done.set()

        threading.Thread(target=stop, daemon=True).start()
        await self.loop.run_in_executor(None, done.wait, STOP_TIMEOUT_S)
        if not done.is_set():
            log(f"the pipeline did not stop within {STOP_TIMEOUT_S} s")

    # ---- Data channels ----

    def on_data_channel(self, _webrtc, channel):
        # On webrtcbin's thread: connect at once, so no message is missed.
        self.watch_channel(channel)
        self.post(self.adopt_channel, channel, True)

    def watch_channel(self, channel):
        label = channel.props.label
        channel.connect("on-open", lambda ch: self.post(self.channel_opened, label, now_ms()))
        channel.connect("on-close", lambda ch: self.post(self.channel_closed, label, now_ms()))
        channel.connect("on-error", lambda ch, err: self.post(log, f"channel `{label}`: error {err}"))
        channel.connect("on-message-string", lambda ch, text: self.post(self.channel_message, label, text if text is not None else ""))
        channel.connect("on-message-data", lambda ch, data: self.post(self.channel_message, label, bytes(data.get_data()) if data else b""))

    def adopt_channel(self, channel, echoes):
        entry = Channel(self, channel, echoes)
        self.channels[entry.log["label"]] = entry
        self.obs["channels"].append(entry.log)
        self.changed()
        log(f"channel `{entry.log['label']}` ({'announced' if echoes else 'created'}, {entry.ready_state()})")
        if entry.ready_state() == "open":
            self.channel_opened(entry.log["label"], now_ms())
        return entry

    def channel_opened(self, label, at):
        entry = self.channels.get(label)
        if entry is None:
            self.loop.call_later(POLL_S, self.channel_opened, label, at)  # adopted just after
            return
        if entry.log["opened_at_ms"] is None:
            entry.log["opened_at_ms"] = at
            log(f"channel `{label}`: open (id {entry.channel.props.id})")
        entry.read_id()
        self.changed()

    def channel_closed(self, label, at):
        entry = self.channels.get(label)
        if entry is not None and entry.log["closed_at_ms"] is None:
            entry.log["closed_at_ms"] = at
            log(f"channel `{label}`: close fired")
            self.changed()

    def channel_message(self, label, data):
        entry = self.channels.get(label)
        if entry is None:
            self.loop.call_later(POLL_S, self.channel_message, label, data)
            return
        received = to_bytes(data) if isinstance(data, str) else data
        self.last_message_at = time.monotonic()
        entry.log["messages_received"] += 1
        entry.log["bytes_received"] += len(received)
        self.changed()
        if entry.log["echoes"]:
            try:
                entry.send(data)
                entry.log["messages_echoed"] += 1
            except GLib.Error as e:
                entry.log["send_errors"].append(e.message)
            return
        echo = entry.log["echo"]
        if echo is not None and echo["received"] is None:
            echo["received"] = shown_data(data)
            echo["received_at_ms"] = now_ms()
        if received in entry.unmatched:
            entry.unmatched.remove(received)
            entry.log["echoes_matched"] += 1

    def create_channel(self, step):
        options = Gst.Structure.new_empty("options")
        options.set_value("ordered", bool(step.get("ordered", True)))
        if step.get("max_retransmits") is not None:
            options.set_value("max-retransmits", int(step["max_retransmits"]))
        if step.get("max_packet_life_time") is not None:
            options.set_value("max-packet-lifetime", int(step["max_packet_life_time"]))
        if step.get("protocol"):
            options.set_value("protocol", step["protocol"])
        if step.get("negotiated"):
            options.set_value("negotiated", True)
            options.set_value("id", int(step["id"]))
        channel = self.webrtc.emit("create-data-channel", step["label"], options)
        if channel is None:
            raise StepFailure(f"webrtcbin refused to create channel `{step['label']}` ({options.to_string()})")
        self.watch_channel(channel)
        return channel

    # ---- Waiting ----

    async def wait_until(self, predicate, limit_s, describe_failure):
        deadline = time.monotonic() + max(0.0, limit_s)
        while True:
            if predicate():
                return
            if time.monotonic() >= deadline:
                raise StepFailure(describe_failure())
            await asyncio.sleep(POLL_S)

    def longest_step_s(self):
        return max([s.get("within_secs", 20.0) for s in self.plan["steps"]] or [20.0])

    # ---- The steps ----

    async def run_steps(self):
        steps = self.plan["steps"]
        handlers = {
            "open_channel": self.step_open_channel,
            "negotiate": self.step_negotiate,
            "restart_ice": self.step_restart_ice,
            "send": self.step_send,
            "expect_echo": self.step_expect_echo,
            "close_channel": self.step_close_channel,
            "hang_up": self.step_hang_up,
            "wait_for": self.step_wait_for,
            "add_track": self.step_add_track,
            "expect_media": self.step_expect_media,
        }
        for index, step in enumerate(steps):
            self.current_step = index
            entry = new_step_entry(index, step, self.plan["role"], self.obs)
            acted = entry["acted"]
            self.obs["steps"].append(entry)
            self.changed()
            ctx = StepContext(self, index, step, acted, entry)
            log(f"step {index}: {step['do']} by {entry['by']} ({'acting' if acted else 'counterpart'})")
            try:
                handler = handlers.get(step["do"])
                if handler is None:
                    raise StepFailure(f"this adapter does not know the step `{step['do']}`")
                await asyncio.wait_for(handler(ctx), timeout=ctx.left() + 1.0)
            except StepFailure as e:
                entry["error"] = str(e)
            except asyncio.TimeoutError:
                entry["error"] = f"{step['do']} did not end {ctx.within}"
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"{step['do']} failed: {e}"
                log(traceback.format_exc())
            entry["ended_at_ms"] = now_ms()
            self.changed()
            if entry["error"]:
                log(f"step {index} ({step['do']}, {entry['by']}) failed: {entry['error']}")
                self.current_step = len(steps)
                return
        self.current_step = len(steps)
        try:
            await self.wait_until(lambda: self.obs["remote_candidates_complete"], END_OF_CANDIDATES_GRACE_S, lambda: "")
        except StepFailure:
            pass

    async def step_open_channel(self, ctx):
        step = ctx.step
        if not ctx.acted and not step.get("negotiated"):
            return  # announced by on-data-channel once negotiated
        channel = self.create_channel(step)
        self.adopt_channel(channel, not ctx.acted)

    def round_never_completed(self, rounds, ctx):
        last = next((e for e in reversed(self.obs["errors"]) if re.search("Description|createAnswer|does not parse", e)), None)
        why = f"; last error: {last}" if last else ""
        return (
            f"offer/answer round {rounds} never completed {ctx.within} (signaling `{self.state('signaling-state')}`, "
            f"{self.obs['negotiations']} rounds done{why})"
        )

    async def step_negotiate(self, ctx):
        rounds = rounds_through(self.plan, ctx.index)
        if ctx.acted:
            await ctx.wait(lambda: self.known_peers, lambda: f"the other peer never said hello {ctx.within}")
            await ctx.wait(
                lambda: self.state("signaling-state") == "stable" and not self.answering,
                lambda: f"signaling never returned to stable to make an offer {ctx.within} (signaling {self.state('signaling-state')})",
            )
            if self.obs["negotiations"] >= rounds:
                log(f"round {rounds} was completed by the other side's offer before ours: no collision")
            else:
                await self.make_offer(ctx)
            await ctx.wait(
                lambda: self.obs["negotiations"] >= rounds and self.state("signaling-state") == "stable",
                lambda: self.round_never_completed(rounds, ctx),
            )
        else:
            await ctx.wait(lambda: self.obs["negotiations"] >= rounds, lambda: self.round_never_completed(rounds, ctx))

    async def step_restart_ice(self, ctx):
        # Declared unsupported in peer.toml: webrtcbin 1.22 reuses its ICE credentials in every
        # offer ("FIXME: deal with ICE restarts", gstwebrtcbin.c), so no restart offer exists.
        raise StepFailure("webrtcbin 1.22 cannot restart ICE: every offer reuses the first ICE credentials")

    async def step_send(self, ctx):
        step = ctx.step
        label = step["channel"]
        count = step.get("count", 1)
        if not ctx.acted:
            advertised = advertised_max_message_size(self.local_sdp)
            size = resolve_size(step.get("size"), advertised)
            if size is not None and size > MAX_SENT_MESSAGE_BYTES:
                return self.skip(ctx.log, size, advertised)
            if step.get("expect_error"):
                return
            expected = self.messages_sent_up_to(ctx.index, label)

            def received():
                entry = self.channels.get(label)
                return entry.log["messages_received"] if entry else 0

            await ctx.wait(lambda: received() >= expected, lambda: f"{received()} of {expected} messages arrived on `{label}` {ctx.within}")
            return
        entry = await self.opened_channel(ctx, label)
        advertised = advertised_max_message_size(self.remote_sdp)
        size = resolve_size(step.get("size"), advertised)
        if size is not None and size > MAX_SENT_MESSAGE_BYTES:
            return self.skip(ctx.log, size, advertised)
        own = advertised_max_message_size(self.local_sdp)
        accepted, refused = [], []
        for i in range(count):
            data = make_message(step, i, count, size, self.plan.get("echo_message", ""))
            payload = to_bytes(data)
            sent_at = now_ms()
            try:
                entry.send(data)
            except GLib.Error as e:
                entry.log["send_errors"].append(e.message)
                refused.append(f"sending {len(payload)} bytes on `{label}` failed: {e.message}")
                self.changed()
                continue
            accepted.append(len(payload))
            entry.log["messages_sent"] += 1
            entry.log["bytes_sent"] += len(payload)
            entry.unmatched.append(payload)
            if not may_come_back(len(payload), own):
                entry.too_big_to_come_back += 1
            if entry.log["echo"] is None:
                entry.log["echo"] = {"sent": shown_data(data), "sent_at_ms": sent_at, "received": None, "received_at_ms": None}
            self.changed()
        if step.get("expect_error") and accepted:
            raise StepFailure(
                f"sent {accepted[0]} bytes on `{label}` without an error, although the other side advertises max-message-size {advertised}"
            )
        if not step.get("expect_error") and refused:
            raise StepFailure(refused[0])

    def skip(self, entry, size, advertised):
        entry["skipped"] = skip_reason(size, advertised)
        self.changed()

    def messages_sent_up_to(self, index, label):
        total = 0
        for i, s in enumerate(self.plan["steps"][: index + 1]):
            if s["do"] != "send" or s.get("channel") != label or s.get("expect_error"):
                continue
            if i < len(self.obs["steps"]) and self.obs["steps"][i]["skipped"]:
                continue
            total += s.get("count", 1)
        return total

    async def opened_channel(self, ctx, label):
        def ready():
            entry = self.channels.get(label)
            return entry.ready_state() if entry else "absent"

        await ctx.wait(lambda: ready() == "open", lambda: f"channel `{label}` never opened {ctx.within} (it was `{ready()}`)")
        return self.channels[label]

    async def step_expect_echo(self, ctx):
        if not ctx.acted:
            return
        label = ctx.step["channel"]

        def counts():
            """(echoes matched, echoes wanted)."""
            entry = self.channels.get(label)
            return (entry.log["echoes_matched"], entry.log["messages_sent"] - entry.too_big_to_come_back) if entry else (0, 0)

        await ctx.wait(
            lambda: label in self.channels and counts()[0] >= counts()[1],
            lambda: f"{counts()[0]} of {counts()[1]} messages came back on `{label}` {ctx.within}",
        )

    async def step_close_channel(self, ctx):
        label = ctx.step["channel"]
        if ctx.acted:
            await ctx.wait(lambda: label in self.channels, lambda: f"channel `{label}` was never announced {ctx.within}")
            entry = self.channels[label]
            entry.channel.close()
            await ctx.wait(lambda: entry.ready_state() == "closed", lambda: f"channel `{label}` never closed {ctx.within}")
            if entry.log["closed_at_ms"] is None:
                entry.log["closed_at_ms"] = now_ms()
                self.changed()
        else:
            await ctx.wait(
                lambda: label in self.channels and self.channels[label].log["closed_at_ms"] is not None,
                lambda: f"channel `{label}` never closed {ctx.within}",
            )

    async def step_hang_up(self, ctx):
        if ctx.acted:
            await self.read_final()
            self.send("bye")
            await asyncio.sleep(0)  # let the bye go out before the socket closes
            await self.close_connection()
            await self.leave()
        else:
            await ctx.wait(
                lambda: self.obs["bye_received_at_ms"] is not None and self.closed_recorded,
                lambda: (
                    f"no `bye` arrived {ctx.within} (connection `{self.state('connection-state')}`)"
                    if self.obs["bye_received_at_ms"] is None
                    else f"the connection did not close after bye {ctx.within} (connection {self.state('connection-state')})"
                ),
            )

    async def step_wait_for(self, ctx):
        if not ctx.acted:
            return
        of, state, label = ctx.step.get("of"), ctx.step.get("state"), ctx.step.get("channel")

        def read():
            if self.closed and of in ("ice", "connection", "signaling"):
                return "closed"
            if of == "ice":
                return self.state("ice-connection-state")
            if of == "connection":
                return self.state("connection-state")
            if of == "gathering":
                return self.state("ice-gathering-state")
            if of == "signaling":
                return self.state("signaling-state")
            if of == "channel":
                entry = self.channels.get(label)
                return entry.ready_state() if entry else "(not created)"
            return f"(unknown state `{of}`)"

        await ctx.wait(lambda: read() == state, lambda: f"{of} never became `{state}` {ctx.within}; last saw `{read()}`")

    async def step_add_track(self, ctx):
        if ctx.acted:
            self.media.add_track(ctx)

    async def step_expect_media(self, ctx):
        if ctx.acted:
            await self.media.expect(ctx)

    async def sleep(self, seconds):
        await asyncio.sleep(seconds)

    # ---- The end ----

    async def read_final(self):
        if self.final_read or self.closed:
            return
        self.final_read = True
        log(f"reading the final stats (webrtcbin reads ice-connection-state `{self.state('ice-connection-state')}`, "
            f"connection-state `{self.state('connection-state')}`)")
        if not self.media.stopped:
            await self.media.sample()
        try:
            reply = await self.promise("get-stats", None, timeout=2.0)
            stats = reply.get("stats") or {}
            if os.environ.get("RTC_INTEROP_GST_DUMP_STATS"):
                log(json.dumps(stats, indent=1, default=str))
            self.obs["selected_pair"] = selected_pair(stats) or self.agent_selected_pair()
            log(f"selected pair: {self.obs['selected_pair']}")
        except RuntimeError as e:
            self.error("getStats", e)
        self.changed()

    def ice_transports(self):
        """Every ICE transport of the connection: the transceivers' and the SCTP transport's."""
        found = []
        sctp = self.webrtc.get_property("sctp-transport")
        if sctp is not None:
            found.append(sctp.props.transport.props.transport)
        for transceiver in self.transceivers():
            try:
                dtls = transceiver.props.sender.props.transport
            except (AttributeError, TypeError):
                continue
            if dtls is not None and dtls.props.transport not in found:
                found.append(dtls.props.transport)
        return found

    def transceivers(self):
        """webrtcbin's transceivers (get-transceivers returns a GArray Python cannot read)."""
        found, index = [], 0
        while True:
            transceiver = self.webrtc.emit("get-transceiver", index)
            if transceiver is None:
                return found
            found.append(transceiver)
            index += 1

    def agent_selected_pair(self):
        """The pair the ICE agent selected, asked of the agent itself: webrtcbin's get-stats
        reports no ICE candidates for a connection with data channels only."""
        ice = self.ice_agent
        for transport in self.ice_transports():
            stream = transport.props.stream if transport.find_property("stream") else None
            if stream is None:
                continue
            found, local, remote = ice.get_selected_pair(stream)
            if not found:
                continue

            def end(c):
                result = {"type": c.type or "", "protocol": (c.proto or "").lower(), "address": c.ipaddr or "", "port": int(c.port)}
                if c.relay_proto and c.relay_proto.lower() != "none":  # libnice says "none" for UDP
                    result["relay_protocol"] = c.relay_proto.lower()
                return result

            return {"local": end(local), "remote": end(remote)}
        return None

    async def leave(self):
        self.leaving = True
        if self.socket is not None:
            try:
                await asyncio.wait_for(self.socket.close(code=1000), 1.0)
            except Exception as e:  # noqa: BLE001
                log(f"closing the WebSocket: {e}")

    async def finish(self):
        if self.finishing:
            return
        self.finishing = True
        await self.read_final()
        self.obs["finished"] = True
        self.write()
        log("finished")

    def terminate(self):
        """SIGTERM: report what there is, at once, and go."""
        log("SIGTERM: writing the observations and exiting")
        self.obs["finished"] = True
        try:
            self.write()
        finally:
            os._exit(0)

    async def run(self):
        self.loop = asyncio.get_running_loop()
        self.loop.add_signal_handler(signal.SIGTERM, self.terminate)
        self.loop.add_signal_handler(signal.SIGINT, self.terminate)
        writer = self.loop.create_task(self.writer())
        try:
            self.build()
            await self.join()
            receiver = self.loop.create_task(self.receive())
            await self.run_steps()
        except Exception as e:  # noqa: BLE001
            self.error("peer", e)
            log(traceback.format_exc())
            receiver = None
        await self.finish()
        await self.linger(receiver)
        writer.cancel()
        self.write()  # what happened while lingering (a bye, echoes)
        if not self.leaving:
            await self.leave()
        if receiver is not None:
            receiver.cancel()
        # The pipeline is not stopped on purpose: stopping it sends an SCTP ABORT and a DTLS
        # close_notify, which the other side (maybe still in its own end-of-candidates grace)
        # would record as its channels closing. The process just ends.

    async def linger(self, receiver):
        """After finishing, stays up and keeps reporting (docs/external-peers.md): the other side
        may still wait for echoes or for this side's end-of-candidates. Ends on the other side's
        bye (or this side's hang-up), when the relay closes, or after LINGER_MAX_S; normally the
        harness's SIGTERM comes first, once both sides have finished."""
        started = time.monotonic()
        deadline = started + LINGER_MAX_S
        log("finished; staying up until bye, the relay closing or SIGTERM")
        while time.monotonic() < deadline and not self.closed and not self.leaving:
            if receiver is None or receiver.done():
                break
            await asyncio.sleep(0.05)
        log(f"stayed {time.monotonic() - started:.1f} s after finishing")

class StepContext:
    """One step as this side plays it: its limit and the words of its failures."""

    def __init__(self, peer, index, step, acted, entry):
        self.peer = peer
        self.index = index
        self.step = step
        self.acted = acted
        self.log = entry
        self.within_secs = float(step.get("within_secs", 20.0))
        self.within = f"within {step.get('within_secs', 20.0):g} s"
        self.deadline = time.monotonic() + self.within_secs

    def left(self):
        return max(0.0, self.deadline - time.monotonic())

    async def wait(self, predicate, describe_failure):
        await self.peer.wait_until(predicate, self.left(), describe_failure)


def stats_to_dict(reply):
    """get-stats' reply (a structure of structures) as {id: {field: value}}: enums as nicks."""
    out = {}
    for i in range(reply.n_fields()):
        name = reply.nth_field_name(i)
        value = reply.get_value(name)
        if isinstance(value, Gst.Structure):
            fields = {}
            for j in range(value.n_fields()):
                field = value.nth_field_name(j)
                try:
                    v = value.get_value(field)
                except TypeError:
                    continue
                if hasattr(v, "value_nick"):
                    v = v.value_nick
                if isinstance(v, (str, int, float, bool)) or v is None:
                    fields[field] = v
            fields["_name"] = value.get_name()
            out[name] = fields
    return out


def selected_pair(stats):
    """The pair ICE selected: the transport's selected-candidate-pair-id where webrtcbin gives
    one, else the one candidate-pair it reports (1.22 reports only the selected pair)."""
    pair = None
    for s in stats.values():
        pair_id = s.get("selected-candidate-pair-id")
        if pair_id and pair_id in stats:
            pair = stats[pair_id]
    if pair is None:
        pairs = [s for s in stats.values() if s.get("type") == "candidate-pair"]
        if pairs:
            pair = pairs[0]
    if pair is None:
        return None

    def end(candidate_id):
        c = stats.get(candidate_id)
        if c is None:
            return None
        result = {
            "type": c.get("candidate-type", ""),
            "protocol": (c.get("protocol") or "").lower(),
            "address": c.get("address") or c.get("ip") or "",
            "port": int(c.get("port") or 0),
        }
        if c.get("relay-protocol"):
            result["relay_protocol"] = c["relay-protocol"].lower()
        return result

    local, remote = end(pair.get("local-candidate-id")), end(pair.get("remote-candidate-id"))
    return {"local": local, "remote": remote} if local and remote else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--observations", required=True)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    if os.environ.get("RTC_INTEROP_DEBUG") == "1" and not os.environ.get("GST_DEBUG"):
        os.environ["GST_DEBUG"] = "webrtcbin:6,webrtcbindatachannel:6,webrtcice:6,nice:5,3"
    Gst.init(None)
    log(f"{Gst.version_string()}; role {plan['role']}, id {plan['id']}, ice_mode {plan.get('ice_mode', 'trickle')}")
    glib_loop = GLib.MainLoop()
    threading.Thread(target=glib_loop.run, name="glib", daemon=True).start()
    peer = Peer(plan, args.observations)
    try:
        asyncio.run(peer.run())
    except Exception as e:  # noqa: BLE001
        log(f"the peer failed: {e}\n{traceback.format_exc()}")
        peer.obs["finished"] = True
        peer.error("peer", e)
        peer.write()
    sys.stderr.flush()
    # GStreamer's threads may outlive a clean shutdown: exit without waiting for them.
    os._exit(0)


if __name__ == "__main__":
    main()
