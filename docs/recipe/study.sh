#!/usr/bin/env bash
# The training-recipe study: variants trained for the same wall-clock budget on the same data,
# compared on the validation split (docs/recipe/README.md has the results).
#   bash docs/recipe/study.sh STAGE   (run from the repository root, after `make synth`)
# Data: work/data4 = `sdnet data --icvl-root work/icvl-synth --out work/data4 --rotations 4` (4 materialized
#       90-degree copies; the runs on it say --rotations 4 too, so the experiment matches its data),
#       work/data1 = `sdnet data --icvl-root work/icvl-synth --out work/data1` (originals only, for online
#       augmentation). The runs are the default experiment with the flags below.
set -euo pipefail
MIN=${MIN:-8}
OUT=${OUT:-work/study}
SDNET=.venv/bin/sdnet
common=(--preset cpu --minutes "$MIN" --steps-per-epoch 200 --sdl-weight 0 --seed 0 --no-fit-refine --no-fit-centre --force)
train() {  # name data [flags...]
  local name=$1 data=$2; shift 2
  if [ -f "$OUT/$name/summary.json" ]; then echo "skip $name"; return; fi
  echo "== $name: $*"
  $SDNET train --data "$data" --out "$OUT/$name" "${common[@]}" "$@" > "$OUT/$name.log" 2>&1
  tail -n 1 "$OUT/$name.log"
}
mkdir -p "$OUT"
case "${1:-1}" in
1)
  train mat4-fp32 work/data4 --rotations 4 --precision float32
  train mat4-bf16 work/data4 --rotations 4 --precision bfloat16
  train online180 work/data1 --precision bfloat16 --aug-rotation-deg 180 --aug-scale 0.1 --aug-shift-mm 5
  train online45 work/data1 --precision bfloat16 --aug-rotation-deg 45 --aug-scale 0.1 --aug-shift-mm 5
  ;;
2)  # batch normalization with dropout off, on materialized copies and on online augmentation
  train mat4-bn work/data4 --rotations 4 --precision bfloat16 --dropout 0 --batch-norm
  train online180-bn work/data1 --precision bfloat16 --aug-rotation-deg 180 --aug-scale 0.1 --aug-shift-mm 5 \
    --dropout 0 --batch-norm
  ;;
esac
# Stage 3 (after stage 2's batch-norm run was stopped: 2x slower per step under bfloat16 on CPU):
# dropout off, then a larger batch with a larger learning rate.
if [ "${1:-1}" = 3 ]; then
  train mat4-nodrop work/data4 --rotations 4 --precision bfloat16 --dropout 0
  train mat4-nodrop-b64 work/data4 --rotations 4 --precision bfloat16 --dropout 0 --batch-size 64 --learning-rate 2e-3
fi
# Stage 4: online augmentation with dropout off (stage 1 compared it with dropout 0.5).
if [ "${1:-1}" = 4 ]; then
  train online45-nodrop work/data1 --precision bfloat16 --dropout 0 --aug-rotation-deg 45 --aug-scale 0.1 \
    --aug-shift-mm 5
fi
# Stage 5: the default recipe with a 30-dimensional pose-PCA output (DeepPrior's prior).
if [ "${1:-1}" = 5 ]; then
  train online45-nodrop-pca30 work/data1 --precision bfloat16 --dropout 0 --aug-rotation-deg 45 --aug-scale 0.1 \
    --aug-shift-mm 5 --pca-dims 30
fi
