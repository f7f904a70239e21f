// rtc-interop's werift peer: fixtures/browser/peer.js on werift (npm, pure TypeScript, installed
// into HOME by install.sh). See peers/node-common/runner.mjs.
import { createRequire } from "node:module";
import path from "node:path";
import { run, log, debugEnabled } from "../node-common/runner.mjs";
import { loadWerift } from "./rtc.mjs";

await run("werift", (home) => {
  const stack = loadWerift(home, { debug: debugEnabled(), log });
  const require = createRequire(path.join(home, "node_modules", "noop.js"));
  return { ...stack, version: `werift ${stack.version}`, WebSocket: require("ws").WebSocket };
});
