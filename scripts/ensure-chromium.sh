#!/usr/bin/env bash
# Make sure Debian's chromium is installed at /usr/bin/chromium, for the Playwright tests of
# `make test-e2e` (Playwright is pointed at it; no browser is ever downloaded by Playwright).
#
# Idempotent and silent when chromium is already there. Otherwise it installs the `chromium`
# package with apt-get, non-interactively, running `apt-get update` first only when the package
# is not known to apt yet (or the first attempt fails). Fails with one clear line on stderr.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

fail() {
    echo "ensure-chromium: $*" >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and apt-get is not available; install Chromium so that $CHROMIUM exists"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        fail "$CHROMIUM is missing and installing it needs root (run: sudo apt-get install -y chromium)"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp "${TMPDIR:-/tmp}/ensure-chromium.XXXXXX.log") || fail "cannot create a temporary log file"
trap 'rm -f "$LOG"' EXIT

install_chromium() {
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium >>"$LOG" 2>&1
}

echo "ensure-chromium: installing Debian's chromium with apt-get (one time)..." >&2
# `apt-cache policy` prints "Candidate: (none)" (or nothing) when the package lists lack chromium.
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    "${SUDO[@]}" apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed: $(tail -n 1 "$LOG")"
fi
if ! install_chromium; then
    # Stale package lists (a 404 on a superseded version) are the usual cause: refresh and retry once.
    "${SUDO[@]}" apt-get update -q >>"$LOG" 2>&1 || fail "apt-get update failed: $(tail -n 1 "$LOG")"
    install_chromium || fail "apt-get install chromium failed: $(tail -n 1 "$LOG")"
fi
[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM does not exist"
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed" >&2
