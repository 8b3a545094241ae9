#!/usr/bin/env bash
# The scale run of issue 17: a synthetic pairs table far beyond the paper's (by default
# 1,000,000 pairs × 64 properties × 100 judges × 50 groups, benches/scale_table.py), converted
# to Parquet, then fitted: the MAP of every judge × group × fold, and the posterior job of
# configs/fast.json. Each step under /usr/bin/time, so the table gets its wall time and peak
# RSS beside the load / design / solve split `summary.json` records.
#
# Usage: benches/scale_run.sh BIN WORK [POSTERIOR_ARGS...]
#   WORK holds (or gets) pairs.csv; POSTERIOR_ARGS go to the posterior fit (e.g. `--judges
#   j000,j001` to run a part of the job where the whole does not fit the session).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "$1")
WORK=$(realpath "$2")
shift 2
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mkdir -p "$WORK"
[ -f "$WORK/pairs.csv" ] || python3 benches/scale_table.py --out "$WORK/pairs.csv"

# Runs a step under /usr/bin/time; prints its wall time and peak RSS.
step() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 || {
    echo "$name failed:"
    tail -20 "$WORK/$name.log"
    exit 1
  }
  read -r wall rss < "$WORK/$name.time"
  printf '%-10s wall %8.1f s   peak RSS %6.2f GiB\n' "$name" "$wall" "$(echo "$rss / 1048576" | bc -l)"
}

timings() {
  python3 - "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["timings_s"]
print(f"           load {t['load']:.1f} s, design {t['design']:.1f} s, solve {t['solve']:.1f} s; "
      f"{s.get('fits', '?')} fits")
EOF
}

ls -la "$WORK/pairs.csv" | awk '{printf "pairs.csv  %.0f MB\n", $5 / 1e6}'
step convert "$BIN" convert --data "$WORK/pairs.csv" --out "$WORK/pairs.parquet"
ls -la "$WORK/pairs.parquet" | awk '{printf "pairs.parquet %.0f MB\n", $5 / 1e6}'
rm -rf "$WORK/map" "$WORK/post"
step map "$BIN" fit --data "$WORK/pairs.parquet" --estimator map --backend cpu --quiet \
  --out "$WORK/map"
timings "$WORK/map/summary.json"
step posterior "$BIN" fit --data "$WORK/pairs.parquet" --config configs/fast.json --backend cpu \
  --quiet --out "$WORK/post" "$@"
timings "$WORK/post/summary.json"
