// werift's RTCPeerConnection, made to fit fixtures/browser/peer.js's W3C use.
//
// werift (npm, pure TypeScript) follows the W3C API closely. What the adapter has to change:
// - ICE servers: werift's ICE agent falls back to a public STUN server whenever no STUN server is
//   configured, even with `iceServers: []` (werift-ice's Connection constructor:
//   `validateAddress(stunServer) ?? ["stun.l.google.com", 19302]`, lib/ice/src/ice.js; the
//   RTCPeerConnection default config names the same server). The plan's servers, even none, are
//   always passed, and where they name no STUN server the ICE options get `stunServer: false`,
//   the one value that survives that `??` and turns server-reflexive gathering off.
import { createRequire } from "node:module";
import path from "node:path";
import { packageVersion } from "../node-common/runner.mjs";

/** Loads werift from HOME and returns the W3C classes on it. */
export function loadWerift(home, { debug }) {
  // werift logs through the `debug` package, which reads DEBUG when it is loaded.
  if (debug) process.env.DEBUG = [process.env.DEBUG, "werift*"].filter(Boolean).join(",");
  const root = path.join(home, "node_modules", "werift");
  const require = createRequire(path.join(root, "package.json"));
  const werift = require(root);
  clearDefaultStunServer(require(path.join(root, "lib/webrtc/src/utils.js")));
  const connections = new Set();

  class RTCPeerConnection extends werift.RTCPeerConnection {
    constructor({ iceServers = [], iceTransportPolicy = "all" } = {}) {
      // Exactly the plan's servers: an empty list replaces werift's public STUN default.
      super({ iceServers: structuredClone(iceServers), iceTransportPolicy });
      connections.add(this);
    }
  }

  return {
    RTCPeerConnection,
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
