#!/usr/bin/env bash
# Runs every test of Coexist: formatting and lints, the core and CLI tests, the end-to-end tests
# over loopback, and the real window driven by WebDriver under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh --tests

echo "==> TypeScript types generated from Rust: drift check"
scripts/gen-types.sh --check
echo "==> UI type check"
(cd ui && npm run --silent check)
log=$(mktemp)
echo "==> UI component tests (Vitest, in-memory backend)"
ui_out=$(cd ui && NO_COLOR=1 npx vitest run 2>&1) || { echo "$ui_out"; echo "UI component tests failed"; exit 1; }
echo "$ui_out"
ui_passed=$(echo "$ui_out" | sed -n 's/^ *Tests *\([0-9]*\) passed.*/\1/p' | head -1)
echo "test result: ok. ${ui_passed:-0} passed; 0 failed (UI components)" >> "$log"
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> building every binary"
cargo build --workspace
echo "==> tests"
cargo test --workspace 2>&1 | tee -a "$log"

echo "==> the desktop: the real window driven by WebDriver, a real notification to dunst, secrets"
echo "    through GNOME Keyring (Secret Service) — under Xvfb on a private D-Bus session"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_DATA_HOME="$scratch/data" XDG_CACHE_HOME="$scratch/cache" XDG_CONFIG_HOME="$scratch/config"
mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME"
export COEXIST_SCREENSHOT="${COEXIST_SCREENSHOT:-${CARGO_TARGET_DIR:-$PWD/target}/window-e2e.png}"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- sh -c '
  echo -n coexist-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test -p coexist-app --test window_e2e --test demo_e2e --test notify_desktop --test keyring_secrets -- --ignored --test-threads=1
' 2>&1 | tee -a "$log"
echo "window screenshots: ${COEXIST_SCREENSHOT%.png}-*.png"

# One closing line for the whole run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
