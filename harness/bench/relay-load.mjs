// The load generator of `rtc-interop bench relay`, the same for every relay it measures (burst
// latency is measured by blocking Rust clients instead: src/relay_bench/burst.rs).
//
//   node relay-load.mjs pingpong URL ROOMS SECONDS  round trips for SECONDS in ROOMS pairs
//   node relay-load.mjs count URL ROOMS TOTAL       the same until TOTAL messages were relayed
//   node relay-load.mjs idle URL N                  N idle connections until stdin closes
//
// Prints one JSON line; `idle` prints "ready" once all are open. Latencies in milliseconds.
import WebSocket from 'ws';

const [mode, base, a, b] = process.argv.slice(2);
const PAD = 'x'.repeat(200); // about the size of an ICE candidate message
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const fail = (why) => { console.error(`relay-load: ${why}`); process.exit(1); };
setTimeout(() => fail('gave up after 120 s'), 120_000).unref();

function open(room) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/${room}`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function pairs(n, prefix) {
  const all = [];
  for (let i = 0; i < n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 50); j++) {
      const room = `bench/${prefix}/${j}`;
      batch.push(Promise.all([open(room), open(room)]));
    }
    all.push(...(await Promise.all(batch)));
  }
  await sleep(300); // the relay registers a member just after its handshake
  return all;
}

function quantile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function closeAll(sockets) {
  for (const ws of sockets.flat()) ws.terminate();
}

async function pingpong(rooms, until) {
  const ps = await pairs(rooms, 'pp');
  const rtts = [];
  let messages = 0;
  let running = true;
  const started = now();
  for (const [x, y] of ps) {
    let sentAt = 0;
    const ping = () => { sentAt = now(); x.send(`{"type":"ping","m":"x","pad":"${PAD}"}`); };
    y.on('message', () => { messages++; y.send(`{"type":"pong","m":"y","pad":"${PAD}"}`); });
    x.on('message', () => {
      messages++;
      rtts.push(now() - sentAt);
      if (running && !until.done(messages, started)) ping();
    });
    ping();
  }
  while (!until.done(messages, started)) await sleep(10);
  running = false;
  const seconds = (now() - started) / 1000;
  closeAll(ps);
  return { messages, seconds, msgs_per_s: messages / seconds, p50_ms: quantile(rtts, 0.5), p99_ms: quantile(rtts, 0.99) };
}

async function idle(n) {
  const ps = await pairs(n / 2, 'idle');
  console.log('ready');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  closeAll(ps);
  return { connections: n };
}

let result;
try {
  if (mode === 'pingpong') {
    const ms = Number(b) * 1000;
    result = await pingpong(Number(a), { done: (_, started) => now() - started >= ms });
  } else if (mode === 'count') {
    result = await pingpong(Number(a), { done: (messages) => messages >= Number(b) });
  } else if (mode === 'idle') {
    result = await idle(Number(a));
  } else {
    fail(`unknown mode ${mode}`);
  }
} catch (e) {
  fail(e.message ?? String(e));
}
console.log(JSON.stringify(result));
process.exit(0);
