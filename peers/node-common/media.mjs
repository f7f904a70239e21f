// Media for the Node.js adapters (werift, libdatachannel), as the native peer does it
// (harness/src/peer/native/media.rs; peers/pion/media.go is the same in Go): a sent track plays
// one of the encoded clips in fixtures/media/ at its real frame rate, looping, packetized into RTP
// here; a received track is counted — packets, bytes, duplicates, and frames reassembled from RTP
// (by timestamp and marker bit), key frames read from the bitstream. Nothing is decoded: a frozen
// picture shows as a frame count that stops growing, a black one cannot be told.
//
// Packetizers (payload formats):
// - VP8, RFC 7741: X=1, S on a frame's first packet, PID 0, a 15-bit PictureID.
// - VP9, draft-ietf-payload-vp9 (RFC 9628) non-flexible mode: I (15-bit PictureID), P on inter
//   frames, B/E on a frame's first/last packet, the scalability structure (V) with the frame size on
//   key frames.
// - H.264, RFC 6184 packetization-mode 1: single NAL unit packets, FU-A for NAL units over the MTU;
//   the stream's SPS/PPS are sent again before every IDR that lacks them.
// - AV1, "RTP Payload Format For AV1" (AOM): temporal delimiters dropped, OBUs without their size
//   field as OBU elements, each with a length (W=0), fragmented over packets (Z/Y), N on a key frame.
// - Opus, RFC 7587: one Opus packet per RTP packet.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const MEDIA_DIR = path.resolve(here, "../../fixtures/media");

/** Every fixture video clip runs at 30 frames per second (fixtures/media/generate.sh). */
const VIDEO_FPS = 30;
/** The largest RTP payload made (browsers use ~1200 bytes). */
export const MAX_PAYLOAD = 1200;

/** The clips this peer can send: codec name, MIME type, the fmtp line it is sent as, the file. */
export const CLIPS = [
  { name: "VP8", mime: "video/VP8", fmtp: "", file: "video-vp8.ivf" },
  { name: "VP9", mime: "video/VP9", fmtp: "profile-id=0", file: "video-vp9.ivf" },
  { name: "H264", mime: "video/H264", fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", file: "video-h264.h264" },
  { name: "AV1", mime: "video/AV1", fmtp: "", file: "video-av1.ivf" },
  { name: "opus", mime: "audio/opus", fmtp: "minptime=10;useinbandfec=1", file: "audio-opus.ogg" },
];

// ---- Codec specs (CodecSpec on the Rust side) ----

// The browser page's own matcher (fixtures/browser/codecs.js, a classic script that publishes
// `window.rtcInteropCodecs`), run in a context of its own.
const CODECS_JS = path.resolve(here, "../../fixtures/browser/codecs.js");
const codecs = (() => {
  const page = {};
  page.window = page;
  vm.runInNewContext(fs.readFileSync(CODECS_JS, "utf8"), page, { filename: CODECS_JS });
  return page.rtcInteropCodecs;
})();
export const { codecName, fmtpParams, isRepairCodec, codecMatches } = codecs;

const param = (fmtp, key) => fmtpParams(fmtp).find(([k]) => k.toLowerCase() === key)?.[1]?.toLowerCase();

/**
 * The clip to send for a negotiated codec (MIME type and fmtp), or null: VP9 only profile 0, H.264
 * only packetization-mode 1 with a Baseline-compatible profile (the clip is Constrained Baseline).
 */
export function clipForCodec(mimeType, fmtp) {
  const name = codecName(mimeType).toUpperCase();
  const clip = CLIPS.find((c) => c.name.toUpperCase() === name);
  if (!clip) return null;
  if (name === "VP9" && (param(fmtp, "profile-id") ?? "0") !== "0") return null;
  if (name === "H264") {
    if (param(fmtp, "packetization-mode") !== "1") return null;
    const profile = param(fmtp, "profile-level-id");
    if (profile && !profile.startsWith("42")) return null;
  }
  return clip;
}

/** The clip for a track of `kind`: the first of `specs` there is a clip for, else VP8 / Opus. */
export function chooseClip(kind, specs) {
  const ofKind = CLIPS.filter((c) => c.mime.startsWith(`${kind}/`));
  if (!specs || specs.length === 0) return ofKind[0];
  for (const spec of specs) {
    const found = ofKind.find((c) => codecMatches(spec, c.mime, c.fmtp));
    if (found) return found;
  }
  return null;
}

/** Whether two codecs (`{ mime, fmtp }`) are the same codec: name, and VP9's profile / H.264's mode and profile. */
export function sameCodec(a, b) {
  if (codecName(a.mime).toLowerCase() !== codecName(b.mime).toLowerCase()) return false;
  const pa = new Map(fmtpParams(a.fmtp).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  const pb = new Map(fmtpParams(b.fmtp).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  switch (codecName(a.mime).toUpperCase()) {
    case "VP9":
      return (pa.get("profile-id") ?? "0") === (pb.get("profile-id") ?? "0");
    case "H264":
      return (pa.get("packetization-mode") ?? "0") === (pb.get("packetization-mode") ?? "0") &&
        (pa.get("profile-level-id") ?? "42").slice(0, 2) === (pb.get("profile-level-id") ?? "42").slice(0, 2);
  }
  return true;
}

// ---- Clip readers ----

const clipCache = new Map();

/** The frames of a clip: `{ data, samples (RTP clock ticks it lasts), key }`, read once. */
export function readClip(clip) {
  if (clipCache.has(clip.name)) return clipCache.get(clip.name);
  const bytes = fs.readFileSync(path.join(MEDIA_DIR, clip.file));
  let frames;
  if (clip.name === "opus") frames = oggOpusPackets(bytes);
  else if (clip.name === "H264") frames = h264AccessUnits(bytes);
  else frames = ivfFrames(bytes).map((data) => ({ data, samples: 90000 / VIDEO_FPS, key: isKeyFrame(clip.name, data) }));
  if (frames.length === 0) throw new Error(`the ${clip.name} clip has no frames`);
  const info = { frames, ...(clip.name === "opus" || clip.name === "H264" ? {} : ivfSize(bytes)) };
  clipCache.set(clip.name, info);
  return info;
}

function ivfSize(bytes) {
  return { width: bytes.readUInt16LE(12), height: bytes.readUInt16LE(14) };
}

function ivfFrames(bytes) {
  if (bytes.toString("latin1", 0, 4) !== "DKIF") throw new Error("not an IVF file");
  const headerSize = bytes.readUInt16LE(6);
  const frames = [];
  for (let at = headerSize; at + 12 <= bytes.length; ) {
    const size = bytes.readUInt32LE(at);
    frames.push(bytes.subarray(at + 12, at + 12 + size));
    at += 12 + size;
  }
  return frames;
}

/** The Opus packets of an Ogg stream (header pages skipped), each with its duration. */
function oggOpusPackets(bytes) {
  const packets = [];
  let lastGranule = 0n;
  for (let at = 0; at + 27 <= bytes.length; ) {
    if (bytes.toString("latin1", at, at + 4) !== "OggS") throw new Error("not an Ogg page");
    const granule = bytes.readBigUInt64LE(at + 6);
    const segments = bytes[at + 26];
    const lacing = bytes.subarray(at + 27, at + 27 + segments);
    let body = at + 27 + segments;
    const pagePackets = [];
    let current = [];
    for (const lace of lacing) {
      current.push(bytes.subarray(body, body + lace));
      body += lace;
      if (lace < 255) {
        pagePackets.push(Buffer.concat(current));
        current = [];
      }
    }
    at = body;
    const samples = Number(granule - lastGranule);
    if (granule === 0n || samples <= 0) continue; // the header pages carry no audio
    lastGranule = granule;
    for (const data of pagePackets) packets.push({ data, samples: samples / pagePackets.length, key: false });
  }
  return packets;
}

/** The NAL units of an Annex-B stream, without their start codes. */
export function annexBUnits(stream) {
  const starts = [];
  for (let i = 0; i + 3 <= stream.length; ) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      starts.push(i + 3);
      i += 3;
    } else i += 1;
  }
  const units = [];
  starts.forEach((start, n) => {
    let end = n + 1 < starts.length ? starts[n + 1] - 3 : stream.length;
    while (end > start && stream[end - 1] === 0) end -= 1; // a four-byte start code leaves a zero
    if (end > start) units.push(stream.subarray(start, end));
  });
  return units;
}

/** Access units of an Annex-B stream as lists of NAL units: parameter sets and SEI go with the slice after them. */
function h264AccessUnits(stream) {
  const frames = [];
  let pending = [];
  for (const nal of annexBUnits(stream)) {
    pending.push(nal);
    const type = nal[0] & 0x1f;
    if (type === 1 || type === 5) {
      frames.push({ nals: pending, data: null, samples: 90000 / VIDEO_FPS, key: pending.some((n) => (n[0] & 0x1f) === 5) });
      pending = [];
    }
  }
  return frames;
}

// ---- Key frames, from the bitstream ----

/** Whether a frame (the codec's bitstream) is a key frame. */
export function isKeyFrame(codec, frame) {
  if (!frame || frame.length === 0) return false;
  const first = frame[0];
  switch (codec.toUpperCase()) {
    case "VP8": // RFC 6386 §9.1: the frame tag's lowest bit is 0 on a key frame
      return (first & 0x01) === 0;
    case "VP9": {
      // frame_marker(2) profile(2) [reserved(1) if profile 3] show_existing_frame(1) frame_type(1)
      const profile = ((first >> 5) & 1) | (((first >> 4) & 1) << 1);
      const shift = profile === 3 ? 2 : 3;
      return ((first >> shift) & 1) === 0 && ((first >> (shift - 1)) & 1) === 0;
    }
    case "H264":
      return annexBUnits(frame).some((nal) => (nal[0] & 0x1f) === 5);
    case "AV1":
      return av1Obus(frame).some((o) => o.type === 1);
  }
  return false;
}

function leb128(data, at) {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (at >= data.length) return null;
    const byte = data[at++];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, at };
  }
  return null;
}

function writeLeb128(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

/** The OBUs of an AV1 temporal unit in the low-overhead format: `{ type, header, payload }`. */
function av1Obus(data) {
  const obus = [];
  let at = 0;
  while (at < data.length) {
    const header = data[at];
    const extension = (header & 0x04) !== 0;
    const headerLength = extension ? 2 : 1;
    let start = at + headerLength;
    let end = data.length;
    if (header & 0x02) {
      const size = leb128(data, start);
      if (!size) break;
      start = size.at;
      end = Math.min(data.length, start + size.value);
    }
    obus.push({ type: (header >> 3) & 0x0f, header: data.subarray(at, at + headerLength), payload: data.subarray(start, end) });
    at = end;
  }
  return obus;
}

// ---- Packetizers: a frame → [{ payload, marker }] ----

/** A packetizer for `codec` (its name); `size` is the clip's frame size (VP9's scalability structure). */
export function packetizerFor(codec, size = {}) {
  switch (codec.toUpperCase()) {
    case "VP8":
      return vp8Packetizer();
    case "VP9":
      return vp9Packetizer(size);
    case "H264":
      return h264Packetizer();
    case "AV1":
      return av1Packetizer();
    case "OPUS":
      return (frame) => [{ payload: frame.data, marker: false }];
  }
  throw new Error(`no packetizer for ${codec}`);
}

const chunks = (data, size) => {
  const out = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, Math.min(data.length, at + size)));
  return out.length > 0 ? out : [Buffer.alloc(0)];
};

function vp8Packetizer() {
  let pictureId = Math.floor(Math.random() * 0x8000);
  return (frame) => {
    const id = pictureId;
    pictureId = (pictureId + 1) & 0x7fff;
    const parts = chunks(frame.data, MAX_PAYLOAD - 4);
    return parts.map((part, i) => ({
      // X=1, S on the first packet, PID 0; I=1; M=1 with a 15-bit PictureID.
      payload: Buffer.concat([Buffer.from([0x80 | (i === 0 ? 0x10 : 0), 0x80, 0x80 | (id >> 8), id & 0xff]), part]),
      marker: i === parts.length - 1,
    }));
  };
}

function vp9Packetizer({ width, height }) {
  let pictureId = Math.floor(Math.random() * 0x8000);
  return (frame) => {
    const id = pictureId;
    pictureId = (pictureId + 1) & 0x7fff;
    const ss = frame.key && width && height
      ? Buffer.from([0x10, width >> 8, width & 0xff, height >> 8, height & 0xff]) // N_S=0, Y=1, G=0
      : null;
    const parts = chunks(frame.data, MAX_PAYLOAD - 3 - (ss ? ss.length : 0));
    return parts.map((part, i) => {
      const first = i === 0;
      const last = i === parts.length - 1;
      const v = first && ss;
      const header = Buffer.from([
        0x80 | (frame.key ? 0 : 0x40) | (first ? 0x08 : 0) | (last ? 0x04 : 0) | (v ? 0x02 : 0),
        0x80 | (id >> 8),
        id & 0xff,
      ]);
      return { payload: Buffer.concat(v ? [header, ss, part] : [header, part]), marker: last };
    });
  };
}

function h264Packetizer() {
  let sps = null;
  let pps = null;
  return (frame) => {
    let nals = frame.nals;
    for (const nal of nals) {
      if ((nal[0] & 0x1f) === 7) sps = nal;
      if ((nal[0] & 0x1f) === 8) pps = nal;
    }
    const types = nals.map((n) => n[0] & 0x1f);
    if (types.includes(5) && !types.includes(7) && sps && pps) nals = [sps, pps, ...nals];
    // Access unit delimiters and filler data carry nothing a receiver needs.
    nals = nals.filter((n) => ![9, 12].includes(n[0] & 0x1f));
    const packets = [];
    nals.forEach((nal, n) => {
      const lastNal = n === nals.length - 1;
      if (nal.length <= MAX_PAYLOAD) {
        packets.push({ payload: nal, marker: lastNal });
        return;
      }
      const indicator = (nal[0] & 0xe0) | 28;
      const type = nal[0] & 0x1f;
      const parts = chunks(nal.subarray(1), MAX_PAYLOAD - 2);
      parts.forEach((part, i) => {
        const end = i === parts.length - 1;
        const fuHeader = (i === 0 ? 0x80 : 0) | (end ? 0x40 : 0) | type;
        packets.push({ payload: Buffer.concat([Buffer.from([indicator, fuHeader]), part]), marker: lastNal && end });
      });
    });
    return packets;
  };
}

function av1Packetizer() {
  return (frame) => {
    // OBU elements: every OBU but temporal delimiters, tile lists and padding, without its size field.
    const elements = av1Obus(frame.data)
      .filter((o) => ![2, 8, 15].includes(o.type))
      .map((o) => {
        const header = Buffer.from(o.header);
        header[0] &= ~0x02;
        return Buffer.concat([header, o.payload]);
      });
    const packets = [];
    let current = [];
    let room = MAX_PAYLOAD - 1;
    let z = false; // the packet being filled starts with the rest of an OBU
    const flush = (y) => {
      packets.push({ z, y, parts: current });
      current = [];
      room = MAX_PAYLOAD - 1;
    };
    for (const element of elements) {
      let rest = element;
      let continued = false;
      while (rest.length > 0) {
        const whole = writeLeb128(rest.length).length + rest.length;
        // no room for a length field and a byte of this element: on to the next packet
        if (whole > room && room < 3) flush(false);
        if (current.length === 0) z = continued;
        const take = whole <= room ? rest.length : room - 2; // a length below 16384 takes 2 bytes
        const piece = rest.subarray(0, take);
        const length = writeLeb128(piece.length);
        current.push(Buffer.concat([length, piece]));
        room -= length.length + piece.length;
        rest = rest.subarray(take);
        if (rest.length > 0) {
          flush(true);
          continued = true;
        }
      }
    }
    if (current.length > 0) flush(false);
    return packets.map((p, i) => ({
      // Z, Y, W=0 (every element has its length), N on the first packet of a key frame.
      payload: Buffer.concat([Buffer.from([(p.z ? 0x80 : 0) | (p.y ? 0x40 : 0) | (i === 0 && frame.key ? 0x08 : 0)]), ...p.parts]),
      marker: i === packets.length - 1,
    }));
  };
}

// ---- Frame reassembly ----

/** Whether an RTP payload begins a frame, and what it tells of a key frame, per codec. */
function payloadInfo(codec, payload) {
  if (payload.length === 0) return { begins: false, key: false };
  switch (codec) {
    case "VP8": {
      const b0 = payload[0];
      let at = 1;
      if (b0 & 0x80) {
        const x = payload[1];
        at = 2;
        if (x & 0x80) at += payload[at] & 0x80 ? 2 : 1;
        if (x & 0x40) at += 1;
        if (x & 0x30) at += 1;
      }
      const begins = (b0 & 0x10) !== 0 && (b0 & 0x0f) === 0;
      return { begins, key: begins && at < payload.length && isKeyFrame("VP8", payload.subarray(at)) };
    }
    case "VP9": {
      const b0 = payload[0];
      const begins = (b0 & 0x08) !== 0;
      if (!begins) return { begins, key: false };
      let at = 1;
      if (b0 & 0x80) at += payload[at] & 0x80 ? 2 : 1; // picture id
      if (b0 & 0x20) at += b0 & 0x10 ? 1 : 2; // layer indices (+ TL0PICIDX in non-flexible mode)
      if (b0 & 0x10 && b0 & 0x40) {
        // flexible mode reference indices
        while (at < payload.length && payload[at++] & 0x01);
      }
      if (b0 & 0x02) {
        // scalability structure
        const ss = payload[at++];
        const layers = (ss >> 5) + 1;
        if (ss & 0x10) at += 4 * layers;
        if (ss & 0x08) {
          const groups = payload[at++];
          for (let g = 0; g < groups && at < payload.length; g++) {
            const refs = (payload[at] >> 2) & 0x03;
            at += 1 + refs;
          }
        }
      }
      // A key frame: not inter-predicted (P=0) and a key frame in the bitstream.
      return { begins, key: (b0 & 0x40) === 0 && at < payload.length && isKeyFrame("VP9", payload.subarray(at)) };
    }
    case "H264": {
      const type = payload[0] & 0x1f;
      if (type === 28) {
        return { begins: (payload[1] & 0x80) !== 0, key: (payload[1] & 0x1f) === 5 };
      }
      if (type === 24) {
        let key = false;
        for (let at = 1; at + 2 < payload.length; ) {
          const size = payload.readUInt16BE(at);
          if ((payload[at + 2] & 0x1f) === 5) key = true;
          at += 2 + size;
        }
        return { begins: true, key };
      }
      return { begins: true, key: type === 5 };
    }
    case "AV1": {
      const b0 = payload[0];
      const count = (b0 >> 4) & 0x03;
      let key = (b0 & 0x08) !== 0;
      let at = 1;
      for (let n = 0; at < payload.length; n++) {
        let size = payload.length - at;
        if (count === 0 || n < count - 1) {
          const length = leb128(payload, at);
          if (!length) break;
          at = length.at;
          size = length.value;
        }
        const continuation = n === 0 && (b0 & 0x80) !== 0;
        if (!continuation && at < payload.length && ((payload[at] >> 3) & 0x0f) === 1) key = true;
        at += size;
        if (count !== 0 && n >= count - 1) break;
      }
      return { begins: (b0 & 0x80) === 0, key };
    }
  }
  return { begins: true, key: false };
}

const seqDiff = (a, b) => ((a - b + 0x10000) & 0xffff) > 0x8000 ? ((a - b + 0x10000) & 0xffff) - 0x10000 : (a - b + 0x10000) & 0xffff;

/**
 * Reassembles frames from RTP packets of one stream: a frame is the packets of one timestamp from
 * one that begins a frame (by the payload descriptor) to the one with the marker bit, every
 * sequence number in between received. `push()` returns the frames it completed, as key flags.
 */
export class FrameAssembler {
  constructor(codec) {
    this.codec = codecName(codec).toUpperCase();
    this.byTimestamp = new Map(); // timestamp → Map(seq → info)
    this.done = new Set(); // timestamps of frames completed (recent)
    this.doneOrder = [];
  }
  push({ sequenceNumber, timestamp, marker, payload }) {
    if (this.done.has(timestamp)) return [];
    let group = this.byTimestamp.get(timestamp);
    if (!group) {
      group = { packets: new Map(), markerSeq: null };
      this.byTimestamp.set(timestamp, group);
      if (this.byTimestamp.size > 64) this.byTimestamp.delete(this.byTimestamp.keys().next().value);
    }
    group.packets.set(sequenceNumber, payloadInfo(this.codec, payload));
    if (marker) group.markerSeq = sequenceNumber;
    if (group.markerSeq === null) return [];
    // Walk back from the marker to the packet that begins the frame.
    let seq = group.markerSeq;
    let key = false;
    for (let n = 0; n <= group.packets.size; n++) {
      const info = group.packets.get(seq);
      if (!info) return [];
      key ||= info.key;
      if (info.begins && !group.packets.has((seq - 1) & 0xffff)) {
        this.byTimestamp.delete(timestamp);
        this.done.add(timestamp);
        this.doneOrder.push(timestamp);
        if (this.doneOrder.length > 256) this.done.delete(this.doneOrder.shift());
        return [key];
      }
      seq = (seq - 1) & 0xffff;
    }
    return [];
  }
}

/** Recognises a packet delivered again within the last 1024 sequence numbers. */
export class RecentSequenceNumbers {
  constructor() {
    this.seen = new Set();
    this.order = [];
  }
  firstTime(seq) {
    if (this.seen.has(seq)) return false;
    this.seen.add(seq);
    this.order.push(seq);
    if (this.order.length > 1024) this.seen.delete(this.order.shift());
    return true;
  }
}

// ---- Receiving: counters of one received track ----

/**
 * What arrived on a received track. `push(packet)` takes each RTP packet (`{ payloadType,
 * sequenceNumber, timestamp, marker, payload }`); `codecOf(payloadType)` names its codec
 * (`{ mimeType, sdpFmtpLine, clockRate, payloadType }`) or null (RTX, FEC: not counted as media).
 */
export class InboundMedia {
  constructor(kind, codecOf) {
    this.kind = kind;
    this.codecOf = codecOf;
    this.packets = 0;
    this.bytes = 0;
    this.duplicated = 0;
    this.frames = 0;
    this.keyFrames = 0;
    this.firstPacketAt = null;
    this.firstFrameAt = null;
    // The track log watchFrames() keeps, given its first frame's time as that frame arrives (a
    // case may end before the next look).
    this.frameLog = null;
    this.codec = null;
    this.ssrc = null;
    this.seen = new RecentSequenceNumbers();
    this.assembler = null;
  }
  push(packet) {
    const codec = this.codecOf(packet.payloadType);
    if (!codec) return;
    if (!this.seen.firstTime(packet.sequenceNumber)) {
      this.duplicated += 1;
      return;
    }
    const now = performance.timeOrigin + performance.now();
    this.ssrc = packet.ssrc ?? this.ssrc;
    if (this.codec?.payloadType !== codec.payloadType) {
      this.codec = codec;
      this.assembler = this.kind === "video" ? new FrameAssembler(codec.mimeType) : null;
    }
    this.packets += 1;
    this.bytes += packet.payload.length;
    this.firstPacketAt ??= now;
    if (this.assembler) {
      for (const key of this.assembler.push(packet)) {
        this.frames += 1;
        if (key) this.keyFrames += 1;
        if (this.firstFrameAt === null) {
          this.firstFrameAt = now;
          if (this.frameLog) this.frameLog.first_frame_at_ms ??= now;
        }
      }
    }
  }
  /**
   * fixtures/browser/peer.js's hook for a received video track where there is no <video> to
   * play it: every `intervalMs` the frame count is compared with the one a look before (the
   * native peer's "frame count" check); the first frame's time goes into `log` as it arrives.
   * Returns the timer.
   */
  watchFrames(log, intervalMs) {
    this.frameLog = log;
    if (this.firstFrameAt != null) log.first_frame_at_ms ??= this.firstFrameAt;
    let before = null;
    return setInterval(() => {
      if (this.duplicated > 0) log.packets_duplicated = this.duplicated;
      if (this.frames === 0) return;
      const now = performance.timeOrigin + performance.now();
      if (before !== null) log.frame_checks.push({ at_ms: now, changed: this.frames > before, black: null, how: "frame count" });
      before = this.frames;
    }, intervalMs);
  }
}

// ---- Sending: a clip played on a track ----

/**
 * Plays a clip in a loop at its real pace once `start()`ed: `send(packets, frame)` gets each frame's
 * RTP packets (`{ payloadType, sequenceNumber, timestamp, marker, ssrc, payload }`).
 * `keyFrameNow()` (a PLI) makes the next frame the clip's next key frame.
 */
export class ClipPlayer {
  constructor({ clip, payloadType, ssrc, send, onError }) {
    this.clip = clip;
    const { frames, width, height } = readClip(clip);
    this.frames = frames;
    this.packetize = packetizerFor(clip.name, { width, height });
    this.payloadType = payloadType;
    this.ssrc = ssrc;
    this.send = send;
    this.onError = onError ?? (() => {});
    this.sequenceNumber = Math.floor(Math.random() * 0x10000);
    this.timestamp = Math.floor(Math.random() * 0x100000000);
    this.index = 0;
    this.timer = null;
    this.stopped = false;
    this.framesSent = 0;
    this.keyFramesSent = 0;
    this.bytesSent = 0;
    this.packetsSent = 0;
    this.startedAt = null;
    this.wantKeyFrame = false;
    this.keyFramesRequested = 0;
  }
  start() {
    if (this.timer || this.stopped) return;
    const clockRate = this.clip.mime.startsWith("audio") ? 48000 : 90000;
    let next = performance.now();
    const tick = () => {
      if (this.stopped) return;
      if (this.wantKeyFrame) {
        this.wantKeyFrame = false;
        const ahead = this.frames.findIndex((f, i) => i >= this.index && f.key);
        this.index = ahead >= 0 ? ahead : this.frames.findIndex((f) => f.key);
      }
      const frame = this.frames[this.index];
      this.index = (this.index + 1) % this.frames.length;
      const packets = this.packetize(frame).map(({ payload, marker }) => ({
        payloadType: this.payloadType,
        sequenceNumber: (this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff),
        timestamp: this.timestamp,
        marker,
        ssrc: this.ssrc,
        payload,
      }));
      // Audio: the marker bit flags the first packet of a talkspurt (RFC 3551), the stream's first.
      if (clockRate === 48000 && this.framesSent === 0 && this.packetsSent === 0) packets[0].marker = true;
      try {
        this.send(packets, frame);
      } catch (e) {
        this.onError(e);
        this.stop();
        return;
      }
      this.startedAt ??= performance.timeOrigin + performance.now();
      this.packetsSent += packets.length;
      this.bytesSent += packets.reduce((n, p) => n + p.payload.length, 0);
      if (clockRate === 90000) {
        this.framesSent += 1;
        if (frame.key) this.keyFramesSent += 1;
      }
      this.timestamp = (this.timestamp + Math.round(frame.samples)) >>> 0;
      next += (frame.samples / clockRate) * 1000;
      this.timer = setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  }
  /** A PLI/FIR: the next frame sent is a key frame (the clip's next one). */
  keyFrameNow() {
    this.keyFramesRequested += 1;
    this.wantKeyFrame = true;
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/** An RTP packet's bytes (RFC 3550, no CSRCs, no extensions). */
export function serializeRtp({ payloadType, sequenceNumber, timestamp, marker, ssrc, payload }) {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  header.writeUInt16BE(sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

/** An RTP packet parsed (null: not RTP, or RTCP). */
export function parseRtp(buf) {
  if (buf.length < 12 || buf[0] >> 6 !== 2) return null;
  const payloadType = buf[1] & 0x7f;
  if (buf[1] >= 192 && buf[1] <= 223) return null; // RTCP (RFC 5761)
  const csrcs = buf[0] & 0x0f;
  let at = 12 + 4 * csrcs;
  if (buf[0] & 0x10) {
    if (at + 4 > buf.length) return null;
    at += 4 + 4 * buf.readUInt16BE(at + 2);
  }
  let end = buf.length;
  if (buf[0] & 0x20) end -= buf[buf.length - 1];
  if (at > end) return null;
  return {
    payloadType,
    marker: (buf[1] & 0x80) !== 0,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(at, end),
  };
}

/** A random SSRC (never 0). */
export const randomSsrc = () => (Math.floor(Math.random() * 0xfffffffe) + 1) >>> 0;

// ---- The W3C surface the stacks' shims share ----

/**
 * navigator.mediaDevices.getUserMedia for Node: a stream with one track of each kind asked for,
 * made by `makeTrack(kind)` (the stack's track); the clip it plays is chosen when the track's
 * sender knows its codec. Constraints are ignored, as the native peer does.
 */
export function installNavigator(makeTrack, makeStream) {
  const mediaDevices = {
    async getUserMedia(constraints = {}) {
      const tracks = ["audio", "video"].filter((kind) => constraints[kind]).map((kind) => makeTrack(kind));
      if (tracks.length === 0) throw new TypeError("getUserMedia: neither audio nor video asked for");
      return makeStream(tracks);
    },
  };
  Object.defineProperty(globalThis, "navigator", {
    value: { ...(globalThis.navigator ?? {}), mediaDevices, userAgent: "rtc-interop node" },
    configurable: true,
    writable: true,
  });
}

/** Codec capabilities (`RTCRtpReceiver.getCapabilities(kind).codecs`) from a codec table. */
export function capabilitiesOf(table, kind) {
  return {
    codecs: table
      .filter((c) => c.kind === kind)
      .map((c) => ({
        mimeType: c.mime,
        clockRate: c.clockRate,
        ...(c.channels ? { channels: c.channels } : {}),
        ...(c.fmtp ? { sdpFmtpLine: c.fmtp } : {}),
      })),
    headerExtensions: [],
  };
}
