#!/usr/bin/env bash
# The browser of the end-to-end admin test (tests/e2e/test_admin_saga_browser.py): Debian's
# headless-capable Chromium and its chromedriver, which Selenium drives. Nothing is downloaded
# from anywhere but the machine's Debian mirrors.
#
#   scripts/browser.sh ensure   install chromium + chromium-driver with apt-get when /usr/bin/chromium
#                               or /usr/bin/chromedriver is missing (needs root then)
#   scripts/browser.sh version  print the versions found
set -euo pipefail
chromium=${LOTUS_CHROMIUM:-/usr/bin/chromium}
driver=${LOTUS_CHROMEDRIVER:-/usr/bin/chromedriver}

ensure() {
  if [ -x "$chromium" ] && [ -x "$driver" ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "lotus: $chromium or $driver is missing; as root: apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
  echo "lotus: installing chromium and chromium-driver (Debian packages) for the browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }
}

case "${1:-}" in
  ensure) ensure ;;
  version) "$chromium" --version 2>/dev/null; "$driver" --version ;;
  *) echo "usage: scripts/browser.sh ensure|version" >&2; exit 2 ;;
esac
