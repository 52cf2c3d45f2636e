#!/usr/bin/env bash
# Makes sure Debian's redis-server (and redis-cli, from redis-tools, which it
# depends on) is installed: Switchyard starts its own private instance from it
# when no REDIS_URL is given, and with --cluster (the tests) a private Redis
# Cluster too, joined with redis-cli, unless REDIS_CLUSTER_NODES is given.
# Installs it with apt when missing and we are root, without the system instance
# the package would start on 6379 (Switchyard never uses it); otherwise says what
# to do. Does nothing when the Redis it would be for is given.
set -euo pipefail
if [ -n "${REDIS_URL:-}" ] && { [ "${1:-}" != "--cluster" ] || [ -n "${REDIS_CLUSTER_NODES:-}" ]; }; then exit 0; fi
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: redis-server is missing; installing Debian's redis-server with apt-get" >&2
  bash "$(dirname "$0")/apt-install.sh" redis-server
  # Should one have started anyway (no invoke-rc.d), stop the system service's server.
  pkill -u redis -x redis-server 2>/dev/null || true
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && exit 0
fi
echo "switchyard: redis-server is not installed. Run as root: apt-get install -y redis-server, or set REDIS_URL." >&2
exit 1
