#!/usr/bin/env bash
# Regenerates every icon in icons/ from the one source image, icons/magnetar.svg, with the Tauri
# CLI's `icon` command: the PNG sizes Linux bundles use, icon.ico (Windows) and icon.icns (macOS).
# Mobile and Windows-store sizes are left out: Magnetar ships for the desktop.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tauri-cli.sh

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tauri icon icons/magnetar.svg --output "$out" >/dev/null
for icon in 32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.ico icon.icns; do
  cp "$out/$icon" "icons/$icon"
done
echo "icons/ regenerated from icons/magnetar.svg"
