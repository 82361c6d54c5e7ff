"""BatchNorm for any rank and both layouts: the norm DyT cannot replace (claim C8).

One class instead of torch's BatchNorm1d/2d/3d, so a registry name maps to one
module; it subclasses _BatchNorm so code that looks for BatchNorm by type still
finds it. channels_last moves the last dim to dim 1. For data-parallel runs
(trainer.sync_bn) `convert_sync_batchnorm` here, not torch's, makes SyncBatchNorm:
torch's would drop the layout and the norm-layer marker.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .base import CHANNELS_FIRST, CHANNELS_LAST, NormLayer, register_norm
from .options import boolean, option, positive, unit_interval


@register_norm
class BatchNorm(NormLayer, _BatchNorm):
    norm_name = "batchnorm"

    @dataclass
    class Options:
        eps: float = option(1e-5, positive, "added to the variance")
        momentum: float = option(0.1, unit_interval, "running-statistics momentum, in (0, 1]")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")
        bias: bool = option(True, boolean, "per-channel bias (init zeros)")

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, device=None, dtype=None, **options) -> None:
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__(num_features, eps=o.eps, momentum=o.momentum, affine=o.affine, bias=o.bias,
                         device=device, dtype=dtype)
        self.layout = layout
        self._channels_last = layout == CHANNELS_LAST

    def _check_input_dim(self, input: torch.Tensor) -> None:
        # (B, C), (B, C, L), (B, C, H, W), ...: statistics over every dim but C
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            return super().forward(x.movedim(-1, 1)).movedim(1, -1)
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout}"


# -- data-parallel: SyncBatchNorm that keeps the layout and the norm-layer marker --------------
# torch's SyncBatchNorm.convert_sync_batchnorm turns any _BatchNorm into a plain
# nn.SyncBatchNorm: the layout (a channels_last BatchNorm on (B, T, C) tokens would then
# normalise T, silently) and the NormLayer marker (probes, normfree) are lost. This one keeps
# both, plus the module's name, parameters and running statistics (the same objects).
_TORCH_SYNC_DEVICES = ("cuda", "hpu", "xpu", torch._C._get_privateuse1_backend_name())


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, differentiable: the gradient of each rank's input is the sum of every
    rank's gradient of the output (every rank's loss depends on every rank's statistics)."""

    @staticmethod
    def forward(ctx, group, tensor: torch.Tensor) -> torch.Tensor:
        ctx.group = group
        out = tensor.clone()
        torch.distributed.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.clone()
        torch.distributed.all_reduce(grad, group=ctx.group)
        return None, grad


def _sync_world(group) -> int:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 1
    return torch.distributed.get_world_size(group or torch.distributed.group.WORLD)


class SyncBatchNorm(BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (every rank's), in
    either layout. On the devices torch's SyncBatchNorm supports (cuda, ...) torch's kernels do
    the work; elsewhere (the CPU with gloo) the statistics are all-reduced here, with autograd,
    in two passes (the mean, then the centred sum of squares). In eval mode, or without a
    process group of more than one rank, it is BatchNorm.

    It subclasses normbench's BatchNorm, not nn.SyncBatchNorm: DDP refuses any nn.SyncBatchNorm
    on the CPU, and this one works there."""

    def __init__(self, num_features: int, layout: str = CHANNELS_LAST, *, process_group=None, device=None, dtype=None,
                 **options) -> None:
        cumulative = "momentum" in options and options["momentum"] is None
        if cumulative:  # a stock torch BatchNorm's momentum=None (a cumulative average), kept as it is
            options.pop("momentum")
        super().__init__(num_features, layout, device=device, dtype=dtype, **options)
        if cumulative:
            self.momentum = None
        self.process_group = process_group

    @classmethod
    def from_batchnorm(cls, bn: _BatchNorm, process_group=None) -> "SyncBatchNorm":
        """The synced twin of `bn`: the same layout, options, parameters and buffers (shared, not
        copied, so an optimizer made before the conversion still updates them) and mode. A stock
        torch BatchNorm is channels first."""
        layout = getattr(bn, "layout", CHANNELS_FIRST)
        sync = cls(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine, bias=bn.bias is not None,
                   layout=layout, process_group=process_group, device="meta")
        sync.track_running_stats = bn.track_running_stats
        for name in ("weight", "bias"):
            setattr(sync, name, getattr(bn, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(sync, name, getattr(bn, name))
        sync.train(bn.training)
        return sync

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        world = _sync_world(self.process_group)
        if not self.training or world == 1:
            return super().forward(x)  # BatchNorm: eval mode uses the running statistics, no sync
        if self._channels_last:
            return self._synced(x.movedim(-1, 1), world).movedim(1, -1)
        return self._synced(x, world)

    def _synced(self, x: torch.Tensor, world: int) -> torch.Tensor:
        """x channels first, training, world > 1."""
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / self.num_batches_tracked.item()
        running_mean = self.running_mean if self.track_running_stats else None
        running_var = self.running_var if self.track_running_stats else None
        group = self.process_group or torch.distributed.group.WORLD
        if x.device.type in _TORCH_SYNC_DEVICES:  # what nn.SyncBatchNorm.forward calls
            from torch.nn.modules._functions import SyncBatchNorm as sync_batch_norm

            return sync_batch_norm.apply(x, self.weight, self.bias, running_mean, running_var, self.eps, factor,
                                         group, world)
        return self._all_reduced(x, running_mean, running_var, factor, group)

    def _all_reduced(self, x, running_mean, running_var, factor: float, group) -> torch.Tensor:
        all_reduce = functools.partial(_AllReduceSum.apply, group)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.full((1,), xf.numel() // c, dtype=xf.dtype, device=xf.device)
        sums = all_reduce(torch.cat([xf.sum(dims), count]))
        n = sums[c]
        mean = sums[:c] / n
        centred = xf - mean.view(shape)
        var = all_reduce(centred.square().sum(dims)) / n  # biased: what BatchNorm normalises by
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        if running_mean is not None:
            with torch.no_grad():  # unbiased variance in the running estimate, as BatchNorm keeps it
                running_mean.lerp_(mean.to(running_mean.dtype), factor)
                running_var.lerp_((var * n / (n - 1).clamp_min(1)).to(running_var.dtype), factor)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, synced"


def convert_sync_batchnorm(module: nn.Module, process_group=None) -> nn.Module:
    """Every BatchNorm in `module` -> SyncBatchNorm, in place (the root returned, new when it is
    one itself), keeping its name in the model, its layout, options, parameters and running
    statistics. A stock torch BatchNorm left in a model (channels first) becomes normbench's
    SyncBatchNorm too, since DDP refuses torch's on the CPU."""
    if isinstance(module, _BatchNorm) and not isinstance(module, (SyncBatchNorm, nn.SyncBatchNorm)):
        return SyncBatchNorm.from_batchnorm(module, process_group)
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child, process_group)
        if converted is not child:
            setattr(module, name, converted)
    return module
