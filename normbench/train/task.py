"""The Task seam: what the shared loop needs from a task (classify, lm, generate), and nothing more.

Why: the loop trains, evaluates, probes and checkpoints the same way for every task; what
differs is the data and its randomness, the loss, the evaluation, what "best" means (higher
accuracy or lower loss) and what throughput is counted in (images or tokens). A task owns
all of that, so a new task is one class that registers itself (@register_task), not an edit of
the loop.
Each task is also a config group (configs/task/<name>.yaml, its schema the class's `Config`
dataclass, which registering stores as /schema/task/<name>): the keys that belong to it
(classify's label_smoothing) live there, not in the trainer, and its preset may choose the
model, data and optim defaults that fit it (task=lm: llama, shakespeare, adamw_llama).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping, Protocol, TypeVar

import torch
from omegaconf import DictConfig

from normbench.dist import SINGLE, Dist
from normbench.errors import TrainerConfigError
from normbench.plugins import load_plugins


class Task(Protocol):
    name: str
    Config: type             # the `task` group's schema: a dataclass whose `name` defaults to name
    best_metric: str         # a metric of evaluate()'s selection split; summary.json keeps its best value
    selection_split: str     # the split best is selected on: "val" (held out from training), or "test"
                             # where there is no val (classify with data.val_split = 0)
    higher_is_better: bool   # acc1: true; loss: false
    throughput_unit: str     # "images" | "tokens": metrics.jsonl logs `<unit>_per_s`
    units_per_sample: int    # 1 image per sample; context_length tokens per sequence
    batch_size: int          # samples per training batch (the global batch: all ranks together)
    progress_metrics: tuple[str, ...]  # metrics of each evaluated split the progress bar shows (beside train
                                       # loss and throughput)

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any]) -> None:
        """Raise an InputError naming the key unless the values of its `task` group are allowed
        (called before anything is built; the types are the schema's business)."""

    @classmethod
    def from_config(cls, cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> "Task":
        """The task of a whole composed run config (its `task` and data groups, seed, ...). Under
        torchrun (`dist`), batch_size stays the global batch; next_batch() gives this rank's slice of
        it, and evaluate() this rank's share of the evaluation, summed over the ranks."""

    def model_kwargs(self) -> dict[str, Any]:
        """Sizes the model builder needs from the data (classes, image size, vocabulary); opaque to the loop."""

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (input, target) training batch (this rank's slice) on the device; its order is
        part of state_dict()."""

    def probe_batch(self, n: int) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """A fixed input batch of n samples for the norm-layer probes (a tuple: the model's inputs)."""

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch (a scalar tensor, no host sync)."""

    def train_metrics(self, loss: float) -> dict[str, float]:
        """Metrics derived from a logged mean train loss (lm: bits per byte); may be empty."""

    def evaluate(self, model: torch.nn.Module, autocast: Callable[[], Any]) -> dict[str, dict[str, float]]:
        """Metrics per split, `loss` and best_metric among each: selection_split's (val: selection)
        and any reported beside it (classify's test)."""

    def images(self) -> dict[str, Any]:
        """Images of the latest evaluation, which the loop writes through the tracker (PNG in the
        run folder, wandb): name -> uint8 H x W x C array; task=generate's sample grid, {} for a
        task that makes none."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


# -- the registry: a task class registers itself; the loop looks it up by task.name -------------
TASKS: dict[str, type] = {}
_BUILTIN = ("normbench.train.classify", "normbench.train.lm", "normbench.train.generate")
T = TypeVar("T", bound=type)


def register_task(cls: T) -> T:
    """Class decorator: the task is known by its `name` to check_task, build_task and prepare_task,
    and its `Config` (a dataclass: the keys of task=<name>, name first) is its config schema.
    A task may define `prepare(cfg, train_fn)` (a classmethod), run by train() before the task is
    built, e.g. task=generate trains and caches its judge there (train_fn: the loop's train())."""
    config = getattr(cls, "Config", None)
    if not dataclasses.is_dataclass(config) or config().name != cls.name:
        raise TypeError(f"@register_task {cls.__name__}: Config must be a dataclass whose name defaults to {cls.name!r}")
    TASKS[cls.name] = cls
    from normbench.config.store import store_node  # lazily: normbench.config reads this registry

    store_node(f"task/{cls.name}", config)
    return cls


def tasks() -> dict[str, type]:
    """Every registered task: the built-in ones (imported on first use: they import this module)
    and the plugins' (NORMBENCH_PLUGINS)."""
    for module in _BUILTIN:
        importlib.import_module(module)
    load_plugins()
    return TASKS


def task_configs() -> dict[str, type]:
    """{task name: its Config}: the `task` group's schema, one per task."""
    return {name: cls.Config for name, cls in tasks().items()}


def check_task(task_cfg: Mapping) -> None:
    """The `task` group names a known task and holds allowed values, before anything is built."""
    name = task_cfg.get("name")
    if name not in tasks():
        raise TrainerConfigError(f"task.name = {name!r} is unknown; allowed: {', '.join(TASKS)}")
    TASKS[name].check_config(task_cfg)


def prepare_task(cfg: DictConfig, train_fn: Callable[..., dict]) -> None:
    """What the task needs made before it is built, with the loop's train() (no import circle)."""
    check_task(cfg.task)
    prepare = getattr(TASKS[cfg.task.name], "prepare", None)
    if prepare is not None:
        prepare(cfg, train_fn)


def build_task(cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> Task:
    check_task(cfg.task)
    return TASKS[cfg.task.name].from_config(cfg, device, dist)


def is_better(task: Task, value: float, best: float | None) -> bool:
    """True when `value` beats the best so far in the task's direction (None: no best yet)."""
    if best is None:
        return True
    return value > best if task.higher_is_better else value < best
