"""A small class-conditional Diffusion Transformer (DiT, Peebles & Xie 2023) in pixel space, for task=generate.

Why our own: it must read top to bottom in one file, run at CPU sizes (0.2-2 M parameters) on
28 px Fashion-MNIST, and take every norm from the registry, so that adaLN, adaLN-Zero and
their DyT forms (normbench/norms/adaln.py) are one config key apart.

    image (B, C, H, W) -> patchify (conv p x p, stride p) + fixed 2D sin-cos positions -> tokens (B, N, D)
    c = timestep embedding (sinusoidal -> MLP) + class embedding  (B, D)
    depth x Block:  x = x + g1(c) * attention(norm1(x, c))     g: the norm's gate (adaln_zero),
                    x = x + g2(c) * mlp(norm2(x, c))              1 for adaln (no gate)
    final: linear(norm(x, c)) -> (B, N, p * p * C) -> unpatchify -> velocity (B, C, H, W)

The class embedding has one row more than there are classes: the null class (index
num_classes), which the task feeds for the dropped labels of classifier-free guidance.
t is in [0, 1] (the flow's time) and scaled by 1000 before the sinusoid, DiT's range.

Init (DiT's): xavier-uniform linear layers with zero biases, the patch conv like a linear
layer, N(0, 0.02) for the class embedding and the timestep MLP, the head zero (so the model
predicts 0 at init); each norm inits its own modulation (norm.zero_init).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from normbench.config.schema import defaults_of
from normbench.errors import ModelConfigError

from .config import require_positive_ints
from .registry import register_model
from .spec import MAKE_NORM, ModelSpec


@dataclass
class DiTConfig:
    """`model=dit` (task=generate): a small class-conditional Diffusion Transformer in pixel space
   ; every norm place is a conditional norm (norm=adaln or adaln_zero).
    The defaults (28 px: 7 x 7 tokens of 4 x 4 pixels) have about 1.2 M parameters with adaln_zero."""

    name: str = "dit"
    patch_size: int = 4            # must divide the image size: 2 (196 tokens) or 4 (49 tokens) at 28 px
    embed_dim: int = 128           # a multiple of 4 (2D sin-cos positions) and of num_heads
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0


DEFAULTS: dict[str, Any] = defaults_of(DiTConfig)
LAYOUT = "channels_last"  # every norm place sees (B, N, D) tokens
CONDITIONAL = True  # every norm place takes the conditioning vector: forward(x, c)
MISFITS: dict[str, str] = {}
TIME_SCALE = 1000.0  # t in [0, 1] -> DiT's timestep range for the sinusoid


def check(cfg: Mapping[str, Any], img_size: int) -> None:
    require_positive_ints(cfg, "patch_size", "embed_dim", "depth", "num_heads")
    if img_size % cfg["patch_size"]:
        fits = [p for p in range(1, img_size + 1) if img_size % p == 0]
        raise ModelConfigError(f"model.patch_size = {cfg['patch_size']} does not divide img_size = {img_size}; "
                               f"allowed: {', '.join(map(str, fits))}")
    if cfg["embed_dim"] % cfg["num_heads"]:
        raise ModelConfigError(f"model.num_heads = {cfg['num_heads']} must divide model.embed_dim = {cfg['embed_dim']}")
    if cfg["embed_dim"] % 4:  # the 2D sin-cos position embedding: a sin and a cos half per axis
        raise ModelConfigError(f"model.embed_dim = {cfg['embed_dim']} is not allowed: must be a multiple of 4")
    if not cfg["mlp_ratio"] > 0:
        raise ModelConfigError(f"model.mlp_ratio = {cfg['mlp_ratio']!r} is not allowed: must be a number > 0")


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(len(positions), dim): sin of position * frequency for dim / 2 frequencies, then cos."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = torch.outer(positions.to(torch.float64), omega)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """(grid * grid, dim) fixed position embedding (MAE, DiT): half the channels encode the row,
    half the column; tokens in row-major order, as the patch conv's output is flattened."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    return torch.cat([sincos_1d(dim // 2, rows.flatten()), sincos_1d(dim // 2, cols.flatten())], dim=1).float()


def timestep_sinusoid(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B, dim) embedding of times t (B,): cos then sin of t * frequency, DiT's form."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_sinusoid(t * TIME_SCALE, self.freq_dim))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # every token attends to every token
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def gated(norm: nn.Module, c: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
    """The residual branch times the norm's gate (adaln_zero), or as it is (adaln: no gate)."""
    g = norm.gate(c, branch.ndim)
    return branch if g is None else g * branch


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, make_norm: Callable[[str], nn.Module]):
        super().__init__()
        self.norm1 = make_norm("attn")
        self.attn = Attention(dim, num_heads)
        self.norm2 = make_norm("ffn")
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = x + gated(self.norm1, c, self.attn(self.norm1(x, c)))
        return x + gated(self.norm2, c, self.mlp(self.norm2(x, c)))


class DiT(nn.Module):
    def __init__(self, *, img_size: int, in_chans: int, num_classes: int, patch_size: int, embed_dim: int,
                 depth: int, num_heads: int, mlp_ratio: float, make_norm: Callable[[str], nn.Module]):
        super().__init__()
        self.in_chans, self.patch_size, self.num_classes = in_chans, patch_size, num_classes
        self.grid = img_size // patch_size
        self.patch_embed = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        # fixed, recomputed from the config: not a parameter and not checkpointed
        self.register_buffer("pos_embed", sincos_2d(embed_dim, self.grid)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(embed_dim)
        self.y_embedder = nn.Embedding(num_classes + 1, embed_dim)  # the last row: the null class
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, make_norm) for _ in range(depth))
        self.final_norm = make_norm("final")  # modulated, no gate: nothing is added to it
        self.head = nn.Linear(embed_dim, patch_size * patch_size * in_chans)
        self._init_weights()

    def _init_weights(self) -> None:
        from normbench.norms import is_norm_layer

        norm_owned = {id(m) for norm in self.modules() if is_norm_layer(norm) for m in norm.modules()}
        for module in self.modules():
            if isinstance(module, nn.Linear) and id(module) not in norm_owned:
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.y_embedder.weight, std=0.02)
        for linear in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(linear.weight, std=0.02)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, D) tokens with their positions."""
        return self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, p * p * C) -> (B, C, H, W): token (i, j) fills pixels [i p, (i + 1) p) x [j p, (j + 1) p)."""
        b, p, g, c = x.shape[0], self.patch_size, self.grid, self.in_chans
        x = x.view(b, g, g, p, p, c)
        return torch.einsum("bijpqc->bcipjq", x).reshape(b, c, g * p, g * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) noisy images, t (B,) times in [0, 1], y (B,) labels (num_classes: the null
        class) -> the predicted velocity (B, C, H, W)."""
        c = self.t_embedder(t) + self.y_embedder(y)
        h = self.patchify(x)
        for block in self.blocks:
            h = block(h, c)
        return self.unpatchify(self.head(self.final_norm(h, c)))


def build(cfg: Mapping[str, Any], make_norm: Callable[[str], nn.Module], *, num_classes: int, in_chans: int,
          img_size: int) -> DiT:
    """cfg: the complete, checked model config; make_norm(position) -> the conditional norm for
    attn, ffn (gated where the norm has a gate) or final (never gated)."""
    return DiT(img_size=img_size, in_chans=in_chans, num_classes=num_classes, patch_size=cfg["patch_size"],
               embed_dim=cfg["embed_dim"], depth=cfg["depth"], num_heads=cfg["num_heads"],
               mlp_ratio=float(cfg["mlp_ratio"]), make_norm=make_norm)


SPEC = register_model(ModelSpec(
    name="dit",
    config=DiTConfig,
    task="generate",
    build=build,
    check=check,
    kind=MAKE_NORM,
    layouts={MAKE_NORM: (LAYOUT,)},
    misfits=MISFITS,
    conditional=CONDITIONAL,
))
