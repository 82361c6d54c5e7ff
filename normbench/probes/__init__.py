"""Probes of norm layers: what each norm layer sees and does over training.

NormProbe hooks every normbench norm layer of the eager model, runs one fixed probe batch
and returns one `stats` line per layer (input std over all elements and its inverse, the
paper's C4 quantities, and the per-token std beside them; DyT's alpha and its saturation at
its squash's knee; affine and BatchNorm summaries; given the optimizer, alpha's gradient,
update and cumulative update against cumulative lr) and, at chosen steps, `scurve` samples of
(input, output before the affine) for claim C9.
With the model's residual branches (ViT, ConvNeXt, ResNet, pre-norm LLaMA), one `branch` line per
branch: the std of the stream it reads and of what it adds (which branch grows the stream).
HealthMonitor turns those lines into warnings when a layer goes bad.
"""

from normbench.probes.alpha_optim import AlphaOptimState
from normbench.probes.config import check_probe_config
from normbench.probes.monitor import HealthMonitor
from normbench.probes.probe import NormProbe
from normbench.probes.stats import (SATURATION_KNEES, SATURATION_SLOPE, branch_stats, layer_stats, pre_affine,
                                    scurve_sample, token_stats)

__all__ = ["AlphaOptimState", "HealthMonitor", "check_probe_config", "NormProbe", "SATURATION_KNEES",
           "SATURATION_SLOPE", "branch_stats", "layer_stats", "pre_affine", "scurve_sample", "token_stats"]
