#!/usr/bin/env bash
# Builds Magnetar's .deb with the Tauri CLI (the npm package's prebuilt binary; AppImage is left
# out, it downloads tools at build time). The release build it makes is the one the benchmark
# and the package tests reuse. Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tauri-cli.sh

bash scripts/setup.sh --build
tauri build --ci --bundles deb -- --locked >&2
ls -t target/release/bundle/deb/*.deb | head -n 1
