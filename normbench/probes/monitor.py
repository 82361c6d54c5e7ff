"""HealthMonitor: warnings when a norm layer goes bad, in the spirit of a normalization debugger.

It reads the probe lines of one step and names the layer, the step and what is wrong:
non-finite inputs or outputs, a BatchNorm running variance near zero or exploding, DyT
saturation (the share of inputs past its squash's knee, probes/stats.py) above a threshold,
alpha collapsing towards 0, and (from `branch` lines) a residual stream grown past a threshold.
A condition is warned about when it starts and again only after it has cleared, so a long bad
stretch is one warning.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


class HealthMonitor:
    def __init__(self, saturation: float = 0.5, alpha_min: float = 1e-3, var_min: float = 1e-8,
                 var_max: float = 1e6, stream_max: float = 8.0):
        self.saturation, self.alpha_min, self.var_min, self.var_max = saturation, alpha_min, var_min, var_max
        self.stream_max = stream_max
        self.active: set[tuple[str, str]] = set()

    def problems(self, line: Mapping[str, Any]) -> dict[str, str]:
        """{condition: message} for one stats or branch line."""
        found = {}
        stream = line.get("stream_std")
        if stream is not None and stream > self.stream_max:
            found["stream"] = (f"residual stream std = {stream:.3g} where this branch reads it: the stream has "
                               f"grown past {self.stream_max:g} (the committed LN / RMSNorm ViTs, ConvNeXts and "
                               f"LLaMAs stay below 2.6)")
        if line.get("nonfinite"):
            found["nonfinite"] = f"{line['nonfinite']} non-finite values in its input or output"
        alpha = line.get("alpha")
        if alpha is not None and abs(alpha) < self.alpha_min:
            found["alpha"] = f"alpha = {alpha:.3g} has collapsed towards 0 (|alpha| < {self.alpha_min:g})"
        sat = line.get("saturation")
        if sat is not None and sat > self.saturation:
            knee = line.get("saturation_knee", 2.0)  # lines written before the per-squash knee: 2
            found["saturation"] = (f"saturation = {sat:.2f}: that share of inputs is past the squash's knee, "
                                   f"|alpha * x| > {knee:.3g} (threshold {self.saturation:g})")
        vmin, vmax = line.get("running_var_min"), line.get("running_var_max")
        if vmin is not None and vmin < self.var_min:
            found["var_min"] = f"running variance min = {vmin:.3g} is near zero (< {self.var_min:g})"
        if vmax is not None and (vmax > self.var_max or vmax != vmax):
            found["var_max"] = f"running variance max = {vmax:.3g} is exploding (> {self.var_max:g})"
        return found

    def __call__(self, lines: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
        """(layer, message) for every condition that started at this probe."""
        new, now = [], set()
        for line in lines:
            if line.get("kind") not in ("stats", "branch"):
                continue
            for cond, message in self.problems(line).items():
                key = (line["layer"], cond)
                now.add(key)
                if key not in self.active:
                    new.append((line["layer"], message))
        self.active = now
        return new
