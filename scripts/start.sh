#!/usr/bin/env bash
# `npm start`: the demo on embedded defaults. Installs what is missing (npm
# packages, Debian's redis-server), builds, then runs `switchyard demo`:
# a private Redis, two simulated SMSCs, the engine and a demo load, printing
# what flows. Extra arguments go to the demo (e.g. npm start -- --duration 60).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-redis.sh
npx tsc -p tsconfig.build.json
exec node dist/engine/cli.js demo "$@"
