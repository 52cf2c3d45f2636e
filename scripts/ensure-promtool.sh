#!/usr/bin/env bash
# Makes sure `promtool` (from Debian's prometheus package) is installed: the
# tests check the /metrics exposition and the alert rules with it. Installs the
# package with apt when missing and we are root, without letting the package
# start a Prometheus server (a policy-rc.d refuses service starts during the
# install, and any running one is stopped): nothing may listen on 0.0.0.0.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: promtool is missing; installing Debian's prometheus package (for promtool only) with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  if [ -e "$policy" ]; then had_policy=1; cp "$policy" "$policy.switchyard-bak"; fi
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  restore() { if [ "$had_policy" = 1 ]; then mv "$policy.switchyard-bak" "$policy"; else rm -f "$policy"; fi; }
  trap restore EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # Should the package's server have started anyway, stop it (it runs as user prometheus).
  pkill -u prometheus -x prometheus 2>/dev/null || true
  command -v promtool >/dev/null 2>&1 && exit 0
fi
echo "switchyard: promtool is not installed. Run as root: apt-get install -y --no-install-recommends prometheus (promtool is in it)." >&2
exit 1
