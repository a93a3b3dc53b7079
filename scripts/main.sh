#!/usr/bin/env bash
# Main job: set up .venv, then evaluate slim's Inception V2 on the 100 bundled ImageNet
# validation images with slim's eval protocol (`inception-v2 eval`, all defaults).
#
# The official weights come from checkpoints/inception_v2_2016_08_28.tar.gz if present, else
# from the download cache (fetched on first use). Offline, with neither, the same pipeline runs on
# a checkpoint that tf_slim builds with random weights, converted and verified against slim's
# graph first; its accuracy is then chance level by construction.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
. .venv/bin/activate
official=checkpoints/inception_v2_2016_08_28.tar.gz
if [ -f "$official" ]; then
  exec inception-v2 eval --weights "$official" "$@"
fi
# Fetch (or find in the cache) slim's official weights; offline, say so in a note, not an error.
status=0
python - <<'PY' || status=$?
import sys

from inception_v2.weights.download import DownloadError
from inception_v2.weights.loading import imagenet_weights_path

try:
    imagenet_weights_path()
except DownloadError as e:
    print(f"note: slim's official weights are not here and cannot be downloaded ({e})", file=sys.stderr)
    sys.exit(3)
PY
if [ "$status" -eq 0 ]; then
  exec inception-v2 eval "$@"
elif [ "$status" -ne 3 ]; then
  exit "$status"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo
echo "Offline without the official weights: running the same pipeline on a random-weight"
echo "checkpoint built by tf_slim (accuracy is chance level; the numbers check the pipeline)."
inception-v2 make-test-checkpoint "$work/inception_v2.ckpt" --format V1
inception-v2 convert "$work/inception_v2.ckpt" "$work/inception_v2.weights.h5" --verify
inception-v2 eval --weights "$work/inception_v2.weights.h5" "$@"
