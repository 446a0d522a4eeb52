#!/usr/bin/env bash
# The training-recipe study: variants trained for the same wall-clock budget on the same data,
# compared on the validation split (docs/recipe/README.md has the results).
#   bash docs/recipe/study.sh STAGE   (run from the repository root, after `make synth`)
# Data: work/data4 = `make data DATA_DIR=work/data4 ROTATIONS=4` (4 materialized 90-degree copies),
#       work/data1 = `make data DATA_DIR=work/data1 ROTATIONS=1` (originals only, for online augmentation).
set -euo pipefail
MIN=${MIN:-8}
OUT=${OUT:-work/study}
SDNET=.venv/bin/sdnet
common=(--preset cpu --minutes "$MIN" --steps-per-epoch 200 --sdl-weight 0 --seed 0 --force)
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
  train mat4-fp32 work/data4 --precision float32
  train mat4-bf16 work/data4 --precision bfloat16
  train online180 work/data1 --precision bfloat16 --aug-rotation-deg 180 --aug-scale 0.1 --aug-shift-mm 5
  train online45 work/data1 --precision bfloat16 --aug-rotation-deg 45 --aug-scale 0.1 --aug-shift-mm 5
  ;;
esac
