#!/usr/bin/env bash
# Installs ccd with cargo and runs a cached compile twice (a miss, then a
# hit), then shows the statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo install --locked --path crates/ccd
bin="$(command -v ccd || echo "${CARGO_HOME:-$HOME/.cargo}/bin/ccd")"
demo="$(mktemp -d)"
printf '#include <stdio.h>\nint main(void) { puts("hello from ccd"); return 0; }\n' > "$demo/hello.c"
sleep 0.1
"$bin" gcc -c "$demo/hello.c" -o "$demo/hello.o"   # miss: gcc runs, ccd stores
"$bin" gcc -c "$demo/hello.c" -o "$demo/hello.o"   # hit: served from the cache
"$bin" status
