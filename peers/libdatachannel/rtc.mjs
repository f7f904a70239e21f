// A W3C-shaped RTCPeerConnection on libdatachannel's own API (npm node-datachannel), enough for
// fixtures/browser/peer.js's data-channel engine.
//
// Not node-datachannel's polyfill (node-datachannel/polyfill): its createOffer()/createAnswer()
// resolve one promise each, once (the description libdatachannel made by itself on
// createDataChannel()/setRemoteDescription()), so a second round never gets a description; it
// never fires the end-of-candidates `icecandidate` (candidate null); its signalingState never
// becomes `closed`; and its data channel's `id` is read once, before SCTP assigns it.
//
// This shim turns libdatachannel's automatic negotiation off (`disableAutoNegotiation`) and maps
// the W3C calls onto it: createOffer()/createAnswer() only name the type, setLocalDescription()
// makes the description (libdatachannel has no separate "create"), so the SDP peer.js records is the
// one set. Callbacks from libdatachannel's threads arrive through one queue per callback kind
// (N-API thread-safe functions), so candidates and state changes of different kinds may arrive in
// another order than they happened; each kind keeps its own order.
//
// Media: libdatachannel carries RTP on tracks (an m-section each: Video/Audio descriptions, Track,
// RtcpReceivingSession, RtcpNackResponder) but captures, encodes and decodes nothing, and has no
// transceivers. The shim keeps W3C transceivers in JS and makes libdatachannel's tracks for them:
// an offer's m-sections from this side's transceivers (codecs in the order setCodecPreferences
// gave), an answer's from the remote offer's (its payload types, narrowed to the codecs this side
// has and prefers) — pc.addTrack() with the m-section's mid replaces the description libdatachannel
// made for it. getUserMedia's tracks play the fixture clips (peers/node-common/media.mjs), sent as
// RTP with track.sendMessageBinary; received RTP (track.onMessage) is counted and reassembled;
// getStats() reports both, as `inbound-rtp`/`outbound-rtp`/`codec` entries.
import { createRequire } from "node:module";
import path from "node:path";
import { packageVersion } from "../node-common/runner.mjs";
import {
  InboundMedia, ClipPlayer, clipForCodec, codecName, fmtpParams, installNavigator, capabilitiesOf,
  parseRtp, serializeRtp, randomSsrc, sameCodec,
} from "../node-common/media.mjs";

// The codecs the shim offers: kind, MIME type, clock rate, channels, fmtp, payload type.
const CODECS = [
  { kind: "audio", mime: "audio/opus", clockRate: 48000, channels: 2, fmtp: "minptime=10;useinbandfec=1", pt: 111 },
  { kind: "video", mime: "video/VP8", clockRate: 90000, fmtp: "", pt: 96 },
  { kind: "video", mime: "video/VP9", clockRate: 90000, fmtp: "profile-id=0", pt: 98 },
  { kind: "video", mime: "video/H264", clockRate: 90000, fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", pt: 125 },
  { kind: "video", mime: "video/AV1", clockRate: 90000, fmtp: "", pt: 45 },
];
const SEND_POLL_MS = 100;
const NDC_DIRECTION = { sendrecv: "SendRecv", sendonly: "SendOnly", recvonly: "RecvOnly", inactive: "Inactive" };
const REVERSE = { sendrecv: "sendrecv", sendonly: "recvonly", recvonly: "sendonly", inactive: "inactive" };
const sends = (direction) => direction === "sendrecv" || direction === "sendonly";
const receives = (direction) => direction === "sendrecv" || direction === "recvonly";

const GATHERING = { new: "new", "in-progress": "gathering", complete: "complete" };

/** Loads node-datachannel from HOME and returns the W3C classes on it. */
export function loadLibdatachannel(home, { debug, log }) {
  const require = createRequire(path.join(home, "node_modules", "noop.js"));
  const ndc = require("node-datachannel");
  const version = packageVersion(home, "node-datachannel");
  // libdatachannel's own log (its default goes to stdout): Debug with RTC_INTEROP_DEBUG=1.
  ndc.initLogger(debug ? "Debug" : "Warning", (level, message) => log(`libdatachannel ${level}: ${message}`));
  const connections = new Set();

  class RTCSessionDescription {
    constructor({ type, sdp = "" } = {}) {
      this.type = type;
      this.sdp = sdp;
    }
    toJSON() {
      return { type: this.type, sdp: this.sdp };
    }
  }

  class RTCIceCandidate {
    constructor({ candidate = "", sdpMid = null, sdpMLineIndex = null } = {}) {
      this.candidate = candidate;
      this.sdpMid = sdpMid;
      this.sdpMLineIndex = sdpMLineIndex;
    }
    toJSON() {
      return { candidate: this.candidate, sdpMid: this.sdpMid, sdpMLineIndex: this.sdpMLineIndex };
    }
  }

  /** An EventTarget that also calls `on<type>` handlers, as the W3C classes do. */
  class Target extends EventTarget {
    emit(type, fields = {}) {
      const event = Object.assign(new Event(type), fields);
      this[`on${type}`]?.(event);
      this.dispatchEvent(event);
    }
  }

  class RTCDataChannel extends Target {
    #native;
    constructor(native, init = {}) {
      super();
      this.#native = native;
      this.binaryType = "arraybuffer";
      this.label = native.getLabel();
      this.protocol = native.getProtocol();
      this.ordered = init.ordered ?? true;
      this.negotiated = init.negotiated ?? false;
      this.maxRetransmits = init.maxRetransmits ?? null;
      this.maxPacketLifeTime = init.maxPacketLifeTime ?? null;
      this.readyState = native.isOpen() ? "open" : "connecting";
      native.onOpen(() => {
        if (this.readyState !== "connecting") return;
        this.readyState = "open";
        this.emit("open");
      });
      native.onClosed(() => this.markClosed());
      native.onError((error) => this.emit("error", { error: new Error(error) }));
      native.onMessage((message) => {
        let data = message;
        if (typeof message !== "string") {
          // A copy that owns exactly the message's bytes (Buffers share a pool).
          data = new Uint8Array(message).slice().buffer;
        }
        this.emit("message", { data });
      });
    }
    /** The SCTP stream id (null until SCTP assigns it, as W3C says). */
    get id() {
      const id = this.#native.getId();
      return id === 65535 ? null : id;
    }
    get bufferedAmount() {
      return this.readyState === "closed" ? 0 : this.#native.bufferedAmount();
    }
    send(data) {
      if (this.readyState !== "open") {
        throw new DOMException(`RTCDataChannel.readyState is '${this.readyState}', not 'open'`, "InvalidStateError");
      }
      try {
        if (typeof data === "string") this.#native.sendMessage(data);
        else this.#native.sendMessageBinary(Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data));
      } catch (e) {
        // libdatachannel refuses what is over the other side's max-message-size ("Message size
        // exceeds limit"): W3C says TypeError.
        throw new TypeError(e.message);
      }
    }
    close() {
      if (this.readyState === "closed" || this.readyState === "closing") return;
      this.readyState = "closing";
      this.#native.close();
    }
    markClosed() {
      if (this.readyState === "closed") return;
      this.readyState = "closed";
      this.emit("close");
    }
  }

  let trackCount = 0;
  class MediaStreamTrack {
    constructor(kind, { remote = false } = {}) {
      this.kind = kind;
      this.id = `rtc-interop-${kind}-${++trackCount}`;
      this.label = remote ? `remote ${kind}` : `${kind} clip`;
      this.enabled = true;
      this.readyState = "live";
      this.rtcInteropClip = !remote;
    }
    stop() {
      this.readyState = "ended";
    }
  }
  class MediaStream {
    constructor(tracks = []) {
      this.id = `rtc-interop-stream-${++trackCount}`;
      this.tracks = [...tracks];
    }
    getTracks() {
      return [...this.tracks];
    }
  }
  installNavigator((kind) => new MediaStreamTrack(kind), (tracks) => new MediaStream(tracks));

  class RTCRtpSender {
    constructor(track) {
      this.track = track;
      this.ssrc = randomSsrc();
    }
    async replaceTrack(track) {
      this.track = track;
    }
  }
  class RTCRtpReceiver {
    constructor(kind, transceiver) {
      this.track = new MediaStreamTrack(kind, { remote: true });
      this.transceiver = transceiver;
    }
    async getStats() {
      const report = new Map();
      const inbound = this.transceiver.inbound;
      if (inbound) report.set("IN", { id: "IN", type: "inbound-rtp", kind: inbound.kind, packetsReceived: inbound.packets, bytesReceived: inbound.bytes });
      return report;
    }
    static getCapabilities(kind) {
      return capabilitiesOf(CODECS, kind);
    }
  }
  class RTCRtpTransceiver {
    constructor(kind, direction, track) {
      this.kind = kind;
      this.direction = direction;
      this.currentDirection = null;
      this.mid = null;
      this.stopped = false;
      this.sender = new RTCRtpSender(track ?? null);
      this.receiver = new RTCRtpReceiver(kind, this);
      this.preferences = null; // setCodecPreferences
      this.negotiated = []; // the codecs of the negotiated m-section: { pt, mime, fmtp, clockRate, channels }
      this.native = null; // libdatachannel's Track for the m-section
      this.inbound = null; // InboundMedia
      this.trackFired = false;
    }
    setCodecPreferences(codecs) {
      this.preferences = codecs && codecs.length > 0 ? codecs : null;
    }
    stop() {
      this.stopped = true;
      this.direction = "inactive";
    }
  }

  class RTCPeerConnection extends Target {
    #native;
    #transceivers = [];
    #players = new Map(); // transceiver → { player, codec, track }
    #sendTimer = null;
    #nativeTracks = []; // every libdatachannel Track wrapper made, kept alive
    #closed = false;
    #states;
    #channels = new Set();
    #sentCandidates = new Set();
    #ended = false;
    #syncSignaling;
    #lastPair = null;

    constructor({ iceServers = [], iceTransportPolicy = "all" } = {}) {
      super();
      this.#native = new ndc.PeerConnection(`rtc-interop-${connections.size}`, {
        iceServers: iceServers.flatMap(toLibdatachannelServers),
        iceTransportPolicy,
        disableAutoNegotiation: true,
        // libdatachannel sets up DTLS-SRTP only when the first negotiation has media; a track added
        // by a later round then fails to open ("The connection has no media transport",
        // PeerConnection::openTracks, src/impl/peerconnection.cpp) unless this is set.
        forceMediaTransport: true,
      });
      const native = this.#native;
      this.#states = {
        ice: native.iceState(),
        connection: native.state(),
        gathering: GATHERING[native.gatheringState()] ?? native.gatheringState(),
        signaling: native.signalingState(),
      };
      const change = (key, type, state) => {
        if (this.#closed || this.#states[key] === state) return;
        this.#states[key] = state;
        this.emit(type);
      };
      native.onIceStateChange((state) => {
        if (state === "connected" || state === "completed") this.#rememberPair();
        change("ice", "iceconnectionstatechange", state);
      });
      native.onStateChange((state) => {
        if (state === "connected") this.#rememberPair();
        change("connection", "connectionstatechange", state);
      });
      // The signaling state changes only in this side's own calls: it is read after each of them
      // (#syncSignaling), not from the callback, which arrives later and could reorder it.
      this.#syncSignaling = () => change("signaling", "signalingstatechange", native.signalingState());
      native.onGatheringStateChange((state) => {
        const w3c = GATHERING[state] ?? state;
        if (w3c === "gathering") this.#ended = false;
        if (w3c === "complete") this.#endOfCandidates();
        change("gathering", "icegatheringstatechange", w3c);
      });
      native.onLocalCandidate((candidate, mid) => this.#localCandidate(candidate, mid));
      // Tracks libdatachannel makes for a remote offer's m-sections get this side's description
      // (same mid) once setRemoteDescription() returns: see #answerMedia(). Their JS wrappers are
      // kept: node-datachannel closes a track when a wrapper of it is garbage-collected (the track
      // then says "Track is closed" on the next send).
      native.onTrack((track) => this.#nativeTracks.push(track));
      native.onDataChannel((channel) => {
        const wrapped = this.#adopt(new RTCDataChannel(channel));
        this.emit("datachannel", { channel: wrapped });
      });
      connections.add(this);
    }

    get iceConnectionState() {
      return this.#states.ice;
    }
    get connectionState() {
      return this.#states.connection;
    }
    get iceGatheringState() {
      return this.#states.gathering;
    }
    get signalingState() {
      return this.#closed ? "closed" : this.#states.signaling;
    }
    get localDescription() {
      const d = this.#closed ? null : this.#native.localDescription();
      return d ? new RTCSessionDescription(d) : null;
    }
    get remoteDescription() {
      const d = this.#closed ? null : this.#native.remoteDescription();
      return d ? new RTCSessionDescription(d) : null;
    }
    get currentLocalDescription() {
      return this.localDescription;
    }
    get currentRemoteDescription() {
      return this.remoteDescription;
    }

    // A candidate libdatachannel gathered ("a=candidate:…", its mid), as an icecandidate event.
    #localCandidate(line, mid) {
      const candidate = line.replace(/^a=/, "");
      if (this.#sentCandidates.has(candidate)) return;
      this.#sentCandidates.add(candidate);
      const index = mids(this.#native.localDescription()?.sdp).indexOf(mid);
      this.emit("icecandidate", {
        candidate: new RTCIceCandidate({ candidate, sdpMid: mid, sdpMLineIndex: index < 0 ? 0 : index }),
      });
    }

    // Gathering completed: every candidate of the local description out first (their callbacks
    // come through another queue and may still be on their way), then the null candidate.
    #endOfCandidates() {
      if (this.#ended) return;
      this.#ended = true;
      const sdp = this.#native.localDescription()?.sdp ?? "";
      let mid = "0";
      for (const line of sdp.split(/\r?\n/)) {
        if (line.startsWith("a=mid:")) mid = line.slice(6);
        if (line.startsWith("a=candidate:")) this.#localCandidate(line, mid);
      }
      this.emit("icecandidate", { candidate: null });
    }

    #rememberPair() {
      try {
        this.#lastPair = this.#native.getSelectedCandidatePair() ?? this.#lastPair;
      } catch {
        // closed meanwhile
      }
    }

    #adopt(channel) {
      this.#channels.add(channel);
      return channel;
    }

    createDataChannel(label, init = {}) {
      this.#assertOpen();
      const native = this.#native.createDataChannel(label, {
        protocol: init.protocol ?? "",
        negotiated: init.negotiated ?? false,
        ...(init.id != null ? { id: init.id } : {}),
        unordered: init.ordered === false,
        ...(init.maxRetransmits != null ? { maxRetransmits: init.maxRetransmits } : {}),
        ...(init.maxPacketLifeTime != null ? { maxPacketLifeTime: init.maxPacketLifeTime } : {}),
      });
      return this.#adopt(new RTCDataChannel(native, init));
    }

    // libdatachannel makes a description only when it sets it: these name the type, and
    // setLocalDescription() makes it.
    async createOffer() {
      this.#assertOpen();
      return new RTCSessionDescription({ type: "offer" });
    }
    async createAnswer() {
      this.#assertOpen();
      if (this.signalingState !== "have-remote-offer") {
        throw new DOMException(`createAnswer in signaling state ${this.signalingState}`, "InvalidStateError");
      }
      return new RTCSessionDescription({ type: "answer" });
    }
    async setLocalDescription(description) {
      this.#assertOpen();
      const type = description?.type;
      try {
        if ((type ?? (this.signalingState === "have-remote-offer" ? "answer" : "offer")) === "offer") this.#offerMedia();
        if (type) this.#native.setLocalDescription(type);
        else this.#native.setLocalDescription();
      } catch (e) {
        throw new DOMException(e.message, "OperationError");
      } finally {
        this.#syncSignaling();
      }
    }
    async setRemoteDescription({ type, sdp }) {
      this.#assertOpen();
      try {
        this.#native.setRemoteDescription(sdp, type);
      } catch (e) {
        throw new DOMException(e.message, "OperationError");
      } finally {
        this.#syncSignaling();
      }
      try {
        if (type === "offer") this.#answerMedia(sdp);
        else if (type === "answer" || type === "pranswer") this.#answeredMedia(sdp);
      } catch (e) {
        throw new DOMException(`media: ${e.message}`, "OperationError");
      }
    }

    // ---- Media ----

    getTransceivers() {
      return [...this.#transceivers];
    }
    addTransceiver(trackOrKind, { direction = "sendrecv" } = {}) {
      this.#assertOpen();
      const track = typeof trackOrKind === "string" ? null : trackOrKind;
      const transceiver = new RTCRtpTransceiver(track ? track.kind : trackOrKind, direction, track);
      this.#transceivers.push(transceiver);
      this.#startSending();
      return transceiver;
    }
    addTrack(track) {
      return this.addTransceiver(track, { direction: "sendrecv" }).sender;
    }
    getSenders() {
      return this.#transceivers.map((t) => t.sender);
    }
    getReceivers() {
      return this.#transceivers.map((t) => t.receiver);
    }

    // Before an offer is made: an m-section (a libdatachannel track) for each new transceiver.
    #offerMedia() {
      const used = new Set([
        ...mediaSections(this.#native.localDescription()?.sdp).map((m) => m.mid),
        ...mediaSections(this.#native.remoteDescription()?.sdp).map((m) => m.mid),
        ...this.#transceivers.map((t) => t.mid).filter((m) => m != null),
        "0", // libdatachannel's data channel m-section
      ]);
      for (const transceiver of this.#transceivers) {
        if (transceiver.mid != null || transceiver.stopped) continue;
        let n = 1;
        while (used.has(String(n))) n += 1;
        transceiver.mid = String(n);
        used.add(transceiver.mid);
        const own = CODECS.filter((c) => c.kind === transceiver.kind).map((c) => ({ pt: c.pt, mime: c.mime, fmtp: c.fmtp, clockRate: c.clockRate, channels: c.channels }));
        const codecs = transceiver.preferences ? narrow(own, transceiver.preferences) : own;
        this.#makeNativeTrack(transceiver, codecs, transceiver.direction);
      }
    }

    // A remote offer: each audio/video m-section is taken by this side's transceiver of that mid,
    // else by one of the same kind not yet in any (addTrack's, addTransceiver's: JSEP 5.10), else by
    // a new recvonly one; its libdatachannel track gets this side's description for the answer.
    #answerMedia(sdp) {
      for (const section of mediaSections(sdp)) {
        if (section.kind !== "audio" && section.kind !== "video") continue;
        let transceiver = this.#transceivers.find((t) => t.mid === section.mid);
        if (!transceiver) {
          transceiver = this.#transceivers.find((t) => t.mid == null && !t.stopped && t.kind === section.kind);
          if (!transceiver) {
            transceiver = new RTCRtpTransceiver(section.kind, "recvonly", null);
            this.#transceivers.push(transceiver);
          }
          transceiver.mid = section.mid;
        }
        if (section.port === 0 && !section.bundleOnly) {
          transceiver.stopped = true;
          continue;
        }
        const supported = section.codecs.filter((c) => CODECS.some((own) => own.kind === section.kind && sameCodec(c, { mime: own.mime, fmtp: own.fmtp })));
        const codecs = transceiver.preferences ? narrow(supported, transceiver.preferences) : supported;
        const direction = intersect(transceiver.direction, REVERSE[section.direction]);
        transceiver.remoteSsrcs = section.ssrcs;
        this.#makeNativeTrack(transceiver, codecs, codecs.length > 0 ? direction : "inactive");
        transceiver.negotiated = codecs;
        transceiver.currentDirection = codecs.length > 0 ? direction : "inactive";
        this.#fireTrack(transceiver, section);
      }
      this.#startSending();
    }

    // A remote answer: what each m-section negotiated.
    #answeredMedia(sdp) {
      for (const section of mediaSections(sdp)) {
        const transceiver = this.#transceivers.find((t) => t.mid === section.mid);
        if (!transceiver) continue;
        transceiver.negotiated = section.port === 0 ? [] : section.codecs;
        transceiver.currentDirection = section.port === 0 ? "inactive" : REVERSE[section.direction];
        transceiver.remoteSsrcs = section.ssrcs;
        this.#fireTrack(transceiver, section);
      }
      this.#startSending();
    }

    // W3C: a `track` event for an m-section the other side sends on.
    #fireTrack(transceiver, section) {
      if (transceiver.trackFired || section.port === 0 || !sends(section.direction) || !receives(transceiver.currentDirection)) return;
      transceiver.trackFired = true;
      const track = transceiver.receiver.track;
      track.watchFrames = (entryLog, intervalMs) => transceiver.inbound.watchFrames(entryLog, intervalMs);
      this.emit("track", { track, transceiver, receiver: transceiver.receiver, streams: [] });
    }

    // libdatachannel's track for a transceiver's m-section: a description with `codecs` (their
    // payload types), this side's SSRC when it sends; RTCP answered by an RtcpReceivingSession
    // (receiver reports, REMB, PLI on requestKeyframe()) and an RtcpNackResponder (retransmits).
    #makeNativeTrack(transceiver, codecs, direction) {
      const media = transceiver.kind === "audio"
        ? new ndc.Audio(transceiver.mid, NDC_DIRECTION[direction])
        : new ndc.Video(transceiver.mid, NDC_DIRECTION[direction]);
      for (const c of codecs) {
        const name = codecName(c.mime);
        // node-datachannel takes no `undefined` profile: the fmtp only where there is one.
        const fmtp = c.fmtp ? [c.fmtp] : [];
        if (name.toLowerCase() === "opus") media.addOpusCodec(c.pt, ...fmtp);
        else if (name.toUpperCase() === "H264") media.addH264Codec(c.pt, ...fmtp);
        else if (transceiver.kind === "video") media.addVideoCodec(c.pt, name, ...fmtp);
        else media.addAudioCodec(c.pt, name, ...fmtp);
      }
      if (sends(direction)) media.addSSRC(transceiver.sender.ssrc, "rtc-interop", "rtc-interop-stream", transceiver.sender.track?.id ?? transceiver.kind);
      const native = this.#native.addTrack(media);
      this.#nativeTracks.push(native);
      const session = new ndc.RtcpReceivingSession();
      session.addToChain(new ndc.RtcpNackResponder());
      native.setMediaHandler(session);
      transceiver.native = native;
      transceiver.inbound ??= new InboundMedia(transceiver.kind, (pt) => {
        const codec = transceiver.negotiated.find((c) => c.pt === pt);
        if (!codec) return null;
        return { mimeType: codec.mime, sdpFmtpLine: codec.fmtp, clockRate: codec.clockRate, channels: codec.channels, payloadType: codec.pt };
      });
      let asked = false;
      native.onMessage((message) => {
        const packet = parseRtp(message);
        if (!packet) return;
        transceiver.inbound.push(packet);
        if (!asked && transceiver.kind === "video") {
          // A key frame now, in case the first went by before the track was bound.
          asked = true;
          try {
            native.requestKeyframe();
          } catch {
            // closed meanwhile
          }
        }
      });
      native.onError((error) => log(`${transceiver.kind} track (mid ${transceiver.mid}): ${error}`));
    }

    // Every transceiver carrying a getUserMedia track plays its clip once its m-section is open:
    // the first negotiated codec (in this side's preference order) there is a clip for.
    #startSending() {
      if (this.#sendTimer) return;
      this.#sendTimer = setInterval(() => {
        if (this.#closed) return this.#stopSending();
        for (const transceiver of this.#transceivers) {
          const track = transceiver.sender.track;
          const playing = this.#players.get(transceiver);
          let open = false;
          try {
            open = transceiver.native?.isOpen() ?? false;
          } catch {
            open = false;
          }
          const codecs = transceiver.preferences ? narrow(transceiver.negotiated, transceiver.preferences) : transceiver.negotiated;
          const codec = codecs.find((c) => clipForCodec(c.mime, c.fmtp));
          const wanted = track?.rtcInteropClip && track.enabled && track.readyState === "live" && !transceiver.stopped &&
            sends(transceiver.currentDirection) && open && codec;
          if (playing && (!wanted || playing.codec.pt !== codec.pt || playing.track !== track || playing.native !== transceiver.native)) {
            playing.player.stop();
            this.#players.delete(transceiver);
          }
          if (!wanted || this.#players.has(transceiver)) continue;
          const clip = clipForCodec(codec.mime, codec.fmtp);
          const native = transceiver.native;
          const player = new ClipPlayer({
            clip,
            payloadType: codec.pt,
            ssrc: transceiver.sender.ssrc,
            send: (packets) => {
              for (const p of packets) native.sendMessageBinary(serializeRtp(p));
            },
            onError: (e) => log(`${track.kind}: sending the ${clip.name} clip failed: ${e.message}`),
          });
          this.#players.set(transceiver, { player, codec, track, native });
          log(`${track.kind}: sending the ${clip.name} clip as ${codec.mime} ${codec.fmtp} (payload type ${codec.pt}, ssrc ${transceiver.sender.ssrc})`);
          player.start();
        }
      }, SEND_POLL_MS);
    }
    #stopSending() {
      clearInterval(this.#sendTimer);
      for (const { player } of this.#players.values()) player.stop();
      this.#players.clear();
    }

    // inbound-rtp / outbound-rtp / codec entries from the shim's counters (libdatachannel keeps none).
    #mediaStats(report, now) {
      for (const t of this.#transceivers) {
        const inbound = t.inbound;
        if (inbound && inbound.packets + inbound.duplicated > 0) {
          const id = `IN-${t.mid}`;
          const stat = { id, type: "inbound-rtp", timestamp: now, kind: t.kind, mid: t.mid, ssrc: inbound.ssrc, packetsReceived: inbound.packets, bytesReceived: inbound.bytes, packetsDuplicated: inbound.duplicated };
          if (t.kind === "video") Object.assign(stat, { framesDecoded: inbound.frames, keyFramesDecoded: inbound.keyFrames });
          if (inbound.codec) {
            stat.codecId = `C-in-${t.mid}-${inbound.codec.payloadType}`;
            report.set(stat.codecId, { id: stat.codecId, type: "codec", timestamp: now, payloadType: inbound.codec.payloadType, mimeType: inbound.codec.mimeType, clockRate: inbound.codec.clockRate, sdpFmtpLine: inbound.codec.sdpFmtpLine });
          }
          report.set(id, stat);
        }
        const playing = this.#players.get(t);
        if (playing) {
          const { player, codec } = playing;
          const id = `OUT-${t.mid}`;
          const stat = { id, type: "outbound-rtp", timestamp: now, kind: t.kind, mid: t.mid, ssrc: player.ssrc, packetsSent: player.packetsSent, bytesSent: player.bytesSent, codecId: `C-out-${t.mid}-${codec.pt}` };
          if (t.kind === "video") Object.assign(stat, { framesEncoded: player.framesSent, keyFramesEncoded: player.keyFramesSent });
          report.set(stat.codecId, { id: stat.codecId, type: "codec", timestamp: now, payloadType: codec.pt, mimeType: codec.mime, clockRate: codec.clockRate, sdpFmtpLine: codec.fmtp });
          report.set(id, stat);
        }
      }
    }
    async addIceCandidate(init) {
      this.#assertOpen();
      if (!init || !init.candidate) return; // end-of-candidates: nothing to add
      let mid = init.sdpMid;
      if (mid == null) mid = mids(this.#native.remoteDescription()?.sdp)[init.sdpMLineIndex ?? 0] ?? "0";
      try {
        this.#native.addRemoteCandidate(init.candidate, mid);
      } catch (e) {
        throw new DOMException(e.message, "OperationError");
      }
    }
    restartIce() {
      // libjuice cannot restart ICE ("ICE restart is not supported", and setLocalDescription with
      // new credentials aborts the process): declared unsupported in peer.toml.
      throw new DOMException("libdatachannel cannot restart ICE", "NotSupportedError");
    }

    /** A W3C-shaped stats report: the selected pair (all libdatachannel tells) and counters. */
    async getStats() {
      const report = new Map();
      if (this.#closed) return report;
      // libdatachannel forgets the pair once the other side has closed the transport (a hang-up's
      // DTLS close may arrive before its `bye`): the last pair seen stands for it, as a browser's
      // stats still name it then.
      const pair = this.#native.getSelectedCandidatePair() ?? this.#lastPair;
      this.#lastPair = pair;
      const now = Date.now();
      report.set("P", { id: "P", type: "peer-connection", timestamp: now });
      this.#mediaStats(report, now);
      if (!pair) return report;
      const end = (id, type, c) => ({
        id,
        type,
        timestamp: now,
        candidateType: c.type,
        protocol: c.transportType.toLowerCase(),
        address: c.address,
        port: c.port,
        priority: c.priority,
        candidate: c.candidate,
      });
      report.set("L", end("L", "local-candidate", pair.local));
      report.set("R", end("R", "remote-candidate", pair.remote));
      report.set("CP", {
        id: "CP",
        type: "candidate-pair",
        timestamp: now,
        localCandidateId: "L",
        remoteCandidateId: "R",
        state: "succeeded",
        nominated: true,
        bytesSent: this.#native.bytesSent(),
        bytesReceived: this.#native.bytesReceived(),
        currentRoundTripTime: (this.#native.rtt() ?? 0) / 1000,
      });
      report.set("T", { id: "T", type: "transport", timestamp: now, selectedCandidatePairId: "CP" });
      return report;
    }

    close() {
      if (this.#closed) return;
      this.#stopSending();
      this.#native.close();
      this.#closed = true;
      // W3C: close() sets every state to closed at once and fires no events.
      this.#states.ice = "closed";
      this.#states.connection = "closed";
      for (const channel of this.#channels) {
        channel.readyState = "closed";
      }
    }

    #assertOpen() {
      if (this.#closed) throw new DOMException("the RTCPeerConnection is closed", "InvalidStateError");
    }
  }

  return {
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
    RTCIceCandidate,
    connections,
    version,
    libraryVersion: ndc.getLibraryVersion?.() ?? "unknown",
    shutdown: () => ndc.cleanup(),
  };
}

/** The mids of a description's m-sections, in order. */
function mids(sdp) {
  return (sdp ?? "").split(/\r?\n/).filter((l) => l.startsWith("a=mid:")).map((l) => l.slice(6));
}

/**
 * One W3C RTCIceServer as libdatachannel's server objects: `stun:`/`turn:`/`turns:` URLs with the
 * server's credentials (objects, not `turn:user:pass@host` URLs, so a `:` in a REST username
 * survives).
 */
function toLibdatachannelServers(server) {
  const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
  return urls.map((url) => {
    const found = /^(stuns?|turns?):\/?\/?(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(\w+))?$/i.exec(url.trim());
    if (!found) throw new Error(`unsupported ICE server URL ${url}`);
    const [, scheme, host, port, transport] = found;
    const hostname = host.replace(/^\[|\]$/g, "");
    const secure = scheme.toLowerCase().endsWith("s");
    const defaultPort = secure ? 5349 : 3478;
    if (scheme.toLowerCase().startsWith("stun")) return { hostname, port: Number(port ?? defaultPort) };
    const relayType = secure ? "TurnTls" : transport?.toLowerCase() === "tcp" ? "TurnTcp" : "TurnUdp";
    return {
      hostname,
      port: Number(port ?? defaultPort),
      username: server.username ?? "",
      password: server.credential ?? "",
      relayType,
    };
  });
}

/** The m-sections of a description: kind, port, mid, direction, codecs (payload type order), SSRCs. */
function mediaSections(sdp) {
  const sections = [];
  let current = null;
  for (const line of (sdp ?? "").split(/\r?\n/)) {
    if (line.startsWith("m=")) {
      const [kind, port, , ...pts] = line.slice(2).split(" ");
      current = { kind, port: Number(port), bundleOnly: false, mid: null, direction: "sendrecv", pts: pts.map(Number), rtpmap: new Map(), fmtp: new Map(), ssrcs: [] };
      sections.push(current);
    } else if (current) {
      let m;
      if (line.trim() === "a=bundle-only") current.bundleOnly = true;
      else if ((m = /^a=mid:(.+)$/.exec(line))) current.mid = m[1].trim();
      else if ((m = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line))) current.direction = m[1];
      else if ((m = /^a=rtpmap:(\d+) ([^/]+)\/(\d+)(?:\/(\d+))?/.exec(line))) current.rtpmap.set(Number(m[1]), { name: m[2], clockRate: Number(m[3]), channels: m[4] ? Number(m[4]) : undefined });
      else if ((m = /^a=fmtp:(\d+) (.*)$/.exec(line))) current.fmtp.set(Number(m[1]), m[2].trim());
      else if ((m = /^a=ssrc:(\d+) /.exec(line))) {
        const ssrc = Number(m[1]);
        if (!current.ssrcs.includes(ssrc)) current.ssrcs.push(ssrc);
      }
    }
  }
  return sections.map((s) => ({
    kind: s.kind,
    port: s.port === 0 && s.bundleOnly ? 9 : s.port,
    bundleOnly: s.bundleOnly,
    mid: s.mid,
    direction: s.direction,
    ssrcs: s.ssrcs,
    codecs: s.pts
      .filter((pt) => s.rtpmap.has(pt))
      .map((pt) => ({ pt, mime: `${s.kind}/${s.rtpmap.get(pt).name}`, clockRate: s.rtpmap.get(pt).clockRate, channels: s.rtpmap.get(pt).channels, fmtp: s.fmtp.get(pt) ?? "" })),
  }));
}

/** `codecs` narrowed to W3C codec preferences (`{ mimeType, sdpFmtpLine }`), in their order. */
function narrow(codecs, preferences) {
  const chosen = [];
  for (const pref of preferences) {
    for (const c of codecs) {
      if (!chosen.includes(c) && sameCodec(c, { mime: pref.mimeType, fmtp: pref.sdpFmtpLine ?? "" })) chosen.push(c);
    }
  }
  return chosen;
}

/** The direction an answer takes: what this side wants, within what the offer allows. */
function intersect(own, allowed) {
  const send = sends(own) && sends(allowed);
  const recv = receives(own) && receives(allowed);
  return send && recv ? "sendrecv" : send ? "sendonly" : recv ? "recvonly" : "inactive";
}
