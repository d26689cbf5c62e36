#!/usr/bin/env bash
# Everything a GPU machine is lent for, in one call of the device tool (15 minutes of device
# time per session, 10 per call): it builds ghnas against the machine's LibTorch 2.x + CUDA and,
# until DEADLINE seconds after it started,
#   - continues GHN training from the shipped checkpoint on CUDA (resumable, like on a CPU),
#     sized to end before the deadline from the speed of its first iterations;
#   - with SHARDS > 0, measures Fashion-MNIST ground truth on CUDA in SHARDS processes (--from/--to
#     ranges of the architecture file, one database each; scripts/merge_ground_truth.py merges
#     them later); latency_ms is timed on the CPU, one thread, as on the CPU-measured rows;
#   - runs the CUDA tests, then the CUDA benchmarks on a quiet GPU.
# The checkpoint it trains from is results/ghn2_fashion_mnist.ckpt with the one Adam state file
# beside it, whatever that file's iteration suffix (to continue a run trained elsewhere, put its
# checkpoint and state file there under the tracked names: the transfer limit leaves no room for
# a second pair). Results go to $OUT (at most 8 files come back). Prepare the inputs here first:
#   bash scripts/gpu_prepare.sh            # .gpu-deps (Debian .debs) and .gpu-carry (data, fixture)
# then, through the device tool:  bash scripts/gpu_session.sh   (carry .gpu-deps and .gpu-carry)
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
DEADLINE=${DEADLINE:-470}      # seconds after start by which everything is written to $OUT
WORK_END=${WORK_END:-300}      # training and ground truth stop here; benchmarks follow
SHARDS=${SHARDS:-0}
TRAIN_THREADS=${TRAIN_THREADS:-8}  # train-ghn runs a meta-batch's networks on this many threads
GT_FROM=${GT_FROM:-0}          # the shards split entries GT_FROM..GT_ARCHS-1 of the architecture file
GT_ARCHS=${GT_ARCHS:-1000}      # (entries measured on the CPU are not in the CUDA database: skip them)
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}         # DEVICE=cpu SKIP_BUILD=1 B=build-all: a dry run of this script on a CPU
B=${B:-build-cuda}
CAL_ITERS=${CAL_ITERS:-12}
mkdir -p "$OUT"
LOG=$OUT/session.log
el() { echo $(($(date +%s) - T0)); }
say() { echo "[$(el)s] $*" | tee -a "$LOG"; }
left() { local s=$((${1} - $(el))); echo $((s > 1 ? s : 1)); }

say "gpu_session on $(hostname): $(nproc) cores; $(nvidia-smi -L 2>&1 | head -1)"
# shellcheck disable=SC1091
[ "${SKIP_BUILD:-0}" = 1 ] || source .gpu-deps/device-env.sh >> "$LOG" 2>&1
export OMP_WAIT_POLICY=passive

# ---- data: the train images travel as .xz (smaller); the loader reads gzip.
data=.gpu-carry/fashion-mnist
python3 - "$data" <<'EOF' >> "$LOG" 2>&1
import gzip, lzma, shutil, sys
d = sys.argv[1]
with lzma.open(f"{d}/train-images-idx3-ubyte.xz") as src, gzip.open(f"{d}/train-images-idx3-ubyte.gz", "wb", 1) as dst:
    shutil.copyfileobj(src, dst)
EOF
say "data ready: $(ls $data | tr '\n' ' ')"

# ---- build: the CLI first (the GPU work needs only it), the tests and benchmarks beside the work.
[ "${SKIP_BUILD:-0}" = 1 ] || {
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$GHNAS_PREFIX_PATH" \
  -DGHNAS_SHARED_DIR="$PWD/.gpu-carry/shared" > "$OUT/build.log" 2>&1 || { say "configure failed"; tail -40 "$OUT/build.log"; exit 1; }
ninja -C $B -j "$(nproc)" -k 0 ghnas >> "$OUT/build.log" 2>&1 || { say "build of ghnas failed"; grep -A6 "error" "$OUT/build.log" | head -60; exit 1; }
}
say "ghnas built"
BIN=$B/cli/ghnas
[ "${SKIP_BUILD:-0}" = 1 ] || (ninja -C $B -j 4 -k 0 ghnas_surrogate_tests ghnas_evaluators_tests ghnas_surrogate_bench \
   ghnas_ghn_train_bench ghnas_executor_bench >> "$OUT/build.log" 2>&1; say "tests+benchmarks build rc $?") &
build_pid=$!

# ---- ground truth, SHARDS processes on the GPU, killed (safely: every row is committed) at WORK_END.
mkdir -p /tmp/gt
# Each shard starts from the merged database of earlier GPU sessions, so it resumes that run and
# skips what is measured; scripts/merge_ground_truth.py merges the shards back afterwards.
shipped=results/ground_truth/fashion_mnist_deepnets1m_cuda.db
per=$(((GT_ARCHS - GT_FROM + SHARDS - 1) / (SHARDS > 0 ? SHARDS : 1)))
for ((k = 0; k < SHARDS; ++k)); do  # none when SHARDS=0
  from=$((GT_FROM + k * per)); to=$((GT_FROM + (k + 1) * per)); ((to > GT_ARCHS)) && to=$GT_ARCHS
  [ -f $shipped ] && cp $shipped /tmp/gt/shard-$k.db
  timeout -s KILL "$(left "$WORK_END")" "$BIN" ground-truth --space deepnets1m --task fashion-mnist \
    --archs results/ground_truth/fashion_mnist_deepnets1m_archs.json --from $from --to $to \
    --data $data --epochs 1 --batch-size 64 --lr 0.05 --train-size 10000 --val-size 0 --test-size 2000 \
    --threads 1 --seed 0 --device $DEVICE --latency-device cpu \
    --db /tmp/gt/shard-$k.db --jsonl /tmp/gt/shard-$k.jsonl > /tmp/gt/shard-$k.out 2> /tmp/gt/shard-$k.err &
done
((SHARDS > 0)) && say "ground truth: $SHARDS shards of $per architectures started"

# ---- GHN training: resume the shipped checkpoint; time 12 iterations, then size the rest. Both
# legs use --stop-after, so the run keeps its stored length and with it its lr schedule, unless
# GHN_ITERATIONS gives it another (needed when the stored run is complete).
mkdir -p /tmp/ghn
cp results/ghn2_fashion_mnist.ckpt results/ghn2_fashion_mnist.ckpt.adam-* results/ghn2_fashion_mnist_train_log.jsonl /tmp/ghn/
CK=/tmp/ghn/ghn2_fashion_mnist.ckpt
train=("$BIN" train-ghn --space deepnets1m --task fashion-mnist --out $CK --resume --device $DEVICE
       --threads "$TRAIN_THREADS" --checkpoint-every 25 --seed 0 --data $data
       --log /tmp/ghn/ghn2_fashion_mnist_train_log.jsonl ${GHN_ITERATIONS:+--iterations $GHN_ITERATIONS})
header() { python3 -c "import json,struct;f=open('$CK','rb');f.read(8);n=struct.unpack('<Q',f.read(8))[0];print(json.loads(f.read(n))['info']['training']['$1'])"; }
start_it=$(header iteration)
state=$(header optimizer_state)
[ -f "/tmp/ghn/$state" ] || mv /tmp/ghn/ghn2_fashion_mnist.ckpt.adam-* "/tmp/ghn/$state"
run_end=${GHN_ITERATIONS:-$(python3 -c "import json,struct;f=open('$CK','rb');f.read(8);n=struct.unpack('<Q',f.read(8))[0];print(json.loads(f.read(n))['info']['training']['config']['iterations'])")}
say "GHN: resuming at iteration $start_it of $run_end with $state"
if ((start_it + CAL_ITERS >= run_end)); then
  say "GHN: the run is complete (set GHN_ITERATIONS to lengthen it); no training"
elif timeout -s KILL 150 "${train[@]}" --stop-after $CAL_ITERS >> "$OUT/train.log" 2>&1; then
  per_it=$(python3 -c "
import json,statistics
rows=[json.loads(l) for l in open('/tmp/ghn/ghn2_fashion_mnist_train_log.jsonl') if l.strip()]
print(statistics.median(r['seconds'] for r in rows if r['iteration'] > $start_it + min(2, $CAL_ITERS - 1)))")
  now_it=$((start_it + CAL_ITERS))
  total=$(python3 -c "print(min($run_end, max($now_it + 1, int($now_it + 0.85 * ($WORK_END - $(el)) / $per_it))))")
  say "GHN: iteration $now_it, ${per_it}s per iteration (while the tests build): training to $total"
  timeout -s KILL "$(left $((WORK_END + 20)))" "${train[@]}" --stop-after $((total - now_it)) >> "$OUT/train.log" 2>&1
  say "GHN training ended (rc $?): $(tail -1 /tmp/ghn/ghn2_fashion_mnist_train_log.jsonl)"
  cp $CK "$OUT/" && cp "$(ls -t $CK.adam-* | head -1)" "$OUT/"
  cp /tmp/ghn/ghn2_fashion_mnist_train_log.jsonl "$OUT/"
else
  say "GHN calibration failed:"; tail -15 "$OUT/train.log" | tee -a "$LOG"
fi

# ---- CUDA tests (built by now, or the wait says so).
wait $build_pid
for t in surrogate evaluators; do
  timeout 120 $B/tests/$t/ghnas_${t}_tests --gtest_filter='*_CUDA' >> "$OUT/tests_bench.txt" 2>&1
  say "$t CUDA tests rc $?"
done
wait  # the ground-truth shards end at WORK_END
((SHARDS > 0)) && say "ground truth: $(cat /tmp/gt/shard-*.jsonl 2>/dev/null | wc -l) rows in the shards' JSONL"

# ---- benchmarks on a quiet GPU.
bench() { local name=$1; shift; echo "== $name: $*" >> "$OUT/tests_bench.txt"; timeout "$(left $((DEADLINE - 15)))" "$@" >> "$OUT/tests_bench.txt" 2>&1; say "$name rc $?"; }
export GHNAS_SHARED_DIR=$PWD/.gpu-carry/shared
bench ghn $B/benchmarks/surrogate/ghnas_surrogate_bench --device $DEVICE --threads 8 --runs 2 --predict-n 64
bench train $B/benchmarks/surrogate/ghnas_ghn_train_bench --cuda-only --threads 8 --iterations 4
# Channels-last networks are the CPU default (results/executor_throughput.md); is cuDNN faster too?
bench train_nhwc $B/benchmarks/surrogate/ghnas_ghn_train_bench --cuda-only --gnn host --layout channels-last --threads 8 --iterations 4
[ "${EXECUTOR_BENCH:-0}" = 1 ] && bench executor $B/benchmarks/evaluators/ghnas_executor_bench --device $DEVICE --runs 5 --steps 20

((SHARDS > 0)) && tar -C /tmp -czf "$OUT/ground_truth_shards.tgz" gt
say "done; $(ls "$OUT" | tr '\n' ' ')"
