#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests drive (gcc, g++, clang
# and make) when missing, then checks formatting, lints and runs every test
# with the real compilers.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in gcc g++ clang make; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if ((${#need[@]})); then
  pkgs=()
  for t in "${need[@]}"; do
    case "$t" in
      g++) pkgs+=(g++) ;;
      *) pkgs+=("$t") ;;
    esac
  done
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The integration tests (one binary, crates/ccd/tests/integration) once more
# with the file watcher off: the fast paths are accelerators only,
# correctness must not depend on them.
CCD_TEST_WATCH=0 cargo test --locked -p ccd --test integration
