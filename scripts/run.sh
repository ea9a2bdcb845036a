#!/usr/bin/env bash
# Builds and launches the Magnetar desktop app. Extra arguments go to magnetar, e.g.
#   scripts/run.sh serve --listen 127.0.0.1:7345     (the headless server instead)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --build
exec cargo run --release -- "$@"
