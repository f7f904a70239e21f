// The Node.js end of rtc-interop: runs the browser page's engine (fixtures/browser/peer.js)
// unchanged in Node, on a W3C-shaped WebRTC stack that the kind's peer.mjs provides.
//
//   node peers/<kind>/peer.mjs --home HOME --plan PLAN.json --observations OBSERVATIONS.json
//
// peer.js walks the plan exactly as it does in a browser: it needs `window` (for its error
// listeners and to publish `window.rtcInterop`), `WebSocket` (npm `ws`) and `RTCPeerConnection`.
// This runner provides them, loads peer.js into this context, calls `rtcInterop.start(plan)`, and
// writes `rtcInterop.observations()` to OBSERVATIONS.json (tmp file + rename) whenever they
// change, until they say `finished`. Then it lingers a little (the other side may still be
// waiting for an echo this side sent) and exits 0. On SIGTERM it writes what it has, marked
// finished, and exits at once. stdout is not used: everything is logged on stderr.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
// The peer page's scripts, in the order peer.html loads them.
const PAGE_SCRIPTS = ["codecs.js", "peer.js"].map((name) => path.resolve(here, "../../fixtures/browser", name));

// How often the observations are read (and written when they changed).
const POLL_MS = 50;
// After finishing, how long the connection stays up for the other side (its last echoes, its own
// end-of-candidates grace); ended earlier by SIGTERM, `bye` or a closed connection.
const LINGER_MS = Number(process.env.RTC_INTEROP_LINGER_MS ?? 5000);
// How long pc.close() may take at exit.
const CLOSE_TIMEOUT_MS = 1000;

/** Parses `--name value` pairs. */
function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (!name.startsWith("--") || i + 1 >= argv.length) throw new Error(`unexpected argument \`${name}\``);
    args[name.slice(2)] = argv[++i];
  }
  for (const required of ["plan", "observations"]) {
    if (!args[required]) throw new Error(`missing --${required}`);
  }
  return args;
}

export const debugEnabled = () => process.env.RTC_INTEROP_DEBUG === "1";

/** A log line on stderr (the harness keeps it as the case's evidence). */
export function log(text) {
  process.stderr.write(`${new Date().toISOString()} ${text}\n`);
}

/**
 * Runs one peer. `kind` names the stack in logs; `loadStack(home)` returns
 * `{ RTCPeerConnection, RTCSessionDescription, RTCIceCandidate, WebSocket, version, connections }`
 * (and `RTCRtpReceiver`, for its getCapabilities(), where the stack has media)
 * where `connections` is the set of RTCPeerConnections made (for the final read and the exit).
 */
export async function run(kind, loadStack) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`usage: peer.mjs [--home HOME] --plan PLAN.json --observations OUT.json: ${e.message}\n`);
    process.exit(2);
  }
  const plan = JSON.parse(fs.readFileSync(args.plan, "utf8"));
  const home = args.home ?? process.env.RTC_INTEROP_PEER_HOME;
  if (!home) throw new Error("no --home: where the stack is installed (install.sh HOME)");

  // Things the runner itself saw go beside peer.js's observations.
  const extra = { errors: [], remote_id: null };
  const writer = observationWriter(args.observations);

  // Whatever happens before the engine runs, a report is written.
  const earlyFailure = (what, e) => {
    log(`${what}: ${e?.stack ?? e}`);
    writer.write({ errors: [`${what}: ${e?.message ?? e}`], finished: true });
    process.exit(0);
  };

  let stack;
  try {
    stack = await loadStack(home);
  } catch (e) {
    earlyFailure(`loading ${kind} from ${home}`, e);
  }
  log(`${kind} ${stack.version}; plan: ${plan.role} ${plan.id}, ${plan.steps.length} steps, ${plan.ice_mode}`);

  installGlobals(stack, extra, plan.id);
  for (const script of PAGE_SCRIPTS) {
    try {
      vm.runInThisContext(fs.readFileSync(script, "utf8"), { filename: script });
    } catch (e) {
      earlyFailure(`loading ${script}`, e);
    }
  }
  const engine = globalThis.window.rtcInterop;

  const snapshot = () => {
    let obs;
    try {
      obs = engine.observations();
    } catch (e) {
      // A value JSON cannot carry (a stack's stats): keep the rest.
      obs = { errors: [`observations: ${e.message}`], finished: false };
    }
    delete obs.console; // it went to stderr already
    obs.errors = [...(obs.errors ?? []), ...extra.errors];
    if (extra.remote_id) obs.remote_id = extra.remote_id;
    return obs;
  };

  let exiting = false;
  const exit = async (reason) => {
    if (exiting) return;
    exiting = true;
    const obs = snapshot();
    if (!obs.finished) {
      obs.finished = true;
      if (!obs.selected_pair) obs.selected_pair = await withTimeout(selectedPairOf(stack), 300, null);
    }
    writer.write(obs);
    log(`exiting: ${reason}`);
    await withTimeout(closeAll(stack), CLOSE_TIMEOUT_MS, null);
    process.exit(0);
  };
  process.on("SIGTERM", () => exit("SIGTERM"));
  process.on("SIGINT", () => exit("SIGINT"));
  // A hard stop, in case closing hangs on a native call.
  process.on("SIGTERM", () => setTimeout(() => process.exit(0), 1500).unref());

  try {
    await engine.start(plan);
  } catch (e) {
    extra.errors.push(`signaling: ${e.message}`);
    log(`start failed: ${e.message}`);
    const obs = snapshot();
    obs.finished = true;
    writer.write(obs);
    await withTimeout(closeAll(stack), CLOSE_TIMEOUT_MS, null);
    process.exit(0);
  }

  // Poll until finished, then linger.
  let finishedAt = null;
  const timer = setInterval(() => {
    if (exiting) return;
    const obs = snapshot();
    writer.write(obs);
    if (obs.finished && finishedAt === null) {
      finishedAt = Date.now();
      log(`finished${obs.steps?.find((s) => s.error) ? ` (failed: ${obs.steps.find((s) => s.error).error})` : ""}`);
    }
    if (finishedAt !== null) {
      const hungUp = obs.bye_received_at_ms != null || obs.connection_states?.at(-1)?.state === "closed";
      if (hungUp || Date.now() - finishedAt >= LINGER_MS) {
        clearInterval(timer);
        exit(hungUp ? "done (hung up)" : "done");
      }
    }
  }, POLL_MS);
}

/** Writes the observations document atomically, only when it changed. */
function observationWriter(file) {
  let last = null;
  const tmp = `${file}.tmp-${process.pid}`;
  return {
    write(obs) {
      const text = JSON.stringify(obs, (_, v) => (typeof v === "bigint" ? Number(v) : v), 2);
      if (text === last) return;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
      last = text;
    },
  };
}

/** What peer.js expects of a browser: window, WebSocket, the RTC classes, a quiet stdout. */
function installGlobals(stack, extra, ownId) {
  // stdout is ignored by the harness: the engine's console goes to stderr.
  for (const level of ["log", "info", "debug"]) console[level] = (...a) => console.error(...a);

  const listeners = new Map();
  globalThis.window = {
    addEventListener(type, listener) {
      if (!listeners.has(type)) listeners.set(type, []);
      listeners.get(type).push(listener);
    },
  };
  const fire = (type, event) => (listeners.get(type) ?? []).forEach((l) => l(event));
  process.on("uncaughtException", (e) => {
    log(`uncaught: ${e?.stack ?? e}`);
    fire("error", { message: String(e?.message ?? e) });
  });
  process.on("unhandledRejection", (reason) => {
    log(`unhandled rejection: ${reason?.stack ?? reason}`);
    fire("unhandledrejection", { reason });
  });

  // The relay socket, also noting the other side's id from its hello (remote_id).
  const Base = stack.WebSocket;
  class RelaySocket extends Base {
    constructor(url) {
      super(url);
      this.addEventListener("message", (event) => {
        try {
          const message = JSON.parse(event.data);
          if (message.type === "hello" && message.m !== ownId) extra.remote_id ??= message.m;
        } catch {
          // peer.js reports frames that are not JSON
        }
      });
    }
  }
  globalThis.WebSocket = RelaySocket;
  globalThis.RTCPeerConnection = stack.RTCPeerConnection;
  globalThis.RTCSessionDescription = stack.RTCSessionDescription;
  globalThis.RTCIceCandidate = stack.RTCIceCandidate;
  // Media (peers/node-common/media.mjs): codec capabilities; getUserMedia is installed by the stack.
  if (stack.RTCRtpReceiver) globalThis.RTCRtpReceiver = stack.RTCRtpReceiver;
}

/** The selected pair read from the last connection's stats, as peer.js reads it. */
async function selectedPairOf(stack) {
  const pc = [...stack.connections].at(-1);
  if (!pc) return null;
  try {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const end = (id) => {
      const c = stats.get(id);
      return c ? { type: c.candidateType, protocol: c.protocol, address: c.address || c.ip || "", port: c.port } : null;
    };
    const local = end(pair.localCandidateId);
    const remote = end(pair.remoteCandidateId);
    return local && remote ? { local, remote } : null;
  } catch {
    return null;
  }
}

async function closeAll(stack) {
  for (const pc of stack.connections) {
    try {
      await pc.close();
    } catch (e) {
      log(`close: ${e.message}`);
    }
  }
  await stack.shutdown?.();
}

/** `promise`, or `fallback` after `ms`. */
export function withTimeout(promise, ms, fallback) {
  let timer;
  const limit = new Promise((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  return Promise.race([Promise.resolve(promise), limit]).finally(() => clearTimeout(timer));
}

/** The version in HOME/node_modules/NAME/package.json (packages may not export it). */
export function packageVersion(home, name) {
  return JSON.parse(fs.readFileSync(path.join(home, "node_modules", name, "package.json"), "utf8")).version;
}
