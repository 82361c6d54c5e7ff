"""The committed studies' extensions (issue 26, item 6: what their notes left open), configured
before they run; each study's NOTES.md names them and the command that runs them.

Each cpu config plans every committed run folder under the name it has (a resumed `python sweep.py
study=<name>` skips it) and nothing new beyond the extension; the new variants compose and pass the
runs' own checks; each verdict rule uses the new runs, on hand-made run folders (no training). The
lr grid of dit_adaln is judged in tests/test_study_dit_adaln.py."""

from __future__ import annotations

import itertools

import pytest
import yaml
from conftest import ROOT
from runfolders import make_run, squash_runs

from normbench.report import report
from normbench.study import load_study
from normbench.study.verdicts import FAILS, HOLDS, UNSURE, verdicts


def planned_runs(name: str) -> set[str]:
    """"<variant>/<run folder>" of every run the cpu scale of study `name` makes: each job's swept
    keys, expanded as Hydra's basic sweeper does and joined as its override_dirname
    (normbench.study.spec.Job.argv names run folders by the swept keys alone)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = set()
    for job in load_study(name, ["study.scale=cpu"]).jobs():
        swept = [o for o in job.overrides if o.split("=", 1)[0].lstrip("+~") in job.swept]
        values = []
        for o in parser.parse_overrides(swept):
            key = o.get_key_element()
            items = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]
            values.append([f"{key}={v}" for v in items])
        out |= {f"{job.variant}/" + ",".join(sorted(combo)) for combo in itertools.product(*values)}
    return out


SEEDS = ("trainer.seed=0", "trainer.seed=1", "trainer.seed=2")
NEW = {  # what each extension adds to the committed runs (and what was configured but not yet run)
    "vision_norms": {f"{v}/{s}" for v in ("convnext_dyt_1.0", "convnext_dyt_2.0", "vit_derf", "convnext_derf")
                     for s in SEEDS},
    "bn_replace": {f"{m}_dyt_{a}/{s}" for m in ("resnet", "vgg") for a in ("1.0", "2.0", "4.0") for s in SEEDS},
    "baselines": {f"sigma_reparam/optim.lr={lr},{s}" for lr in ("0.128", "0.256") for s in SEEDS},
    "dit_adaln": {f"{v}/optim.lr={lr},{s}" for v in ("ln_zero", "ln_nozero", "dyt_zero", "dyt_nozero")
                  for lr in ("0.016", "0.032") for s in SEEDS},
    "pre_post": {f"{v}/{s}" for v in ("pre_dyt_a8", "post_dyt_a8") for s in SEEDS},
    "squash": {f"derf/{s}" for s in SEEDS},
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_a_resumed_study_finds_its_committed_runs_and_makes_only_the_extension(name):
    committed = {f"{p.parent.name}/{p.name}" for p in (ROOT / "results" / name / "runs").glob("*/*") if p.is_dir()}
    planned = planned_runs(name)
    assert committed and committed <= planned, sorted(committed - planned)[:5]  # none renamed, none re-run
    assert planned - committed <= NEW[name], sorted(planned - committed - NEW[name])[:5]


@pytest.mark.parametrize("name, variants", [
    ("vision_norms", ["convnext_dyt_1.0", "convnext_dyt_2.0"]),
    ("bn_replace", ["resnet_dyt_4.0", "vgg_dyt_4.0"]),
    ("baselines", ["sigma_reparam"]),
    ("pre_post", ["pre_dyt_a8", "post_dyt_a8"]),
    ("squash", ["derf"]),
])
def test_the_new_variants_pass_the_dry_run_at_the_cpu_scale(name, variants):
    """`sweep.py --dry-run`'s checks (compose each job's first grid point, the run's pre-flight)."""
    from normbench.study.runner import launch

    study = load_study(name, ["study.scale=cpu", f"study.scales.cpu.variants=[{','.join(variants)}]"])
    assert launch(study, [], dry_run=True) == {v: 0 for v in variants}


# -- the verdicts, on hand-made run folders --------------------------------------------------------
def run(root, variant: str, seed: int, acc: float, alpha0: float = 0.5, **kw):
    d = make_run(root, f"{variant}-{kw.get('lr', 1e-3)}-{seed}", variant=variant, seed=seed, acc=acc + 0.1 * seed, **kw)
    config = yaml.safe_load((d / "config.yaml").read_text())
    config["norm"]["alpha0"] = alpha0
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    return d


def judged(name: str, root) -> dict[str, tuple[str, str]]:
    result = report([root], root / "report", spec={"group_by": ["variant"], "figures": []})
    return {claim: (verdict, why) for claim, verdict, why in verdicts(name, result)}


# -- vision_norms: ConvNeXt DyT at alpha0 1.0 and 2.0; Derf ---------------------------------------
def test_convnexts_new_variants_are_convnext_dyt_at_another_alpha0():
    cfg = load_study("vision_norms").cfg["variants"]
    for a in ("1.0", "2.0"):
        assert cfg[f"convnext_dyt_{a}"] == [o.replace("0.5", a) for o in cfg["convnext_dyt"]]


def vision_runs(root, convnext: dict[float, float], derf: float | None = None):
    """LN and DyT (alpha0 0.5) on ViT at 80; ConvNeXt LN at 85 and DyT at each alpha0 of `convnext`
    (variant convnext_dyt at 0.5, convnext_dyt_<alpha0> above); Derf on both models at `derf`."""
    for seed in range(3):
        run(root, "vit_layernorm", seed, 80.0)
        run(root, "vit_dyt", seed, 80.0)
        run(root, "convnext_layernorm", seed, 85.0)
        for a0, acc in convnext.items():
            run(root, "convnext_dyt" if a0 == 0.5 else f"convnext_dyt_{a0}", seed, acc, alpha0=a0)
        if derf is not None:
            run(root, "vit_derf", seed, derf)
            run(root, "convnext_derf", seed, derf + convnext[0.5] - 80.0)
    return judged("vision_norms", root)


BEST_CONVNEXT = "C1: the best DyT alpha0 matches LN on ConvNeXt"


def test_vision_norms_judges_convnexts_best_alpha0_and_flags_it_at_the_grids_edge(tmp_path):
    found = vision_runs(tmp_path / "a", {0.5: 79.0, 1.0: 84.8, 2.0: 83.0})  # best inside the grid
    assert found["C1: DyT matches LN on ConvNeXt"][0] == FAILS  # the paper's alpha0 stays the C1 line
    verdict, why = found[BEST_CONVNEXT]
    assert verdict == HOLDS and why.startswith("best alpha0 1 (picked on val/acc1) of 0.5 79.10 ± 0.10 (n=3), "
                                               "1 84.90 ± 0.10 (n=3), 2 83.10 ± 0.10 (n=3); LN 85.10")
    assert "convnext_dyt_1.0 - LN: -0.20 points" in why and "not bracketed" not in why
    assert "C1: the best DyT alpha0 matches LN on ViT" not in found  # ViT's DyT has one alpha0 here
    found = vision_runs(tmp_path / "b", {0.5: 79.0, 1.0: 82.0, 2.0: 84.8})  # still rising at 2.0
    verdict, why = found[BEST_CONVNEXT]
    assert verdict == UNSURE and "not bracketed: alpha0's best 2 is at the edge of the grid 0.5-2" in why
    found = vision_runs(tmp_path / "c", {0.5: 79.0, 1.0: 80.0, 2.0: 81.0})  # 4 points behind, at the edge:
    assert found[BEST_CONVNEXT][0] == UNSURE  # a larger alpha0 might close the gap


def test_vision_norms_derf_against_dyt(tmp_path):
    found = vision_runs(tmp_path / "a", {0.5: 79.0}, derf=80.2)
    assert found["Derf (arXiv 2512.10938) not worse than DyT on ViT"][0] == HOLDS
    assert found["Derf (arXiv 2512.10938) not worse than DyT on ConvNeXt"][0] == HOLDS
    assert "vit_derf 80.30 ± 0.10 (n=3)" in found["C1: DyT matches LN on ViT"][1]  # context of the C1 line
    found = vision_runs(tmp_path / "b", {0.5: 79.0}, derf=77.0)
    assert found["Derf (arXiv 2512.10938) not worse than DyT on ViT"][0] == FAILS


# -- bn_replace: DyT at alpha0 1.0, 2.0 and 4.0 --------------------------------------------------
def test_bn_replaces_new_variants_are_each_models_dyt_at_another_alpha0():
    cfg = load_study("bn_replace").cfg["variants"]
    for model in ("resnet", "vgg"):
        for a in ("1.0", "2.0", "4.0"):
            assert cfg[f"{model}_dyt_{a}"] == cfg[f"{model}_dyt"] + [f"norm.alpha0={a}"]


def bn_runs(root, dyt: dict[str, dict[float, float]], bn: float = 86.0, none: float = 80.0):
    """BN at `bn`, no norm at `none` and DyT at each alpha0 of dyt[model] (0.5: <model>_dyt)."""
    for model in ("resnet", "vgg"):
        for seed in range(3):
            run(root, f"{model}_batchnorm", seed, bn, model=model, norm="batchnorm")
            run(root, f"{model}_identity", seed, none, model=model, norm="identity")
            for a0, acc in dyt[model].items():
                run(root, f"{model}_dyt" if a0 == 0.5 else f"{model}_dyt_{a0}", seed, acc, alpha0=a0, model=model)
    return judged("bn_replace", root)


BEST_VGG = "C8 at DyT's best alpha0: DyT cannot replace BatchNorm in VGG"


def test_bn_replace_judges_dyt_at_its_best_alpha0(tmp_path):
    # VGG: at chance at the paper's 0.5 (the starved signal), best at 2.0, between no norm and BN
    grid = {0.5: 10.3, 1.0: 70.0, 2.0: 83.0, 4.0: 81.0}
    found = bn_runs(tmp_path / "a", {"resnet": grid, "vgg": grid})
    verdict, why = found["C8: DyT cannot replace BatchNorm in VGG"]
    assert verdict == UNSURE and "setup failure: vgg_dyt is at chance" in why  # as before
    verdict, why = found[BEST_VGG]
    assert verdict == HOLDS, why
    # alpha0 0.5's runs end at chance with a finite loss: the cell says so
    assert why.startswith("best alpha0 2 (picked on val/acc1) of 0.5 10.40 ± 0.10 (3/3 at chance) (n=3), 1 70.10 ± 0.10 (n=3), "
                          "2 83.10 ± 0.10 (n=3), 4 81.10 ± 0.10 (n=3); BN 86.10 ± 0.10 (n=3)")
    assert "BN - vgg_dyt_2.0: +3.00 points" in why and "vgg_dyt_2.0 - no norm: +3.00 points" in why


def test_bn_replace_best_alpha0_at_the_edge_or_below_no_norm_cannot_make_c8_hold(tmp_path):
    rising = {0.5: 10.3, 1.0: 60.0, 2.0: 70.0, 4.0: 83.0}  # best at the grid's top
    found = bn_runs(tmp_path / "a", {"resnet": rising, "vgg": rising})
    verdict, why = found[BEST_VGG]
    assert verdict == UNSURE and "not bracketed: alpha0's best 4 is at the edge of the grid 0.5-4" in why
    starved = {0.5: 10.3, 1.0: 60.0, 2.0: 70.0, 4.0: 65.0}  # best inside, but below no norm (80)
    found = bn_runs(tmp_path / "b", {"resnet": starved, "vgg": starved})
    verdict, why = found[BEST_VGG]
    assert verdict == UNSURE and "setup failure: vgg_dyt_2.0 is below no normalization" in why
    level = {0.5: 10.3, 1.0: 60.0, 2.0: 70.0, 4.0: 86.0}  # DyT level with BN at the edge: a larger
    found = bn_runs(tmp_path / "c", {"resnet": level, "vgg": level})  # alpha0 could only do better
    assert found[BEST_VGG][0] == FAILS


# -- baselines: sigmaReparam's lr search past 1.6e-2 ----------------------------------------------
def test_sigma_reparams_search_runs_on_past_the_shared_grid_with_every_seed():
    search = load_study("baselines").cfg["scales"]["cpu"]["search"]["sigma_reparam"]
    assert search == [{"overrides": ["optim.lr=3.2e-2,6.4e-2,1.28e-1,2.56e-1"], "seeds": [0, 1, 2]}]


def sigma_runs(root, sigma: dict[float, float]):
    """Every method on the shared lr grid 1e-3-4e-3 (best at 2e-3, inside), sigmaReparam also at the
    lrs of `sigma` (its own search); Fixup and SkipInit well behind."""
    top = {"layernorm": 80.0, "dyt": 80.0, "fixup": 75.0, "skipinit": 73.0}
    for seed in range(3):
        for lr in (1e-3, 2e-3, 4e-3):
            for v, acc in top.items():
                run(root, v, seed, acc if lr == 2e-3 else acc - 3, lr=lr)
        for lr, acc in sigma.items():
            run(root, "sigma_reparam", seed, acc, lr=lr)
    return judged("baselines", root)


SIGMA = "C7: sigmaReparam matches LN"


def test_baselines_sigma_reparams_own_search_past_the_shared_grid_brackets_its_best_lr(tmp_path):
    grid = {1e-3: 70.0, 2e-3: 74.0, 4e-3: 77.0}  # the committed case: still best at the shared grid's top
    found = sigma_runs(tmp_path / "a", grid)
    assert found[SIGMA][0] == UNSURE and "not bracketed: sigma_reparam lr's best 0.004" in found[SIGMA][1]
    assert found["lr search, sigma_reparam"][0].startswith("best lr 0.004; not bracketed")
    found = sigma_runs(tmp_path / "b", {**grid, 8e-3: 80.0, 1.6e-2: 78.0})  # its search: best at 8e-3
    assert found[SIGMA][0] == HOLDS and "not bracketed" not in found[SIGMA][1]
    assert found["lr search, sigma_reparam"][0] == "best lr 0.008"
    found = sigma_runs(tmp_path / "c", {**grid, 8e-3: 78.0, 1.6e-2: 76.0})  # bracketed, 2 points behind LN
    assert found[SIGMA][0] == FAILS


# -- pre_post: DyT at llm_alpha0's best alpha0 in both positions ---------------------------------
def lm_run(root, variant: str, seed: int, bpb: float):
    import json

    d = make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, steps=(300, 600), model="llama",
                 extra_metrics=[{"step": 300, "split": "val", "bpb": bpb + 0.5}, {"step": 600, "split": "val", "bpb": bpb}])
    summary = json.loads((d / "summary.json").read_text())
    summary["final"] = {"val/bpb": bpb}
    (d / "summary.json").write_text(json.dumps(summary))


def test_pre_post_judges_each_dyt_pair_on_its_own(tmp_path):
    bpbs = {"pre_rmsnorm": 2.6, "post_rmsnorm": 2.8, "pre_dyt": 3.6, "post_dyt": 3.4,  # DyT at 1.0: post better
            "pre_dyt_a8": 3.0, "post_dyt_a8": 3.3}  # at 2 / 8: pre better, as RMSNorm
    for variant, bpb in bpbs.items():
        for seed in range(3):
            lm_run(tmp_path, variant, seed, bpb + 0.002 * seed)
    result = report([tmp_path], tmp_path / "report", spec={"metric": "val/bpb", "group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("pre_post", result)}
    assert found["DyT responds to the norm position as RMSNorm does"] == (FAILS, "RMSNorm: pre, DyT: post")
    label = "DyT at alpha0 2 / 8 (attention / other)"
    assert found[f"{label} responds to the norm position as RMSNorm does"] == (HOLDS, f"RMSNorm: pre, {label}: pre")
    assert found["dyt_a8: pre vs post"][0] == "pre better"


# -- squash: Derf -----------------------------------------------------------------------------------
def test_squash_judges_derf_against_tanh_where_it_ran(tmp_path):
    root = tmp_path / "runs"
    squash_runs(root, identity_diverges=True, noalpha_acc=78.0)  # tanh 80.0-80.2 at lr 2e-3
    assert not any(c.startswith("Derf") for c in judged("squash", root))  # not run: no line
    for seed in range(3):
        make_run(root, f"derf-{seed}", variant="derf", norm="derf", seed=seed, acc=80.5 + 0.1 * seed, lr=2e-3)
    verdict, why = judged("squash", root)["Derf (arXiv 2512.10938) not worse than DyT-tanh"]
    assert verdict == HOLDS and why.startswith("at lr 0.002: derf 80.60 ± 0.10 (n=3), tanh 80.10 ± 0.10 (n=3)")
