"""Exact resume for every task: a run killed after a checkpoint and resumed in its own folder ends
with the same weights and metrics as the run never killed (data order a pure function of seed and
epoch, the RNGs and the unlogged loss window in the checkpoint)."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, TINY_BY_TASK, assert_resume_is_exact, compose_cfg

from normbench.data import paths
from normbench.train.task import tasks


@pytest.mark.train
@pytest.mark.parametrize("task, extra", [
    ("classify", ()),
    # normalization-free transforms too: their scalars, sigmaReparam's gamma and its u, v buffers
    ("classify", ("norm=identity", "normfree=fixup")),
    ("classify", ("norm=identity", "normfree=sigma_reparam")),
    ("lm", ()),  # the window stream of task=lm
    ("generate", ()),  # noise and times of flow matching, and the judge
], ids=["classify", "classify-fixup", "classify-sigma_reparam", "lm", "generate"])
def test_resume_after_a_kill_is_exact(task, extra, tmp_path, monkeypatch):
    # a fresh data cache: the corpus and the judge are made here, not read from the user's home
    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "data_cache")
    assert_resume_is_exact(lambda *more: compose_cfg([*TINY_BY_TASK[task], *extra, *more]), tasks()[task],
                           tmp_path, monkeypatch)
    if task == "generate":  # trained by the first run, loaded by the others: the run is the same either way
        assert len(list((tmp_path / "data_cache" / "judges").iterdir())) == 1


def test_every_shipped_task_has_a_tiny_run():
    # a new task preset joins the resume test above with its tiny config
    assert set(TINY_BY_TASK) == {p.stem for p in (CONFIGS / "task").glob("*.yaml")}
