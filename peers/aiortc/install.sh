#!/bin/sh
# Installs aiortc and websockets (PyPI wheels only) into HOME/venv for the `aiortc` peer kind.
# Usage: install.sh HOME. Idempotent: when the pinned versions are already there it only checks.
set -eu

AIORTC_VERSION=1.16.0
AIOICE_VERSION=0.13.0
WEBSOCKETS_VERSION=17.4

say() { echo "aiortc install: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ $# -eq 1 ] || fail "usage: install.sh HOME"
home=$1
venv=$home/venv
python=$venv/bin/python

installed() {
    [ -x "$python" ] && "$python" - "$AIORTC_VERSION" "$AIOICE_VERSION" "$WEBSOCKETS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["aiortc", "aioice", "websockets"], sys.argv[1:]))
sys.exit(0 if all(version(name) == v for name, v in want.items()) else 1)
PY
}

if installed; then
    say "aiortc $AIORTC_VERSION, aioice $AIOICE_VERSION, websockets $WEBSOCKETS_VERSION already in $venv"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (apt-get install python3 python3-venv)"
mkdir -p "$home" || fail "cannot create $home"
if [ ! -x "$python" ]; then
    say "creating a virtual environment in $venv"
    python3 -m venv "$venv" || fail "python3 -m venv $venv failed (apt-get install python3-venv)"
fi
say "installing aiortc==$AIORTC_VERSION aioice==$AIOICE_VERSION websockets==$WEBSOCKETS_VERSION (wheels only)"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    "aiortc==$AIORTC_VERSION" "aioice==$AIOICE_VERSION" "websockets==$WEBSOCKETS_VERSION" >&2 \
    || fail "pip install failed (is PyPI reachable? see the lines above)"
installed || fail "the installed versions do not match the pinned ones"
say "done: $("$python" -c 'import aiortc; print("aiortc", aiortc.__version__)')"
