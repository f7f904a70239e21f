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
import { createRequire } from "node:module";
import path from "node:path";
import { packageVersion } from "../node-common/runner.mjs";

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

  class RTCPeerConnection extends Target {
    #native;
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
