"""Study verdicts follow their written rules, on hand-made run folders (no training)."""

from __future__ import annotations

from runfolders import make_run, squash_runs

from normbench.report import report
from normbench.study.verdicts import FAILS, HOLDS, UNSURE, compare_for, verdicts
from normbench.study.verdicts.compare import collect


def test_squash_holds_when_identity_fails_and_alpha_helps(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("squash", squash_runs(tmp_path, True, 78.0))}
    assert found == {"C2": HOLDS, "C3": HOLDS}


def test_squash_does_not_hold_when_identity_trains_fine_and_alpha_does_not_matter(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("squash", squash_runs(tmp_path, False, 80.1))}
    assert found == {"C2": FAILS, "C3": FAILS}


def stability_runs(root, seeds: int, tanh_collapses: bool = False):
    """LN, tanh and identity over lr x depth; identity diverges at lr 0.1, every variant at lr 0.1
    depth 6; tanh_collapses: tanh ends at chance (finite loss) at lr 0.1 depth 3, where LN trains."""
    for variant in ("layernorm", "tanh", "identity"):
        for lr in (1e-3, 1e-1):
            for depth in (3, 6):
                bad = (variant == "identity" and lr == 1e-1) or (lr == 1e-1 and depth == 6)
                collapse = tanh_collapses and variant == "tanh" and lr == 1e-1 and depth == 3
                for seed in range(seeds):
                    make_run(root, f"{variant}-{lr}-{depth}-{seed}", variant=variant, lr=lr, depth=depth, seed=seed,
                             status="diverged" if bad else "ok", acc=10.5 if collapse else 80.0, best=30.0,
                             diverged_step=200 if bad else None)
    result = report([root], root / "report", spec={"group_by": ["variant"], "figures": []})
    return {claim: verdict for claim, verdict, _ in verdicts("stability", result)}


def test_stability_finds_where_identity_alone_fails(tmp_path):
    assert stability_runs(tmp_path, seeds=3) == {"C2: identity fails where tanh trains (16 tokens)": HOLDS,
                                                 "C5: DyT (alpha0 0.5) as stable as LN (16 tokens)": HOLDS}


def test_stability_with_one_seed_a_cell_is_inconclusive(tmp_path):
    assert set(stability_runs(tmp_path, seeds=1).values()) == {UNSURE}


def test_stability_a_collapse_to_chance_counts_as_failed(tmp_path):
    # tanh ends at 10.5 % (finite loss) where LN trains: not as stable as LN
    assert stability_runs(tmp_path, seeds=3, tanh_collapses=True)["C5: DyT (alpha0 0.5) as stable as LN (16 tokens)"] \
        == FAILS


def test_a_study_without_runs_of_every_variant_is_inconclusive(tmp_path):
    make_run(tmp_path, "tanh-0", variant="tanh")
    result = report([tmp_path], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    assert [v for _, v, _ in verdicts("squash", result)] == [UNSURE]
    assert [v for _, v, _ in verdicts("no_such_rule", result)] == [UNSURE]


def with_alpha0(run, alpha0: float):
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    config["norm"]["alpha0"] = alpha0
    (run / "config.yaml").write_text(yaml.safe_dump(config))


def alpha0_runs(root, band_slope: float, small_limit: float = 1.7):
    """small and large ViTs x 2 lrs x alpha0; the large one diverges above 1.2 at the high lr
    and above 1.5 at the low one, the small one above `small_limit`; accuracy falls by
    `band_slope` points per unit of alpha0."""
    for variant in ("small", "large"):
        for lr in (2e-3, 8e-3):
            for a0 in (0.1, 0.5, 0.8, 1.2, 1.5, 2.0):
                limit = {(2e-3): 1.5, (8e-3): 1.2}[lr] if variant == "large" else small_limit
                for seed in range(3):
                    bad = a0 > limit
                    run = make_run(root, f"{variant}-{lr}-{a0}-{seed}", variant=variant, seed=seed, lr=lr,
                                   acc=80.0 - band_slope * a0 + 0.1 * seed, status="diverged" if bad else "ok",
                                   best=30.0, diverged_step=200 if bad else None)
                    with_alpha0(run, a0)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_alpha0_flat_band_and_smaller_alpha0_for_larger_model_and_lr(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("alpha0", alpha0_runs(tmp_path, 0.0))}
    assert found == {"C5a": HOLDS, "C5b": HOLDS}


def test_alpha0_good_at_the_largest_alpha0_tried_is_not_bracketed(tmp_path):
    result = verdicts("alpha0", alpha0_runs(tmp_path, 0.0, small_limit=9.0))  # the small one never diverges
    found = {claim.split()[0]: (verdict, why) for claim, verdict, why in result}
    assert found["C5b"][0] == UNSURE and "not bracketed" in found["C5b"][1]


def test_alpha0_sensitivity_inside_the_band_does_not_hold(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("alpha0", alpha0_runs(tmp_path, 10.0))}
    assert found["C5a"] == FAILS


def baseline_runs(root, normfree_acc: float):
    best_lr = {"layernorm": 2e-3, "dyt": 2e-3, "fixup": 5e-4, "skipinit": 5e-4, "sigma_reparam": 1e-3}
    top = {"layernorm": 80.0, "dyt": 80.2, "fixup": normfree_acc, "skipinit": normfree_acc - 2, "sigma_reparam": 79.9}
    for variant, acc in top.items():
        for lr in (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3):
            diverges = variant in ("fixup", "skipinit") and lr == 4e-3 and normfree_acc < 80
            for seed in range(3):
                make_run(root, f"{variant}-{lr}-{seed}", variant=variant, seed=seed, lr=lr,
                         acc=(acc if lr == best_lr[variant] else acc - 3) + 0.1 * seed,
                         status="diverged" if diverges else "ok", best=20.0, diverged_step=200 if diverges else None)
    make_run(root, "layernorm-long", variant="layernorm", lr=2e-3, acc=82.0, steps=(100, 200, 300, 600))
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_baselines_lose_and_need_lower_lrs(tmp_path):
    found = {claim: verdict for claim, verdict, _ in verdicts("baselines", baseline_runs(tmp_path, 75.0))}
    assert found == {"C7: Fixup and SkipInit lose to LN and DyT": HOLDS, "C7: sigmaReparam matches LN": HOLDS,
                     "C1/C7: DyT not worse than LN": HOLDS, "C7: Fixup and SkipInit need lower learning rates": HOLDS,
                     "lr search, layernorm": "best lr 0.002", "lr search, sigma_reparam": "best lr 0.001",
                     "run length, layernorm": "+2.00 points from 300 to 600 steps (seed-matched, seed 0)"}


def test_baselines_best_lr_at_the_grid_edge_is_inconclusive(tmp_path):
    root = tmp_path / "runs"
    baseline_runs(root, 75.0)
    for seed in range(3):  # LN's lr grid now ends at its best lr: 2e-3 beats 1e-3 and nothing above it was run
        for lr in (4e-3,):
            (root / f"layernorm-{lr}-{seed}" / "summary.json").unlink()
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("baselines", result)}
    assert found["C1/C7: DyT not worse than LN"][0] == UNSURE
    assert "not bracketed: layernorm lr's best 0.002 is at the edge of the grid 0.00025-0.002" in \
        found["C1/C7: DyT not worse than LN"][1]


def test_the_best_lr_is_picked_on_validation_when_the_study_reports_test(tmp_path):
    # LN's val accuracy peaks at lr 2e-3 but its test accuracy at 1e-3: a study reporting test/acc1
    # must pick 2e-3 (picking on the reported numbers would flatter the winner)
    root = tmp_path / "runs"
    for lr, val, test in ((5e-4, 70.0, 70.0), (1e-3, 75.0, 79.0), (2e-3, 78.0, 77.0), (4e-3, 72.0, 72.0)):
        for seed in range(3):
            make_run(root, f"layernorm-{lr}-{seed}", variant="layernorm", seed=seed, lr=lr, acc=val + 0.1 * seed,
                     test_acc=test + 0.1 * seed)
    result = report([root], tmp_path / "report", spec={"metric": "test/acc1", "group_by": ["variant"], "figures": []})
    for metric in ("test/acc1", "val/acc1"):
        cmp = compare_for("baselines", metric=metric)
        cells = collect(result, keys=("optim.lr",), metric=metric)
        assert max(cells, key=lambda k: cmp.score(cells[k])) == (2e-3,)
    assert compare_for("baselines", metric="test/acc1").select == "val/acc1"


def test_a_best_setting_is_one_where_every_run_trained(tmp_path):
    # lr 4e-3 scores higher on its best-before-divergence numbers, but one of its seeds diverged:
    # the best lr is 2e-3, where every seed trained
    root = tmp_path / "runs"
    for lr, acc in ((1e-3, 75.0), (2e-3, 78.0), (4e-3, 80.0)):
        for seed in range(3):
            bad = lr == 4e-3 and seed == 2
            make_run(root, f"layernorm-{lr}-{seed}", variant="layernorm", seed=seed, lr=lr, acc=acc,
                     status="diverged" if bad else "ok", best=acc if bad else None, diverged_step=300 if bad else None)
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    cmp = compare_for("baselines")
    cells = collect(result, keys=("optim.lr",), metric=cmp.metric)
    assert cells[(4e-3,)].n_diverged == 1 and cells[(4e-3,)].mean > cells[(2e-3,)].mean
    assert max(cells, key=lambda k: cmp.score(cells[k])) == (2e-3,)


def test_baselines_judge_dyt_at_alpha0_2_beside_the_papers_dyt(tmp_path):
    # DyT at alpha0 2.0 (variant dyt_a2) gets its own lines; the paper's DyT (0.5) keeps its own
    root = tmp_path / "runs"
    baseline_runs(root, 75.0)
    for lr in (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3):
        for seed in range(3):
            make_run(root, f"dyt_a2-{lr}-{seed}", variant="dyt_a2", seed=seed, lr=lr,
                     acc=(70.0 if lr == 1e-3 else 67.0) + 0.1 * seed)
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("baselines", result)}
    assert found["C1/C7: DyT not worse than LN"][0] == HOLDS  # the paper's DyT row unchanged
    assert found["C1/C7 (DyT at alpha0 2.0): not worse than LN"][0] == FAILS  # 70.1 against 80.1
    assert found["C7 (DyT at alpha0 2.0): Fixup and SkipInit lose to it"][0] == FAILS  # level with Fixup's 75
    assert "dyt_a2 70.1" in found["C7 (DyT at alpha0 2.0): Fixup and SkipInit lose to it"][1]
    assert "dyt_a2 0.001" in found["C7: Fixup and SkipInit need lower learning rates"][1]


def test_baselines_that_match_ln_do_not_hold(tmp_path):
    found = {claim: verdict for claim, verdict, _ in verdicts("baselines", baseline_runs(tmp_path, 82.0))}
    assert found["C7: Fixup and SkipInit lose to LN and DyT"] == FAILS


VISION_PAIRS = [["vit_dyt", "vit_layernorm"], ["convnext_dyt", "convnext_layernorm"], ["vit_rmsnorm", "vit_layernorm"]]


def vision_norms_runs(root, dyt_acc: float, dyt_loss_scale: float):
    """LN, RMSNorm, DyT and DyT at the best alpha0 on ViT, LN and DyT on ConvNeXt; DyT's train
    loss is LN's times `dyt_loss_scale`, so its relative gap is dyt_loss_scale - 1 exactly."""
    accs = {"vit_layernorm": 80.0, "vit_rmsnorm": 79.8, "vit_dyt": dyt_acc, "vit_dyt_best": 80.4,
            "convnext_layernorm": 85.0, "convnext_dyt": dyt_acc + 5}
    for variant, acc in accs.items():
        for seed in range(3):
            run = make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + 0.1 * seed,
                           loss_scale=dyt_loss_scale if variant.endswith("_dyt") else 1.0)
            if variant == "vit_dyt_best":
                with_alpha0(run, 2.0)  # as configs/study/vision_norms.yaml has it
    spec = {"group_by": ["variant"], "figures": [{"kind": "curve_gap", "pairs": VISION_PAIRS}]}
    return report([root], root / "report", spec=spec)


def test_vision_norms_holds_when_dyt_matches_ln_and_curves_align(tmp_path):
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("vision_norms", vision_norms_runs(tmp_path, 79.9, 1.02))}
    assert {k: v for k, (v, _) in found.items()} == {"C1: DyT matches LN on ViT": HOLDS, "C1: DyT matches LN on ConvNeXt": HOLDS,
                                                    "C1: loss curves aligned": HOLDS,
                                                    "C1: the best DyT alpha0 matches LN on ViT": UNSURE}
    # ViT's DyT ran at alpha0 0.5 and 2.0 (vit_dyt_best); its best, 2.0, is the top of that grid
    assert "not bracketed: alpha0's best 2 is at the edge of the grid 0.5-2" in \
        found["C1: the best DyT alpha0 matches LN on ViT"][1]
    assert "vit_rmsnorm 79.90 ± 0.10 (n=3)" in found["C1: DyT matches LN on ViT"][1]
    assert "vit_dyt_best 80.50" in found["C1: DyT matches LN on ViT"][1]
    assert "vit_dyt vs vit_layernorm: mean |gap|" in found["C1: loss curves aligned"][1]
    assert "(2.0 % of the reference's loss)" in found["C1: loss curves aligned"][1]


def test_vision_norms_does_not_hold_when_ln_is_better_and_curves_part(tmp_path):
    found = {claim: verdict for claim, verdict, _ in verdicts("vision_norms", vision_norms_runs(tmp_path, 78.0, 1.3))}
    assert found == {"C1: DyT matches LN on ViT": FAILS, "C1: DyT matches LN on ConvNeXt": FAILS,
                     "C1: loss curves aligned": FAILS, "C1: the best DyT alpha0 matches LN on ViT": UNSURE}


def test_vision_norms_curves_between_the_thresholds_are_inconclusive(tmp_path):
    found = {claim: verdict for claim, verdict, _ in verdicts("vision_norms", vision_norms_runs(tmp_path, 80.0, 1.1))}
    assert found["C1: loss curves aligned"] == UNSURE


def bn_replace_runs(root, dyt_acc: float):
    """ResNet and VGG with BN (76), DyT, GroupNorm (74) and no norm, which diverges in every seed."""
    for model in ("resnet", "vgg"):
        for norm, acc in (("batchnorm", 76.0), ("dyt", dyt_acc), ("groupnorm", 74.0)):
            for seed in range(3):
                make_run(root, f"{model}_{norm}-{seed}", variant=f"{model}_{norm}", model=model, norm=norm,
                         seed=seed, acc=acc + 0.1 * seed)
        for seed in range(3):
            make_run(root, f"{model}_identity-{seed}", variant=f"{model}_identity", model=model, norm="identity",
                     seed=seed, status="diverged", acc=10.0, best=30.0, diverged_step=200)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_bn_replace_holds_when_batchnorm_beats_dyt(tmp_path):
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("bn_replace", bn_replace_runs(tmp_path, 69.0))}
    assert {k: v for k, (v, _) in found.items()} == {
        "C8: DyT cannot replace BatchNorm in ResNet": HOLDS, "ResNet: GroupNorm and no norm": "GroupNorm 74.1 ± 0.1 (n=3), "
        "no norm diverged 3/3", "C8: DyT cannot replace BatchNorm in VGG": HOLDS,
        "VGG: GroupNorm and no norm": "GroupNorm 74.1 ± 0.1 (n=3), no norm diverged 3/3"}
    assert found["C8: DyT cannot replace BatchNorm in VGG"][1] == \
        "BN 76.10 ± 0.10 (n=3), DyT 69.10 ± 0.10 (n=3); BN - DyT: +7.00 points [+7.00, +7.00] (90 % CI, paired by seed, n=3)"
    assert "no norm 30.00 ± 0.00 failed (3/3 diverged) (n=3), diverged at steps 200, 200, 200" in found["VGG: GroupNorm and no norm"][1]


def test_bn_replace_a_dyt_at_chance_is_a_setup_failure_not_evidence(tmp_path):
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("bn_replace", bn_replace_runs(tmp_path, 10.3))}
    verdict, why = found["C8: DyT cannot replace BatchNorm in VGG"]
    assert verdict == UNSURE and "setup failure: vgg_dyt is at chance" in why


def test_bn_replace_does_not_hold_when_dyt_is_not_worse(tmp_path):
    # BN - DyT is 0 in every seed: inside the margin, so BN does not beat DyT
    found = {claim: verdict for claim, verdict, _ in verdicts("bn_replace", bn_replace_runs(tmp_path, 76.0))}
    assert found["C8: DyT cannot replace BatchNorm in ResNet"] == FAILS
    assert found["C8: DyT cannot replace BatchNorm in VGG"] == FAILS


def test_baselines_with_runs_that_diverge_before_any_evaluation(tmp_path):
    """A cell whose runs all diverged before their first evaluation has no accuracy: it ranks
    last and counts as diverged (the extended lr grid's Fixup at 1.6e-2)."""
    import json

    root = tmp_path / "runs"
    baseline_runs(root, 75.0)
    for seed in range(3):
        run = make_run(root, f"fixup-early-{seed}", variant="fixup", seed=seed, lr=1.6e-2, status="diverged",
                       diverged_step=50)
        summary = json.loads((run / "summary.json").read_text())
        summary["final"], summary["best"]["value"] = {"train/loss": "nan"}, None
        (run / "summary.json").write_text(json.dumps(summary))
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("baselines", result)}
    assert found["C7: Fixup and SkipInit lose to LN and DyT"][0] == HOLDS
    assert "fixup [0.004, 0.016]" in found["C7: Fixup and SkipInit need lower learning rates"][1]


def lm_run(root, name: str, variant: str, seed: int, bpb: float, steps: int = 600, diverged: bool = False):
    """An LM run folder: val bits per byte `bpb` at the end (lower is better)."""
    import json

    import yaml

    run = make_run(root, name, variant=variant, seed=seed, steps=(steps // 2, steps), model="llama",
                   status="diverged" if diverged else "ok", diverged_step=steps if diverged else None,
                   extra_metrics=[{"step": steps // 2, "split": "val", "bpb": bpb + 0.5}]
                   + ([] if diverged else [{"step": steps, "split": "val", "bpb": bpb}]))
    summary = json.loads((run / "summary.json").read_text())
    summary["final"] = {"val/bpb": bpb, "val/loss": bpb * 0.693}
    summary["best"] = {"metric": "val/loss", "value": bpb * 0.693, "step": steps}
    (run / "summary.json").write_text(json.dumps(summary))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["task"] = {"name": "lm"}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def lm_report(root):
    return report([root], root / "report", spec={"metric": "val/bpb", "group_by": ["variant"], "figures": []})


def test_llm_norms_dyt_matches_rmsnorm_and_needs_the_embedding_scalar(tmp_path):
    for seed in range(3):
        lm_run(tmp_path, f"rms-{seed}", "rmsnorm", seed, 2.000 + 0.002 * seed)
        lm_run(tmp_path, f"dyt-{seed}", "dyt", seed, 2.005 + 0.002 * seed)  # worse by 0.005 < 0.01: a tie
        lm_run(tmp_path, f"noscale-{seed}", "dyt_noscale", seed, 2.300 + 0.002 * seed)
    lm_run(tmp_path, "rms-long", "rmsnorm", 0, 1.900, steps=1200)
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("llm_norms", lm_report(tmp_path))}
    assert found["C1 (LLM): DyT matches RMSNorm"][0] == HOLDS
    assert found["C6: DyT without the sqrt(d) embedding scalar struggles"][0] == HOLDS
    assert found["run length, rmsnorm"][0] == "-0.100 bits per byte from 600 to 1200 steps (seed-matched, seed 0)"  # 1.900 - 2.000


def test_llm_norms_lower_bits_per_byte_is_better_not_higher(tmp_path):
    for seed in range(3):
        lm_run(tmp_path, f"rms-{seed}", "rmsnorm", seed, 2.000 + 0.002 * seed)
        lm_run(tmp_path, f"dyt-{seed}", "dyt", seed, 2.100 + 0.002 * seed)  # clearly worse
        lm_run(tmp_path, f"noscale-{seed}", "dyt_noscale", seed, 2.000 + 0.002 * seed)  # better than DyT
    found = {claim: verdict for claim, verdict, _ in verdicts("llm_norms", lm_report(tmp_path))}
    assert found == {"C1 (LLM): DyT matches RMSNorm": FAILS,
                     "C6: DyT without the sqrt(d) embedding scalar struggles": FAILS}


def test_pre_post_compares_dyts_order_with_rmsnorms(tmp_path):
    bpbs = {"pre_rmsnorm": 2.0, "post_rmsnorm": 2.2, "pre_dyt": 2.05, "post_dyt": 2.3}
    for variant, bpb in bpbs.items():
        for seed in range(3):
            lm_run(tmp_path, f"{variant}-{seed}", variant, seed, bpb + 0.002 * seed)
    found = {claim: verdict for claim, verdict, _ in verdicts("pre_post", lm_report(tmp_path))}
    assert found == {"rmsnorm: pre vs post": "pre better", "dyt: pre vs post": "pre better",
                     "DyT responds to the norm position as RMSNorm does": HOLDS}


def test_pre_post_opposite_orders_do_not_hold_and_a_diverged_post_counts_as_worse(tmp_path):
    for seed in range(3):
        lm_run(tmp_path, f"pre_rmsnorm-{seed}", "pre_rmsnorm", seed, 2.2 + 0.002 * seed)
        lm_run(tmp_path, f"post_rmsnorm-{seed}", "post_rmsnorm", seed, 2.0 + 0.002 * seed)
        lm_run(tmp_path, f"pre_dyt-{seed}", "pre_dyt", seed, 2.1 + 0.002 * seed)
        lm_run(tmp_path, f"post_dyt-{seed}", "post_dyt", seed, 1.9, diverged=True)
    found = {claim: verdict for claim, verdict, _ in verdicts("pre_post", lm_report(tmp_path))}
    assert found["rmsnorm: pre vs post"] == "post better"
    assert found["dyt: pre vs post"] == "pre better"
    assert found["DyT responds to the norm position as RMSNorm does"] == FAILS


def llm_alpha0_runs(root, best_of_width: dict[int, tuple[float, float]], depth_moves: bool = False,
                    grid_values: tuple[float, ...] = (0.25, 0.5, 2.0, 4.0)):
    """w<width>_d<depth> models on an alpha0 grid (attention x other); the cell
    `best_of_width[width]` is clearly best (0.2 bits per byte lower), the others tie; depth_moves:
    d4's best is another inner cell. Inner values (0.5, 2.0) are bracketed, the others not."""
    import yaml

    grid = [(a, o) for a in grid_values for o in grid_values]
    inner = [(a, o) for a, o in grid if min(grid_values) < a < max(grid_values) and min(grid_values) < o < max(grid_values)]
    for w, good in best_of_width.items():
        for d in (2, 4):
            target = good if not (depth_moves and d == 4) else next(g for g in inner if g != good)
            for attn, other in grid:
                for seed in range(3):
                    bpb = 2.0 + 0.002 * seed - (0.2 if (attn, other) == target else 0.0)
                    run = lm_run(root, f"w{w}_d{d}-{attn}-{other}-{seed}", f"w{w}_d{d}", seed, bpb)
                    config = yaml.safe_load((run / "config.yaml").read_text())
                    config["norm"].update(alpha0=other, alpha0_attn=attn)
                    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return lm_report(root)


def test_llm_alpha0_width_sets_it_attention_wants_more(tmp_path):
    result = llm_alpha0_runs(tmp_path, {32: (2.0, 2.0), 64: (2.0, 0.5), 128: (0.5, 0.5)})
    found = {claim: verdict for claim, verdict, _ in verdicts("llm_alpha0", result)}
    assert found == {"C6: depth does not set the best alpha0": HOLDS,
                     "C6: wider models want a smaller alpha0": HOLDS,
                     "C6: attention wants a larger alpha0": HOLDS}


def test_llm_alpha0_depth_moving_the_optimum_and_the_wrong_trend_do_not_hold(tmp_path):
    result = llm_alpha0_runs(tmp_path, {32: (0.5, 2.0), 128: (2.0, 2.0)}, depth_moves=True)
    found = {claim: verdict for claim, verdict, _ in verdicts("llm_alpha0", result)}
    assert found["C6: depth does not set the best alpha0"] == FAILS
    assert found["C6: wider models want a smaller alpha0"] == FAILS  # d2: attn x other 1.0 at w32, 4.0 at w128
    assert found["C6: attention wants a larger alpha0"] == UNSURE  # smaller in 1 of 4 models, larger in none


def test_llm_alpha0_depth_is_undecided_where_a_best_cell_was_not_run_at_the_other_depth(tmp_path):
    """w128 shares its best cell across depths; w64's depths have different bests, neither run at
    the other depth: the claim is inconclusive and says where (it was dropped, or read as holding
    from w128 alone)."""
    import shutil

    llm_alpha0_runs(tmp_path, {64: (2.0, 0.5)}, depth_moves=True)  # d4's best: (0.5, 0.5)
    for seed in range(3):
        shutil.rmtree(tmp_path / f"w64_d2-0.5-0.5-{seed}")
        shutil.rmtree(tmp_path / f"w64_d4-2.0-0.5-{seed}")
    result = llm_alpha0_runs(tmp_path, {128: (0.5, 0.5)})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("llm_alpha0", result)}
    verdict, why = found["C6: depth does not set the best alpha0"]
    assert verdict == UNSURE, why
    assert why == ("a shared good setting at w128: d2 vs d4; undecided at w64: d2 vs d4 (d2's best not run at d4, "
                   "d4's best not run at d2)")


def test_llm_alpha0_a_best_cell_at_the_grid_edge_makes_every_claim_inconclusive(tmp_path):
    result = llm_alpha0_runs(tmp_path, {32: (2.0, 2.0), 128: (0.5, 0.5)}, grid_values=(0.5, 2.0))
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("llm_alpha0", result)}
    assert {v for v, _ in found.values()} == {UNSURE}
    assert all("not bracketed: w32_d2 attn's best 2 is at the edge of the grid 0.5-2" in why for _, why in found.values())


def data_regime_runs(root, advantage: dict[object, float], noise: float = 0.0):
    """rmsnorm, dyt and hardtanh at budgets data.train_bytes (None: all); the squashes' bpb is
    RMSNorm's minus `advantage[budget]`, plus `noise` with the sign alternating by seed."""
    import yaml

    for budget, adv in advantage.items():
        for variant in ("rmsnorm", "dyt", "hardtanh"):
            for seed in range(3):
                bpb = 2.0 + 0.002 * seed - (adv - noise * (-1) ** seed if variant != "rmsnorm" else 0.0)
                run = lm_run(root, f"{variant}-{budget}-{seed}", variant, seed, bpb)
                config = yaml.safe_load((run / "config.yaml").read_text())
                config["data"] = {"name": "shakespeare", "train_bytes": budget}
                (run / "config.yaml").write_text(yaml.safe_dump(config))
    return lm_report(root)


def test_data_regime_holds_when_the_advantage_flips_with_more_data(tmp_path):
    found = {c: v for c, v, _ in verdicts("data_regime", data_regime_runs(tmp_path, {65536: 0.1, 262144: 0.0, None: -0.1}))}
    assert set(found.values()) == {HOLDS} and len(found) == 2


def test_data_regime_no_flip_does_not_hold_and_noisy_seeds_are_inconclusive(tmp_path):
    found = {c: v for c, v, _ in verdicts("data_regime", data_regime_runs(tmp_path / "a", {65536: 0.0, None: 0.05}))}
    assert set(found.values()) == {FAILS}  # not ahead when scarce
    found = {c: v for c, v, _ in verdicts("data_regime", data_regime_runs(tmp_path / "b", {65536: 0.2, None: 0.05}))}
    assert set(found.values()) == {FAILS}  # ahead when scarce, still ahead when plentiful: no flip
    # the same means with +-0.1 by seed: each interval spans 0 and the margin
    found = {c: v for c, v, _ in verdicts("data_regime", data_regime_runs(tmp_path / "c", {65536: 0.2, None: -0.05},
                                                                         noise=0.1))}
    assert set(found.values()) == {UNSURE}


def test_bn_replace_keeps_the_twice_as_long_run_out_of_the_verdict_and_reports_it(tmp_path):
    root = tmp_path / "runs"
    bn_replace_runs(root, 69.0)
    make_run(root, "resnet_batchnorm-long", variant="resnet_batchnorm", model="resnet", norm="batchnorm",
             acc=90.0, steps=(200, 400, 600))  # the others end at 300 steps
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("bn_replace", result)}
    assert found["C8: DyT cannot replace BatchNorm in ResNet"][1].startswith("BN 76.10 ± 0.10 (n=3)")
    assert found["run length, resnet_batchnorm"][0] == "+14.00 points from 300 to 600 steps (seed-matched, seed 0)"


# -- the third outcome of the rules above: noisy seeds make the interval span the margin --------
def test_squash_with_noisy_seeds_is_inconclusive(tmp_path):
    for variant, acc in {"layernorm": 80.0, "tanh": 78.0, "hardtanh": 78.0, "sigmoid": 78.0, "identity": 78.0}.items():
        for seed in range(3):
            noise = 4.0 * (-1) ** seed if variant == "identity" else 0.0
            make_run(tmp_path, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + noise, lr=2e-3)
    result = report([tmp_path], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("squash", result)}
    assert found["C2"] == UNSURE


def test_vision_norms_with_noisy_seeds_is_inconclusive(tmp_path):
    root = tmp_path / "runs"
    for variant, acc in {"vit_layernorm": 80.0, "vit_dyt": 80.0, "convnext_layernorm": 85.0, "convnext_dyt": 85.0}.items():
        for seed in range(3):
            noise = 3.0 * (-1) ** seed if variant.endswith("_dyt") else 0.0  # differences +3, -3, +3
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + noise)
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: verdict for claim, verdict, _ in verdicts("vision_norms", result)}
    assert found["C1: DyT matches LN on ViT"] == UNSURE and found["C1: DyT matches LN on ConvNeXt"] == UNSURE


def test_llm_norms_with_noisy_seeds_is_inconclusive(tmp_path):
    for seed in range(3):
        lm_run(tmp_path, f"rms-{seed}", "rmsnorm", seed, 2.000)
        lm_run(tmp_path, f"dyt-{seed}", "dyt", seed, 2.000 + 0.05 * (-1) ** seed)
        lm_run(tmp_path, f"noscale-{seed}", "dyt_noscale", seed, 2.000 + 0.05 * (-1) ** (seed + 1))
    found = {claim: verdict for claim, verdict, _ in verdicts("llm_norms", lm_report(tmp_path))}
    assert set(found.values()) == {UNSURE}


def test_pre_post_a_dyt_at_the_unigram_plateau_is_a_setup_failure(tmp_path, monkeypatch):
    import yaml

    from normbench.data import paths
    from normbench.study.verdicts.lm import unigram_plateau

    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "cache")  # the corpus cache, not the user's home

    plateau = unigram_plateau()
    assert 4.5 < plateau < 5.2  # tiny Shakespeare's byte frequencies: about 4.8 bits per byte
    # with a test split, the plateau of the metric's split: -mean log2 p(byte) over the test bytes,
    # p the training bytes' add-one frequencies (the last 5 % is test, the 10 % before it val)
    import numpy as np
    import pytest

    from normbench.data.text import load_text_data

    corpus = load_text_data("shakespeare", val_fraction=0.15)
    tokens = np.concatenate([corpus.train, corpus.val])
    n = len(tokens)
    train, test = tokens[: n - int(n * 0.1) - int(n * 0.05)], tokens[n - int(n * 0.05):]
    p = (np.bincount(train, minlength=256) + 1.0) / (len(train) + 256)
    assert unigram_plateau(0.1, 0.05, "test") == pytest.approx(float(-np.log2(p[test]).mean()), rel=1e-12)
    bpbs = {"pre_rmsnorm": 2.0, "post_rmsnorm": 2.2, "pre_dyt": 3.0, "post_dyt": plateau}
    for variant, bpb in bpbs.items():
        for seed in range(3):
            run = lm_run(tmp_path, f"{variant}-{seed}", variant, seed, bpb + 0.002 * seed)
            config = yaml.safe_load((run / "config.yaml").read_text())
            config["data"] = {"name": "shakespeare", "val_fraction": 0.1}
            (run / "config.yaml").write_text(yaml.safe_dump(config))
    found = {claim: (verdict, why) for claim, verdict, why in verdicts("pre_post", lm_report(tmp_path))}
    verdict, why = found["DyT responds to the norm position as RMSNorm does"]
    assert found["dyt: pre vs post"][0] == "pre better"  # the same order as RMSNorm ...
    assert verdict == UNSURE and "setup failure: post_dyt is at the unigram plateau" in why  # ... but it never trained


def test_a_study_margin_changes_the_verdict(tmp_path):
    # DyT 0.6 points behind LN in every seed: inside a 1-point margin (matches), outside a 0.5 one
    root = tmp_path / "runs"
    for variant, acc in {"vit_layernorm": 80.0, "vit_dyt": 79.4, "convnext_layernorm": 85.0, "convnext_dyt": 84.4}.items():
        for seed in range(3):
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + 0.1 * seed)
    result = report([root], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    assert {c: v for c, v, _ in verdicts("vision_norms", result)}["C1: DyT matches LN on ViT"] == HOLDS
    assert {c: v for c, v, _ in verdicts("vision_norms", result, margin=0.5)}["C1: DyT matches LN on ViT"] == FAILS


def length_runs(root, gaps: dict[int, float], identity_acc: float = 70.0):
    """LN at 80 + a length bonus, DyT `gaps[length]` points behind it, identity far behind, 3 seeds."""
    ends = {300: (100, 200, 300), 600: (200, 400, 600), 1200: (400, 800, 1200)}
    for length, gap in gaps.items():
        for variant, acc in (("layernorm", 80.0), ("dyt", 80.0 - gap), ("identity", identity_acc)):
            for seed in range(3):
                make_run(root, f"{variant}-{length}-{seed}", variant=variant, seed=seed, steps=ends[length],
                         acc=acc + length / 300 + 0.1 * seed)
    return report([root], root / "report", spec={"group_by": ["variant", "trainer.max_steps"], "figures": []})


def test_length_finds_where_the_gap_closes(tmp_path):
    found = {c: (v, why) for c, v, why in verdicts("length", length_runs(tmp_path, {300: 6.0, 600: 3.0, 1200: 0.2}))}
    assert found["C1 at 300 steps: dyt matches LN"][0] == FAILS
    assert found["C1 at 1200 steps: dyt matches LN"][0] == HOLDS
    assert found["C2 at 600 steps: identity fails or loses to tanh"][0] == HOLDS
    verdict, why = found["The LN - DyT (alpha0 0.5) gap closes with training"]
    assert verdict == HOLDS and "DyT matches LN from 1200 steps on" in why
    verdict, why = found["The LN - DyT (alpha0 0.5) gap narrows with training"]
    assert verdict == HOLDS and "gap at 300 - gap at 1200 steps: +5.80 points" in why


def test_length_judges_c3_where_a_variant_has_a_frozen_twin(tmp_path):
    for length, frozen_gap in ((300, 3.0), (1200, 0.0)):  # learnable ahead by 3 at 300 steps, level at 1200
        for variant, acc in (("layernorm", 80.0), ("dyt", 78.0), ("dyt_frozen", 78.0 - frozen_gap)):
            for seed in range(3):
                make_run(tmp_path, f"{variant}-{length}-{seed}", variant=variant, seed=seed,
                         steps=(length // 3, 2 * length // 3, length), acc=acc + 0.1 * seed * (variant != "dyt_frozen"))
    result = report([tmp_path], tmp_path / "report", spec={"group_by": ["variant", "trainer.max_steps"], "figures": []})
    found = {c: (v, why) for c, v, why in verdicts("length", result)}
    verdict, why = found["C3 at 300 steps: dyt's learnable alpha beats it frozen"]
    assert verdict == HOLDS and "learnable - frozen: +3.10 points" in why, why  # paired: 3.0 + 0.1 x seed, mean of 0, 1, 2
    assert found["C3 at 1200 steps: dyt's learnable alpha beats it frozen"][0] == FAILS  # +0.1 [..]: not above 0
    assert "C3 at 300 steps: dyt_frozen's learnable alpha beats it frozen" not in found  # a frozen variant has no twin
    for seed in range(3):  # no squash at all, 5 points above both at 300 steps: the same gap is a setup failure
        make_run(tmp_path, f"identity-300-{seed}", variant="identity", seed=seed, steps=(100, 200, 300), acc=83.0 + 0.2 * seed)
    result = report([tmp_path], tmp_path / "report2", spec={"group_by": ["variant", "trainer.max_steps"], "figures": []})
    verdict, why = {c: (v, why) for c, v, why in verdicts("length", result)}["C3 at 300 steps: dyt's learnable alpha beats it frozen"]
    assert verdict == UNSURE and "setup failure: dyt is below no squashing" in why, why  # the floor is identity, DyT-shaped
    for seed in range(3):  # the frozen twin alone below the floor: freezing is what failed, so C3 holds
        make_run(tmp_path, f"dyt2-300-{seed}", variant="dyt2", seed=seed, steps=(100, 200, 300), acc=84.0 + 0.1 * seed)
        make_run(tmp_path, f"dyt2_frozen-300-{seed}", variant="dyt2_frozen", seed=seed, steps=(100, 200, 300),
                 acc=70.0 + 0.3 * seed)
    result = report([tmp_path], tmp_path / "report3", spec={"group_by": ["variant", "trainer.max_steps"], "figures": []})
    verdict, why = {c: (v, why) for c, v, why in verdicts("length", result)}["C3 at 300 steps: dyt2's learnable alpha beats it frozen"]
    assert verdict == HOLDS, why
    assert "dyt2_frozen is below no squashing" in why and "freezing did it" in why and "setup failure" not in why


def test_length_judges_c4_at_each_length_from_the_probes(tmp_path):
    # alpha follows 1/std at 300 steps (scale +0.5) and moves against it at 1200 (-0.5)
    for length, scale in ((300, 0.5), (1200, -0.5)):
        for variant in ("layernorm", "dyt", "dyt_frozen"):
            for seed in range(3):
                make_run(tmp_path, f"{variant}-{length}-{seed}", variant=variant, seed=seed, acc=80.0 + 0.1 * seed,
                         steps=(length // 3, 2 * length // 3, length), probes=variant != "layernorm",
                         norm="layernorm" if variant == "layernorm" else "dyt", alpha_scale=scale)
    spec = {"group_by": ["variant", "trainer.max_steps"],
            "figures": [{"kind": "alpha_vs_inv_std", "by": ["variant", "trainer.max_steps"]}]}
    found = {c: (v, why) for c, v, why in verdicts("length", report([tmp_path], tmp_path / "report", spec=spec))}
    verdict, why = found["C4 at 300 steps: dyt's alpha tracks 1/std across layers"]
    assert verdict == HOLDS and "layer-runs (3 runs)" in why, why
    assert found["C4 at 1200 steps: dyt's alpha tracks 1/std across layers"][0] == FAILS
    assert not any(c.startswith("C4") and "dyt_frozen" in c for c in found)  # a frozen alpha tracks nothing


def test_length_a_gap_that_stays_does_not_close(tmp_path):
    found = {c: v for c, v, _ in verdicts("length", length_runs(tmp_path, {300: 6.0, 1200: 5.0}))}
    assert found["The LN - DyT (alpha0 0.5) gap closes with training"] == FAILS
    assert found["The LN - DyT (alpha0 0.5) gap narrows with training"] == HOLDS  # by 1 point, above 0
    found = {c: v for c, v, _ in verdicts("length", length_runs(tmp_path / "one", {300: 6.0}))}
    assert found["The LN - DyT (alpha0 0.5) gap closes with training"] == UNSURE  # one length: no trend


# -- C4 (alpha_std) and C9 (ln_curve): rules on the probes' tables ------------------------------
ALPHA_STD_SPEC = {"group_by": ["variant"], "figures": [{"kind": "alpha_std", "layers": ["first", "last"], "by": ["variant"]},
                                                         {"kind": "alpha_vs_inv_std", "by": ["variant"]}]}


def alpha_std_runs(root, alpha_scale: float, token_std: bool = False):
    """vit and convnext DyT runs whose alpha is alpha_scale x 1/std (plus noise): r near +1 for a
    positive scale, near -1 for a negative one."""
    from runfolders import write_probes

    for variant in ("vit", "convnext"):
        for seed in range(3):
            run = make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, probes=True, alpha_scale=alpha_scale)
            write_probes(run, "dyt", (100, 200, 300), alpha_scale, seed, token_std=token_std)
    return report([root], root / "report", spec=ALPHA_STD_SPEC)


def test_alpha_std_holds_when_alpha_follows_1_over_std_and_not_when_it_moves_against_it(tmp_path):
    found = {c: v for c, v, _ in verdicts("alpha_std", alpha_std_runs(tmp_path / "a", 0.5))}
    assert found["C4 (alpha tracks 1/std)"] == HOLDS
    assert found["C4 (alpha tracks 1/token std)"] == UNSURE  # not probed in these runs
    found = {c: v for c, v, _ in verdicts("alpha_std", alpha_std_runs(tmp_path / "b", -0.5))}
    assert found["C4 (alpha tracks 1/std)"] == FAILS


def test_alpha_std_judges_the_per_token_std_where_it_was_probed(tmp_path):
    found = {c: (v, why) for c, v, why in verdicts("alpha_std", alpha_std_runs(tmp_path, 0.5, token_std=True))}
    _, why = found["C4 (alpha tracks 1/token std)"]
    assert "not probed" not in why and "vit r = " in why and "convnext r = " in why  # judged on numbers


def test_alpha_std_weak_correlation_is_inconclusive(tmp_path):
    result = alpha_std_runs(tmp_path, 0.5)
    rows = result.figure_output.tables["alpha_vs_inv_std_correlation"]
    for r in rows:  # between the lines: 0.3 <= r < 0.7
        r["pearson_r"] = 0.5
    found = {c: v for c, v, _ in verdicts("alpha_std", result)}
    assert found["C4 (alpha tracks 1/std)"] == UNSURE


def test_ln_curve_three_outcomes_from_the_linear_share(tmp_path):
    import types

    def judged(shares):
        rows = [{"layer_name": name, "linear_share": share, "step": 300} for name, share in shares]
        result = types.SimpleNamespace(figure_output=types.SimpleNamespace(tables={"scurve": rows}))
        return verdicts("ln_curve", result)[0][1]

    assert judged([("blocks.0.norm1", 0.99), ("blocks.5.norm2", 0.95)]) == HOLDS   # mostly linear, deeper bends more
    assert judged([("blocks.0.norm1", 0.6), ("blocks.5.norm2", 0.5)]) == FAILS      # mostly not linear
    assert judged([("blocks.0.norm1", 0.8), ("blocks.5.norm2", 0.85)]) == UNSURE    # between the lines


def alpha_learn_runs(root, learn_gain: dict[str, float], noise: float = 0.02):
    """LN at 80; at each alpha0 a frozen DyT at 75 and a learnable one `learn_gain[a]` above it."""
    for seed in range(3):
        make_run(root, f"layernorm-{seed}", variant="layernorm", seed=seed, acc=80.0 + noise * seed)
        for a, gain in learn_gain.items():
            make_run(root, f"frozen_{a}-{seed}", variant=f"frozen_{a}", seed=seed, acc=75.0 + noise * seed)
            make_run(root, f"learn_{a}-{seed}", variant=f"learn_{a}", seed=seed,
                     acc=75.0 + gain + (noise if seed == 1 else -noise if seed == 2 else 0) * 10)
    return report([root], root / "report", spec={"group_by": ["variant", "trainer.max_steps"], "figures": []})


def test_alpha_learn_three_outcomes(tmp_path):
    found = {c: v for c, v, _ in verdicts("alpha_learn", alpha_learn_runs(tmp_path / "a", {"0.5": 3.0, "1": 3.0}))}
    assert found["C3: a learnable alpha beats a frozen one at the same alpha0"] == HOLDS
    assert found["C3 at alpha0 0.5: a learnable alpha beats a frozen one"] == HOLDS
    assert found["C1: learn_1 matches LN"] == FAILS
    # at alpha0 1 the frozen alpha is as good (inside the margin): the claim does not hold
    found = {c: v for c, v, _ in verdicts("alpha_learn", alpha_learn_runs(tmp_path / "b", {"0.5": 3.0, "1": 0.0}))}
    assert found["C3: a learnable alpha beats a frozen one at the same alpha0"] == FAILS
    # noisy seeds around a gain of one point: inconclusive
    found = {c: v for c, v, _ in verdicts("alpha_learn", alpha_learn_runs(tmp_path / "c", {"0.5": 1.0}, noise=0.3))}
    assert found["C3: a learnable alpha beats a frozen one at the same alpha0"] == UNSURE
    assert verdicts("alpha_learn", None)[0][1] == UNSURE


def alpha_lr_runs(root, knob_acc: dict[str, float], noise: float = 0.02):
    """vit: LN at 80, dyt at 75, the faster alphas at `knob_acc`, 3 seeds."""
    accs = {"vit_layernorm": 80.0, "vit_dyt": 75.0, **{f"vit_{k}": a for k, a in knob_acc.items()}}
    for variant, acc in accs.items():
        for seed in range(3):
            jitter = (0.0, noise, -noise)[seed] * (10 if variant != "vit_layernorm" else 1)
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + jitter)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_alpha_lr_three_outcomes(tmp_path):
    found = {c: v for c, v, _ in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "a", {"dyt_lr10": 77.0, "dyt_lr100": 79.9,
                                                                                     "dyt_lr300": 78.0}))}
    assert found["A faster alpha closes the gap to LN"] == HOLDS  # lr 100 matches LN, bracketed by 10 and 300
    assert found["vit: dyt_lr10 matches LN"] == FAILS and found["vit: dyt_lr10 beats DyT at alpha's own lr"] == HOLDS
    found = {c: v for c, v, _ in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "b", {"dyt_lr10": 75.0, "dyt_log": 76.0}))}
    assert found["A faster alpha closes the gap to LN"] == FAILS
    found = {c: v for c, v, _ in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "c", {"dyt_lr10": 79.5}, noise=0.1))}
    assert found["A faster alpha closes the gap to LN"] == UNSURE  # [-1.7, +0.6]: neither inside nor outside


def test_alpha_lr_judges_the_best_faster_alpha_and_its_grid_edge(tmp_path):
    # the best multiple (100) at the top of the linear grid 1-100, far from LN: a larger one may do better
    found = {c: (v, why) for c, v, why in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "a", {"dyt_lr10": 75.5,
                                                                                             "dyt_lr100": 76.0}))}
    verdict, why = next(v for c, v in found.items() if c.startswith("vit: the best faster alpha"))
    assert verdict == UNSURE and "dyt_lr100" in why and "not bracketed" in why
    assert found["A faster alpha closes the gap to LN"][0] == UNSURE
    # a multiple above it that does worse brackets it: the gap stays, the claim does not hold
    found = {c: v for c, v, _ in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "b", {"dyt_lr10": 75.5, "dyt_lr100": 76.0,
                                                                                    "dyt_lr300": 75.0}))}
    assert found["A faster alpha closes the gap to LN"] == FAILS
    # the log parametrisation has a grid of its own (1, 10, 100): its best is judged like the linear one
    found = {c: (v, why) for c, v, why in verdicts("alpha_lr", alpha_lr_runs(tmp_path / "c", {"dyt_lr10": 75.5,
                                                                                             "dyt_log": 76.0,
                                                                                             "dyt_log_lr10": 79.9,
                                                                                             "dyt_log_lr100": 77.0}))}
    verdict, why = next(v for c, v in found.items() if c.startswith("vit: the best faster alpha"))
    assert verdict == HOLDS and why.startswith("dyt_log_lr10")


def test_alpha_knob_names():
    from normbench.study.verdicts.vision import alpha_knob

    assert alpha_knob("dyt") == ("linear", 1.0) and alpha_knob("dyt_lr300") == ("linear", 300.0)
    assert alpha_knob("dyt_log") == ("log", 1.0) and alpha_knob("dyt_log_lr10") == ("log", 10.0)
    assert alpha_knob("dyt_lrx") is None and alpha_knob("layernorm") is None and alpha_knob("dyt_log_x") is None


def alpha0_data_runs(root, data_1: float, noise: float = 0.02, control: float | None = None):
    """vit: LN at 80, fixed alpha0 0.5 at 74 and 2.0 at 77, the data rule at c 0.5 / 1 / 2; the
    fc_norm control (rule in the blocks, fixed 2 in fc_norm) at `control` where given."""
    accs = {"vit_layernorm": 80.0, "vit_fixed_0.5": 74.0, "vit_fixed_2": 77.0, "vit_data_0.5": 73.0,
            "vit_data_1": data_1, "vit_data_2": data_1 - 1.0}
    if control is not None:
        accs["vit_rule_final_2"] = control
    for variant, acc in accs.items():
        for seed in range(3):
            sign = 1 if "_data_" in variant else -1  # the seeds move the data rule and the others apart
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed,
                     acc=acc + sign * (0.0, noise, -noise)[seed] * 10)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_alpha0_data_three_outcomes(tmp_path):
    claim = "alpha0 * std(input) ~ 1 is the rule behind the best alpha0"
    found = {c: (v, why) for c, v, why in verdicts("alpha0_data", alpha0_data_runs(tmp_path / "a", 77.2))}
    best = next(c for c in found if c.startswith("vit: best c (picked on "))  # on val/acc1 where runs have it
    assert found[claim][0] == HOLDS and found[best][0] == "1"
    assert "data_1 - fixed_2" in found["vit: data rule (c = 1) not worse than the best fixed alpha0"][1]
    assert {c: v for c, v, _ in verdicts("alpha0_data", alpha0_data_runs(tmp_path / "b", 74.0))}[claim] == FAILS
    assert {c: v for c, v, _ in verdicts("alpha0_data", alpha0_data_runs(tmp_path / "c", 76.5, noise=0.15))}[claim] \
        == UNSURE


def scale_map_runs(root, deep_gap: float, alpha0s=(0.25, 0.5, 1.0, 2.0)):
    """depth 3 and 6 x patch 7 and 4: LN at 80; DyT alpha0 0.5 and 1 at 80 - deep_gap at depth 6
    (80 at depth 3), 0.25 and 2 two points lower; identity diverges at depth 6, 75 at depth 3."""
    import yaml

    for depth in (3, 6):
        for patch in (7, 4):
            accs = {"layernorm": 80.0, "identity": 75.0}
            for a0 in alpha0s:
                accs[f"dyt_{a0:g}"] = 80.0 - (deep_gap if depth == 6 else 0.0) - (0.0 if a0 in (0.5, 1.0) else 2.0)
            for variant, acc in accs.items():
                bad = variant == "identity" and depth == 6
                for seed in range(3):
                    run = make_run(root, f"{variant}-{depth}-{patch}-{seed}", variant=variant, seed=seed, depth=depth,
                                   acc=acc + 0.05 * seed, status="diverged" if bad else "ok", best=30.0,
                                   diverged_step=200 if bad else None)
                    config = yaml.safe_load((run / "config.yaml").read_text())
                    config["model"]["patch_size"] = patch
                    (run / "config.yaml").write_text(yaml.safe_dump(config))
    run = make_run(root, "layernorm_long-6-4-0", variant="layernorm_long", seed=0, depth=6, acc=82.5)  # twice as long
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["patch_size"] = 4
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    result = report([root], root / "report", spec={"group_by": ["variant"], "figures": []})
    return {claim: (verdict, why) for claim, verdict, why in verdicts("scale_map", result)}


def test_scale_map_names_the_cells_where_each_claim_holds(tmp_path):
    found = scale_map_runs(tmp_path / "a", deep_gap=5.0)
    assert found["C1: DyT (alpha0 0.5) matches LN in every cell of the map"][0] == FAILS
    assert found["C1: DyT (alpha0 0.5) matches LN, cell by cell"][0] == \
        "holds: depth 3 patch 4, depth 3 patch 7; does not hold: depth 6 patch 4, depth 6 patch 7"
    assert found["C2: identity fails or loses to tanh in every cell of the map"][0] == HOLDS
    assert "identity 3/3 failed" in found["C2: identity fails or loses to tanh, cell by cell"][1]
    assert found["C5: DyT (alpha0 0.5) as stable as LN in every cell of the map"][0] == HOLDS
    assert found["C5: alpha0 0.5 and 1 match in every cell of the map"][0] == HOLDS
    # the best alpha0 (0.5 or 1) is inside the grid 0.25-2: judged, not flagged as unbracketed
    assert "not bracketed" not in found["C1: the best DyT alpha0 matches LN, cell by cell"][1]
    # one alpha0 run is no search: its "best" is not judged
    found = scale_map_runs(tmp_path / "c", deep_gap=0.0, alpha0s=(0.5,))
    assert found["C1: the best DyT alpha0 matches LN in every cell of the map"][0] == UNSURE
    assert "one alpha0 run (0.5): nothing searched" in found["C1: the best DyT alpha0 matches LN, cell by cell"][1]
    assert scale_map_runs(tmp_path / "b", deep_gap=0.0)["C1: DyT (alpha0 0.5) matches LN in every cell of the map"][0] \
        == HOLDS
    # the run-length check: LN seed 0 at 80.00, twice as long 82.50; context, not in the claims
    assert found["run length, LN at depth 6 patch 4"][0].startswith("+2.50 points from the map's length to twice it")


def test_alpha0_data_fc_norm_control(tmp_path):
    """The rule in the blocks with a fixed 2 in the final norm: level with fixed 2 and above the rule."""
    found = {c: v for c, v, _ in verdicts("alpha0_data", alpha0_data_runs(tmp_path / "a", 75.0, control=77.0))}
    assert found["vit: the rule with a fixed 2 in the final norm not worse than a fixed 2 everywhere"] == HOLDS
    assert found["vit: the rule with a fixed 2 in the final norm beats the rule everywhere"] == HOLDS
    found = {c: v for c, v, _ in verdicts("alpha0_data", alpha0_data_runs(tmp_path / "b", 75.0, control=75.0))}
    assert found["vit: the rule with a fixed 2 in the final norm not worse than a fixed 2 everywhere"] == FAILS
    assert found["vit: the rule with a fixed 2 in the final norm beats the rule everywhere"] == FAILS
    assert not [c for c in verdicts_claims(tmp_path / "c") if "final norm" in c]  # no control runs: no lines


def verdicts_claims(root):
    return [c for c, _, _ in verdicts("alpha0_data", alpha0_data_runs(root, 75.0))]
