#!/usr/bin/env bash
# The GPU-figures run of issue 22, in one go, on a machine with a GPU and no Rust toolchain.
# In priority order, each step under its own time limit inside one overall deadline (a slow
# step costs only its limit; a step that cannot start before the deadline is skipped):
#   1. the wgpu adapter, the CPU-vs-wgpu agreement check (`bench --agreement`: MAP max |dw|,
#      posterior-mean max |z| in combined MCSE) and the wgpu fits against the authors' numpyro
#      runs (`fidelity --backend wgpu`);
#   2. the full 5,280-fit jobs on wgpu, MAP, configs/fast.json and configs/paper.json (a warm-up
#      run, then timed runs), then the same jobs with --backend cpu on the machine's cores;
#   3. the peers of ../shared/peers on the same card and data: peer_jax_batched.py (MAP, f32),
#      peer_jax_vmap_nuts.py --judges all (compile and run apart), peer_numpyro.py on two fits;
#   4. a 10,000-replicate MAP bootstrap on wgpu and on the CPU;
#   5. `bench --table` (the kernel rows per backend), as time allows.
# It writes to OUTDIR (default $OUT, the device tool's folder, else a temporary one):
# table.tsv (step, backend, runs, median solve s, median wall s, status, the backend a fit
# reported using), weights-JOB.tar.gz (each job's fits.jsonl on wgpu and cpu, for the
# comparisons here), nuts.json.gz (the NUTS peer's posterior means), compare.json (wgpu against
# cpu, weight by weight: benches/gpu_compare.py) and logs.tar.gz: seven files.
#
# Usage (on the device, from the repository root, after benches/gpu_pack.sh here):
#   BIN=.gpu/prefdissect DATA=.gpu/dev PEERS=.gpu/peers DEADLINE_S=480 benches/gpu_figures.sh
# Vulkan: the loader as the device README says; VK_DRIVER_FILES for the NVIDIA ICD.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/prefdissect}
DATA=${DATA:-../shared/data/dev}
PEERS=${PEERS:-../shared/peers}
RUNS=${RUNS:-3}
OUTDIR=${OUTDIR:-${OUT:-$(mktemp -d)}}
DEADLINE=$(( $(date +%s) + ${DEADLINE_S:-480} ))
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# The runs' own files stay outside OUTDIR: the device tool brings back at most 8 files.
WORK=${WORK:-$(mktemp -d)}
export PEERS_RESULTS="$WORK/peers"
LOGS="$WORK/logs"
mkdir -p "$LOGS" "$PEERS_RESULTS"
TABLE="$OUTDIR/table.tsv"
printf 'step\tbackend\truns\tmedian_solve_s\tmedian_wall_s\tstatus\tused\n' >"$TABLE"

left() { echo $(( DEADLINE - $(date +%s) )); }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }
# A fit's summary.json: its solve seconds, then the backend it reported using.
solve_and_backend() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["timings_s"]["solve"], d["backend"])' \
    "$1" 2>/dev/null || echo "- -"
}

# run NAME LIMIT CMD...: CMD under min(LIMIT, time left); its output in logs/NAME.log; sets
# LAST_WALL and LAST_STATUS (ok, timeout, failed rc, skipped).
run() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  [ "$limit" -gt "$l" ] && limit=$l
  if [ "$limit" -lt 5 ]; then
    LAST_STATUS=skipped LAST_WALL=-
    echo "$name: skipped (deadline)"
    return 1
  fi
  local t0 rc=0; t0=$(now)
  timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  LAST_WALL=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
  case $rc in
    0) LAST_STATUS=ok ;;
    124) LAST_STATUS="timeout ${limit}s" ;;
    *) LAST_STATUS="failed rc $rc" ;;
  esac
  echo "$name: $LAST_STATUS in ${LAST_WALL}s"
  [ "$rc" -eq 0 ]
}

# job NAME BACKEND RUNS STEP_LIMIT ARGS...: a warm-up run, then RUNS timed runs of `fit`; a row
# with the backend the runs reported using (summary.json), so a wgpu run that fell back to the
# CPU says so. Each run writes its own folder; the last finished one's fits.jsonl is kept and
# the job's weights are packed when it ends, so a run cut later loses nothing that finished.
job() {
  local name=$1 backend=$2 runs=$3 limit=$4; shift 4
  local solves=() walls=() status=ok used=- solve i dir
  for i in $(seq 0 "$runs"); do
    dir="$WORK/$name-$backend-$i"
    if ! run "$name-$backend-$i" "$limit" "$BIN" fit --data "$DATA" "$@" --backend "$backend" \
        --out "$dir" --quiet; then
      status=$LAST_STATUS
      break
    fi
    read -r solve used < <(solve_and_backend "$dir/summary.json")
    cp "$dir/fits.jsonl" "$WORK/fits-$name-$backend.jsonl" 2>/dev/null
    if [ "$i" -gt 0 ]; then
      solves+=("$solve")
      walls+=("$LAST_WALL")
    elif awk -v w="$LAST_WALL" 'BEGIN { exit !(w > 20) }'; then
      runs=1 # a slow warm-up: one timed run, so the steps after it keep their time
    fi
    [ "$i" -ge "$runs" ] && break
  done
  case "$backend:$used" in
    wgpu:wgpu*|cpu:cpu*|*:-) ;;
    *) status="$status; ran on $used" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$backend" "${#solves[@]}" \
    "$(printf '%s\n' "${solves[@]:-}" | grep . | median)" \
    "$(printf '%s\n' "${walls[@]:-}" | grep . | median)" "$status" "$used" >>"$TABLE"
  # This job's weights (each tarball under the tool's 16 MiB a file), then the logs.
  (cd "$WORK" && ls fits-$name-*.jsonl >/dev/null 2>&1 \
    && tar czf "$OUTDIR/weights-$name.tar.gz" fits-$name-*.jsonl)
  pack
}

# once NAME BACKEND LIMIT CMD...: one timed command; a row with its wall time.
once() {
  local name=$1 backend=$2 limit=$3; shift 3
  run "$name" "$limit" "$@"
  printf '%s\t%s\t%s\t-\t%s\t%s\t-\n' "$name" "$backend" "$([ "$LAST_STATUS" = ok ] && echo 1 || echo 0)" \
    "$LAST_WALL" "$LAST_STATUS" >>"$TABLE"
  pack
}

# pack: the logs so far into OUTDIR after every step (the weights go when their job ends), so
# that a call cut short (less device time left than asked for) still brings back the steps
# before the cut.
pack() {
  (cd "$WORK" && tar czf "$OUTDIR/logs.tar.gz" logs gpu.txt fidelity-wgpu.json peers 2>/dev/null)
  return 0
}

echo "== 1. adapter, agreement, fidelity on wgpu"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$WORK/gpu.txt" 2>&1 || true
cat "$WORK/gpu.txt"
once agreement wgpu 90 "$BIN" bench --agreement "$DATA" --judge human
grep -m3 -i 'adapter' "$LOGS/agreement.log" || true
once fidelity-paper wgpu 90 "$BIN" fidelity --dev "$DATA" --backend wgpu --json "$WORK/fidelity-wgpu.json"

echo "== 2. full jobs: wgpu, then cpu ($(nproc) cores)"
job map wgpu "$RUNS" 30 --estimator map
job fast wgpu 2 60 --config configs/fast.json
job paper wgpu 2 90 --config configs/paper.json
job map cpu "$RUNS" 30 --estimator map
job fast cpu 1 60 --config configs/fast.json
job paper cpu 1 120 --config configs/paper.json

echo "== 3. peers on the same card"
once peer-jax-fista-f32 jax-gpu 90 python3 "$PEERS/peer_jax_batched.py" --dtype float32 --tol 1e-3
once peer-jax-vmap-nuts jax-gpu 240 python3 "$PEERS/peer_jax_vmap_nuts.py" --judges all \
  --warmup 500 --draws 2000 --out "$WORK/nuts.json"
[ -f "$WORK/nuts.json" ] && gzip -c "$WORK/nuts.json" >"$OUTDIR/nuts.json.gz"
once peer-numpyro-2-fits jax-gpu 90 python3 "$PEERS/peer_numpyro.py" --judges human \
  --groups Advice --folds 0,1

echo "== 4. bootstrap, 10,000 replicates, MAP"
for backend in wgpu cpu; do
  once bootstrap-10000 "$backend" 120 "$BIN" bootstrap --data "$DATA" --replicates 10000 \
    --backend "$backend" --out "$WORK/boot-$backend" --quiet
done

echo "== 5. kernel rows (bench --table)"
once bench-table wgpu+cpu 120 "$BIN" bench --table --judges 33 --runs "$RUNS" --backends cpu,wgpu

echo "== results"
python3 benches/gpu_compare.py "$WORK" >"$OUTDIR/compare.json" 2>"$LOGS/compare.log" \
  || echo "compare: $(tail -1 "$LOGS/compare.log")"
pack
column -t -s $'\t' "$TABLE" 2>/dev/null || cat "$TABLE"
cat "$OUTDIR/compare.json" 2>/dev/null
for f in "$LOGS"/peer-*.log; do [ -f "$f" ] && echo "$(basename "$f" .log): $(tail -1 "$f")"; done
echo "deadline left: $(left) s"
