"""Run folders written by hand, as train.py writes them, for the report and verdict tests.

Not a test module: the tests that need hand-made runs import from here (a test module never
imports another one). Every number in them is chosen here, never computed by normbench.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from normbench.report import report

LAYERS = ["blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm"]


def make_run(root: Path, name: str, *, variant: str | None = "dyt", seed: int = 0, status: str = "ok",
             acc: float = 80.0, best: float | None = None, lr: float = 1e-3, depth: int = 4,
             model: str = "vit", norm: str = "dyt", steps: tuple = (100, 200, 300), diverged_step: int | None = None,
             probes: bool = False, alpha_scale: float = 0.5, old_names: bool = False,
             extra_metrics: list[dict] | None = None, loss_scale: float = 1.0, token_std: bool = False,
             test_acc: float | None = None) -> Path:
    """A run folder as train.py writes it: config.yaml, summary.json, metrics.jsonl (a loss
    that falls from 2.3, times `loss_scale`, val acc rising to `acc`), and probes.jsonl when asked
    (with the per-token std of issue 24 when `token_std`; without it, as runs probed before it);
    `test_acc` adds the held-out test accuracy a run with a validation split reports."""
    d = root / name
    d.mkdir(parents=True)
    config = {"task": "classify", "variant": variant, "model": {"name": model, "depth": depth, "embed_dim": 64},
              "norm": {"name": norm, "alpha0": 0.5, "squash": "tanh", "learnable_alpha": True},
              "optim": {"lr": lr}, "trainer": {"seed": seed, "max_steps": steps[-1]}}
    (d / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    lines = []
    for i, s in enumerate(steps):
        loss = (2.3 * (0.5 ** (i + 1)) + 0.01 * seed) * loss_scale
        if diverged_step is not None and s >= diverged_step:
            lines.append({"step": s, "split": "train", "loss": "nan", "lr": lr})
            break
        lines.append({"step": s, "split": "train", "loss": loss, "lr": lr, "samples_per_s": 100.0})
        val_acc = acc * (i + 1) / len(steps)
        if old_names:
            lines.append({"step": s, "val_acc1": val_acc, "val_loss": loss + 0.1})
        else:
            lines.append({"step": s, "split": "val", "loss": loss + 0.1, "acc1": val_acc})
    if test_acc is not None:
        lines.append({"step": steps[-1], "split": "test", "loss": 0.5, "acc1": test_acc})
    lines += extra_metrics or []
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    key = "val_acc1" if old_names else "val/acc1"
    summary = {
        "status": status, "step": steps[-1] if status == "ok" else steps[0], "max_steps": steps[-1],
        "final": {key: acc, "val/loss": 0.5, "train/loss": 0.4},
        "best": {"metric": key, "value": best if best is not None else acc, "step": steps[-1]},
        "diverged": {"step": diverged_step, "loss": "nan"} if status == "diverged" else None,
        "wall_time_s": 12.5, "train_time_s": 10.0, "throughput_samples_per_s": 1000.0, "num_params": 12345,
        "error": "RuntimeError: boom" if status == "failed" else None,
        "run": {"task": "classify", "model": model, "norm": norm, "data": "synthetic", "seed": seed, "device": "cpu"},
        "versions": {},
    }
    if test_acc is not None:
        summary["final"]["test/acc1"] = test_acc
    (d / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    if probes:
        write_probes(d, norm, steps, alpha_scale, seed, token_std)
    return d


def inv_std_of(layer_index: int, step_index: int, seed: int) -> float:
    return 1.0 / (1.0 + 0.7 * layer_index + 0.2 * step_index + 0.05 * seed)


def write_probes(d: Path, norm: str, steps: tuple, alpha_scale: float, seed: int, token_std: bool = False) -> None:
    rng = np.random.default_rng(seed)
    out = []
    for j, s in enumerate(steps):
        for i, layer in enumerate(LAYERS):
            inv = inv_std_of(i, j, seed)
            line = {"step": s, "kind": "stats", "layer": layer, "norm": norm, "depth_index": i,
                    "input_std": 1 / inv, "inv_std": inv, "input_mean": 0.0, "nonfinite": 0}
            if norm == "dyt":
                line["alpha"] = alpha_scale * inv + 0.01 * float(rng.standard_normal())
                line["saturation"] = 0.01
            if token_std:  # a token std that is not a multiple of the global one
                line["token_std_mean"] = 0.8 / inv + 0.1 * i * i
                line["inv_token_std"] = 1 / line["token_std_mean"]
            out.append(line)
        out.append({"step": s, "kind": "warning", "layer": LAYERS[0], "message": "saturation high"})
    for i in (0, len(LAYERS) - 1):
        x = rng.standard_normal((4, 16)) * np.array([[1.0], [1.0], [1.0], [3.0]]) + 0.2
        mean, std = x.mean(1, keepdims=True), x.std(1, keepdims=True)
        y = (x - mean) / std if norm != "dyt" else np.tanh(0.5 * x)
        out.append({"step": steps[-1], "kind": "scurve", "layer": LAYERS[i], "norm": norm, "depth_index": i,
                    "x": x.round(5).tolist(), "y": y.round(5).tolist()})
    (d / "probes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in out), encoding="utf-8")



def squash_runs(root, identity_diverges: bool, noalpha_acc: float):
    accs = {"layernorm": 80.0, "tanh": 80.0, "hardtanh": 79.6, "sigmoid": 79.2,
            "tanh_noalpha": noalpha_acc, "hardtanh_noalpha": noalpha_acc, "sigmoid_noalpha": noalpha_acc}
    for variant, acc in accs.items():
        for seed in range(3):
            make_run(root, f"{variant}-{seed}", variant=variant, seed=seed, acc=acc + 0.1 * seed, lr=2e-3)
    for seed in range(3):
        if identity_diverges:
            make_run(root, f"identity-{seed}", variant="identity", seed=seed, status="diverged", acc=10.0,
                     best=55.0, diverged_step=200, lr=2e-3)
        else:
            make_run(root, f"identity-{seed}", variant="identity", seed=seed, acc=80.5, lr=2e-3)
    return report([root], root / "report", spec={"group_by": ["variant"], "figures": []})
