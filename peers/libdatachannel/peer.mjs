// rtc-interop's libdatachannel peer: fixtures/browser/peer.js on libdatachannel (npm
// node-datachannel, installed into HOME by install.sh). See peers/node-common/runner.mjs.
import { createRequire } from "node:module";
import path from "node:path";
import { run, log, debugEnabled } from "../node-common/runner.mjs";
import { loadLibdatachannel } from "./rtc.mjs";

await run("libdatachannel", (home) => {
  const stack = loadLibdatachannel(home, { debug: debugEnabled(), log });
  const require = createRequire(path.join(home, "node_modules", "noop.js"));
  return {
    ...stack,
    version: `node-datachannel ${stack.version} (libdatachannel ${stack.libraryVersion})`,
    WebSocket: require("ws").WebSocket,
  };
});
