"""normbench.study.recipe: one norm preset set against each study's baseline in the study's own run
folders, judged by the study's rule; runs that are not the preset are an error, never a row."""

from __future__ import annotations

import pytest
import yaml
from runfolders import make_run

from conftest import CONFIGS, ROOT

from normbench.study.recipe import compare_place, load_recipe, preset
from normbench.study.verdicts.stats import FAILS, HOLDS, UNSURE
from normbench.errors import StudyError


@pytest.fixture(scope="module")
def dyt_alpha2() -> dict:
    return preset("dyt_alpha2", CONFIGS)


def length_runs(results, gaps: dict[int, float], alpha0: float = 2.0):
    """results/length/runs/{layernorm,dyt_alpha2}/...: LN at 80 + seed; the recipe LN's number plus
    `gaps[steps]` and a seed wobble of 0.1, at each length in `gaps`."""
    runs = results / "length" / "runs"
    for steps, gap in gaps.items():
        for seed in range(3):
            for variant, acc in (("layernorm", 80.0 + seed), ("dyt_alpha2", 80.0 + seed + gap + 0.1 * (seed - 1))):
                run = make_run(runs / variant, f"steps={steps},seed={seed}", variant=variant, seed=seed,
                               steps=(steps // 2, steps), acc=acc, test_acc=acc - 1.0)
                config = yaml.safe_load((run / "config.yaml").read_text())
                config["norm"] = ({"name": "layernorm"} if variant == "layernorm"
                                  else {**config["norm"], "alpha0": alpha0, "impl": "eager", "num_groups": 8})
                (run / "config.yaml").write_text(yaml.safe_dump(config))


def test_the_preset_is_cut_to_the_keys_its_layer_reads(dyt_alpha2):
    assert dyt_alpha2["name"] == "dyt" and dyt_alpha2["alpha0"] == 2.0 and dyt_alpha2["learnable_alpha"] is True
    assert "num_groups" not in dyt_alpha2 and "alpha0_attn" in dyt_alpha2  # GroupNorm's key out, the shared ones in


def test_a_place_is_judged_cell_by_cell_by_its_studys_rule(tmp_path, dyt_alpha2):
    length_runs(tmp_path, {1000: -3.0, 4000: 0.0})
    place = {"study": "length", "model": "ViT", "recipe": "dyt_alpha2", "baseline": "layernorm"}
    rows = compare_place(place, tmp_path, CONFIGS, dyt_alpha2)
    assert [(r.cell, r.baseline, r.outcome) for r in rows] == [("max_steps=1000", "layernorm", FAILS),
                                                                ("max_steps=4000", "layernorm", HOLDS)]
    d = rows[0].diff  # test/acc1 (the study's metric), paired by seed: -3 + 0.1 x (seed - 1), mean -3
    assert d.paired and d.n_a == 3 and d.mean == pytest.approx(-3.0) and d.hi < -1.0
    assert rows[1].cmp.metric == "test/acc1" and rows[1].cmp.margin == 1.0
    assert rows[1].scaled() == pytest.approx((rows[1].diff.mean, rows[1].diff.lo, rows[1].diff.hi))  # margin 1
    only = compare_place({**place, "at": {"trainer.max_steps": 4000}}, tmp_path, CONFIGS, dyt_alpha2)
    assert [(r.cell, r.outcome) for r in only] == [("", HOLDS)]


def test_runs_that_are_not_the_recipe_are_an_error(tmp_path, dyt_alpha2):
    length_runs(tmp_path, {1000: 0.0}, alpha0=0.5)
    place = {"study": "length", "recipe": "dyt_alpha2", "baseline": "layernorm"}
    with pytest.raises(StudyError, match=r"variant dyt_alpha2: run dyt_alpha2/steps=1000,seed=0 has norm.alpha0 = 0.5, "
                                         r"the recipe has 2.0: not the recipe's runs"):
        compare_place(place, tmp_path, CONFIGS, dyt_alpha2)


def test_bad_places_are_named_errors(tmp_path, dyt_alpha2):
    length_runs(tmp_path, {1000: 0.0})
    place = {"study": "length", "recipe": "dyt_alpha2", "baseline": "layernorm"}
    with pytest.raises(StudyError, match=r"at.optim.lr is not a key of the study's table; allowed: trainer.max_steps"):
        compare_place({**place, "at": {"optim.lr": 2e-3}}, tmp_path, CONFIGS, dyt_alpha2)
    with pytest.raises(StudyError, match=r"length/runs/rmsnorm holds no runs"):
        compare_place({**place, "baseline": "rmsnorm"}, tmp_path, CONFIGS, dyt_alpha2)
    with pytest.raises(StudyError, match=r"no cell where both dyt_alpha2 and layernorm ran"):
        compare_place({**place, "at": {"trainer.max_steps": 4000}}, tmp_path, CONFIGS, dyt_alpha2)
    with pytest.raises(StudyError, match=r"recipe = 'nope' is unknown; allowed: dyt_alpha2"):
        load_recipe("nope")


def test_an_inconclusive_cell_stays_inconclusive(tmp_path, dyt_alpha2):
    length_runs(tmp_path, {1000: -0.9})  # -0.9 +- 0.1: the interval crosses the 1-point margin
    rows = compare_place({"study": "length", "recipe": "dyt_alpha2", "baseline": "layernorm"}, tmp_path, CONFIGS,
                         dyt_alpha2)
    assert rows[0].outcome == UNSURE


@pytest.mark.slow  # reads every place's committed runs (about 500 run folders)
def test_the_committed_recipe_page_rebuilds_from_the_run_folders(tmp_path):
    from normbench.study.recipe import write

    write("dyt_alpha2", out=tmp_path)
    committed = ROOT / "results" / "recipe_dyt_alpha2"
    for name in ("README.md", "table.csv"):
        assert (tmp_path / name).read_text() == (committed / name).read_text(), name
