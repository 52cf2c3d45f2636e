#!/usr/bin/env bash
# apt-install.sh PACKAGE...: installs Debian packages (as root) without letting
# them start their services. Debian's redis-server and prometheus packages start
# a system server on install (Redis on 6379, Prometheus on 0.0.0.0:9090);
# Switchyard wants only their binaries, so a policy-rc.d refuses every service
# start for the length of the install and is then put back as it was.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
had_policy=0
if [ -e "$policy" ]; then had_policy=1; cp "$policy" "$policy.switchyard-bak"; fi
printf '#!/bin/sh\nexit 101\n' > "$policy"
chmod +x "$policy"
restore() { if [ "$had_policy" = 1 ]; then mv "$policy.switchyard-bak" "$policy"; else rm -f "$policy"; fi; }
trap restore EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
