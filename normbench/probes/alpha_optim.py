"""AlphaOptimState: what the optimiser did to each DyT-like layer's alpha, exact over every step.

Why: "alpha cannot follow 1/std" and "alpha cannot fall" are claims about the optimiser, and a
probe every k steps sees only where alpha is, not what moved it. So for every learnable scalar
alpha (DyT, Derf, adaLN with a DyT core) this records, at each probe step:

  alpha_grad              d loss / d alpha of the last step, as the optimiser saw it (after
                          clipping and loss-scale unscaling); null before the first step
  alpha_update            alpha after minus alpha before the last optimiser step: what the
                          optimiser (Adam: its normalised moment, plus weight decay) applied
  alpha_lr                the lr of alpha's parameter group in that step
  alpha_cum_abs_update    sum over every step of |alpha_update|
  alpha_cum_update        sum over every step of alpha_update (alpha's net drift)
  alpha_cum_lr            sum over every step of alpha_lr
  alpha_budget_used       alpha_cum_abs_update / alpha_cum_lr: how much of its lr budget alpha
                          used (Adam moves a parameter by at most about lr a step, so ~1 is a
                          parameter pushed the same way every step; null before the first step)
  alpha_steps             how many optimiser steps the sums hold

The sums are exact: an optimizer step pre-hook copies the alphas before the step and a post-hook
adds the difference on the device, every step, with no host sync (the lr is a Python float read
from the parameter group). A step the GradScaler skips (fp16, a non-finite gradient) never calls
the optimizer's step, so it counts no update and no lr. The sums travel in the optimizer's own
state_dict (a `normbench_alpha` entry added by a state_dict hook and taken out again by a load
pre-hook), so a checkpoint keeps them and a resumed run continues them exactly; a checkpoint
written without them (older, or probes off) resumes with sums from zero and alpha_steps
counting from the resume, so alpha_steps < step says the sums are partial.

With DyT's norm.alpha_param=log the optimiser steps s of alpha = alpha0 * exp(s): alpha_grad and
alpha_lr are then s's, while alpha_update and the sums stay in alpha's units.

A frozen alpha (norm.learnable_alpha=false: a buffer) or one the optimiser does not hold has no
optimiser state: its line has every key above, null.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

KEYS = ("alpha_grad", "alpha_update", "alpha_lr", "alpha_cum_abs_update", "alpha_cum_update", "alpha_cum_lr",
        "alpha_budget_used", "alpha_steps")
STATE_KEY = "normbench_alpha"  # the entry of the optimizer's state_dict that holds the sums


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


class AlphaOptimState:
    def __init__(self, optimizer: torch.optim.Optimizer, layers: Sequence[tuple[str, nn.Module]]):
        """layers: (name, module) of the probed norm layers; those with a scalar alpha that the
        optimizer holds are tracked, other alphas are reported as without optimiser state."""
        self.optimizer = optimizer
        # group indexes, not the group dicts: load_state_dict replaces the dicts
        group_of = {id(p): i for i, g in enumerate(optimizer.param_groups) for p in g["params"]}
        self.names: list[str] = []
        self.params: list[nn.Parameter] = []
        self.groups: list[int] = []
        self.untracked: set[str] = set()  # an alpha with no optimiser state (frozen)
        self.modules: list[nn.Module] = []
        for name, module in layers:
            alpha = getattr(module, "alpha", None)
            if not isinstance(alpha, torch.Tensor):
                continue
            # what the optimiser steps: alpha, or s of DyT's alpha = alpha0 * exp(s) (norm.alpha_param=log);
            # the updates are measured on alpha itself either way
            param = getattr(module, "alpha_parameter", alpha)
            if isinstance(param, nn.Parameter) and param.requires_grad and param.numel() == 1 and id(param) in group_of:
                self.names.append(name)
                self.params.append(param)
                self.modules.append(module)
                self.groups.append(group_of[id(param)])
            else:
                self.untracked.add(name)
        n = len(self.params)
        device = self.params[0].device if n else torch.device("cpu")
        dtype = _accumulator_dtype(device)
        self.before = torch.zeros(n, device=device)
        self.update = torch.zeros(n, device=device)
        self.cum_abs = torch.zeros(n, device=device, dtype=dtype)
        self.cum = torch.zeros(n, device=device, dtype=dtype)
        self.cum_lr = [0.0] * n
        self.lr = [float("nan")] * n
        self.steps = 0
        self.handles = []
        if n:
            self.handles = [optimizer.register_step_pre_hook(self._before_step),
                            optimizer.register_step_post_hook(self._after_step),
                            optimizer.register_state_dict_post_hook(self._save),
                            optimizer.register_load_state_dict_pre_hook(self._load)]

    def _alphas(self) -> torch.Tensor:
        return torch.cat([m.alpha.detach().reshape(1).float() for m in self.modules])

    def _before_step(self, optimizer, args, kwargs) -> None:
        self.before.copy_(self._alphas())

    def _after_step(self, optimizer, args, kwargs) -> None:
        torch.sub(self._alphas(), self.before, out=self.update)
        self.cum_abs.add_(self.update.abs().to(self.cum_abs.dtype))
        self.cum.add_(self.update.to(self.cum.dtype))
        groups = optimizer.param_groups
        for i, g in enumerate(self.groups):
            lr = float(groups[g]["lr"])  # a Python float; a tensor lr (capturable optimisers) syncs here
            self.lr[i] = lr
            self.cum_lr[i] += lr
        self.steps += 1

    # -- checkpoint: inside the optimizer's state_dict --------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"layers": list(self.names), "update": self.update.detach().cpu().clone(),
                "cum_abs": self.cum_abs.detach().cpu().clone(), "cum": self.cum.detach().cpu().clone(),
                "cum_lr": list(self.cum_lr), "lr": list(self.lr), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        index = {name: i for i, name in enumerate(state["layers"])}
        for i, name in enumerate(self.names):
            j = index.get(name)
            if j is None:
                continue
            with torch.no_grad():
                for mine, saved in ((self.update, state["update"]), (self.cum_abs, state["cum_abs"]),
                                    (self.cum, state["cum"])):
                    mine[i] = saved[j].to(mine.dtype)
            self.cum_lr[i], self.lr[i] = float(state["cum_lr"][j]), float(state["lr"][j])
        self.steps = int(state["steps"])

    def _save(self, optimizer, state_dict: dict) -> dict:
        state_dict[STATE_KEY] = self.state_dict()
        return state_dict

    def _load(self, optimizer, state_dict: dict) -> dict:
        saved = state_dict.pop(STATE_KEY, None)  # torch's own loading never sees it
        if saved is not None:
            self.load_state_dict(saved)
        return state_dict

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    # -- probe lines --------------------------------------------------------------------
    @torch.no_grad()
    def lines(self) -> dict[str, dict[str, Any]]:
        """{layer: {key: value}} for every alpha, tracked or not (one host sync for all)."""
        out: dict[str, dict[str, Any]] = {name: dict.fromkeys(KEYS) for name in self.untracked}
        if not self.names:
            return out
        update, cum_abs, cum = self.update.tolist(), self.cum_abs.tolist(), self.cum.tolist()
        stepped = self.steps > 0
        has_grad = [p.grad is not None for p in self.params]
        grads = torch.cat([p.grad.detach().reshape(1).float() for p in self.params if p.grad is not None]).tolist() \
            if any(has_grad) else []
        grad = iter(grads)
        for i, name in enumerate(self.names):
            g = next(grad) if has_grad[i] else None
            out[name] = {
                "alpha_grad": g if stepped else None,
                "alpha_update": update[i] if stepped else None,
                "alpha_lr": self.lr[i] if stepped else None,
                "alpha_cum_abs_update": cum_abs[i],
                "alpha_cum_update": cum[i],
                "alpha_cum_lr": self.cum_lr[i],
                "alpha_budget_used": cum_abs[i] / self.cum_lr[i] if self.cum_lr[i] > 0 else None,
                "alpha_steps": self.steps,
            }
        return out
