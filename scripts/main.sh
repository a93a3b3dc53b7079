#!/usr/bin/env bash
# Main job: set up .venv, then convert slim's checkpoint and verify it against tf_slim's graph.
# Uses checkpoints/inception_v2_2016_08_28.tar.gz when present; otherwise (offline) a checkpoint
# that tf_slim builds with random weights, so the whole path still runs and is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
. .venv/bin/activate
official=checkpoints/inception_v2_2016_08_28.tar.gz
if [ -f "$official" ]; then
  inception-v2 convert "$official" checkpoints/inception_v2.weights.h5 --overwrite --verify "$@"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "No $official here: building a random-weight checkpoint with tf_slim instead."
  inception-v2 make-test-checkpoint "$work/inception_v2.ckpt" --format V1
  inception-v2 convert "$work/inception_v2.ckpt" "$work/inception_v2.weights.h5" --verify "$@"
fi
