"""NormProbe: forward hooks on every norm layer of the eager model, one fixed probe batch.

Hooks go on the eager model, never on a torch.compile'd one (hooks added to a compiled
graph silently never run), and the batch is fixed (the first training images, no
augmentation) so a layer's numbers move only because the model moves. The forward runs
in eval mode without gradients, so it changes no weight, running statistic or RNG state:
a run with probes trains exactly like one without.

Given the model's residual branches (ModelSpec.branches), it also writes one `branch` line per
branch: the std of the stream it reads, of what it adds, and their ratio (which branch grows the
residual stream).

Given the optimizer, it also records what the optimiser did to each scalar alpha
(normbench/probes/alpha_optim.py): hooks on the optimizer's step sum every step's update and
lr, and those sums travel in the optimizer's state_dict, so a checkpoint keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from normbench.models.find_norms import norm_layers
from normbench.models.spec import Branch
from normbench.probes.alpha_optim import AlphaOptimState
from normbench.probes.stats import branch_stats, layer_stats, scurve_sample


class NormProbe:
    def __init__(self, model: nn.Module, batch: torch.Tensor | tuple[torch.Tensor, ...], scurve_tokens: int = 8,
                 scurve_channels: int = 64, optimizer: torch.optim.Optimizer | None = None,
                 branches: Sequence[Branch] = ()):
        """batch: the model's input, or a tuple of its inputs (model=dit: images, times, labels);
        a norm's hook reads its first argument, x (a conditional norm's c is the second).
        optimizer: the one training the model; its alpha state goes into each alpha's line
        (construct the probe before loading a checkpoint into it, so the sums are restored).
        branches: (name, stream reader, increment) of each residual branch, in forward order."""
        self.model = model
        self.batch = batch
        self.layers = norm_layers(model)
        self.branches = list(branches)
        self.scurve_tokens, self.scurve_channels = scurve_tokens, scurve_channels
        self.alpha_optim = AlphaOptimState(optimizer, self.layers) if optimizer is not None else None

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
        streams: dict[str, torch.Tensor] = {}
        for i, (name, reader, branch) in enumerate(self.branches):
            def read(module, args, name=name):
                streams[name] = args[0]

            def add(module, args, output, name=name, index=i):
                lines.append({"kind": "branch", "layer": name, "depth_index": index,
                              **branch_stats(streams.pop(name), output)})
            handles += [reader.register_forward_pre_hook(read), branch.register_forward_hook(add)]
        was_training = self.model.training
        self.model.eval()
        try:
            self.model(*self.batch) if isinstance(self.batch, tuple) else self.model(self.batch)
        finally:
            self.model.train(was_training)
            for h in handles:
                h.remove()
        if self.alpha_optim is not None:
            optim = self.alpha_optim.lines()
            for line in lines:
                if line["kind"] == "stats" and line["layer"] in optim:
                    line.update(optim[line["layer"]])
        return lines
