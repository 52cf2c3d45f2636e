#!/usr/bin/env bash
# Makes sure Debian's redis-server is installed (Switchyard starts its own private
# instance from it when no REDIS_URL is given). Installs it with apt when missing
# and we are root; otherwise says what to do. Does nothing when REDIS_URL is set.
set -euo pipefail
if [ -n "${REDIS_URL:-}" ]; then exit 0; fi
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: redis-server is missing; installing Debian's redis-server with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Debian's package would start a system instance on 6379, which Switchyard never
  # uses: a policy-rc.d refuses service starts during the install (as for promtool).
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  if [ -e "$policy" ]; then had_policy=1; cp "$policy" "$policy.switchyard-bak"; fi
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  restore() { if [ "$had_policy" = 1 ]; then mv "$policy.switchyard-bak" "$policy"; else rm -f "$policy"; fi; }
  trap restore EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server >/dev/null
  # Should one have started anyway (no invoke-rc.d), stop the system service's server.
  pkill -u redis -x redis-server 2>/dev/null || true
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "switchyard: redis-server is not installed. Run as root: apt-get install -y redis-server, or set REDIS_URL." >&2
exit 1
