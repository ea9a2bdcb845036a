# Sourced by the scripts that need the Tauri CLI: `tauri …` runs the npm package's prebuilt
# binary, pinned to one 2.x release (3.0 alphas are "latest" on npm), through npx's cache.
TAURI_CLI_VERSION=2.12.6
tauri() {
  if ! command -v npx >/dev/null 2>&1; then
    echo "npx is missing: install Node.js and npm (apt-get install nodejs npm)" >&2
    return 1
  fi
  npx --yes "@tauri-apps/cli@${TAURI_CLI_VERSION}" "$@"
}
