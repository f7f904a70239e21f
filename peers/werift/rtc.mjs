// werift's RTCPeerConnection, made to fit fixtures/browser/peer.js's W3C use.
//
// werift (npm, pure TypeScript) follows the W3C API closely. What the adapter has to change:
// - ICE servers: werift's ICE agent falls back to a public STUN server whenever no STUN server is
//   configured, even with `iceServers: []` (werift-ice's Connection constructor:
//   `validateAddress(stunServer) ?? ["stun.l.google.com", 19302]`, lib/ice/src/ice.js; the
//   RTCPeerConnection default config names the same server). The plan's servers, even none, are
//   always passed, and where they name no STUN server the ICE options get `stunServer: false`,
//   the one value that survives that `??` and turns server-reflexive gathering off.
// - Media: werift carries RTP but captures, encodes and decodes nothing. getUserMedia gives tracks
//   that play the fixture clips (peers/node-common/media.mjs: packetized here, written with
//   MediaStreamTrack.writeRtp); a received track counts what arrives (track.onReceiveRtp) and
//   reassembles frames; getStats() gets the frame counters. werift's codecs are set per connection
//   (no setCodecPreferences, no RTCRtpReceiver.getCapabilities): the adapter registers VP8, VP9, H.264,
//   AV1 (werift's own AV1 helper names it "AV1X") and Opus, and setCodecPreferences narrows and orders
//   a transceiver's codecs — again after each remote description, which replaces them with the
//   offer's (TransceiverManager.setRemoteRTP), and werift's sender sends the first of them only.
import { createRequire } from "node:module";
import path from "node:path";
import { packageVersion } from "../node-common/runner.mjs";
import { InboundMedia, ClipPlayer, clipForCodec, codecName, fmtpParams, isRepairCodec as isRepair, installNavigator, capabilitiesOf, sameCodec } from "../node-common/media.mjs";

// The codecs the adapter registers in werift: kind, MIME type, clock rate, channels, fmtp, payload
// type, RTX payload type (the payload types webrtc-rs and the browsers use).
const CODECS = [
  { kind: "audio", mime: "audio/opus", clockRate: 48000, channels: 2, fmtp: "minptime=10;useinbandfec=1", pt: 111 },
  { kind: "audio", mime: "audio/PCMU", clockRate: 8000, channels: 1, fmtp: "", pt: 0 },
  { kind: "video", mime: "video/VP8", clockRate: 90000, fmtp: "", pt: 96, rtx: 97 },
  { kind: "video", mime: "video/VP9", clockRate: 90000, fmtp: "profile-id=0", pt: 98, rtx: 99 },
  { kind: "video", mime: "video/H264", clockRate: 90000, fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", pt: 125, rtx: 107 },
  { kind: "video", mime: "video/AV1", clockRate: 90000, fmtp: "", pt: 45, rtx: 46 },
];
// How often senders are checked for a codec and a connected transport to play their clip on.
const SEND_POLL_MS = 100;

/** Loads werift from HOME and returns the W3C classes on it. */
export function loadWerift(home, { debug, log }) {
  // werift logs through the `debug` package, which reads DEBUG when it is loaded.
  if (debug) process.env.DEBUG = [process.env.DEBUG, "werift*"].filter(Boolean).join(",");
  const root = path.join(home, "node_modules", "werift");
  const require = createRequire(path.join(root, "package.json"));
  const werift = require(root);
  clearDefaultStunServer(require(path.join(root, "lib/webrtc/src/utils.js")));
  const connections = new Set();
  const media = weriftMedia(werift, log);

  class RTCPeerConnection extends werift.RTCPeerConnection {
    #ontrack = null;
    #players = new Map(); // sender → { player, codec }
    #inbound = new Map(); // remote track → InboundMedia
    #sendTimer = null;
    constructor({ iceServers = [], iceTransportPolicy = "all" } = {}) {
      // Exactly the plan's servers: an empty list replaces werift's public STUN default.
      super({ iceServers: structuredClone(iceServers), iceTransportPolicy, codecs: media.peerCodecs() });
      connections.add(this);
    }
    // werift calls `this.ontrack(event)` (RTCPeerConnection's constructor): every track is counted
    // before the handler sees it.
    get ontrack() {
      return (event) => {
        this.#receive(event);
        this.#ontrack?.(event);
      };
    }
    set ontrack(handler) {
      this.#ontrack = handler;
    }

    addTrack(track, ...streams) {
      const sender = super.addTrack(track, ...streams);
      this.#startSending();
      return sender;
    }
    addTransceiver(trackOrKind, init) {
      const transceiver = super.addTransceiver(trackOrKind, init);
      this.#startSending();
      return transceiver;
    }

    async setRemoteDescription(description) {
      const result = await super.setRemoteDescription(description);
      // werift replaces a transceiver's codecs with the remote description's (matched by MIME type
      // only): the preferences set on it apply again, and its sender sends the first of them.
      for (const transceiver of this.getTransceivers()) media.applyPreferences(this, transceiver);
      this.#startSending();
      return result;
    }

    // Every sender carrying one of getUserMedia's tracks plays its clip in the negotiated codec
    // once its transport is connected (a new codec after a renegotiation: the matching clip).
    #startSending() {
      if (this.#sendTimer) return;
      this.#sendTimer = setInterval(() => {
        if (this.connectionState === "closed") return this.#stopSending();
        for (const transceiver of this.getTransceivers()) {
          const sender = transceiver.sender;
          const track = sender.track;
          const playing = this.#players.get(sender);
          const wanted = track?.rtcInteropClip && track.enabled && !track.stopped && !transceiver.stopped &&
            ["sendrecv", "sendonly"].includes(transceiver.currentDirection ?? transceiver.direction) && sender.codec &&
            sender.dtlsTransport?.state === "connected";
          if (playing && (!wanted || playing.codec !== sender.codec || playing.track !== track)) {
            playing.player.stop();
            playing.unsubscribe();
            this.#players.delete(sender);
          }
          if (!wanted || this.#players.has(sender)) continue;
          const codec = sender.codec;
          const clip = clipForCodec(codec.mimeType, codec.parameters);
          if (!clip) {
            if (track.rtcInteropRefused !== codec) {
              track.rtcInteropRefused = codec;
              log(`${track.kind}: nothing sent: werift sends the first negotiated codec, ${codec.mimeType} ${codec.parameters ?? ""}, and there is no clip in it`);
            }
            continue;
          }
          const player = new ClipPlayer({
            clip,
            payloadType: codec.payloadType,
            ssrc: sender.ssrc,
            send: (packets) => {
              for (const p of packets) {
                track.writeRtp(new werift.RtpPacket(new werift.RtpHeader({
                  payloadType: p.payloadType, sequenceNumber: p.sequenceNumber, timestamp: p.timestamp, marker: p.marker, ssrc: p.ssrc,
                }), p.payload));
              }
            },
            onError: (e) => log(`${track.kind}: sending the ${clip.name} clip failed: ${e.message}`),
          });
          // A PLI (werift counts it, RTCRtpSender.handleRtcpPacket) is answered with the clip's next key frame.
          const { unSubscribe } = sender.onPictureLossIndication.subscribe(() => player.keyFrameNow());
          this.#players.set(sender, { player, codec, track, unsubscribe: unSubscribe });
          log(`${track.kind}: sending the ${clip.name} clip as ${codec.mimeType} ${codec.parameters ?? ""} (payload type ${codec.payloadType}, ssrc ${sender.ssrc})`);
          player.start();
        }
      }, SEND_POLL_MS);
    }
    #stopSending() {
      clearInterval(this.#sendTimer);
      for (const { player, unsubscribe } of this.#players.values()) {
        player.stop();
        unsubscribe();
      }
      this.#players.clear();
    }

    // A received track: every RTP packet werift delivers is counted and reassembled.
    #receive({ track, transceiver }) {
      if (this.#inbound.has(track)) return;
      const codecOf = (pt) => {
        const codec = transceiver.codecs.find((c) => c.payloadType === pt);
        if (!codec || isRepair(codec)) return null;
        return { mimeType: codec.mimeType, sdpFmtpLine: codec.parameters ?? "", clockRate: codec.clockRate, payloadType: codec.payloadType, channels: codec.channels };
      };
      const inbound = new InboundMedia(track.kind, codecOf);
      this.#inbound.set(track, inbound);
      let asked = false;
      track.onReceiveRtp.subscribe((rtp) => {
        const { header } = rtp;
        inbound.push({ payloadType: header.payloadType, sequenceNumber: header.sequenceNumber, timestamp: header.timestamp, marker: header.marker, ssrc: header.ssrc, payload: rtp.payload });
        if (!asked && track.kind === "video" && header.ssrc) {
          // A key frame now, in case the first went by before the track was bound (as pion's peer does).
          asked = true;
          transceiver.receiver.sendRtcpPLI(header.ssrc).catch(() => {});
        }
      });
      track.watchFrames = (entryLog, intervalMs) => inbound.watchFrames(entryLog, intervalMs);
    }

    /** werift's stats, with the frame counters (and the received codec) of the adapter's media. */
    async getStats(selector) {
      const report = await super.getStats(selector);
      const inboundBySsrc = new Map([...this.#inbound.values()].filter((i) => i.ssrc != null).map((i) => [i.ssrc, i]));
      const playerBySsrc = new Map([...this.#players.values()].map(({ player }) => [player.ssrc, player]));
      for (const [id, s] of [...report.entries()]) {
        if (s.type === "inbound-rtp") {
          const inbound = inboundBySsrc.get(s.ssrc);
          if (!inbound) continue;
          const stat = { ...s, packetsReceived: inbound.packets, bytesReceived: inbound.bytes, packetsDuplicated: inbound.duplicated };
          if (inbound.kind === "video") Object.assign(stat, { framesDecoded: inbound.frames, keyFramesDecoded: inbound.keyFrames });
          if (inbound.codec) {
            // werift names the first negotiated codec (RTCRtpReceiver.collectStats: codecArray[0]),
            // not the one the packets carry: the received payload type's codec stands instead.
            const codecId = `${id}-codec-${inbound.codec.payloadType}`;
            report.set(codecId, { id: codecId, type: "codec", timestamp: s.timestamp, payloadType: inbound.codec.payloadType, mimeType: inbound.codec.mimeType, clockRate: inbound.codec.clockRate, sdpFmtpLine: inbound.codec.sdpFmtpLine });
            stat.codecId = codecId;
          }
          report.set(id, stat);
        } else if (s.type === "outbound-rtp") {
          const player = playerBySsrc.get(s.ssrc);
          if (player && s.kind === "video") report.set(id, { ...s, framesEncoded: player.framesSent, keyFramesEncoded: player.keyFramesSent });
        }
      }
      return report;
    }

    async close() {
      this.#stopSending();
      return super.close();
    }
  }

  installNavigator(
    (kind) => Object.assign(new werift.MediaStreamTrack({ kind }), { rtcInteropClip: true, label: `${kind} clip` }),
    (tracks) => new werift.MediaStream(tracks),
  );

  return {
    RTCPeerConnection,
    RTCRtpReceiver: media.RTCRtpReceiver,
    RTCSessionDescription: werift.RTCSessionDescription,
    RTCIceCandidate: werift.RTCIceCandidate,
    connections,
    version: packageVersion(home, "werift"),
  };
}

/**
 * werift turns RTCIceServers into ICE options with utils.parseIceServers (its secure transport
 * manager calls it through the module's exports on every new transport): where the servers name
 * no STUN server, the options say `stunServer: false` so werift-ice does not use its public default.
 */
function clearDefaultStunServer(utils) {
  const parse = utils.parseIceServers;
  if (typeof parse !== "function") throw new Error("werift's utils.parseIceServers is gone: cannot clear its default STUN server");
  utils.parseIceServers = (servers) => {
    const options = parse(servers);
    if (!options.stunServer) options.stunServer = false;
    return options;
  };
}

/**
 * The adapter's codecs as werift's, setCodecPreferences on werift's transceivers, and
 * RTCRtpReceiver.getCapabilities.
 */
function weriftMedia(werift, log) {
  const feedback = () => [werift.useNACK(), werift.usePLI(), werift.useREMB()];
  const peerCodecs = () => {
    const codecs = { audio: [], video: [] };
    for (const c of CODECS) {
      codecs[c.kind].push(new werift.RTCRtpCodecParameters({
        mimeType: c.mime,
        clockRate: c.clockRate,
        ...(c.channels ? { channels: c.channels } : {}),
        payloadType: c.pt,
        ...(c.fmtp ? { parameters: c.fmtp } : {}),
        rtcpFeedback: c.kind === "video" ? feedback() : [],
      }));
      if (c.rtx) {
        codecs[c.kind].push(new werift.RTCRtpCodecParameters({ mimeType: "video/rtx", clockRate: 90000, payloadType: c.rtx, parameters: `apt=${c.pt}` }));
      }
    }
    return codecs;
  };
  const capabilities = (kind) => {
    const caps = capabilitiesOf(CODECS, kind);
    if (kind === "video") caps.codecs.push({ mimeType: "video/rtx", clockRate: 90000 });
    return caps;
  };

  // `codecs` narrowed to the preferences, in their order, each followed by its RTX.
  const narrow = (codecs, preferences) => {
    const chosen = [];
    for (const pref of preferences.filter((p) => !isRepair(p))) {
      for (const c of codecs) if (!isRepair(c) && !chosen.includes(c) && sameCodec({ mime: c.mimeType, fmtp: c.parameters ?? c.sdpFmtpLine }, { mime: pref.mimeType, fmtp: pref.sdpFmtpLine })) chosen.push(c);
    }
    const out = [];
    for (const c of chosen) {
      out.push(c);
      const rtx = codecs.find((r) => codecName(r.mimeType).toLowerCase() === "rtx" && fmtpParams(r.parameters).some(([k, v]) => k === "apt" && Number(v) === c.payloadType));
      if (rtx && preferences.some((p) => codecName(p.mimeType).toLowerCase() === "rtx")) out.push(rtx);
    }
    return out;
  };

  const proto = werift.RTCRtpTransceiver.prototype;
  proto.setCodecPreferences = function setCodecPreferences(codecs) {
    if (!codecs || codecs.length === 0) {
      this.rtcInteropPreferences = null;
      return;
    }
    const own = peerCodecs()[this.kind];
    const chosen = narrow(own, codecs);
    if (chosen.length === 0) throw new DOMException("setCodecPreferences: no codec of werift's matches", "InvalidModificationError");
    this.rtcInteropPreferences = codecs;
    this.codecs = chosen;
  };
  const applyPreferences = (pc, transceiver) => {
    const preferences = transceiver.rtcInteropPreferences;
    if (!preferences || transceiver.mid == null) return;
    const chosen = narrow(transceiver.codecs, preferences);
    if (chosen.length === 0) {
      log(`${transceiver.kind} (mid ${transceiver.mid}): no negotiated codec matches this side's preferences; werift's codecs stand`);
      return;
    }
    transceiver.codecs = chosen;
    // The sender took the first of the codecs werift negotiated: it takes the first preferred one.
    try {
      transceiver.sender.prepareSend(pc.transceiverManager.getLocalRtpParams(transceiver));
    } catch (e) {
      log(`${transceiver.kind}: re-preparing the sender for the preferred codecs failed: ${e.message}`);
    }
  };

  class RTCRtpReceiver {
    static getCapabilities(kind) {
      return capabilities(kind);
    }
  }
  return { peerCodecs, applyPreferences, RTCRtpReceiver };
}
