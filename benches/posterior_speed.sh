#!/usr/bin/env bash
# The full 5,280-fit posterior jobs (configs/paper.json and configs/fast.json, CPU backend) with
# two binaries, alternating, RUNS rounds each: medians and their ratio; whether the two wrote the
# same posterior means (fits.jsonl byte for byte); then NEW's floor for each job (`bench
# --floor`: the kernel-only time at the rates the kernel reaches in the same process) and each
# median as a multiple of it.
#
# OLD_CONFIGS / NEW_CONFIGS (folders, default configs/) give each binary its own paper.json and
# fast.json: a binary from before a settings field existed rejects a file that sets it. Where
# the two fits.jsonl differ, the script says whether the posterior means (`weights`) still agree
# byte for byte, and by how much the MCSEs moved.
#
# Usage: [OLD_CONFIGS=DIR] [NEW_CONFIGS=DIR] benches/posterior_speed.sh OLD_BIN NEW_BIN [RUNS] [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1")
NEW=$(realpath "$2")
RUNS=${3:-3}
DATA=$(realpath "${4:-../shared/data/dev}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
OLD_CONFIGS=$(realpath "${OLD_CONFIGS:-configs}")
NEW_CONFIGS=$(realpath "${NEW_CONFIGS:-configs}")

solve_s() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings_s"]["solve"])' "$1"
}

for cfg in paper fast; do
  old_t=() new_t=()
  for i in $(seq "$RUNS"); do
    for which in old new; do
      bin=$OLD conf=$OLD_CONFIGS
      [ "$which" = new ] && bin=$NEW conf=$NEW_CONFIGS
      out="$WORK/$cfg-$which"
      rm -rf "$out"
      start=$(date +%s.%N)
      "$bin" fit --data "$DATA" --config "$conf/$cfg.json" --backend cpu --out "$out" --quiet \
        2>/dev/null
      wall=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" \
        "$start" "$(date +%s.%N)")
      t=$(solve_s "$out/summary.json")
      echo "$cfg round $i $which: solve $(printf %.2f "$t") s, process $wall s"
      if [ "$which" = old ]; then old_t+=("$t"); else new_t+=("$t"); fi
    done
    if cmp -s "$WORK/$cfg-old/fits.jsonl" "$WORK/$cfg-new/fits.jsonl"; then
      echo "$cfg round $i: fits.jsonl identical"
    else
      python3 - "$WORK/$cfg-old/fits.jsonl" "$WORK/$cfg-new/fits.jsonl" "$cfg round $i" <<'PY'
import json, sys
old, new = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(old) == len(new), "different fit counts"
# NaN is written as null; a weight without a finite value on either side is left out.
pairs = [(x, y, m) for a, b in zip(old, new) for x, y, m in zip(a["weights"], b["weights"], a["mcse"])
         if x is not None and y is not None]
dw = max((abs(x - y) for x, y, _ in pairs), default=0.0)
dz = max((abs(x - y) / m for x, y, m in pairs if m), default=0.0)
moved = max((abs(x / y - 1) for a, b in zip(old, new) for x, y in zip(b["mcse"], a["mcse"])
             if x is not None and y), default=0.0)
means = "identical" if dw == 0 else f"differ by at most {dw:.2g} ({dz:.2g} of an MCSE)"
print(f"{sys.argv[3]}: fits.jsonl DIFFERS; posterior means {means}; "
      f"largest relative MCSE change {moved:.3g}")
PY
    fi
  done
  floor=$("$NEW" bench --floor "$NEW_CONFIGS/$cfg.json" --data "$DATA" --runs 1)
  python3 - "$cfg" "${old_t[*]}" "${new_t[*]}" "$floor" <<'PY'
import json, statistics, sys
cfg, old, new, floor = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), json.loads(sys.argv[4])
mo, mn = statistics.median(map(float, old)), statistics.median(map(float, new))
f = floor["floor_s"]
rates = floor["kernel_gflops_by_call"]
print(f"{cfg}: median solve old {mo:.1f} s, new {mn:.1f} s ({mo / mn:.2f}x); floor {f:.1f} s "
      f"(kernel GFLOP/s: gradient {rates['gradients']:.0f}, forward {rates['losses']:.0f}, "
      f"curvature {rates['curvatures']:.0f}); old {mo / f:.1f}x floor, new {mn / f:.1f}x floor")
PY
done
