#!/usr/bin/env bash
# Runs every test of Coexist: formatting and lints, the core and CLI tests, the end-to-end tests
# over loopback, and the real window driven by WebDriver under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh --tests

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> building every binary"
cargo build --workspace
echo "==> tests"
cargo test --workspace

echo "==> the real window, under Xvfb, driven by WebDriver"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_DATA_HOME="$scratch/data" XDG_CACHE_HOME="$scratch/cache" XDG_CONFIG_HOME="$scratch/config"
export COEXIST_SCREENSHOT="${COEXIST_SCREENSHOT:-$scratch/window.png}"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  cargo test --test window_e2e -- --ignored --test-threads=1
echo "window screenshot: $COEXIST_SCREENSHOT"
