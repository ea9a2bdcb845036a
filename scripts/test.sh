#!/usr/bin/env bash
# Runs Magnetar's whole test suite: builds the .deb (a release build, reused when up to date),
# then unit tests and integration tests against real peers (a second librqbit session, aria2c,
# Transmission, opentracker) on loopback, with DHT, UPnP and LSD off; the desktop app under Xvfb;
# the web UI in chromium. The package tests inspect and install that .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-deb.sh >/dev/null
exec cargo test --locked "$@"
