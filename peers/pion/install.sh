#!/bin/sh
# Installs the `pion` peer kind into HOME: checks Debian's pion/webrtc v3 and gorilla/websocket
# packages (installs them when run as root, else prints the command), then builds this folder's
# peer.go & co. into HOME/pion-peer, offline, in GOPATH mode. Rebuilds only when the sources
# (or the embedded media clips, or the packages' versions) changed.
#
#   sh peers/pion/install.sh HOME           install or rebuild
#   sh peers/pion/install.sh HOME --check   print the version if the build is current, else fail
set -eu

HOME_DIR=${1:?usage: install.sh HOME [--check]}
CHECK=${2:-}
DIR=$(cd "$(dirname "$0")" && pwd)
CLIPS=$(cd "$DIR/../../fixtures/media" && pwd)
PACKAGES="golang-go golang-github-pion-webrtc.v3-dev golang-github-gorilla-websocket-dev"

say() { echo "pion install: $*" >&2; }

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ] && [ "$CHECK" = --check ]; then
    exit 1
fi
if [ -n "$missing" ]; then
    command="apt-get install -y --no-install-recommends$missing"
    if [ "$(id -u)" = 0 ]; then
        say "installing the missing Debian packages:$missing"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $command >&2
    else
        say "missing Debian packages:$missing; run as root: $command"
        exit 1
    fi
fi
pion_version=$(dpkg-query -W -f='${Version}' golang-github-pion-webrtc.v3-dev)
[ "$CHECK" = --check ] || say "pion/webrtc $pion_version (Debian), $(go version)"

mkdir -p "$HOME_DIR"
# Go resolves the `/v3` import in GOPATH mode only for a package inside a GOPATH with a go.mod.
SRC="$HOME_DIR/gopath/src/rtcinterop/pionpeer"
BIN="$HOME_DIR/pion-peer"
STAMP="$HOME_DIR/pion-peer.sha256"

hash=$( (cat "$DIR"/*.go "$DIR/go.mod" "$CLIPS"/video-vp8.ivf "$CLIPS"/video-vp9.ivf "$CLIPS"/video-av1.ivf \
    "$CLIPS"/video-h264.h264 "$CLIPS"/audio-opus.ogg; echo "$pion_version"; go version) | sha256sum | cut -d' ' -f1)
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$hash" ]; then
    if [ "$CHECK" = --check ]; then
        exec "$BIN" --version
    fi
    say "$BIN is up to date"
    exit 0
fi
if [ "$CHECK" = --check ]; then
    exit 1
fi

say "building $BIN (about 15 s the first time)"
rm -rf "$SRC"
mkdir -p "$SRC/clips"
cp "$DIR"/*.go "$DIR/go.mod" "$SRC/"
cp "$CLIPS"/video-vp8.ivf "$CLIPS"/video-vp9.ivf "$CLIPS"/video-av1.ivf "$CLIPS"/video-h264.h264 \
    "$CLIPS"/audio-opus.ogg "$SRC/clips/"
(
    cd "$SRC"
    GO111MODULE=off GOPATH="$HOME_DIR/gopath:/usr/share/gocode" GOCACHE="$HOME_DIR/gocache" \
        GOFLAGS= CGO_ENABLED=0 go build -ldflags "-X main.pionVersion=$pion_version" -o "$BIN.tmp" .
)
mv "$BIN.tmp" "$BIN"
echo "$hash" > "$STAMP"
say "built $BIN ($("$BIN" --version))"
