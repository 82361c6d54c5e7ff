"""sigmaReparam: every Linear and Conv weight as W_hat = (gamma / sigma(W)) * W.

Source: Zhai et al., "Stabilizing Transformer Training by Preventing Attention Entropy
Collapse", ICML 2023 (arXiv 2303.06296), and its code (apple/ml-sigma-reparam):
- sigma(W) is the spectral norm of W (a conv's weight as the (out, in * kh * kw) matrix),
  estimated by one power-iteration step per training forward; u and v are buffers that only
  a training forward updates and that carry no gradient, so the gradient flows through W
  in sigma = v^T W u as well as in W itself;
- u and v start at W0's top singular vectors (an SVD), and the learnable gamma at sigma(W0),
  so the first forward computes exactly what the model without the transform computes.

Built on torch.nn.utils.parametrize: the module keeps its class and its forward, `weight`
becomes the reparameterised tensor, and the state dict holds W, u, v and gamma, so a
checkpoint resumes exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

REPARAMETERISED = (nn.Linear, nn.Conv2d)


class SigmaReparam(nn.Module):
    """The parametrization W -> gamma / sigma(W) * W of one weight."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        with torch.no_grad():
            u_left, s, vh = torch.linalg.svd(weight.detach().flatten(1).float(), full_matrices=False)
        self.register_buffer("u", vh[0].to(weight.dtype))     # right singular vector (inputs)
        self.register_buffer("v", u_left[:, 0].to(weight.dtype))  # left singular vector (outputs)
        self.gamma = nn.Parameter(s[0].to(weight.dtype).clone())

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        """sigma(W) = v^T W u, one power-iteration step first in train mode."""
        matrix = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                self.v.copy_(F.normalize(matrix @ self.u, dim=0))
                self.u.copy_(F.normalize(matrix.t() @ self.v, dim=0))
        return self.v @ matrix @ self.u

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * (self.gamma / self.sigma(weight))


def sigma_reparam(model: nn.Module) -> nn.Module:
    """Reparameterise every Linear and Conv2d of `model` (patch embedding and head included), in place."""
    for module in list(model.modules()):
        if isinstance(module, REPARAMETERISED) and not parametrize.is_parametrized(module, "weight"):
            reparam = SigmaReparam(module.weight)
            reparam.eval()  # registering calls it once; that call must not move u and v
            parametrize.register_parametrization(module, "weight", reparam)
            reparam.train(module.training)
    return model


def reparameterised(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module whose weight sigmaReparam holds."""
    return [(n, m) for n, m in model.named_modules() if parametrize.is_parametrized(m, "weight")]
