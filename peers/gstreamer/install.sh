#!/bin/sh
# Installs what the gstreamer kind needs: Debian's GStreamer 1.22 webrtcbin, libnice, the GObject
# introspection data and Python bindings, and python3-websockets (all Debian packages; the adapter
# runs on Debian's /usr/bin/python3). Media: vp8enc/vp9enc/opusenc (good), x264enc (ugly),
# avdec_h264 (libav); gst-inspect-1.0 (tools) to look at elements by hand.
# Idempotent: when everything is there it only checks.
# Usage: install.sh HOME   (HOME is the kind's install folder; nothing is put there but a marker)
set -eu

HOME_DIR=${1:?usage: install.sh HOME}
PACKAGES="gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice \
gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools \
gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 python3-gi python3-websockets"

say() { echo "gstreamer install: $*" >&2; }

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing Debian packages:$missing"
        say "run as root: apt-get install -y --no-install-recommends$missing"
        exit 1
    fi
    say "installing:$missing"
    say "apt-get install -y --no-install-recommends$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2 || {
        say "apt-get install failed; trying again after apt-get update"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2
    }
else
    say "Debian packages present"
fi

# The adapter's imports, checked the way it makes them.
/usr/bin/python3 - <<'PY' >&2
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst
import websockets
Gst.init(None)
for element in ("webrtcbin", "nicesrc", "dtlssrtpenc", "sctpenc", "videotestsrc", "audiotestsrc", "capssetter",
                "vp8enc", "vp8dec", "rtpvp8pay", "rtpvp8depay", "vp9enc", "vp9dec", "rtpvp9pay", "rtpvp9depay",
                "x264enc", "avdec_h264", "h264parse", "rtph264pay", "rtph264depay",
                "opusenc", "opusdec", "rtpopuspay", "rtpopusdepay"):
    if Gst.ElementFactory.find(element) is None:
        raise SystemExit(f"gstreamer install: the GStreamer element {element} is missing")
print(f"gstreamer install: {Gst.version_string()}, websockets {websockets.__version__}: ready")
PY

mkdir -p "$HOME_DIR"
touch "$HOME_DIR/installed"
