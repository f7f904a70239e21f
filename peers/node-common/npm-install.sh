#!/bin/sh
# Installs pinned npm packages into HOME/node_modules for a Node.js peer kind.
# Usage: npm-install.sh KIND HOME NAME@VERSION... (exact versions).
# Idempotent: when every package is already there at its version it only checks (no network).
# Progress and errors go to stderr.
set -eu

[ $# -ge 3 ] || { echo "usage: npm-install.sh KIND HOME NAME@VERSION..." >&2; exit 2; }
kind=$1
home=$2
shift 2

say() { echo "$kind install: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or later: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || fail "Node.js $(node --version) is too old: 18 or later is needed"

# The version HOME has of package $1 (empty when it has none).
installed_version() {
    node -e '
        try { console.log(require(process.argv[1] + "/node_modules/" + process.argv[2] + "/package.json").version); }
        catch { console.log(""); }' "$home" "$1"
}

missing=""
for spec in "$@"; do
    name=${spec%@*}
    want=${spec##*@}
    have=$(installed_version "$name")
    [ "$have" = "$want" ] || missing="$missing $spec"
done

if [ -z "$missing" ]; then
    say "$* already in $home"
    exit 0
fi

mkdir -p "$home" || fail "cannot create $home"
say "installing$missing into $home (npm)"
npm install --prefix "$home" --save-exact --no-audit --no-fund --loglevel=warn "$@" >&2 \
    || fail "npm install --prefix $home $* failed (is the npm registry reachable?)"

for spec in "$@"; do
    name=${spec%@*}
    want=${spec##*@}
    have=$(installed_version "$name")
    [ "$have" = "$want" ] || fail "$name is at '${have:-nothing}' in $home after npm install, not $want"
done
say "installed $*"
