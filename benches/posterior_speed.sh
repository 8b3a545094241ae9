#!/usr/bin/env bash
# The full 5,280-fit posterior jobs (configs/paper.json and configs/fast.json, CPU backend) with
# two binaries, alternating, RUNS rounds each: medians and their ratio; whether the two wrote the
# same posterior means (fits.jsonl byte for byte); then NEW's floor for each job (`bench
# --floor`: the kernel-only time at the rates the kernel reaches in the same process) and each
# median as a multiple of it.
#
# Usage: benches/posterior_speed.sh OLD_BIN NEW_BIN [RUNS] [DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1")
NEW=$(realpath "$2")
RUNS=${3:-3}
DATA=$(realpath "${4:-../shared/data/dev}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

solve_s() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings_s"]["solve"])' "$1"
}

for cfg in paper fast; do
  old_t=() new_t=()
  for i in $(seq "$RUNS"); do
    for which in old new; do
      bin=$OLD; [ "$which" = new ] && bin=$NEW
      out="$WORK/$cfg-$which"
      rm -rf "$out"
      start=$(date +%s.%N)
      "$bin" fit --data "$DATA" --config "configs/$cfg.json" --backend cpu --out "$out" --quiet \
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
      echo "$cfg round $i: fits.jsonl DIFFERS"
    fi
  done
  floor=$("$NEW" bench --floor "configs/$cfg.json" --data "$DATA" --runs 1)
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
