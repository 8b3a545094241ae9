#!/usr/bin/env bash
# A sharded prefdissect job under Slurm: an array of N shard tasks, then a merge task that
# starts when all of them succeeded (afterok). Every task reads the same input file and writes
# only its own directory, so a shared file system (or copying the shard directories back) is
# all it needs.
#
#   benches/slurm_shards.sh N DATA OUT -- fit --config configs/paper.json
#   benches/slurm_shards.sh N DATA OUT -- bootstrap --replicates 10000 --estimator posterior-mean
#
# With DRY_RUN=1 it prints the two sbatch commands (and the task script) instead of submitting.
# Extra sbatch options (partition, time, cpus) go in SBATCH_OPTS, e.g.
#   SBATCH_OPTS="--partition=cpu --cpus-per-task=16 --time=02:00:00".
set -euo pipefail
if [ $# -lt 5 ] || [ "$4" != "--" ]; then
    echo "usage: $0 N DATA OUT -- (fit|bootstrap) [ARGS…]" >&2
    exit 2
fi
N=$1 DATA=$2 OUT=$3
shift 4
BIN=${PREFDISSECT_BIN:-prefdissect}
mkdir -p "$OUT/shards" "$OUT/logs"
# The task script: shard $SLURM_ARRAY_TASK_ID of N; --resume lets a requeued task continue.
TASK="$OUT/shard_task.sh"
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    printf 'exec %q' "$BIN"
    printf ' %q' "$@"
    printf ' --data %q --out %q/shards/"$SLURM_ARRAY_TASK_ID" --shard "$SLURM_ARRAY_TASK_ID"/%q --resume --quiet\n' \
        "$DATA" "$OUT" "$N"
} > "$TASK"
chmod +x "$TASK"
MERGE="$OUT/merge_task.sh"
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    printf 'exec %q merge --out %q/result' "$BIN" "$OUT"
    for k in $(seq 0 $((N - 1))); do printf ' %q/shards/%d' "$OUT" "$k"; done
    echo ' --quiet'
} > "$MERGE"
chmod +x "$MERGE"
ARRAY=(sbatch --parsable ${SBATCH_OPTS:-} --array=0-$((N - 1)) --output="$OUT/logs/shard-%a.log" "$TASK")
if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "${ARRAY[*]}"
    echo "sbatch ${SBATCH_OPTS:-} --dependency=afterok:JOBID --output=$OUT/logs/merge.log $MERGE"
    cat "$TASK" "$MERGE"
    exit 0
fi
JOB=$("${ARRAY[@]}")
JOB=${JOB%%;*}
sbatch ${SBATCH_OPTS:-} --dependency=afterok:"$JOB" --output="$OUT/logs/merge.log" "$MERGE"
echo "submitted shards as array job $JOB; the merge writes $OUT/result"
