"""A small LLaMA of our own for byte-level language modelling, every norm place a registry norm.

Why our own and not a library's: it must read top to bottom in one file, run at CPU sizes
(0.5-20 M parameters), and build each norm for its position, which the paper's DyT-LLaMA
needs (DyT without bias, alpha0 per position, a learnable scalar sqrt(d) after the embedding).

    tokens -> embedding [* scalar] -> depth x Block -> final norm -> head -> logits
    Block, pre-norm (LLaMA):              x = x + attention(attention_norm(x))
                                          x = x + feed_forward(ffn_norm(x))
    Block, post-norm (the 2017 Transformer): x = attention_norm(x + attention(x))
                                          x = ffn_norm(x + feed_forward(x))   (no final norm)

Attention is causal through torch's scaled_dot_product_attention with rotary position
embeddings (RoPE, rotate-half form) on queries and keys; the MLP is SwiGLU; no linear
layer has a bias. Init: N(0, 0.02) for linear layers and the embedding, the two residual
output projections scaled by 1/sqrt(2 * depth) (GPT-2), so the residual stream does not
grow with depth at init; norms keep their own init.

`set_grad_checkpointing()` (timm's method name, so the loop treats every model alike) trades
compute for memory: each block's activations are recomputed in the backward pass instead of
kept (torch.utils.checkpoint, non-reentrant), with the same loss and gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from normbench.config.schema import defaults_of
from normbench.errors import ModelConfigError

from .config import require_choice, require_positive_ints
from .registry import register_model
from .spec import MAKE_NORM, Branch, ModelSpec


@dataclass
class LlamaConfig:
    """`model=llama` (task=lm): a small LLaMA of our own; the context
    length is data.context_length and the vocabulary the data's (256 bytes)."""

    name: str = "llama"
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0         # SwiGLU hidden = 2/3 * mlp_ratio * embed_dim, rounded up to a multiple of 16
                                   # (LLaMA's rule: the parameters of a plain MLP of this ratio)
    tie_embeddings: bool = False   # true: the head reuses the token embedding
    embed_scale: bool = True       # a learnable scalar after the embedding, init sqrt(embed_dim) (DyT-LLaMA)
    norm_position: str = "pre"     # pre: x + f(norm(x)), a final norm; post: norm(x + f(x)), no final norm
    norm_bias: bool = False        # LLaMA has no biases; DyT-LLaMA's DyT has none either
    rope_theta: float = 10000.0


DEFAULTS: dict[str, Any] = defaults_of(LlamaConfig)
NORM_POSITIONS = ("pre", "post")
LAYOUT = "channels_last"  # every norm place sees (B, T, C) tokens
# Norms whose layout fits but that would break the model.
MISFITS = {"batchnorm": "its batch statistics mix every position of every sequence, so a token would see "
                        "later tokens (causal masking breaks)"}


def check(cfg: Mapping[str, Any], context_length: int) -> None:
    require_positive_ints(cfg, "embed_dim", "depth", "num_heads")
    require_choice(cfg, "norm_position", NORM_POSITIONS)
    if cfg["embed_dim"] % cfg["num_heads"]:
        raise ModelConfigError(f"model.num_heads = {cfg['num_heads']} must divide model.embed_dim = {cfg['embed_dim']}")
    if (cfg["embed_dim"] // cfg["num_heads"]) % 2:  # RoPE rotates pairs of channels
        raise ModelConfigError(f"model.embed_dim / model.num_heads = {cfg['embed_dim'] // cfg['num_heads']} "
                               "is not allowed: the head size must be even (RoPE rotates pairs)")
    for key in ("mlp_ratio", "rope_theta"):
        if not cfg[key] > 0:
            raise ModelConfigError(f"model.{key} = {cfg[key]!r} is not allowed: must be a number > 0")
    if not isinstance(context_length, int) or context_length < 1:
        raise ModelConfigError(f"context_length = {context_length!r} is not allowed: must be an int >= 1")


def swiglu_hidden(dim: int, mlp_ratio: float) -> int:
    """LLaMA's rule: 2/3 of a plain MLP's hidden size (same parameters), rounded up to a multiple of 16."""
    return 16 * math.ceil(int(2 * mlp_ratio * dim / 3) / 16)


def rope_tables(head_dim: int, length: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (length, head_dim): position t rotates channel pair i by t * theta^(-2i/d)."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)  # rotate-half pairs channel i with i + head_dim / 2
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, heads, T, head_dim); cos, sin: (T, head_dim)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (w(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # position t attends to positions <= t
        return self.wo(y.transpose(1, 2).reshape(b, t, c))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, hidden: int, make_norm: Callable[[str], nn.Module], pre: bool):
        super().__init__()
        self.pre = pre
        self.attention_norm = make_norm("attn")  # before attention (pre) or after its residual sum (post)
        self.attention = Attention(dim, num_heads)
        self.ffn_norm = make_norm("ffn")
        self.feed_forward = FeedForward(dim, hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.attention(self.attention_norm(x), cos, sin)
            return x + self.feed_forward(self.ffn_norm(x))
        x = self.attention_norm(x + self.attention(x, cos, sin))
        return self.ffn_norm(x + self.feed_forward(x))


class Llama(nn.Module):
    def __init__(self, *, vocab_size: int, context_length: int, embed_dim: int, depth: int, num_heads: int,
                 mlp_ratio: float, make_norm: Callable[[str], nn.Module], tie_embeddings: bool = False,
                 embed_scale: bool = True, norm_position: str = "pre", rope_theta: float = 10000.0):
        super().__init__()
        self.context_length = context_length
        self.tok_embeddings = nn.Embedding(vocab_size, embed_dim)
        # DyT-LLaMA: DyT does not rescale its input, so the embedding (init std 0.02) is scaled up to
        # O(1) values by a learnable scalar; without it training "struggles to progress" (claim C6).
        self.embed_scale = nn.Parameter(torch.tensor(math.sqrt(embed_dim))) if embed_scale else None
        pre = norm_position == "pre"
        hidden = swiglu_hidden(embed_dim, mlp_ratio)
        self.layers = nn.ModuleList(Block(embed_dim, num_heads, hidden, make_norm, pre) for _ in range(depth))
        # post-norm blocks already end in a norm, as the 2017 Transformer: no final norm there
        self.norm = make_norm("final") if pre else nn.Identity()
        self.output = nn.Linear(embed_dim, vocab_size, bias=False)
        cos, sin = rope_tables(embed_dim // num_heads, context_length, rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)  # recomputed from the config, not checkpointed
        self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights(depth)
        if tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.grad_checkpointing = False

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass instead of keeping its activations."""
        self.grad_checkpointing = enable

    def _init_weights(self, depth: int) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
        for layer in self.layers:
            for w in (layer.attention.wo.weight, layer.feed_forward.w2.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * depth))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) of ids -> logits (B, T, vocab_size); position t depends on tokens[:, :t + 1] only."""
        t = tokens.shape[1]
        if t > self.context_length:
            raise ValueError(f"{t} tokens exceed the context length {self.context_length}")
        x = self.tok_embeddings(tokens)
        if self.embed_scale is not None:
            x = x * self.embed_scale
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        for layer in self.layers:
            if self.grad_checkpointing and torch.is_grad_enabled():
                # non-reentrant: works with parameters that need grad and inputs that do not, and
                # keeps the RNG state so a recomputed forward draws the same numbers
                x = checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x = layer(x, cos, sin)
        return self.output(self.norm(x))


def build(cfg: Mapping[str, Any], make_norm: Callable[[str], nn.Module], *, vocab_size: int,
          context_length: int) -> Llama:
    """cfg: the complete, checked model config; make_norm(position) -> the norm for attn, ffn or final."""
    return Llama(vocab_size=vocab_size, context_length=context_length, embed_dim=cfg["embed_dim"],
                 depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=float(cfg["mlp_ratio"]),
                 make_norm=make_norm, tie_embeddings=bool(cfg["tie_embeddings"]),
                 embed_scale=bool(cfg["embed_scale"]), norm_position=cfg["norm_position"],
                 rope_theta=float(cfg["rope_theta"]))


def branches(model: nn.Module) -> list[Branch]:
    """Each pre-norm block's attention and feed-forward branch (stream: its norm's input); a post-norm
    model's norms sit after the sums, so it has none to probe this way."""
    return [(f"layers.{i}.{kind}", getattr(b, norm), getattr(b, branch))
            for i, b in enumerate(model.layers) if b.pre
            for kind, norm, branch in (("attn", "attention_norm", "attention"), ("mlp", "ffn_norm", "feed_forward"))]


SPEC = register_model(ModelSpec(
    name="llama",
    config=LlamaConfig,
    task="lm",
    build=build,
    check=check,
    check_size="context_length",
    kind=MAKE_NORM,
    layouts={MAKE_NORM: (LAYOUT,)},
    misfits=MISFITS,
    norm_options=lambda cfg: {"bias": bool(cfg["norm_bias"])},  # LLaMA has no biases: model.norm_bias, not norm.bias
    grad_checkpointing=True,
    branches=branches,
))
