#!/usr/bin/env bash
# Installs what Coexist needs to build and test on Debian/Ubuntu: system libraries for the
# WebKitGTK window, test tools (Xvfb, D-Bus, WebDriver, dunst), the UI's npm packages and
# tauri-driver. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=${1:-}

pkgs=(libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev
      libayatana-appindicator3-dev libdbus-1-dev build-essential pkg-config libssl-dev
      # WebKitGTK plays audio and video through GStreamer: voice notes are Ogg/Opus (base), videos MP4.
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
if [ "$want_tests" = "--tests" ]; then
  pkgs+=(xvfb xauth webkit2gtk-driver dbus-x11 at-spi2-core imagemagick x11-utils dunst keyutils
         gnome-keyring libsecret-tools
         # The store tests run on a real PostgreSQL too: a throwaway cluster per test run
         # (coexist-testkit's postgres module), from Debian's packages.
         postgresql postgresql-client)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "==> installing the UI's npm packages"
  (cd ui && npm ci --no-audit --no-fund)
fi

echo "==> building the UI"
(cd ui && npm run --silent build)

if [ "$want_tests" = "--tests" ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "==> installing tauri-driver (WebDriver for the real window)"
  cargo install tauri-driver --locked
fi
