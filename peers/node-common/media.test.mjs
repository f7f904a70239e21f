// The JavaScript packetizers and frame reassembly (media.mjs) on every fixture clip, offline:
// each clip's frames, packetized, sent as RTP bytes (in order, then with the packets of every
// frame reversed) and reassembled, come back complete with their key frames where the bitstream
// has them. Run by `cargo test` (tests/media_fixtures.rs) as `node --test`.
import test from "node:test";
import assert from "node:assert/strict";
import { CLIPS, FrameAssembler, MAX_PAYLOAD, packetizerFor, parseRtp, readClip, serializeRtp } from "./media.mjs";

/** RTP bytes of every frame of `clip`, one array of packets per frame. */
function packetized(clip) {
  const info = readClip(clip);
  const packetize = packetizerFor(clip.name, info);
  let sequenceNumber = 65500; // wraps around within the clip
  let timestamp = 0;
  return info.frames.map((frame) => {
    const packets = packetize(frame).map(({ payload, marker }) =>
      serializeRtp({ payloadType: 96, sequenceNumber: sequenceNumber++, timestamp, marker, ssrc: 1234, payload }),
    );
    timestamp += frame.samples;
    return packets;
  });
}

for (const clip of CLIPS.filter((c) => c.mime.startsWith("video/"))) {
  test(`${clip.name}: every frame packetized and reassembled, key frames kept`, () => {
    const { frames } = readClip(clip);
    const expectedKeys = frames.map((f) => f.key);
    assert.ok(expectedKeys.filter(Boolean).length >= 3, "a key frame every second of the 3 s clip");
    for (const reversed of [false, true]) {
      const assembler = new FrameAssembler(clip.mime);
      const keys = [];
      for (const packets of packetized(clip)) {
        const order = reversed ? [...packets].reverse() : packets;
        for (const bytes of order) {
          assert.ok(bytes.length - 12 <= MAX_PAYLOAD, `a payload of ${bytes.length - 12} bytes`);
          keys.push(...assembler.push(parseRtp(bytes)));
        }
      }
      assert.deepEqual(keys, expectedKeys, reversed ? "packets of each frame reversed" : "in order");
    }
  });

  // A fragment lost from the middle of a frame. (A frame is complete from the packet that begins
  // it: an H.264 access unit whose leading parameter-set packet was lost still counts.)
  test(`${clip.name}: a frame missing a middle fragment is not completed`, () => {
    const assembler = new FrameAssembler(clip.mime);
    const frames = packetized(clip);
    const big = frames.findIndex((p, i) => i > 0 && p.length >= 3);
    assert.ok(big >= 0, "a frame of three packets or more");
    const lost = frames[big].length - 2;
    const completed = [];
    for (const [i, packets] of frames.entries()) {
      const sent = i === big ? packets.filter((_, n) => n !== lost) : packets;
      for (const bytes of sent) completed.push(...assembler.push(parseRtp(bytes)).map(() => i));
    }
    assert.ok(!completed.includes(big), `frame ${big} lost packet ${lost}`);
    assert.equal(completed.length, frames.length - 1);
  });
}

test("opus: one packet per Ogg packet, the payload unchanged", () => {
  const clip = CLIPS.find((c) => c.name === "opus");
  const { frames } = readClip(clip);
  assert.ok(frames.length >= 100, `${frames.length} packets in 3 s of 20 ms`);
  const packetize = packetizerFor("opus");
  for (const frame of frames) {
    const packets = packetize(frame);
    assert.equal(packets.length, 1);
    assert.deepEqual(packets[0].payload, frame.data);
  }
});
