#!/usr/bin/env bash
# The full 5,280-fit posterior-mean job on the dev data with configs/paper.json and
# configs/fast.json, RUNS times each (median reported), plus the MAP bench (kernel GFLOP/s and
# the SGEMM rate measured in the same process). Usage: benches/posterior_job.sh [RUNS] [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
DATA=${2:-../shared/data/dev}
BIN=${BIN:-target/release/prefdissect}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for cfg in paper fast; do
  for i in $(seq "$RUNS"); do
    "$BIN" fit --data "$DATA" --config "configs/$cfg.json" --out "$OUT/$cfg" --quiet 2>/dev/null
    python3 - "$OUT/$cfg/summary.json" "$cfg" "$i" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["timings_s"]["solve"]; d = s["timings_s"]["solve_detail"]; c = s["counts"]
print(f"{sys.argv[2]} run {sys.argv[3]}: {t:.1f} s, kernel {d['kernel_gflop']:.0f} GFLOP "
      f"= {d['kernel_gflop']/t:.1f} GFLOP/s effective, max MCSE {c['max_mcse']:.4f}, "
      f"max R-hat {c['max_rhat']:.4f}, min ESS {c['min_ess']:.0f}, R-hat>1.01: {c['fits_rhat_over_1.01']}")
PY
  done
done
"$BIN" bench --runs 3 --no-reference | grep -E "kernel_gflops|sgemm_gflops|fraction"
