#!/usr/bin/env bash
# Builds the installable package with Tauri's bundler (release build). On Linux: a .deb, checked
# with dpkg-deb. The same configuration (tauri.conf.json `bundle`) makes the NSIS/MSI installers
# on Windows and the .app/.dmg on macOS when run there (`tauri build`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tauri's CLI from npm (a prebuilt binary, seconds instead of compiling tauri-cli), kept out of
# the UI's lockfile: the registry mirror lacks its other platforms' packages, which `npm ci` wants.
tools="${COEXIST_TOOLS_DIR:-$HOME/.cache/coexist-tools}"
if [ ! -x "$tools/node_modules/.bin/tauri" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-audit --no-fund @tauri-apps/cli@2.12.5
fi
[ -d ui/node_modules ] || (cd ui && npm ci --no-audit --no-fund)
(cd ui && npm run build --silent)
"$tools/node_modules/.bin/tauri" build --bundles deb
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
deb=$(ls -t "$target_dir"/release/bundle/deb/*.deb | head -1)
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends"
dpkg-deb --contents "$deb" | grep -q "usr/bin/coexist-app" || { echo "the .deb has no usr/bin/coexist-app" >&2; exit 1; }
echo "bundle: $deb ($(du -h "$deb" | cut -f1))"
