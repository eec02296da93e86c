#!/usr/bin/env bash
# Regenerates ui/src/generated from the Rust types the shell sends (ts-rs, feature `ts` of
# coexist-core; `.cargo/config.toml` keeps 64-bit integers as numbers). With --check, fails when
# the committed files differ from what the Rust types say now.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf ui/src/generated
cargo test -q -p coexist-core --features ts --lib export_bindings >/dev/null
if [ "${1:-}" = "--check" ]; then
  if [ -n "$(git status --porcelain -- ui/src/generated)" ]; then
    git status --short -- ui/src/generated
    echo "the generated TypeScript types are out of date: run scripts/gen-types.sh and commit ui/src/generated" >&2
    exit 1
  fi
  echo "generated TypeScript types match the Rust types"
fi
