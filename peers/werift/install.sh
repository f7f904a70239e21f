#!/bin/sh
# Installs werift (pure TypeScript; 0.24.x, as 0.25 needs Node.js 22) and ws (the relay's
# WebSocket) into HOME/node_modules for the `werift` peer kind.
# Usage: install.sh HOME. Idempotent and quick when already installed.
set -eu
[ $# -eq 1 ] || { echo "usage: install.sh HOME" >&2; exit 2; }
home=$1
here=$(dirname "$0")
sh "$here/../node-common/npm-install.sh" werift "$home" werift@0.24.4 ws@8.23.0
