#!/usr/bin/env bash
# Shrinks each named target's corpus (default: all) to the inputs that keep its coverage
# (libFuzzer -merge=1), before committing it. Not for a target that is running.
set -euo pipefail
cd "$(dirname "$0")"
TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
BIN_DIR="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for t in "${targets[@]}"; do
    before=$(ls "corpus/$t" | wc -l)
    rm -rf "corpus/$t.min" && mkdir -p "corpus/$t.min"
    "$BIN_DIR/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 "corpus/$t.min" "corpus/$t" >/dev/null 2>&1
    rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
    echo "$t: $before inputs -> $(ls "corpus/$t" | wc -l) ($(du -sh "corpus/$t" | cut -f1))"
done
