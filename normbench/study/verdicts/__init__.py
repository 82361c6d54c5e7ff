"""A verdict per study, drawn from the numbers by a rule written down before the runs:
holds | does not hold | inconclusive, with the interval and n behind it.

The rules: vision.py (accuracy), lm.py (bits per byte) and generate.py (flow matching's val
loss); how two cells compare: compare.py; the statistics: stats.py. A study yaml may set
`margin` (the equivalence margin, in its metric's units); without it, its metric's default.
A study without a rule gets "inconclusive" and its README says so.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from normbench.study.verdicts import generate, lm, vision
from normbench.study.verdicts.compare import ACC, BPB, Compare, Verdict
from normbench.study.verdicts.stats import FAILS, HOLDS, UNSURE

RULES: dict[str, tuple[Callable[..., list[Verdict]], Compare]] = {
    "squash": (vision.squash, ACC), "alpha_std": (vision.alpha_std, ACC), "ln_curve": (vision.ln_curve, ACC),
    "stability": (vision.stability, ACC), "alpha0": (vision.alpha0, ACC), "baselines": (vision.baselines, ACC),
    "vision_norms": (vision.vision_norms, ACC), "bn_replace": (vision.bn_replace, ACC),
    "length": (vision.length, ACC), "alpha_learn": (vision.alpha_learn, ACC),
    "alpha_lr": (vision.alpha_lr, ACC), "alpha0_data": (vision.alpha0_data, ACC), "scale_map": (vision.scale_map, ACC),
    "llm_norms": (lm.llm_norms, BPB), "pre_post": (lm.pre_post, BPB), "llm_alpha0": (lm.llm_alpha0, BPB),
    "data_regime": (lm.data_regime, BPB), "alpha0_data_llm": (vision.alpha0_data, BPB),
    "dit_adaln": (generate.dit_adaln, generate.GEN),
}

__all__ = ["FAILS", "HOLDS", "UNSURE", "RULES", "compare_for", "verdicts"]


def compare_for(name: str, margin: float | None = None, metric: str | None = None) -> Compare | None:
    """The comparison study `name` is judged by, with its yaml's margin and report metric (e.g.
    test/acc1 where runs select on val and report test); None without a rule."""
    if name not in RULES:
        return None
    cmp = RULES[name][1]
    if margin is not None:
        cmp = dataclasses.replace(cmp, margin=float(margin))
    if metric is None:
        return cmp
    # a study reporting test/* picks its best lr / alpha0 on the matching val/* (issue 24, part 2)
    select = "val/" + metric.split("/", 1)[1] if metric.startswith("test/") else None
    return dataclasses.replace(cmp, metric=metric, select=select)


def verdicts(name: str, result, margin: float | None = None, metric: str | None = None) -> list[Verdict]:
    """[(claim, verdict, the numbers behind it)] for study `name` from its report."""
    if name not in RULES:
        return [(name, UNSURE, "no rule: read the table and figures")]
    return RULES[name][0](result, compare_for(name, margin, metric))
