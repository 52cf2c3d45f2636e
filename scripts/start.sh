#!/usr/bin/env bash
# `npm start`: the demo on embedded defaults. Installs what is missing (npm
# packages, Debian's redis-server), builds, then runs `switchyard demo`:
# a private Redis, two simulated SMSCs, the engine and a demo load, printing
# what flows. Extra arguments go to the demo (e.g. npm start -- --duration 60).
set -euo pipefail
cd "$(dirname "$0")/.."
# npm install from the lock file (every dependency is pinned exactly). Not npm ci: chdb lists optional
# per-platform libraries (macOS, arm64) that the registry does not serve, and npm ci refuses a lock
# without them; npm install installs the one for this platform and leaves the lock unchanged.
[ -d node_modules ] || npm install --no-audit --no-fund
bash scripts/ensure-redis.sh
npx tsc -p tsconfig.build.json
exec node dist/engine/cli.js demo "$@"
