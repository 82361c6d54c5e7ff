"""NormProbe: forward hooks on every norm layer of the eager model, one fixed probe batch.

Hooks go on the eager model, never on a torch.compile'd one (hooks added to a compiled
graph silently never run), and the batch is fixed (the first training images, no
augmentation) so a layer's numbers move only because the model moves. The forward runs
in eval mode without gradients, so it changes no weight, running statistic or RNG state:
a run with probes trains exactly like one without.
"""

from __future__ import annotations

import torch
from torch import nn

from normbench.models.inspect import norm_layers
from normbench.probes.stats import layer_stats, scurve_sample


class NormProbe:
    def __init__(self, model: nn.Module, batch: torch.Tensor | tuple[torch.Tensor, ...], scurve_tokens: int = 8,
                 scurve_channels: int = 64):
        """batch: the model's input, or a tuple of its inputs (model=dit: images, times, labels);
        a norm's hook reads its first argument, x (a conditional norm's c is the second)."""
        self.model = model
        self.batch = batch
        self.layers = norm_layers(model)
        self.scurve_tokens, self.scurve_channels = scurve_tokens, scurve_channels

    @torch.no_grad()
    def __call__(self, scurve: bool = False) -> list[dict]:
        lines: list[dict] = []

        def hook(index: int, name: str):
            def fn(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
                x = args[0]
                line = {"kind": "stats", "layer": name, "norm": module.norm_name, "depth_index": index,
                        **layer_stats(module, x, output)}
                lines.append(line)
                if scurve:
                    sample = scurve_sample(module, x, self.scurve_tokens, self.scurve_channels, seed=index)
                    if sample is not None:
                        lines.append({"kind": "scurve", "layer": name, "norm": module.norm_name,
                                      "depth_index": index, **sample})
            return fn

        handles = [m.register_forward_hook(hook(i, name)) for i, (name, m) in enumerate(self.layers)]
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(*self.batch) if isinstance(self.batch, tuple) else self.model(self.batch)
        finally:
            self.model.train(was_training)
            for h in handles:
                h.remove()
        return lines
