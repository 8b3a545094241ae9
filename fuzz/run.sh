#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS_EACH seconds each (default 60) from its
# corpus in fuzz/corpus/, adding what it finds there; a crash, panic or hang stops the target
# and leaves its input in fuzz/artifacts/<target>/. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Prints, per target, the executions and the final coverage.
# FUZZ_TARGET_DIR: where the instrumented build goes (default fuzz/target).
# FUZZ_DEADLINE (a Unix time, as CI sets it): the build must finish and the runs end by then;
# each run is shortened to share what is left, and what cannot start in time is skipped, saying so.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${SECONDS_EACH:-60}"
TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets (cargo fuzz list gave none)" >&2
    exit 1
fi
# Built once; the runs below call the binaries directly, so a long queue of runs keeps
# fuzzing the code it was built from.
BIN_DIR="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
DEADLINE="${FUZZ_DEADLINE:-}"
left() { echo $(( ${DEADLINE:-$(( $(date +%s) + 864000 ))} - $(date +%s) )); }
# The build may use what is left less 10 s a target for the runs.
build_limit=$(( $(left) - 10 * ${#targets[@]} ))
if [ "$build_limit" -lt 60 ]; then
    echo "fuzz smoke: skipped (no time left for the build)"
    exit 0
fi
status=0
timeout "$build_limit" cargo +nightly fuzz build -O --target-dir "$TARGET_DIR" >/dev/null 2>&1 || status=$?
if [ "$status" -eq 124 ]; then
    echo "fuzz smoke: skipped (the instrumented build did not finish before the deadline)"
    exit 0
elif [ "$status" -ne 0 ]; then
    if ! [ -x "$BIN_DIR/${targets[0]}" ]; then
        # Nothing built before: the build again with its errors shown, and CI fails on them.
        l=$(left)
        if [ "$l" -lt 60 ]; then
            echo "fuzz smoke: skipped (the build failed and no time is left to show why)"
            exit 0
        fi
        status=0
        timeout "$l" cargo +nightly fuzz build -O --target-dir "$TARGET_DIR" || status=$?
        if [ "$status" -eq 124 ]; then
            echo "fuzz smoke: skipped (the instrumented build did not finish before the deadline)"
            exit 0
        fi
        [ "$status" -eq 0 ] || exit "$status"
    else
        echo "warning: the fuzz build failed; running the binaries built before" >&2
    fi
fi
for i in "${!targets[@]}"; do
    t="${targets[$i]}"
    # Share what is left between this run and the ones after it; under 10 s a run says nothing.
    seconds=$(( $(left) / (${#targets[@]} - i) ))
    [ "$seconds" -gt "$SECONDS_EACH" ] && seconds="$SECONDS_EACH"
    if [ "$seconds" -lt 10 ]; then
        echo "$t: skipped (the deadline is near)"
        continue
    fi
    mkdir -p "corpus/$t" "artifacts/$t" logs
    log="logs/$t.log"
    # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: one over 2 GiB a blow-up.
    # `timeout` bounds what -max_total_time does not (loading the corpus, the final stats).
    status=0
    timeout $(( seconds + 60 )) "$BIN_DIR/$t" -artifact_prefix="artifacts/$t/" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 "corpus/$t" >"$log" 2>&1 || status=$?
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "$t: ${seconds}s, ${execs} executions, ${cov:-cov: ?}, exit ${status}"
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        exit "$status"
    fi
done
