#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS_EACH seconds each (default 60) from its
# corpus in fuzz/corpus/, adding what it finds there; a crash, panic or hang stops the target
# and leaves its input in fuzz/artifacts/<target>/. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Prints, per target, the executions and the final coverage.
# FUZZ_TARGET_DIR: where the instrumented build goes (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${SECONDS_EACH:-60}"
TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Built once; the runs below call the binaries directly, so a long queue of runs keeps
# fuzzing the code it was built from.
BIN_DIR="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
if ! cargo +nightly fuzz build -O --target-dir "$TARGET_DIR" >/dev/null 2>&1; then
    [ -x "$BIN_DIR/${targets[0]}" ] || cargo +nightly fuzz build -O --target-dir "$TARGET_DIR"
    echo "warning: the fuzz build failed; running the binaries built before" >&2
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" logs
    log="logs/$t.log"
    # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: one over 2 GiB a blow-up.
    status=0
    "$BIN_DIR/$t" -artifact_prefix="artifacts/$t/" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 "corpus/$t" >"$log" 2>&1 || status=$?
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ${SECONDS_EACH}s, ${execs} executions, ${cov:-cov: ?}, exit ${status}"
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        exit "$status"
    fi
done
