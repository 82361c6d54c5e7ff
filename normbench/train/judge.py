"""The judge: a small image classifier trained by normbench that scores the samples of task=generate.

A sample-quality number must be cheap on a CPU, so task=generate asks a classifier two things:
its accuracy on class-conditional samples (does a sample of class k look like class k?) and
an FID on its penultimate features, samples vs real validation images (do they look real, as a
set?). The penultimate features are the input of the classifier's last linear layer (found by
a forward hook, so any normbench classifier works).

Where it comes from (task.judge):
- a path: a normbench classify run folder (config.yaml and checkpoint.pt), used as it is;
- null (the default): a small VGG with BatchNorm (three conv stages, 64 features) trained once by
  normbench's own train() on the run's data without augmentation (task.judge_steps steps, seed 0:
  deterministic; about 86 % val acc1 on Fashion-MNIST after 500 steps, a minute on 2 cores),
  cached under the data cache dir (~/.cache/normbench/data/judges/<data>-<key>, the key a hash
  of its whole config) and loaded by every later run with the same data. Nothing to do by hand
  on a fresh clone; the log says where it is. A cached judge cut short is resumed, not retrained.
  The global RNG state is restored after training it, so a run trains the same whether its
  judge was cached or not.
A missing, unreadable or unfitting judge is a JudgeError naming task.judge.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from omegaconf import OmegaConf
from torch import nn

from normbench.data import Augment, paths
from normbench.errors import CheckpointError, InputError, JudgeError
from normbench.track.summary import read_run_state
from normbench.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, set_rng_state

log = logging.getLogger(__name__)

ALLOWED = "a normbench classify run folder (config.yaml and checkpoint.pt), or null to train and cache one"
# The cached judge's recipe: a small VGG with BatchNorm (a CNN learns Fashion-MNIST in far fewer
# steps than a ViT), AdamW at lr 3e-3 with clipping, no augmentation (samples are never flipped).
JUDGE_MODEL = {"name": "vgg", "layers": [16, "M", 32, "M", 64, "M"]}
JUDGE_NORM = "batchnorm"
JUDGE_SEED = 0


def judge_config(data_cfg: Mapping[str, Any], steps: int, device: str) -> dict[str, Any]:
    """The whole train config of the cached judge: the schema's defaults and its recipe."""
    from normbench.config.schema import DataConfig, LoggerConfig, OptimConfig, ProbeConfig, TrainerConfig
    from normbench.config.store import plain_node
    from normbench.models.vgg import VGGConfig
    from normbench.norms.registry import norm_config

    data = {**plain_node(DataConfig), "name": data_cfg["name"], "root": data_cfg.get("root"),
            "download": bool(data_cfg.get("download", False)), "batch_size": 128,
            "val_split": data_cfg.get("val_split"),  # the run's: the judge never trains on its val images
            "augment": {"crop_padding": 0, "hflip": False}}
    if data_cfg.get("synthetic") is not None:
        data["synthetic"] = OmegaConf.to_container(OmegaConf.create(dict(data_cfg["synthetic"])))
    log_every = max(1, min(50, steps))
    return {
        "model": {**plain_node(VGGConfig), **JUDGE_MODEL},
        "norm": {**plain_node(norm_config()), "name": JUDGE_NORM},
        "normfree": {"name": "none", "gain_init": 0.0},
        "data": data,
        "optim": {**plain_node(OptimConfig), "lr": 3e-3, "grad_clip": 1.0, "warmup_steps": min(100, steps // 10)},
        "trainer": {**plain_node(TrainerConfig), "max_steps": steps, "eval_every": steps, "log_every": log_every,
                    "ckpt_every": steps, "seed": JUDGE_SEED, "device": device, "progress": False, "resume": True},
        "logger": {**plain_node(LoggerConfig), "wandb": {**plain_node(LoggerConfig)["wandb"], "mode": "disabled"}},
        "probe": {**plain_node(ProbeConfig), "enabled": False},
        "task": {"name": "classify", "label_smoothing": 0.0},
        "variant": "judge",
    }


def cache_dir(config: Mapping[str, Any]) -> Path:
    """Where the judge of this config lives: keyed by everything that shapes its weights."""
    keyed = copy.deepcopy(dict(config))
    keyed["data"] = {k: v for k, v in keyed["data"].items() if k not in ("root", "download")}  # where, not what
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return paths.DEFAULT_ROOT / "judges" / f"{config['data']['name']}-{digest}"


def _shown_best(summary: Mapping[str, Any]) -> str:
    """'val/acc1 85.70' (test/acc1 without a val split): the judge's best, for the log."""
    best = summary.get("best") or {}
    value = best.get("value")
    return f"{best.get('metric')} {value:.2f}" if isinstance(value, (int, float)) else "no evaluation"


def cached_judge(data_cfg: Mapping[str, Any], steps: int, device: torch.device, distributed: bool = False,
                 train_fn: Callable[..., dict] | None = None) -> Path:
    """The run folder of the cached judge for this data. When there is none it is trained first
    with `train_fn` (the loop's train(), passed in by GenerateTask.prepare before the task is
    built, so this module never imports the loop); without one, a missing judge is an error."""
    config = judge_config(data_cfg, steps, device.type)
    folder = cache_dir(config)
    state = read_run_state(folder)
    if state is not None and state.get("status") == "ok" and (folder / CHECKPOINT_NAME).exists():
        log.info("task.judge = null: using the cached judge %s (%s)", folder, _shown_best(state))
        return folder
    if distributed:
        raise JudgeError(f"task.judge = null and no judge is cached at {folder}; under torchrun it is not trained: "
                         f"run once on one process (it trains and caches it), or allowed: {ALLOWED}")
    if train_fn is None:
        raise JudgeError(f"task.judge = null and no judge is cached at {folder}: normbench.train.train() trains "
                         f"it before building the task (GenerateTask.prepare); allowed: {ALLOWED}")
    log.info("task.judge = null: training the judge (a %d-step VGG classifier on data=%s) once into %s; "
             "later runs load it from there", steps, config["data"]["name"], folder)
    saved = rng_state()
    try:
        summary = train_fn(OmegaConf.create(config), folder)
    finally:
        set_rng_state(saved)
    if summary.get("status") != "ok":
        raise JudgeError(f"task.judge = null: training the judge in {folder} ended {summary.get('status')!r}; "
                         f"allowed: {ALLOWED}")
    log.info("the judge reached %s", _shown_best(summary))
    return folder


class Judge:
    """judge(images) -> (logits, penultimate features) of uint8 (B, C, H, W) images."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], num_classes: int,
                 source: str):
        self.model = model.eval()
        self.normalize = Augment(mean, std).normalize
        self.source = source
        heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
        if not heads:
            raise JudgeError(f"task.judge = {source!r} has no linear layer with {num_classes} outputs to read "
                             f"features before; allowed: {ALLOWED}")
        self._features: list[torch.Tensor] = []
        heads[-1].register_forward_hook(lambda m, args, out: self._features.append(args[0]))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._features.clear()
        logits = self.model(self.normalize(images))
        return logits.float(), self._features[-1].float().flatten(1)


def load_judge(folder: str | Path, *, device: torch.device, num_classes: int, in_chans: int, img_size: int,
               mean: Sequence[float], std: Sequence[float]) -> Judge:
    """The classifier of a normbench classify run folder, on `device`, in eval mode."""
    from normbench.models import build_model
    from normbench.normfree import apply_normfree

    folder = Path(folder).expanduser()
    shown = str(folder)
    if not folder.is_dir():
        raise JudgeError(f"task.judge = {shown!r} is not a folder; allowed: {ALLOWED}")
    for name in ("config.yaml", CHECKPOINT_NAME):
        if not (folder / name).is_file():
            raise JudgeError(f"task.judge = {shown!r} has no {name}; allowed: {ALLOWED}")
    try:
        cfg = OmegaConf.load(folder / "config.yaml")
        task = cfg.get("task")
        task = task.get("name") if hasattr(task, "get") else task
        if task != "classify":
            raise JudgeError(f"task.judge = {shown!r} is a task={task} run; allowed: {ALLOWED}")
        state = load_checkpoint(folder / CHECKPOINT_NAME)
        model = build_model(cfg.model, cfg.norm, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        normfree = cfg.get("normfree") or {"name": "none"}
        model = apply_normfree(model, normfree, cfg.model.name, cfg.norm.name)
        model.load_state_dict(state["model"])
    except JudgeError:
        raise
    except (CheckpointError, InputError, RuntimeError, KeyError, ValueError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise JudgeError(f"task.judge = {shown!r} cannot be loaded as a classifier of {in_chans} x {img_size} px "
                         f"images with {num_classes} classes ({type(err).__name__}: {first}); "
                         f"allowed: {ALLOWED}") from None
    return Judge(model.to(device), mean, std, num_classes, shown)
