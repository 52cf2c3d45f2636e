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
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server >/dev/null
  # Debian's package may start a system instance on 6379; Switchyard never uses it.
  exit 0
fi
echo "switchyard: redis-server is not installed. Run as root: apt-get install -y redis-server, or set REDIS_URL." >&2
exit 1
