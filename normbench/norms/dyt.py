"""Dynamic Tanh (Zhu et al., CVPR 2025): DyT(x) = weight * tanh(alpha * x) + bias.

The drop-in replacement of LayerNorm that normbench studies. alpha is ONE
scalar (shape (1,), like the official code), weight/bias are per channel. The
squash and a frozen alpha are the paper's ablations (claims C2, C3).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer
from .options import IMPLS, SQUASHES, check_bool, check_choice, check_positive, factory_kwargs

_MAX_RANK = 16


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# module-level functions (not lambdas) so a DyT model pickles and deep-copies
_SQUASH_FNS = {"tanh": torch.tanh, "hardtanh": F.hardtanh, "sigmoid": torch.sigmoid, "identity": _identity}


class DyT(NormLayer, nn.Module):
    norm_name = "dyt"

    def __init__(
        self,
        num_features: int,
        alpha0: float = 0.5,
        squash: str = "tanh",
        learnable_alpha: bool = True,
        affine: bool = True,
        bias: bool = True,
        layout: str = CHANNELS_LAST,
        impl: str = "torch",
        device=None,
        dtype=None,
    ) -> None:
        layout = self.check_layout(layout)
        super().__init__()
        self.num_features = num_features
        self.alpha0 = check_positive("alpha0", alpha0)
        self.squash = check_choice("squash", squash, SQUASHES)
        self.learnable_alpha = check_bool("learnable_alpha", learnable_alpha)
        self.impl = check_choice("impl", impl, IMPLS)
        self.layout = layout
        self._squash_fn = _SQUASH_FNS[squash]
        # weight/bias view per input rank, computed once: channels_last broadcasts (C,)
        # on the last dim as is; channels_first needs (C, 1, ..., 1) for dim 1
        c = num_features
        self._shapes = tuple(
            (c,) + (1,) * (rank - 2) if layout == CHANNELS_FIRST and rank >= 2 else (c,)
            for rank in range(_MAX_RANK + 1)
        )
        fk = {"device": device, "dtype": dtype}
        alpha = torch.empty(1, **fk)
        if learnable_alpha:
            self.alpha = nn.Parameter(alpha)
        else:  # frozen: kept in state_dict so a checkpoint records it, never trained
            self.register_buffer("alpha", alpha)
        check_bool("affine", affine)
        check_bool("bias", bias)
        self.register_parameter("weight", nn.Parameter(torch.empty(c, **fk)) if affine else None)
        self.register_parameter("bias", nn.Parameter(torch.empty(c, **fk)) if bias else None)
        self.reset_parameters()

    @classmethod
    def from_options(cls, num_features: int, layout: str, opts: dict) -> "DyT":
        return cls(
            num_features,
            alpha0=opts["alpha0"],
            squash=opts["squash"],
            learnable_alpha=opts["learnable_alpha"],
            affine=opts["affine"],
            bias=opts["bias"],
            layout=layout,
            impl=opts["impl"],
            **factory_kwargs(opts),
        )

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.fill_(self.alpha0)
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._squash_fn(self.alpha * x)
        shape = self._shapes[x.ndim]
        if self.weight is not None:
            if self.bias is not None:  # one fused kernel for weight * y + bias
                return torch.addcmul(self.bias.view(shape), self.weight.view(shape), y)
            return y * self.weight.view(shape)
        if self.bias is not None:
            return y + self.bias.view(shape)
        return y

    def extra_repr(self) -> str:
        s = (
            f"{self.num_features}, alpha0={self.alpha0}, squash={self.squash}, "
            f"layout={self.layout}, learnable_alpha={self.learnable_alpha}"
        )
        if self.weight is None or self.bias is None:
            s += f", affine={self.weight is not None}, bias={self.bias is not None}"
        return s
