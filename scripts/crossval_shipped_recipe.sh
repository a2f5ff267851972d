#!/usr/bin/env bash
# Cross-validate the shipped recipe over all three sources, one fold at a time (each fold about
# an hour on 2 cores of a Xeon with AMX; a fold's results join its report as soon as it is done,
# and a later run skips the folds a report holds, so the five folds may span machines):
#   bash scripts/crossval_shipped_recipe.sh 0 1 2 3 4
# Keep (commit) a fold's rows only once all three steps have it: steps 2 and 3 start from the
# fold's step-1 model in runs/, which a new machine does not have.
# 1. the first model's recipe: a fresh start on the fold's AnnoCerv + IARC photos, 120 epochs
#    (reports/crossval_all_stage1; every source held out and scored);
# 2. row 3: step 1's model fine-tuned on every source with the made-up negatives, sources drawn
#    equally often, 10 epochs (reports/crossval_all_stage2; the teacher);
# 3. row 10, shipped: step 2 again from step 1's model, with step 2's masks of the unlabelled phone
#    photos as a fourth source (reports/crossval_all_pseudo).
# bfloat16 throughout (the shipped weights' fine-tunes ran in float32 on a CPU without AMX; a CPU
# without AMX or AVX512-BF16 emulates bfloat16, several times slower), and the last epoch of every
# step (the shipped first model was the best of its 120 epochs on the validation split).
set -euo pipefail
cd "$(dirname "$0")/.."
CV=(.venv/bin/cervix-unet crossval)
FINE_TUNE=(--negatives --balance-sources --epochs 10 --lr 1e-4 --warmup-epochs 1 --keep-last --patience 100)
for K in "$@"; do
  "${CV[@]}" --fold "$K" --train-sources annocerv,iarc_atlas --out runs/cv2_stage1 \
    --report reports/crossval_all_stage1 --epochs 120 --lr 3e-4 --warmup-epochs 3 --keep-last --patience 1000
  "${CV[@]}" --fold "$K" --init 'runs/cv2_stage1/fold_{fold}/best' --out runs/cv2_stage2 \
    --report reports/crossval_all_stage2 "${FINE_TUNE[@]}"
  "${CV[@]}" --fold "$K" --init 'runs/cv2_stage1/fold_{fold}/best' --out runs/cv2_pseudo \
    --report reports/crossval_all_pseudo "${FINE_TUNE[@]}" --pseudo-labels 'runs/cv2_stage2/fold_{fold}/best'
done
