#!/usr/bin/env bash
# Distributed testing, OpenMMLab form:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_GPUS [tools/test.py args...]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. On a machine without CUDA
# the processes use the gloo backend on CPU (tools/test.py switches it).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PYTHONPATH="$ROOT":$PYTHONPATH \
${PYTHON:-python} -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$ROOT"/tools/test.py \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch ${@:4}
