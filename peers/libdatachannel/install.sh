#!/bin/sh
# Installs libdatachannel for the `libdatachannel` peer kind: npm node-datachannel (its prebuilt
# native addon, libdatachannel inside, comes as the optional package
# @node-datachannel/linux-x64-gnu) and ws (the relay's WebSocket) into HOME/node_modules.
# Usage: install.sh HOME. Idempotent and quick when already installed.
set -eu
[ $# -eq 1 ] || { echo "usage: install.sh HOME" >&2; exit 2; }
home=$1
here=$(dirname "$0")
sh "$here/../node-common/npm-install.sh" libdatachannel "$home" node-datachannel@0.33.4 ws@8.23.0
# The native addon must load here (a platform npm has no prebuilt addon for cannot run it).
node -e 'require(process.argv[1] + "/node_modules/node-datachannel")' "$home" \
    || { echo "libdatachannel install: FAILED: node-datachannel's native addon does not load on this machine" >&2; exit 1; }
