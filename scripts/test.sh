#!/usr/bin/env bash
# Runs Magnetar's whole test suite: unit tests, then integration tests against real peers
# (a second librqbit session, aria2c, opentracker) on loopback, with DHT, UPnP and LSD off.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo test --locked "$@"
