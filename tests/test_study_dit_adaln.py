"""Study dit_adaln: its jobs and configs (every scale composes), and its verdict
(normbench/study/verdicts/generate.py) on hand-made run folders."""

from __future__ import annotations

import json

import pytest
from conftest import compose_cfg
from runfolders import make_run

from normbench.config import validate_config
from normbench.models import check_model_fits_norm
from normbench.report import report
from normbench.study import load_study
from normbench.study.verdicts import FAILS, HOLDS, UNSURE, verdicts
from normbench.train.generate import GenerateTask

NEEDS = "DyT in DiT needs adaLN-Zero's zero-init removed"
LN_OK = "LN trains with adaLN-Zero's zero-init (DiT's default)"
MATCH = "DyT without the zero-init matches LN with it"


@pytest.mark.parametrize("scale", ["smoke", "cpu", "gpu"])
def test_every_variant_of_every_scale_composes_into_a_valid_generate_run(scale):
    study = load_study("dit_adaln", [f"study.scale={scale}"])
    jobs = study.jobs()
    assert [j.variant for j in jobs] == ["ln_zero", "ln_nozero", "dyt_zero", "dyt_nozero"]
    for job in jobs:
        assert "optim.lr" in job.swept and "trainer.seed" in job.swept  # the lr is searched per variant
        first = [o if "," not in o.split("=", 1)[1] else o.split(",")[0] for o in job.overrides]
        cfg = validate_config(compose_cfg(first))
        assert (cfg.task.name, cfg.model.name, cfg.norm.name) == ("generate", "dit", "adaln_zero")
        assert (cfg.norm.core, cfg.norm.zero_init) == ({"ln": "layernorm", "dyt": "dyt"}[job.variant.split("_")[0]],
                                                       job.variant.endswith("_zero"))
        check_model_fits_norm(cfg.model, cfg.norm)
        GenerateTask.check_config(cfg.task)
    if scale != "smoke":
        assert "trainer.seed=0,1,2" in jobs[0].overrides


def gen_run(root, variant: str, lr: float, seed: int, loss: float, diverged: bool = False,
            test_loss: float | None = None):
    """A task=generate run folder whose final val loss is `loss` (lower is better), and test loss
    `test_loss` where given (a run with a validation split)."""
    run = make_run(root, f"{variant}-{lr}-{seed}", variant=variant, seed=seed, lr=lr, steps=(200, 400),
                   model="dit", norm="adaln_zero", status="diverged" if diverged else "ok",
                   diverged_step=400 if diverged else None,
                   extra_metrics=[{"step": 200, "split": "val", "loss": loss + 0.05, "fid": 90.0, "judge_acc": 40.0}])
    summary = json.loads((run / "summary.json").read_text())
    summary["final"] = {"val/loss": loss, "val/fid": 50.0 + 100 * loss, "val/judge_acc": 70.0,
                        **({"test/loss": test_loss} if test_loss is not None else {})}
    summary["best"] = {"metric": "val/loss", "value": loss, "step": 400}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def study(root, losses: dict[str, dict[float, float]], diverged: tuple[tuple[str, float], ...] = ()):
    for variant, by_lr in losses.items():
        for lr, loss in by_lr.items():
            for seed in range(3):
                gen_run(root, variant, lr, seed, loss + 0.001 * seed, diverged=(variant, lr) in diverged)
    result = report([root], root / "report", spec={"metric": "val/loss", "group_by": ["variant"], "figures": []})
    return {claim: (verdict, why) for claim, verdict, why in verdicts("dit_adaln", result)}


def test_dyt_needs_the_zero_init_removed_and_then_matches_ln(tmp_path):
    found = study(tmp_path, {  # every best lr inside its grid (bracketed)
        "ln_zero": {1e-3: 0.300, 2e-3: 0.290, 4e-3: 0.296},
        "ln_nozero": {1e-3: 0.305, 2e-3: 0.292, 4e-3: 0.299},  # worse by 0.002: inside the margin, LN is fine with it
        "dyt_zero": {5e-4: 0.345, 1e-3: 0.340, 2e-3: 0.350},   # DyT with the zero-init lags at every lr
        "dyt_nozero": {5e-4: 0.296, 1e-3: 0.291, 2e-3: 0.300},  # its best lr is the middle one
    })
    assert {k: v for k, (v, _) in found.items()} == {NEEDS: HOLDS, LN_OK: HOLDS, MATCH: HOLDS}
    why = found[NEEDS][1]
    assert "dyt_zero 0.3410" in why and "at lr 0.001" in why and "dyt_nozero 0.2920" in why
    assert "fid" in why and "judge_acc" in why
    assert "dyt_nozero - dyt_zero: +0.0490 (val loss) [+0.0490, +0.0490] (90 % CI, paired by seed, n=3)" in why


def test_with_a_test_split_the_best_lr_is_picked_on_val_and_judged_on_test(tmp_path):
    """val picks dyt_zero's lr 1e-3 (0.340), where test would pick 2e-3: the verdict shows test/loss
    at the val-picked lr."""
    val = {"ln_zero": {1e-3: 0.300, 2e-3: 0.290, 4e-3: 0.296}, "ln_nozero": {1e-3: 0.305, 2e-3: 0.292, 4e-3: 0.299},
           "dyt_zero": {5e-4: 0.345, 1e-3: 0.340, 2e-3: 0.350}, "dyt_nozero": {5e-4: 0.296, 1e-3: 0.291, 2e-3: 0.300}}
    test = {v: {lr: loss + (0.02 if (v, lr) == ("dyt_zero", 1e-3) else 0.01) for lr, loss in g.items()}
            for v, g in val.items()}
    test["dyt_zero"][2e-3] = 0.330  # the test set's best, never picked
    for variant, by_lr in val.items():
        for lr, loss in by_lr.items():
            for seed in range(3):
                gen_run(tmp_path, variant, lr, seed, loss + 0.001 * seed, test_loss=test[variant][lr] + 0.001 * seed)
    result = report([tmp_path], tmp_path / "report", spec={"metric": "test/loss", "group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("dit_adaln", result, metric="test/loss")}
    why = found[NEEDS][1]
    assert why.startswith("test loss (lr picked on val/loss): ")
    assert "dyt_zero 0.3610 ± 0.0010 (n=3) at lr 0.001" in why  # 0.340 + 0.02 + the seeds' mean 0.001
    assert "dyt_nozero 0.3020 ± 0.0010 (n=3) at lr 0.001" in why
    assert "dyt_nozero - dyt_zero: +0.0590 (test loss)" in why  # lower is better: a gain shows as +


def test_a_best_lr_at_the_edge_of_its_grid_makes_the_verdicts_resting_on_it_inconclusive(tmp_path):
    found = study(tmp_path, {
        "ln_zero": {1e-3: 0.300, 2e-3: 0.290}, "ln_nozero": {1e-3: 0.305, 2e-3: 0.292},
        "dyt_zero": {1e-3: 0.340, 2e-3: 0.350}, "dyt_nozero": {1e-3: 0.291, 2e-3: 0.300},
    })
    assert {v for v, _ in found.values()} == {UNSURE}
    assert "not bracketed: dyt_zero lr's best 0.001 is at the edge of the grid 0.001-0.002" in found[NEEDS][1]


CPU_GRID = (5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2)  # configs/study/dit_adaln.yaml's cpu grid


def test_the_cpu_grid_runs_on_past_8e_3_where_every_variant_was_still_best():
    for job in load_study("dit_adaln", ["study.scale=cpu"]).jobs():
        grid = next(o for o in job.overrides if o.startswith("optim.lr="))
        assert tuple(float(v) for v in grid.split("=", 1)[1].split(",")) == CPU_GRID


def test_the_extended_grid_brackets_a_best_lr_past_8e_3_and_flags_one_at_its_new_top(tmp_path):
    def falling(floor: float, best: float) -> dict[float, float]:
        """val loss falling with lr (as the committed runs did up to 8e-3) to `floor` at `best`, rising after."""
        return {lr: floor + 0.01 * abs(CPU_GRID.index(lr) - CPU_GRID.index(best)) for lr in CPU_GRID}

    found = study(tmp_path / "a", {  # every variant best at 1.6e-2: inside the grid now
        "ln_zero": falling(0.290, 1.6e-2), "ln_nozero": falling(0.292, 1.6e-2),
        "dyt_zero": falling(0.340, 1.6e-2), "dyt_nozero": falling(0.291, 1.6e-2)})
    assert {k: v for k, (v, _) in found.items()} == {NEEDS: HOLDS, LN_OK: HOLDS, MATCH: HOLDS}
    assert "dyt_nozero 0.2920 ± 0.0010 (n=3) at lr 0.016" in found[NEEDS][1] and "not bracketed" not in found[NEEDS][1]
    found = study(tmp_path / "b", {  # DyT without the zero-init still falling at 3.2e-2: its verdicts wait
        "ln_zero": falling(0.290, 1.6e-2), "ln_nozero": falling(0.292, 1.6e-2),
        "dyt_zero": falling(0.340, 1.6e-2), "dyt_nozero": falling(0.291, 3.2e-2)})
    assert found[LN_OK][0] == HOLDS  # rests on LN's two variants alone, both bracketed
    assert found[NEEDS][0] == UNSURE and found[MATCH][0] == UNSURE
    assert "not bracketed: dyt_nozero lr's best 0.032 is at the edge of the grid 0.0005-0.032" in found[MATCH][1]


def test_dyt_fine_with_the_zero_init_does_not_hold_and_a_diverged_dyt_counts_as_worse(tmp_path):
    found = study(tmp_path / "a", {
        "ln_zero": {1e-3: 0.290}, "ln_nozero": {1e-3: 0.320},  # LN worse with the zero-init removed
        "dyt_zero": {1e-3: 0.2905}, "dyt_nozero": {1e-3: 0.291},  # inside the margin: DyT does not need it removed
    })
    assert {k: v for k, (v, _) in found.items()} == {NEEDS: FAILS, LN_OK: HOLDS, MATCH: HOLDS}
    found = study(tmp_path / "b", {
        "ln_zero": {1e-3: 0.350}, "ln_nozero": {1e-3: 0.290},  # LN with the zero-init is the worse one
        "dyt_zero": {1e-3: 0.290}, "dyt_nozero": {1e-3: 0.290},
    }, diverged=(("dyt_zero", 1e-3),))
    # DyT without the zero-init is 0.06 better than LN with it: more than the margin, not a match
    assert {k: v for k, (v, _) in found.items()} == {NEEDS: HOLDS, LN_OK: FAILS, MATCH: FAILS}


def test_missing_variants_are_inconclusive(tmp_path):
    found = study(tmp_path, {"ln_zero": {1e-3: 0.3}, "dyt_zero": {1e-3: 0.3}})
    assert [v for v, _ in found.values()] == [UNSURE]
    assert "missing variants: ['ln_nozero', 'dyt_nozero']" in next(iter(found.values()))[1]


def test_sample_grids_show_the_latest_grid_of_each_groups_best_run(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    import matplotlib.image

    from normbench.report.figures import FigureOutput
    from normbench.report.figures.samples import sample_grids
    from normbench.report.runs import load_runs
    from normbench.report.spec import parse_spec

    for variant, losses in (("ln_zero", (0.30, 0.28)), ("dyt_zero", (0.35, 0.40))):
        for seed, loss in enumerate(losses):
            run = gen_run(tmp_path / "runs", variant, 1e-3, seed, loss)
            (run / "images").mkdir()
            for step in (200, 400):
                grid = Image.fromarray(np.full((8, 6), step // 2, dtype=np.uint8))
                grid.save(run / "images" / f"val_samples_step{step:06d}.png")
    gen_run(tmp_path / "runs", "ln_nozero", 1e-3, 0, 0.1)  # no images: no panel
    read, real = [], matplotlib.image.imread
    monkeypatch.setattr(matplotlib.image, "imread", lambda p: read.append(p) or real(p))
    spec = parse_spec({"metric": "val/loss", "group_by": ["variant"],
                       "figures": [{"kind": "sample_grids", "by": ["variant"]}]})
    out = FigureOutput()
    path = sample_grids([r for r in load_runs([tmp_path / "runs"]) if r.complete], spec, spec.figures[0],
                        tmp_path / "grids.png", out)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert sorted((p.parent.parent.name, p.name) for p in read) == [
        ("dyt_zero-0.001-0", "val_samples_step000400.png"),  # 0.35 beats 0.40: seed 0
        ("ln_zero-0.001-1", "val_samples_step000400.png")]  # 0.28 beats 0.30: seed 1
    none = FigureOutput()
    assert sample_grids([], spec, spec.figures[0], tmp_path / "none.png", none) is None and "not drawn" in none.notes[0]
