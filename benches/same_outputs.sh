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
CONFIGS=$(realpath configs)
WORK=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "keeping $WORK" || trap 'rm -rf "$WORK"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
JUDGES2=$(ls "$DATA/labels" | sed 's/\.json$//' | head -2 | paste -sd,)
JUDGE1=$(ls "$DATA/labels" | sed 's/\.json$//' | head -1)

# Every job, into $1/<job>; stdout of the table commands kept as files too.
jobs() {
  local bin=$1 o=$2
  # Relative output paths inside $o: outputs that record their arguments match.
  mkdir -p "$o" && cd "$o"
  "$bin" fit --data "$DATA" --out fit_map --estimator map --backend cpu --quiet
  "$bin" fit --data "$DATA" --out fit_fast --config "$CONFIGS/fast.json" \
    --judges "$JUDGES2" --backend cpu --quiet
  "$bin" fit --data "$DATA" --out fit_paper --config "$CONFIGS/paper.json" \
    --judges "$JUDGE1" --backend cpu --quiet
  "$bin" bootstrap --data "$DATA" --out bootstrap --replicates 200 --estimator map \
    --backend cpu --quiet
  mkdir -p analyze
  "$bin" analyze --fit fit_map --bootstrap bootstrap --out analyze > analyze/stdout.txt
  "$bin" shap --data "$DATA" --fit fit_map --judge "$JUDGE1" --out shap.csv
  "$bin" manipulate simulate --fit fit_map --margin 0.05 --out manipulate > manipulate.stdout.txt
  cd - > /dev/null
}

echo "== jobs with $OLD"
jobs "$OLD" "$WORK/old" 2> "$WORK/old.stderr"
echo "== jobs with $NEW"
jobs "$NEW" "$WORK/new" 2> "$WORK/new.stderr"

# Compare: summary.json without its wall-clock fields; the manipulate table's "training N s"
# line without N; burn records (.bpk) without their parameter ids (binaries before
# 2026-11-30 drew them at random, so two runs of one such binary differ there); every other
# file as bytes.
status=0
python3 - "$WORK/old" "$WORK/new" <<'PY' || status=1
import json, os, sys
old, new = sys.argv[1], sys.argv[2]
TIMING = ("timings_s", "throughput", "elapsed_s", "wall_s", "train_seconds")
import re

def masked(rel, data):
    if rel.endswith(".bpk"):
        # Burnpack: 6 bytes of magic and version, a u32 LE header length, a CBOR header,
        # then the tensor bytes. Drop each CBOR "param_id" entry (key 0x68 "param_id", then
        # an unsigned integer of 1, 2, 3, 5 or 9 bytes).
        n = int.from_bytes(data[6:10], "little")
        header, tensors = data[10:10 + n], data[10 + n:]
        header = re.sub(rb"hparam_id(?:[\x00-\x17]|\x18.|\x19..|\x1a.{4}|\x1b.{8})", b"",
                        header, flags=re.S)
        # The tensors start at an aligned offset, so a shorter header means more padding.
        return data[:6] + header + tensors.lstrip(b"\0")
    if rel.endswith("stdout.txt"):
        return re.sub(rb"training [0-9.]+ s", b"training ? s", data)
    return data

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
        ok = masked(rel, open(pa, "rb").read()) == masked(rel, open(pb, "rb").read())
    if ok:
        same += 1
    else:
        bad.append(rel)
print(f"{same} files identical, {len(bad)} differ or are missing on one side")
for rel in bad:
    print(f"  DIFFERS: {rel}")
sys.exit(1 if bad else 0)
PY

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
