#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: the dashboard test drives it headless through
# playwright-core (which never downloads a browser of its own). Installs it with apt when missing
# and we are root; otherwise says what to do.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: chromium is missing; installing Debian's chromium with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "switchyard: chromium is not installed (the dashboard test needs it). Run as root: apt-get install -y chromium" >&2
exit 1
