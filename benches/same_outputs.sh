#!/usr/bin/env bash
# Same program? Runs the same jobs with two binaries on the dev data and compares every output
# file byte for byte; only timings (summary.json's wall-clock fields) are set aside. Then times
# both binaries alternately on the MAP job (RUNS rounds, medians and their ratio).
#
# Usage: benches/same_outputs.sh OLD_BIN NEW_BIN [DATA] [RUNS]
# Exit status: 0 when every output matches, 1 otherwise (the differing files are listed).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1")
NEW=$(realpath "$2")
DATA=$(realpath "${3:-../shared/data/dev}")
RUNS=${4:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
JUDGES2=$(ls "$DATA/labels" | sed 's/\.json$//' | head -2 | paste -sd,)
JUDGE1=$(ls "$DATA/labels" | sed 's/\.json$//' | head -1)

# Every job, into $1/<job>; stdout of the table commands kept as files too.
jobs() {
  local bin=$1 o=$2
  "$bin" fit --data "$DATA" --out "$o/fit_map" --estimator map --backend cpu --quiet
  "$bin" fit --data "$DATA" --out "$o/fit_fast" --config configs/fast.json \
    --judges "$JUDGES2" --backend cpu --quiet
  "$bin" fit --data "$DATA" --out "$o/fit_paper" --config configs/paper.json \
    --judges "$JUDGE1" --backend cpu --quiet
  "$bin" bootstrap --data "$DATA" --out "$o/bootstrap" --replicates 200 --estimator map \
    --backend cpu --quiet
  mkdir -p "$o/analyze"
  "$bin" analyze --fit "$o/fit_map" --bootstrap "$o/bootstrap" \
    --out "$o/analyze" > "$o/analyze/stdout.txt"
  "$bin" shap --data "$DATA" --fit "$o/fit_map" --judge "$JUDGE1" --out "$o/shap.csv"
  "$bin" manipulate simulate --fit "$o/fit_map" --margin 0.05 --out "$o/manipulate" > "$o/manipulate.stdout.txt"
}

echo "== jobs with $OLD"
jobs "$OLD" "$WORK/old" 2> "$WORK/old.stderr"
echo "== jobs with $NEW"
jobs "$NEW" "$WORK/new" 2> "$WORK/new.stderr"

# Compare: summary.json without its wall-clock fields, every other file as bytes.
python3 - "$WORK/old" "$WORK/new" <<'PY'
import json, os, sys
old, new = sys.argv[1], sys.argv[2]
TIMING = ("timings_s", "throughput", "elapsed_s", "wall_s")

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMING}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out

a, b = files(old), files(new)
bad = sorted(a ^ b)
same = 0
for rel in sorted(a & b):
    pa, pb = os.path.join(old, rel), os.path.join(new, rel)
    if os.path.basename(rel) == "summary.json":
        ok = strip(json.load(open(pa))) == strip(json.load(open(pb)))
    else:
        ok = open(pa, "rb").read() == open(pb, "rb").read()
    if ok:
        same += 1
    else:
        bad.append(rel)
print(f"{same} files identical, {len(bad)} differ or are missing on one side")
for rel in bad:
    print(f"  DIFFERS: {rel}")
sys.exit(1 if bad else 0)
PY
status=$?

# Speed: alternate the binaries on the full MAP job (all judges) and compare medians.
echo "== speed: MAP job, $RUNS alternating rounds"
for i in $(seq "$RUNS"); do
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    rm -rf "$WORK/t"
    "$bin" fit --data "$DATA" --out "$WORK/t" --estimator map --backend cpu --quiet 2>/dev/null
    python3 -c "import json,sys; print('$which', json.load(open(sys.argv[1]))['timings_s']['solve'])" \
      "$WORK/t/summary.json" >> "$WORK/times"
  done
done
python3 - "$WORK/times" <<'PY'
import statistics, sys
t = {"old": [], "new": []}
for line in open(sys.argv[1]):
    w, s = line.split()
    t[w].append(float(s))
mo, mn = statistics.median(t["old"]), statistics.median(t["new"])
print(f"MAP solve, median of {len(t['old'])}: old {mo:.3f} s, new {mn:.3f} s, new/old {mn/mo:.3f}")
PY
exit $status
