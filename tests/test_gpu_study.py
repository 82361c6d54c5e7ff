"""scripts/gpu_study.sh, the one prepared script for a borrowed GPU machine: the smoke scale runs
on a CPU, the gpu scale reads the carried Fashion-MNIST from data.root (no download) and runs its
variants at once (sweep.py --procs), and a missing data folder is a named error before any run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SCRIPT_ENV
from idx_files import write_fashion_files

pytestmark = pytest.mark.slow  # spawns sweep.py and train.py

SCRIPT = ROOT / "scripts" / "gpu_study.sh"


def gpu_study(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **SCRIPT_ENV, "PYTHON": sys.executable, **env})


def test_the_gpu_scale_reads_the_carried_data_and_runs_variants_at_once(tmp_path):
    data = tmp_path / "fashion-mnist"
    write_fashion_files(data, n_train=40, n_test=20, size=28)
    out = tmp_path / "study"
    done = gpu_study("alpha_lr", str(data), "study.scales.gpu.variants=[vit_layernorm,vit_dyt_lr10]",
                     "study.scales.gpu.seeds=[0]", f"study.out={out}", "trainer.device=cpu", "trainer.max_steps=2",
                     "trainer.eval_every=2", "trainer.ckpt_every=2", "trainer.log_every=1", "probe.every=2",
                     "data.val_split=10", "data.batch_size=8", "logger.wandb.mode=disabled", PROCS="2", THREADS="1")
    assert done.returncode == 0, done.stderr[-3000:]
    for variant in ("vit_layernorm", "vit_dyt_lr10"):
        run = next((out / "runs" / variant).iterdir())
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["step"] == 2
        config = (run / "config.yaml").read_text()
        assert f"root: {data}" in config and "name: fashion_mnist" in config and "max_steps: 2" in config
    assert "--procs=2" in (out / "README.md").read_text()  # the command the README cites


def test_the_smoke_scale_runs_on_a_cpu_and_missing_data_is_a_named_error(tmp_path):
    done = gpu_study("alpha_learn", str(tmp_path / "nothing"), f"study.out={tmp_path / 'smoke'}", SCALE="smoke",
                     PROCS="3", THREADS="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "smoke" / "runs").iterdir() if p.is_dir()) == \
        ["frozen_0.5", "layernorm", "learn_0.5"]
    done = gpu_study("alpha_lr", str(tmp_path / "nothing"))
    assert done.returncode == 2 and f"data = '{tmp_path / 'nothing'}' holds no Fashion-MNIST idx files" in done.stderr
