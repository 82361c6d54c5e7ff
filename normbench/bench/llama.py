"""The paper's efficiency table (claim C10) at our scale: a LLaMA with RMSNorm vs DyT.

The paper (table 7) times 100 passes of LLaMA 7B (H100, bf16, sequence 4096), inference
(forward) and training (forward + backward), uncompiled and under torch.compile, and gives
two numbers each: the time of the norm layers alone and of the whole model. Here the same
four numbers per candidate, all candidates interleaved in one process (timing.py):

- model: one forward (inference: under no_grad) or forward + backward of a cross-entropy
  loss (training) of the whole LLaMA on one batch of random bytes;
- layer: every norm layer of that model run alone on the very input it saw in that forward
  (captured once by hooks), forward (inference) or forward + backward (training: gradients
  of the input and the parameters for a fixed random dy).

Candidates: rmsnorm (normbench's RMSNorm), dyt_eager (norm.impl=eager: the plain formula,
what the paper timed), dyt_fused (norm.impl=fused: normbench's kernel), and the compiled
ones (rmsnorm_compiled, dyt_compiled: torch.compile of the whole model, or of each norm
layer for the layer time, with DyT in its eager formula so that inductor fuses it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from normbench.models import build_model
from normbench.norms import is_norm_layer

from .timing import time_interleaved

CANDIDATES = ("rmsnorm", "dyt_eager", "dyt_fused", "rmsnorm_compiled", "dyt_compiled")
MODES = ("inference", "training")
# The paper's table 7 (seconds for 100 passes): (layer, model) per (norm, mode), uncompiled.
PAPER = {("rmsnorm", "inference"): (2.1, 14.1), ("dyt", "inference"): (1.0, 13.0),
         ("rmsnorm", "training"): (8.3, 42.6), ("dyt", "training"): (4.8, 39.1)}


def norm_config(candidate: str) -> dict:
    name = candidate.split("_")[0]
    if name == "rmsnorm":
        return {"name": "rmsnorm"}
    impl = "fused" if candidate == "dyt_fused" else "eager"
    return {"name": "dyt", "alpha0": 1.0, "impl": impl}


def build_llama(candidate: str, *, embed_dim: int, depth: int, num_heads: int, context: int,
                device: torch.device, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)  # every candidate gets the same weights where they share them
    model_cfg = {"name": "llama", "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads,
                 "embed_scale": candidate.startswith("dyt")}
    model = build_model(model_cfg, norm_config(candidate), vocab_size=256, context_length=context)
    return model.to(device=device, dtype=dtype)


def capture_norm_inputs(model: nn.Module, tokens: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    """(norm layer, the input it saw) for every norm layer, from one forward."""
    seen: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append((mod, args[0].detach().clone())))
             for m in model.modules() if is_norm_layer(m)]
    try:
        with torch.no_grad():
            model(tokens)
    finally:
        for h in hooks:
            h.remove()
    return seen


def model_call(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor, mode: str):
    if mode == "inference":
        def infer():
            with torch.no_grad():
                return model(tokens)
        return infer

    def train():
        logits = model(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        loss.backward()
        model.zero_grad(set_to_none=True)
    return train


class NormStack(nn.Module):
    """All the norm layers of a model as one module (one graph under torch.compile, not one
    compile per layer): forward(*inputs) -> each layer's output on its own input."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(m(x) for m, x in zip(self.layers, xs))


def layers_call(stack: nn.Module, inputs: list[torch.Tensor], mode: str, seed: int = 0):
    if mode == "inference":
        def infer():
            with torch.no_grad():
                return stack(*inputs)
        return infer
    g = torch.Generator().manual_seed(seed)
    xs = [x.detach().requires_grad_() for x in inputs]
    dys = [torch.randn(x.shape, generator=g).to(device=x.device, dtype=x.dtype) for x in inputs]
    wrt = [*xs, *(p for p in stack.parameters() if p.requires_grad)]

    def train():
        return torch.autograd.grad(stack(*xs), wrt, dys)
    return train


def bench_llama(candidates: list[str], modes: list[str], *, embed_dim: int, depth: int, num_heads: int,
                context: int, batch: int, device: torch.device, dtype: torch.dtype, repeats: int,
                warmup: int, block_s: float) -> list[dict]:
    """One row per (candidate, mode, part) with part in (layer, model): median seconds per pass."""
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 256, (batch, context), generator=g).to(device)
    targets = torch.randint(0, 256, (batch, context), generator=g).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch._dynamo.reset()
    fns, rows, num_params = {}, {}, {}
    for cand in candidates:
        model = build_llama(cand, embed_dim=embed_dim, depth=depth, num_heads=num_heads, context=context,
                            device=device, dtype=dtype)
        num_params[cand] = sum(p.numel() for p in model.parameters())
        layers = capture_norm_inputs(model, tokens)
        stack, inputs = NormStack([m for m, _ in layers]), [x for _, x in layers]
        compiled = cand.endswith("_compiled")
        if compiled:
            stack, model = torch.compile(stack), torch.compile(model)
        for mode in modes:
            for part, fn in (("model", model_call(model, tokens, targets, mode)),
                             ("layer", layers_call(stack, inputs, mode))):
                key = f"{cand}/{mode}/{part}"
                row = {"candidate": cand, "norm": cand.split("_")[0], "compiled": compiled, "mode": mode,
                       "part": part, "norm_layers": len(layers), "params": num_params[cand]}
                try:
                    fn()  # compile here, not in the timed blocks
                    sync()
                except Exception as e:  # noqa: BLE001 - a candidate that cannot run is a row, not a crash
                    row["status"] = f"skipped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
                else:
                    row["status"] = "ok"
                    fns[key] = fn
                rows[key] = row
    timings = time_interleaved(fns, repeats=repeats, warmup=warmup, block_s=block_s, sync=sync)
    for key, t in timings.items():
        rows[key].update(median_ms=t.median * 1e3, q25_ms=t.quantile(0.25) * 1e3, q75_ms=t.quantile(0.75) * 1e3,
                         blocks=len(t.per_call_s))
    out = list(rows.values())
    for row in out:  # against the same mode and part of the reference: uncompiled rmsnorm, or compiled rmsnorm
        ref_cand = "rmsnorm_compiled" if row["compiled"] else "rmsnorm"
        ref = rows.get(f"{ref_cand}/{row['mode']}/{row['part']}")
        if row.get("median_ms") is not None and ref is not None and ref.get("median_ms") is not None:
            row["x_rmsnorm"] = row["median_ms"] / ref["median_ms"]
    for row in out:  # the norm layers' share of the whole model's time
        whole = rows.get(f"{row['candidate']}/{row['mode']}/model")
        if row["part"] == "layer" and row.get("median_ms") and whole and whole.get("median_ms"):
            row["share_of_model"] = row["median_ms"] / whole["median_ms"]
    return out


FIELDS = ("candidate", "norm", "compiled", "mode", "part", "status", "median_ms", "q25_ms", "q75_ms", "blocks",
          "x_rmsnorm", "share_of_model", "norm_layers", "params")


def markdown(rows: list[dict], meta: dict) -> str:
    from .report import header

    a = meta["args"]
    lines = header("LLaMA efficiency (claim C10)", meta) + [
        "",
        f"LLaMA embed {a['embed_dim']}, depth {a['depth']}, {a['num_heads']} heads, context {a['context']}, "
        f"batch {a['batch']}, {a['dtype']} ({rows[0]['params'] / 1e6:.1f} M parameters, "
        f"{rows[0]['norm_layers']} norm layers); median of {a['repeats']} interleaved blocks per pass. "
        "model: the whole LLaMA, forward (inference, no_grad) or forward + backward (training); layer: "
        "all its norm layers alone on the inputs they saw. x RMSNorm: against RMSNorm, compiled against "
        "compiled.",
        "",
        "| candidate | mode | layer ms | model ms | layer share | layer x RMSNorm | model x RMSNorm |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    by = {(r["candidate"], r["mode"], r["part"]): r for r in rows}
    for cand in dict.fromkeys(r["candidate"] for r in rows):
        for mode in dict.fromkeys(r["mode"] for r in rows):
            lay, mod = by.get((cand, mode, "layer"), {}), by.get((cand, mode, "model"), {})
            if lay.get("status") != "ok" or mod.get("status") != "ok":
                lines.append(f"| {cand} | {mode} | {lay.get('status', '')} | {mod.get('status', '')} | | | |")
                continue
            lines.append(f"| {cand} | {mode} | {lay['median_ms']:.2f} | {mod['median_ms']:.1f} | "
                         f"{lay.get('share_of_model', 0):.1%} | {lay.get('x_rmsnorm', float('nan')):.2f} | "
                         f"{mod.get('x_rmsnorm', float('nan')):.2f} |")
    lines += ["", "The paper's table 7 (LLaMA 7B, H100, bf16, 100 passes, seconds; uncompiled):", "",
              "| norm | mode | layer s | model s | layer share | layer x RMSNorm | model x RMSNorm |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for (norm, mode), (lay, mod) in PAPER.items():
        rl, rm = PAPER[("rmsnorm", mode)]
        lines.append(f"| {norm} | {mode} | {lay} | {mod} | {lay / mod:.1%} | {lay / rl:.2f} | {mod / rm:.2f} |")
    lines.append("\nCompiled, the paper reports the same time for both norms (PAPER.md, C10: 0.3 s / 3.9 s).")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path) -> None:
    """Per mode: model time per candidate, the norm layers' part shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(r["mode"] for r in rows))
    cands = list(dict.fromkeys(r["candidate"] for r in rows))
    by = {(r["candidate"], r["mode"], r["part"]): r for r in rows}
    fig, axes = plt.subplots(1, len(modes), figsize=(4.5 * len(modes), 3.6), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for i, cand in enumerate(cands):
            mod, lay = by.get((cand, mode, "model"), {}), by.get((cand, mode, "layer"), {})
            if mod.get("status") == "ok":
                ax.bar(i, mod["median_ms"], color="lightgray", label="whole model" if i == 0 else None)
            if lay.get("status") == "ok":
                ax.bar(i, lay["median_ms"], color="tab:blue", label="norm layers alone" if i == 0 else None)
        ax.set_xticks(range(len(cands)), cands, rotation=20, fontsize=8)
        ax.set_ylabel("ms per pass (median)")
        ax.set_title(mode)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_all(rows: list[dict], meta: dict, out, *, plot: bool = True) -> list:
    from .report import write_files

    return write_files(out, "llama", rows, FIELDS, markdown(rows, meta), meta, figure if plot else None)
