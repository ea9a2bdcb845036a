#!/usr/bin/env bash
# Installs what Magnetar needs on Debian/Ubuntu, and only what is missing.
#   scripts/setup.sh          build packages (Tauri's GTK/WebKit stack), the test peers and
#                             the test tools from npm (package.json: axe-core, flood)
#   scripts/setup.sh --build  build packages only
# Runs apt-get as root, or through sudo; otherwise prints the exact command to run.
set -euo pipefail

build_packages=(
  build-essential pkg-config libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
)
# Real third-party peers (aria2c, Transmission) and a tracker for the interop tests; iproute2
# for the remote-host tests; chromium and its WebDriver for the web UI tests; an X server, a
# session bus and X tools for the desktop tests (screenshots, clipboard, a close request); dpkg's
# desktop database tools for the .deb test; qbittorrent-nox (with aria2 and Transmission) is a
# daemon the benchmark's API table compares with (its quick run is a test); openssl computes the
# TLS fingerprints the tests expect, independently of the code under test; python3-venv makes
# the venv in which the Transmission RPC test installs the `transmission-rpc` library from PyPI;
# ffmpeg (with ffprobe) makes the streaming test's WebM and MP4 and plays them through the stream
# endpoint.
test_packages=(aria2 transmission-daemon transmission-cli opentracker iproute2 chromium chromium-driver
  xvfb xauth dbus-daemon xdotool xclip imagemagick python3-xlib xdg-utils desktop-file-utils
  mktorrent time qbittorrent-nox openssl python3 python3-venv ffmpeg)

packages=("${build_packages[@]}")
tests=yes
[[ "${1:-}" == "--build" ]] && tests=no
# The .deb is built by the Tauri CLI from npm: Node.js and npm, unless some other install is found.
command -v npx >/dev/null 2>&1 || packages+=(nodejs npm)
[[ $tests == no ]] || packages+=("${test_packages[@]}")

if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is missing: install it from https://rustup.rs, then run this again." >&2
  exit 1
fi

# The oldest Rust that builds Magnetar: Cargo.toml's rust-version.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wanted=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$here/../Cargo.toml" | head -n 1)
have=$(rustc --version 2>/dev/null | awk '{print $2}')
version_number() { # 1.90 or 1.90.1 -> 1090000 or 1090001 (a suffix such as -nightly is dropped)
  local major minor patch
  IFS=. read -r major minor patch <<<"${1%%-*}"
  echo $(( ${major:-0} * 1000000 + ${minor:-0} * 1000 + ${patch:-0} ))
}
if [[ -n "$wanted" && ( -z "$have" || $(version_number "$have") -lt $(version_number "$wanted") ) ]]; then
  echo "Rust ${have:-(no rustc found)} is too old: Magnetar needs Rust $wanted or newer." >&2
  echo "  Update it with: rustup update stable" >&2
  exit 1
fi

# The test tools from npm, at the exact versions of package-lock.json: axe-core, which the
# accessibility test (tests/ui_a11y.rs) injects into chromium, and Flood, the Transmission front
# end of tests/flood.rs. `npm ci` only when one is missing, since it empties node_modules first.
# Run last: npm is one of the packages above.
npm_packages() {
  [[ $tests == yes ]] || return 0
  [[ -f "$here/../node_modules/axe-core/axe.min.js" && -f "$here/../node_modules/flood/dist/index.js" ]] \
    && return 0
  echo "Installing from npm: axe-core, flood" >&2
  (cd "$here/.." && npm ci --no-audit --no-fund)
}

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  npm_packages
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing packages (install them with your package manager): ${missing[*]}" >&2
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "Missing packages; as root, run:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
npm_packages
