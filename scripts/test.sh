#!/usr/bin/env bash
# The whole test suite, as README.md's quick start gives it (`npm test`) and as
# CI runs it: install Redis, promtool (metrics and alert-rule checks), chromium (dashboard test) and kannel (SMPP customer test) if missing, type-check, lint (with the cycle check),
# build (worker threads run compiled JS), then vitest (unit + integration
# against a private Redis and a private Redis Cluster that test/global-setup.ts
# starts and stops).
set -euo pipefail
cd "$(dirname "$0")/.."
# npm install from the lock file (every dependency is pinned exactly). Not npm ci: chdb lists optional
# per-platform libraries (macOS, arm64) that the registry does not serve, and npm ci refuses a lock
# without them; npm install installs the one for this platform and leaves the lock unchanged.
[ -d node_modules ] || npm install --no-audit --no-fund
bash scripts/ensure-redis.sh --cluster
bash scripts/ensure-promtool.sh
bash scripts/ensure-chromium.sh
# Kannel as an SMPP customer (test/integration/smpp-kannel.test.ts); without it that test is skipped, saying so.
bash scripts/ensure-kannel.sh || true
echo "== typecheck"; npx tsc -p tsconfig.json
echo "== lint";      npx eslint .
echo "== cycles";    npx madge --circular --extensions ts --ts-config tsconfig.json engine router analytics config
echo "== build";     npx tsc -p tsconfig.build.json
echo "== tests";     npx vitest run "$@"
