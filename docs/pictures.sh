#!/usr/bin/env bash
# Remakes the pictures in README.md and docs/training.md (`docs/pictures.sh` from the repository
# root; about a minute on 2 CPU cores): two of real frames of TUM RGB-D fr1_rpy (CC BY 4.0,
# Sturm et al., IROS 2012; $DAR_TUM_DIR, else ../shared/data/tum_fr1_rpy), and the shipped
# model's metric-stage sample grid. `make demo` makes docs/demo_preview.png (copy
# demo_output/preview.png).
set -euo pipefail
TUM=${DAR_TUM_DIR:-../shared/data/tum_fr1_rpy}
PY=${PY:-$PWD/.venv/bin/python}
DAR=${DAR:-$PWD/.venv/bin/depth-anything-ros}
WEIGHTS=$PWD/models/default.safetensors
FRAME=1305031252.561862  # a held-out frame (the median one of an earlier evaluation)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The last 70 pairs as a folder of symbolic links: the predict frame and its ground truth by stamp.
# rgb.txt and depth.txt are paired line by line; both files are named by the colour stamp.
held_out="$work/tum_fr1_rpy_tail"
mkdir -p "$held_out/rgb" "$held_out/depth"
paste -d' ' <(grep -v '^#' "$TUM/rgb.txt") <(grep -v '^#' "$TUM/depth.txt") | tail -n 70 |
  while read -r stamp rgb _ depth; do
    ln -s "$(realpath "$TUM/$rgb")" "$held_out/rgb/$stamp.jpg"
    ln -s "$(realpath "$TUM/$depth")" "$held_out/depth/$stamp.png"
  done

# 1. README: one frame with its ground truth (TUM depth PNGs hold 5000 units per metre), with the
#    Kinect colour camera's fx (dataset README) so the shipped model's focal correction applies,
#    as it does in the node (camera_info) and the bag tool.
"$DAR" predict "$held_out/rgb/$FRAME.jpg" --gt "$held_out/depth/$FRAME.png" --gt-scale 5000 \
  --fx 517.3 --out "$work/predict"
# 2. docs/training.md: the shipped model evaluated on the whole tail through the tum: spec, which
#    carries each frame's intrinsics (so the focal correction applies, as deployed).
tum_dir=$(realpath "$TUM")  # before the cd below: $TUM may be relative to the repository
(cd "$work" && DAR_TUM_DIR="$tum_dir" "$DAR" train evaluate --weights "$WEIGHTS" \
  --data "tum:default?split=test" --figure evaluation.png)

# 3. docs/training.md: the metric stage's sample grid (its first training batch, as the loop draws
#    it at the end of the run) for the shipped model.
"$PY" - "$work/samples.png" <<'PYTHON'
import sys
import torch
from depth_anything_ros.training import plots
from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.loop import StepBatches
from depth_anything_ros.training.stages.common import load_state_into
from depth_anything_ros.training.stages.metric import metric_spec

config = load_config("training/configs/default_model.yaml",  # cache=0: render only what is used
                     ["data.metric_train=synthetic:indoor:train?n=2000&size=192&cache=0"])
spec = metric_spec(config, None)
load_state_into(spec.model, "models/default.safetensors", encoder_only=False)
with torch.no_grad():
    rows = spec.preview(spec.model.eval(), StepBatches(spec.sources, config.seed, 0, 1)[0])
plots.sample_grid(rows, sys.argv[1], title="metric", kind=spec.preview_kind)
PYTHON

# Pictures over 300 KB become 256-colour PNGs, so the repository stays small (~200 KB each).
"$PY" - "$work/predict/${FRAME}_preview.png" docs/predict_preview.png \
  "$work/evaluation.png" docs/img/evaluation_tum.png \
  "$work/samples.png" docs/img/default_model_metric_samples.png <<'PYTHON'
import os
import sys
from PIL import Image
for source, target in zip(sys.argv[1::2], sys.argv[2::2]):
    image = Image.open(source).convert("RGB")
    if os.path.getsize(source) > 300_000:
        image = image.quantize(256)
    image.save(target, optimize=True)
    print("wrote", target, os.path.getsize(target) // 1000, "KB")
PYTHON
