#!/bin/sh
# Installs the headless browser the page tests drive (tests/browser.py): Debian's chromium and
# chromium-driver. Idempotent, so `make test` can run it every time at the cost of two PATH lookups.
set -eu

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "setup_browser: chromium and chromedriver already installed, nothing to do"
    exit 0
fi

# Root on every machine of the project (CI included); sudo only for a developer's own account.
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "setup_browser: chromium/chromedriver missing, and neither root nor sudo is available to install them" >&2
    exit 1
fi

# apt's own chatter would bury the one line that says what happened; its errors still reach stderr.
$as_root apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends chromium chromium-driver \
    >/dev/null
echo "setup_browser: installed chromium and chromium-driver with apt-get ($(chromium --version 2>/dev/null || true))"
