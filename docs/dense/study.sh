#!/usr/bin/env bash
# The dense model family against the cpu preset at equal wall time (docs/dense/README.md has the results).
#   bash docs/dense/study.sh [NAME ...]   (run from the repository root, after `make data`: the default
#   tree cut as the default experiment says, 128-px crops of the originals, online augmentation)
# Every run is the default experiment (same data, augmentation, precision, batch, schedule) with only the
# model changed, trained for MIN minutes on the same cores, validated every 500 steps, nothing fitted
# after training; then `sdnet curves` compares the validation errors at equal wall time.
set -euo pipefail
MIN=${MIN:-8}
DATA=${DATA:-work/data}
OUT=${OUT:-work/dense-study}
SDNET=.venv/bin/sdnet
common=(--minutes "$MIN" --steps-per-epoch 500 --no-fit-refine --no-fit-centre --force)
declare -A FLAGS=(
  [cpu-s0]="--preset cpu --seed 0"
  [cpu-s1]="--preset cpu --seed 1"
  [dense-s0]="--preset dense --set model.map_stride=4 --seed 0"
  [dense-s1]="--preset dense --set model.map_stride=4 --seed 1"
  [dense-stride8-s0]="--preset dense --seed 0"
  [dense-stride8-s1]="--preset dense --seed 1"
  [dense-argmax-s0]="--preset dense --set model.map_stride=4 --set model.readout=soft_argmax --seed 0"
  [dense-maploss-s0]="--preset dense --set model.map_stride=4 --set model.map_loss=1 --seed 0"
  [dense-light-s0]="--preset dense --set model.dense_widths=[32,64,128] --seed 0"
  [dense-light-s1]="--preset dense --set model.dense_widths=[32,64,128] --seed 1"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cpu-s0 dense-stride8-s0 cpu-s1 dense-stride8-s1)
mkdir -p "$OUT"
for name in "${names[@]}"; do
  if [ -f "$OUT/$name/summary.json" ]; then echo "skip $name"; continue; fi
  echo "== $name: ${FLAGS[$name]}"
  # shellcheck disable=SC2086
  $SDNET train --data "$DATA" --out "$OUT/$name" "${common[@]}" ${FLAGS[$name]} > "$OUT/$name.log" 2>&1
  tail -n 1 "$OUT/$name.log"
done
runs=()
for d in "$OUT"/*/; do [ -f "$d/summary.json" ] && runs+=("$(basename "$d")=$d"); done
$SDNET curves "${runs[@]}" --out "$OUT"
