#!/usr/bin/env bash
# A study at its gpu scale on one borrowed GPU machine (no internet, files carried in, about ten
# minutes a command): many runs at once on the one GPU (small runs leave most of it idle; one
# job per variant and seed), then the report, into results/<study>-gpu/. Re-running resumes.
#
#   bash scripts/gpu_study.sh alpha_lr [DATA]        # DATA: the four Fashion-MNIST idx files
#                                                    # (.gz or raw; default data/fashion-mnist,
#                                                    # git-ignored, carried to the machine)
#   SCALE=smoke bash scripts/gpu_study.sh alpha_lr   # seconds on a CPU: the same path, tiny
#
# Arguments after DATA reach sweep.py (study.* keys, train.py overrides). PROCS (default 8): runs at once; PYTHON: the interpreter; THREADS (default 2): torch
# threads per run (16 cores shared by 8 runs).
set -euo pipefail
study=${1:?usage: bash scripts/gpu_study.sh <study> [data folder]}
data=$(realpath -m "${2:-data/fashion-mnist}")
scale=${SCALE:-gpu}
cd "$(dirname "$0")/.."
if [ "$scale" != smoke ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ ! -e "$data/train-images-idx3-ubyte" ]; then
    echo "error: data = '$data' holds no Fashion-MNIST idx files; allowed: a folder with the four idx" \
         "files (.gz or raw), e.g. a copy of /usr/share/datasets/fashion-mnist" >&2
    exit 2
fi
exec "${PYTHON:-python}" sweep.py "study=$study" "study.scale=$scale" --procs="${PROCS:-8}" \
    "data.root=$data" "trainer.threads=${THREADS:-2}" "${@:3}"
