#!/usr/bin/env bash
# Candidates ranked per second by the cascade's heads stage, in one process and under
# `mpirun -np K ... --distributed mpi` (K = 2, 4: K-1 workers). For distributed runs also rank 0's
# account of the chunks (its stderr line "distributed: N chunks answered ..."): the workers'
# evaluation seconds and the seconds from send to answer. Prints CSV; results/distributed_search.md
# holds a run of it. Usage: scripts/distributed_bench.sh [build dir] [candidates] [repeats]
set -euo pipefail
build=${1:-build}
candidates=${2:-1024}
repeats=${3:-3}
# OpenMPI binds each rank to a core when there are at most 2 ranks; on a machine shared with
# other work that pins a worker behind a busy core. MPI_BIND=none lets the kernel place them.
bind=${MPI_BIND:+--bind-to $MPI_BIND}
bin=$build/cli/ghnas
mpirun="mpirun --allow-run-as-root --oversubscribe"
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

heads="search --space deepnets1m --space-option width=8 --task fashion-mnist --strategy random \
  --checkpoint results/ghn2_fashion_mnist.ckpt --heads results/heads_fashion_mnist.json \
  --candidates $candidates --predict-top 0 --heads-batch 64 --threads 1 --seed 0"

# seconds: the search loop's own clock (the summary line), without start-up and model loading.
seconds() { tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("seconds", ""))'; }

echo "workload,ranks,run,seconds,per_second,chunks,worker_seconds,round_trip_seconds"
for ranks in 1 2 4; do
  # One warm-up run (page cache), then the timed runs.
  for run in $(seq 0 "$repeats"); do
    rm -f "$tmp"/h.db*
    if [ "$ranks" = 1 ]; then
      s=$("$bin" $heads --db "$tmp/h.db" 2>/dev/null | seconds)
      chunks=",,"
    else
      s=$($mpirun $bind -np "$ranks" "$bin" $heads --db "$tmp/h.db" --distributed mpi 2>"$tmp/err" | seconds)
      chunks=$(sed -n 's/^distributed: \([0-9]*\) chunks answered by [0-9]* workers: \([0-9.e-]*\) s evaluating, \([0-9.e-]*\) s from send.*/\1,\2,\3/p' "$tmp/err")
    fi
    [ "$run" = 0 ] && continue
    echo "heads,$ranks,$run,$s,$(python3 -c "print(round($candidates/$s, 1))"),$chunks"
  done
done
