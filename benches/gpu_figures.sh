#!/usr/bin/env bash
# The GPU-figures run, in one go, for a machine with a GPU and no Rust toolchain:
#   1. the wgpu adapter and the CPU-vs-wgpu agreement check on the dev data
#      (`bench --agreement`: MAP max |dw| <= 1e-4, posterior-mean max |z| <= 4);
#   2. the backend table (`bench --table`: gradient pass per block and in one launch with packed
#      and dense rows, upload, the MAP job, the posterior mean with fast.json's sampler with its
#      warm-up on the device and on the host, the rerankers) for the paper's 33 judges;
#   3. the posterior-mean job with configs/paper.json and configs/fast.json on wgpu, and the MAP
#      job, each a warm-up run then RUNS timed runs (median of `timings_s.solve`);
#   4. a 1,000-replicate bootstrap on wgpu;
#   5. the wide kernels: a 64-property table (benches/scale_table.py: 20,000 pairs, 33 judges,
#      16 groups = 5,280 fits; needs python3 with numpy), its MAP and fast.json jobs on wgpu and
#      on the CPU (a design past 32 features warms up on the host: docs/gpu.md).
# Every step has a time limit (STEP_LIMIT seconds) so one slow step cannot eat the device budget;
# a step that hits it prints "timeout" in its row.
#
# Usage (on the device, from the repository root):
#   BIN=./prefdissect DATA=dev benches/gpu_figures.sh
# with the release binary and the dev data (e.g. unpacked from a carried dev.tar.gz) beside it.
# Vulkan: see the device README (carry the loader; VK_DRIVER_FILES for the NVIDIA ICD).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/prefdissect}
DATA=${DATA:-../shared/data/dev}
RUNS=${RUNS:-3}
STEP_LIMIT=${STEP_LIMIT:-150}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

solve_s() { grep -o '"solve": [0-9.e+-]*' "$1" | head -1 | awk '{print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "timeout"; else print a[int((NR + 1) / 2)]}'; }
row() { printf '%-44s %-10s %s\n' "$1" "$2" "$3"; }

echo "== 1. adapter and agreement (dev data: $DATA)"
timeout "$STEP_LIMIT" "$BIN" bench --agreement "$DATA" --judge human || echo "agreement: FAILED or timeout"

echo "== 2. backend table (33 judges, $RUNS runs)"
timeout "$STEP_LIMIT" "$BIN" bench --table --judges 33 --runs "$RUNS" --backends cpu,wgpu || echo "table: timeout"

echo "== 3. full jobs on wgpu (warm-up + $RUNS runs, median of the solve time)"
results=()
for job in paper fast map; do
  case $job in
    map) args=(--estimator map) ;;
    *) args=(--config "configs/$job.json") ;;
  esac
  times=()
  for i in $(seq 0 "$RUNS"); do
    rm -rf "$OUT/$job"
    if timeout "$STEP_LIMIT" "$BIN" fit --data "$DATA" "${args[@]}" --backend wgpu --out "$OUT/$job" --quiet 2>"$OUT/$job.log"; then
      [ "$i" -gt 0 ] && times+=("$(solve_s "$OUT/$job/summary.json")")
    else
      echo "$job: run $i failed or timed out: $(tail -1 "$OUT/$job.log")"
      break
    fi
  done
  med=$(printf '%s\n' "${times[@]:-}" | grep . | median)
  results+=("$job|${#times[@]}|$med")
done

echo "== 4. bootstrap, 1,000 replicates, MAP, wgpu"
boot="timeout"
t0=$(date +%s.%N)
if timeout "$STEP_LIMIT" "$BIN" bootstrap --data "$DATA" --out "$OUT/boot" --replicates 1000 --backend wgpu --quiet 2>"$OUT/boot.log"; then
  boot=$(echo "$(date +%s.%N) - $t0" | bc)
fi

echo "== 5. a 64-property table: MAP and fast.json, wgpu and cpu (one run each)"
wide=()
if timeout "$STEP_LIMIT" python3 benches/scale_table.py --pairs 20000 --properties 64 --judges 33 \
    --groups 16 --out "$OUT/wide.csv" >/dev/null 2>"$OUT/wide.log"; then
  for backend in wgpu cpu; do
    for job in map fast; do
      case $job in
        map) args=(--estimator map) ;;
        *) args=(--config configs/fast.json) ;;
      esac
      rm -rf "$OUT/wide-$job"
      if timeout "$STEP_LIMIT" "$BIN" fit --data "$OUT/wide.csv" "${args[@]}" --backend "$backend" \
          --out "$OUT/wide-$job" --quiet 2>>"$OUT/wide.log"; then
        wide+=("$job|$backend|$(solve_s "$OUT/wide-$job/summary.json")")
      else
        wide+=("$job|$backend|timeout")
      fi
    done
  done
else
  echo "wide table: $(tail -1 "$OUT/wide.log")"
fi

echo "== summary (seconds; the paper's numpyro: about 5.5 s per fit on a CPU, 7-8 h for the job)"
row "job" "runs" "median s"
for r in "${results[@]}"; do
  IFS='|' read -r job n med <<<"$r"
  row "fit $job (5,280 fits, --backend wgpu)" "$n" "$med"
done
row "bootstrap 1,000 replicates (--backend wgpu)" "$([ "$boot" = timeout ] && echo 0 || echo 1)" "$boot"
for r in "${wide[@]:-}"; do
  [ -n "$r" ] || continue
  IFS='|' read -r job backend t <<<"$r"
  row "64 properties: fit $job (5,280 fits, --backend $backend)" 1 "$t"
done
