#!/usr/bin/env bash
# Submit a sharded `fer batch` as a Slurm array job of N tasks, and the merge of
# its shards as a job that runs only when every task succeeded
# (--dependency=afterok). Prints the two job ids.
#
#   deploy/slurm/submit.sh N LIST OUT [fer batch options...]
#
# Extra sbatch options (partition, account, time) go in SBATCH_ARGS, for example
# SBATCH_ARGS="--partition=cpu --time=02:00:00". FER names the binary (default:
# fer on PATH); it is resolved here, so that the jobs run the same one.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 N LIST OUT [fer batch options...]" >&2
    exit 2
fi
N=$1
LIST=$2
OUT=$3
shift 3
case "$N" in
    '' | *[!0-9]* | 0) echo "N must be a positive number of tasks, got '$N'" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
FER=$(command -v "${FER:-fer}") || { echo "fer not found: put it on PATH or set FER" >&2; exit 2; }
export FER
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((N - 1))" \
    "$HERE/fer-batch.sbatch" "$LIST" "$OUT" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=fer-merge \
    --dependency="afterok:$array" --output=fer-merge-%j.log \
    --wrap "\"$FER\" merge \"$OUT\"")
merge=${merge%%;*}
echo "array job $array ($N tasks), merge job $merge" >&2
echo "$array $merge"
