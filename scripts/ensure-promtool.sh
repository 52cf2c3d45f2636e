#!/usr/bin/env bash
# Makes sure `promtool` (from Debian's prometheus package) is installed: the
# tests check the /metrics exposition and the alert rules with it. Installs the
# package with apt when missing and we are root, without letting the package
# start a Prometheus server (scripts/apt-install.sh refuses service starts, and
# one that started anyway is stopped): nothing may listen on 0.0.0.0.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: promtool is missing; installing Debian's prometheus package (for promtool only) with apt-get" >&2
  bash "$(dirname "$0")/apt-install.sh" prometheus
  # Should the package's server have started anyway, stop it (it runs as user prometheus).
  pkill -u prometheus -x prometheus 2>/dev/null || true
  command -v promtool >/dev/null 2>&1 && exit 0
fi
echo "switchyard: promtool is not installed. Run as root: apt-get install -y --no-install-recommends prometheus (promtool is in it)." >&2
exit 1
