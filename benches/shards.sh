#!/usr/bin/env bash
# Sharded batches, whole process, side by side in one run (BENCHMARKS.md,
# "Sharded batches"):
#   1. throughput: one 1-thread task on the Yale frames, against two 1-thread
#      tasks (--shard 0/2 and 1/2) at once plus their merge;
#   2. shard overhead on a 10,000-image batch: a plain 1-thread run against the
#      same run as shard 0/1 plus its merge, with the plan and merge times; then
#      the two in four pairs of alternating order on the first 2,000 images, since
#      one pair of long runs on a shared machine differs by more than the overhead;
#   3. Parquet against CSV for the same 10,000 rows: file size, and the time
#      pandas takes to read each (when python3 has pandas and pyarrow).
#
#   benches/shards.sh [COPIES_FOR_THROUGHPUT] [IMAGES_FOR_OVERHEAD] [IMAGES_INTERLEAVED]
#
# Needs ../shared/data/yalefaces and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
FER=$PWD/target/release/fer
YALE=$PWD/../shared/data/yalefaces
COPIES=${1:-3}
IMAGES=${2:-10000}
AB_IMAGES=${3:-2000}
[ -x "$FER" ] || { echo "build first: cargo build --release" >&2; exit 2; }
[ -d "$YALE" ] || { echo "needs $YALE" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# Links with distinct names to the Yale frames: COPIES copies, then enough for IMAGES.
mapfile -t frames < <(find "$YALE" -type f -name '*.gif' | sort)
link_copies() { # DIR COUNT
    mkdir -p "$1"
    local n=0
    while [ "$n" -lt "$2" ]; do
        for f in "${frames[@]}"; do
            [ "$n" -lt "$2" ] || break
            ln -s "$f" "$1/$(printf '%06d' "$n")-$(basename "$f")"
            n=$((n + 1))
        done
    done
    find "$1" -type l | sort > "$1.txt"
}
link_copies yale $((COPIES * ${#frames[@]}))
link_copies big "$IMAGES"

secs() { # run a command, print its wall time in seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    calc "$t1 - $t0"
}
calc() { python3 -c "print($1)"; }
strip_ms() { # CSV rows without the ms_ columns, sorted
    python3 -c '
import csv, sys
r = csv.reader(open(sys.argv[1]))
h = next(r)
keep = [i for i, c in enumerate(h) if not c.startswith("ms_")]
rows = sorted([[x[i] for i in keep] for x in r])
print(len(rows)); [print(",".join(x)) for x in rows]' "$1"
}

echo "== 1. throughput: $(wc -l < yale.txt) Yale frames" >&2
one=$(secs "$FER" batch --files-from yale.txt --threads 1 --out one.csv 2> one.log || true)
two=$(secs bash -c "
    '$FER' batch --files-from yale.txt --threads 1 --out two.csv --shard 0/2 2> two-0.log &
    '$FER' batch --files-from yale.txt --threads 1 --out two.csv --shard 1/2 2> two-1.log &
    wait")
merge=$(secs "$FER" merge two.csv 2> merge.log)
cmp <(strip_ms one.csv) <(strip_ms two.csv) || { echo "merged rows differ" >&2; exit 1; }
printf 'one 1-thread task:            %6.2f s\n' "$one"
printf 'two 1-thread tasks at once:   %6.2f s, merge %.2f s\n' "$two" "$merge"
printf 'speed-up (merge included):    %6.2f\n' "$(calc "$one / ($two + $merge)")"

echo "== 2. overhead: $IMAGES images" >&2
plain=$(secs "$FER" batch --files-from big.txt --threads 1 --out plain.csv 2> plain.log || true)
sharded=$(secs "$FER" batch --files-from big.txt --threads 1 --out sharded.csv --shard 0/1 2> sharded.log || true)
merge=$(secs "$FER" merge sharded.csv 2> merge-big.log)
cmp <(strip_ms plain.csv) <(strip_ms sharded.csv) || { echo "merged rows differ" >&2; exit 1; }
plan=$(grep -o 'planned in [0-9.]* s' sharded.log | grep -o '[0-9.]*' | head -1)
printf 'plain run:                    %7.2f s\n' "$plain"
printf 'shard 0/1 + merge:            %7.2f s + %.2f s (planning %s s of it)\n' "$sharded" "$merge" "$plan"
printf 'planning + merge / plain run: %7.2f%%\n' "$(calc "100 * ($plan + $merge) / $plain")"
printf 'whole difference / plain run: %7.2f%%\n' "$(calc "100 * ($sharded + $merge - $plain) / $plain")"

echo "== 2b. the same, in pairs of alternating order, on the first $AB_IMAGES images" >&2
# The second run of a pair is often slower on a shared machine, whichever it is,
# so the order alternates and the estimate is the mean of the pairs' differences.
head -n "$AB_IMAGES" big.txt > ab.txt
plain_run() { secs "$FER" batch --files-from ab.txt --threads 1 --out ab-plain.csv 2> /dev/null || true; }
shard_run() { secs "$FER" batch --files-from ab.txt --threads 1 --out ab-shard.csv --shard 0/1 2> /dev/null || true; }
diffs=()
for pair in 1 2 3 4; do
    if [ $((pair % 2)) = 1 ]; then p=$(plain_run); q=$(shard_run); order="plain first"
    else q=$(shard_run); p=$(plain_run); order="shard first"; fi
    printf 'pair %d (%s): plain %6.2f s, shard 0/1 %6.2f s\n' "$pair" "$order" "$p" "$q"
    diffs+=("($q - $p) / $p")
done
printf 'shard 0/1 against plain, mean of the pairs: %+.2f%%\n' \
    "$(calc "100 * ($(IFS=+; echo "${diffs[*]}")) / ${#diffs[@]}")"

echo "== 3. Parquet against CSV, the same $IMAGES images" >&2
parquet=$(secs "$FER" batch --files-from big.txt --threads 2 --out rows.parquet --format parquet 2> parquet.log || true)
printf 'CSV:     %9d bytes\n' "$(stat -c %s plain.csv)"
printf 'Parquet: %9d bytes (written in %.2f s at 2 threads)\n' "$(stat -c %s rows.parquet)" "$parquet"
if python3 -c 'import pandas, pyarrow' 2>/dev/null; then
    python3 - plain.csv rows.parquet <<'PY'
import sys, time
import pandas as pd
csv_path, pq_path = sys.argv[1], sys.argv[2]
def best(f, n=7):
    times = []
    for _ in range(n):
        t = time.perf_counter(); df = f(); times.append(time.perf_counter() - t)
    return min(times), df
t_csv, a = best(lambda: pd.read_csv(csv_path))
t_pq, b = best(lambda: pd.read_parquet(pq_path))
assert len(a) == len(b), (len(a), len(b))
print(f"pandas {pd.__version__}: read_csv {t_csv*1e3:.1f} ms, read_parquet {t_pq*1e3:.1f} ms "
      f"({t_csv/t_pq:.1f}x), {len(a)} rows, best of 7")
PY
else
    echo "pandas/pyarrow absent: reading times skipped (pip install pandas pyarrow)"
fi
