#!/usr/bin/env bash
# Is a config's reported MCSE honest? Fits JUDGES once with a long run (4 × 20,000 draws, the
# reference) and then with each of CONFIGS (comma-separated) under SEEDS, and prints for each run the spread of
# z = (run − reference) / √(MCSE_run² + MCSE_ref²) over every weight (sd ≈ 1 when the MCSE is
# right), the largest |z|, and how many weights are off by more than 0.003.
# Usage: benches/cv_calibration.sh [CONFIGS] [JUDGES] [SEEDS] [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${1:-configs/paper.json,configs/fast.json}
JUDGES=${2:-human}
SEEDS=${3:-"1 2"}
DATA=${4:-../shared/data/dev}
BIN=${BIN:-target/release/prefdissect}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BIN" fit --data "$DATA" --config configs/paper.json --judges "$JUDGES" --draws 20000 --seed 7 \
  --out "$OUT/reference" --quiet 2>/dev/null
for config in ${CONFIGS//,/ }; do
for seed in $SEEDS; do
  "$BIN" fit --data "$DATA" --config "$config" --judges "$JUDGES" --seed "$seed" \
    --out "$OUT/run$seed" --quiet 2>/dev/null
done
python3 - "$OUT" "$config" $SEEDS <<'PY'
import json, math, statistics, sys
out, config, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
key = lambda f: (f["judge"], f["group"], f["fold"])
ref = {key(f): f for f in map(json.loads, open(f"{out}/reference/fits.jsonl"))}
for seed in seeds:
    z, off, mcse = [], 0, []
    for f in map(json.loads, open(f"{out}/run{seed}/fits.jsonl")):
        r = ref[key(f)]
        for k in range(29):
            d = f["weights"][k] - r["weights"][k]
            z.append(d / math.hypot(f["mcse"][k], r["mcse"][k]))
            off += abs(d) > 0.003
            mcse.append(f["mcse"][k])
    s = json.load(open(f"{out}/run{seed}/summary.json"))
    print(f"{config} seed {seed}: {len(z)} weights, sd(z) {statistics.pstdev(z):.3f}, "
          f"mean(z) {statistics.fmean(z):+.3f}, max|z| {max(map(abs, z)):.2f}, "
          f"|Δ| > 0.003: {off}, max MCSE {max(mcse):.4f}, solve {s['timings_s']['solve']:.1f} s")
PY
done
