"""A verdict per study, drawn from the numbers by a rule written down before the runs:
holds | does not hold at this scale | inconclusive, with the numbers that decide it.

The rules: vision.py (accuracy), lm.py (bits per byte) and generate.py (flow matching's val
loss); how two cells compare:
compare.py. A study without a rule gets "inconclusive" and its README says so.
"""

from __future__ import annotations

from typing import Callable

from normbench.study.verdicts import generate, lm, vision
from normbench.study.verdicts.compare import FAILS, HOLDS, UNSURE

RULES: dict[str, Callable[..., list[tuple[str, str, str]]]] = {
    "squash": vision.squash, "alpha_std": vision.alpha_std, "ln_curve": vision.ln_curve,
    "stability": vision.stability, "alpha0": vision.alpha0, "baselines": vision.baselines,
    "vision_norms": vision.vision_norms, "bn_replace": vision.bn_replace,
    "llm_norms": lm.llm_norms, "pre_post": lm.pre_post, "llm_alpha0": lm.llm_alpha0,
    "data_regime": lm.data_regime,
    "dit_adaln": generate.dit_adaln,
}

__all__ = ["FAILS", "HOLDS", "UNSURE", "RULES", "verdicts"]


def verdicts(name: str, result) -> list[tuple[str, str, str]]:
    """[(claim, verdict, the numbers behind it)] for study `name` from its report."""
    rule = RULES.get(name)
    if rule is None:
        return [(name, UNSURE, "no rule: read the table and figures")]
    return rule(result)
