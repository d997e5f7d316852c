#!/usr/bin/env bash
# DDP throughput on CPU (gloo): 1 process x 1 thread against 2 processes x 1
# thread, for Core-tuning and for its CE-tuning twin, on the CPU-sized
# CIFAR-10 configs (batch 32 per process, ../shared data). Each run's log is
# read with mmpretrain's log parser (mmpretrain.utils.load_json_log, what its
# analyze_logs.py uses); the step time is the median over the iterations
# after the first WARMUP. (analyze_logs.py cal_train_time itself averages
# every iteration of an iteration-based log, the first one included -- about
# 4x a steady step here -- so it is not used for the figure.)
#   bash tools/analysis_tools/ddp_throughput.sh WORK_ROOT [ITERS] [WARMUP]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY=${PYTHON:-python}
WORK=$1
ITERS=${2:-60}
WARMUP=${3:-10}
BATCH=32
OPTS=(train_cfg.max_iters=$ITERS train_cfg.val_interval=100000
      param_scheduler.T_max=$ITERS default_hooks.logger.interval=1
      log_processor.window_size=1 default_hooks.checkpoint.interval=100000
      train_dataloader.batch_size=$BATCH)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

step_time() {  # median s/iter after the warm-up, from the run's log
  $PY -c "import glob, statistics, sys
from mmpretrain.utils import load_json_log
log, = glob.glob(sys.argv[1] + '/*/vis_data/scalars.json')
times = [r['time'] for r in load_json_log(log)['train']][$WARMUP:]
print(f'{statistics.median(times):.4f}')" "$1"
}

declare -A RATE TIME
for method in coretune cetune; do
  cfg="$ROOT/configs/cpu/${method}_resnet18w16-mocov2_1xb32-20i_cifar10-32.py"
  $PY "$ROOT/tools/train.py" "$cfg" --work-dir "$WORK/$method-1x1" \
    --cfg-options "${OPTS[@]}" > "$WORK/$method-1x1.out" 2>&1
  PYTHON=$PY bash "$ROOT/tools/dist_train.sh" "$cfg" 2 \
    --work-dir "$WORK/$method-2x1" --cfg-options "${OPTS[@]}" \
    > "$WORK/$method-2x1.out" 2>&1
  for procs in 1 2; do
    t=$(step_time "$WORK/$method-${procs}x1")
    TIME[$method-$procs]=$t
    RATE[$method-$procs]=$($PY -c "print(f'{$procs * $BATCH / $t:.1f}')")
    echo "$method, $procs process(es) x 1 thread: $t s/iter, ${RATE[$method-$procs]} samples/s"
  done
done
$PY - <<PYEOF
core1, core2 = ${RATE[coretune-1]}, ${RATE[coretune-2]}
ce1, ce2 = ${RATE[cetune-1]}, ${RATE[cetune-2]}
print(f'2x1 / 1x1 samples/s: Core-tuning {core2 / core1:.2f}x, '
      f'CE-tuning {ce2 / ce1:.2f}x')
print(f'Core/CE step time: 1 process {${TIME[coretune-1]} / ${TIME[cetune-1]}:.3f}, '
      f'2 processes {${TIME[coretune-2]} / ${TIME[cetune-2]}:.3f}')
PYEOF
