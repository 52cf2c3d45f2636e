#!/usr/bin/env bash
# Makes sure Debian's kannel (bearerbox, smsbox) is installed: the SMPP server
# tests use it as a customer's SMPP client (test/integration/smpp-kannel.test.ts)
# when it is there. Installs it with apt when missing and we are root, without
# the system service the package would start; otherwise says what to do. The
# tests that need it are skipped, with that reason, when it is absent.
set -euo pipefail
if command -v bearerbox >/dev/null 2>&1 && command -v smsbox >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "switchyard: kannel is missing; installing Debian's kannel with apt-get" >&2
  bash "$(dirname "$0")/apt-install.sh" kannel
  command -v bearerbox >/dev/null 2>&1 && command -v smsbox >/dev/null 2>&1 && exit 0
fi
echo "switchyard: kannel is not installed. Run as root: apt-get install -y kannel (the Kannel customer test is skipped without it)." >&2
exit 1
