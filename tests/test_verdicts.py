"""Study verdicts follow their written rules, on hand-made run folders (no training)."""

from __future__ import annotations

from test_report import make_run

from normbench.report import report
from normbench.study.verdicts import FAILS, HOLDS, UNSURE, verdicts


def squash_runs(root, identity_diverges: bool, noalpha_acc: float):
    accs = {"layernorm": 80.0, "tanh": 80.0, "hardtanh": 79.6, "sigmoid": 79.2,
            "tanh_noalpha": noalpha_acc, "hardtanh_noalpha": noalpha_acc, "sigmoid_noalpha": noalpha_acc}
    for variant, acc in accs.items():
        for seed in range(3):
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + 0.1 * seed, lr=2e-3)
    for seed in range(3):
        if identity_diverges:
            make_run(root, f"identity-{seed}", variant="identity", seed=seed, status="diverged", acc=10.0,
                     best=55.0, diverged_step=200, lr=2e-3)
        else:
            make_run(root, f"identity-{seed}", variant="identity", seed=seed, acc=80.5, lr=2e-3)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})


def test_squash_holds_when_identity_fails_and_alpha_helps(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("squash", squash_runs(tmp_path, True, 78.0))}
    assert found == {"C2": HOLDS, "C3": HOLDS}


def test_squash_does_not_hold_when_identity_trains_fine_and_alpha_does_not_matter(tmp_path):
    found = {claim.split()[0]: verdict for claim, verdict, _ in verdicts("squash", squash_runs(tmp_path, False, 80.1))}
    assert found == {"C2": FAILS, "C3": FAILS}


def test_stability_finds_where_identity_alone_diverges(tmp_path):
    for variant in ("layernorm", "tanh", "identity"):
        for lr in (1e-3, 1e-1):
            for depth in (3, 6):
                bad = (variant == "identity" and lr == 1e-1) or (lr == 1e-1 and depth == 6)
                make_run(tmp_path, f"{variant}-{lr}-{depth}", variant=variant, lr=lr, depth=depth,
                         status="diverged" if bad else "ok", best=30.0, diverged_step=200)
    result = report([tmp_path], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    found = {claim: verdict for claim, verdict, _ in verdicts("stability", result)}
    assert found == {"C2: identity diverges where tanh does not (16 tokens)": HOLDS,
                     "C5: DyT (alpha0 0.5) as stable as LN (16 tokens)": HOLDS}


def test_a_study_without_runs_of_every_variant_is_inconclusive(tmp_path):
    make_run(tmp_path, "tanh-0", variant="tanh")
    result = report([tmp_path], tmp_path / "report", spec={"group_by": ["variant"], "figures": []})
    assert [v for _, v, _ in verdicts("squash", result)] == [UNSURE]
    assert [v for _, v, _ in verdicts("no_such_rule", result)] == [UNSURE]
