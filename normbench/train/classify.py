"""The image-classification task: batches, loss and evaluation for the shared loop.

A task owns its data and its randomness (batch order and augmentation), so the loop
stays task-agnostic and a checkpoint of the task's state resumes data exactly. It is one
implementation of the Task protocol (normbench/train/task.py).

Each evaluation measures two splits: `val`, the data.val_split training images held out
(normbench/data/val_split.py; selection: best), and `test`, the data set's test set (reported).
With data.val_split = 0 there is no val: test alone is measured and best is selected on it.

Data-parallel (normbench/dist.py): data.batch_size is the global batch, each rank reads its
slice of the one batch order, augments it with its own generator, and evaluates its share of
each split's batches; the sums are all-reduced, so every rank gets the single-process numbers.
The split is a pure function of the labels, so every rank holds out the same images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from omegaconf import DictConfig

from normbench.data import Augment, BatchStream, eval_batches, load_image_data_from_config
from normbench.dist import SINGLE, Dist, rank_seed
from normbench.errors import TrainerConfigError
from normbench.train.task import register_task

log = logging.getLogger(__name__)


@dataclass
class ClassifyTaskConfig:
    """`task=classify` (the default): image classification;
    best is the highest val acc1, throughput is counted in images."""

    name: str = "classify"
    label_smoothing: float = 0.0   # in [0, 1): the training loss's label smoothing (eval loss has none);
                                   # the default run sets 0.1 (configs/task/default_run/classify.yaml)


@register_task
class ClassifyTask:
    Config = ClassifyTaskConfig  # the `task=<name>` schema
    name = "classify"
    best_metric = "acc1"  # the summary keeps its best value (on selection_split)
    higher_is_better = True
    throughput_unit = "images"
    units_per_sample = 1
    progress_metrics = ("acc1",)

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any]) -> None:
        smoothing = task_cfg.get("label_smoothing", 0.0)
        if not 0.0 <= smoothing < 1.0:
            raise TrainerConfigError(f"task.label_smoothing = {smoothing!r} is not allowed: must be in [0, 1)")

    @classmethod
    def from_config(cls, cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> "ClassifyTask":
        """From the `task` group (task.label_smoothing), the data group and trainer.seed."""
        return cls(cfg.data, device, seed=cfg.trainer.seed, label_smoothing=cfg.task.get("label_smoothing", 0.0),
                   dist=dist)

    def __init__(self, data_cfg: Mapping[str, Any], device: torch.device, seed: int, label_smoothing: float = 0.0,
                 dist: Dist = SINGLE):
        self.dist = dist
        self.batch_size = int(data_cfg["batch_size"])  # global: every rank's batches together
        dist.local_batch_size(self.batch_size)  # a batch the ranks cannot share is a named error, before loading
        self.data = load_image_data_from_config(data_cfg)
        self.device = device
        self.label_smoothing = label_smoothing
        self.eval_batch_size = int(data_cfg["eval_batch_size"])
        self.stream = BatchStream(self.data.train_x, self.data.train_y, batch_size=self.batch_size, seed=seed,
                                  rank=dist.rank, world_size=dist.world_size)
        aug = data_cfg["augment"]
        self.augment = Augment(self.data.mean, self.data.std, crop_padding=aug["crop_padding"], hflip=aug["hflip"])
        # Augmentation draws from its own generator so its state can be saved and resumed; each
        # rank has its own (rank 0's is the single-process one).
        self.generator = torch.Generator(device=device).manual_seed(rank_seed(seed, dist.rank) + 1)
        # split -> (images, labels) on the device: val (selection) when there is one, then test (reported)
        self.splits = {"test": (self.data.test_x.to(device), self.data.test_y.to(device))}
        if self.data.val_x is not None:
            self.splits = {"val": (self.data.val_x.to(device), self.data.val_y.to(device)), **self.splits}
        self.selection_split = next(iter(self.splits))
        if self.selection_split == "test" and dist.is_main:
            log.warning("data.val_split = 0: no validation split; best is selected on the test set (test/acc1)")

    def model_kwargs(self) -> dict[str, int]:
        return {"num_classes": self.data.num_classes, "in_chans": self.data.in_chans, "img_size": self.data.img_size}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = next(self.stream)
        x = x.to(self.device, non_blocking=True)
        return self.augment(x, self.generator), y.to(self.device, non_blocking=True)

    def probe_batch(self, n: int) -> torch.Tensor:
        """The fixed probe batch: the first n training images, normalised, not augmented."""
        return self.augment.normalize(self.data.train_x[:n].to(self.device))

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, label_smoothing=self.label_smoothing)

    def train_metrics(self, loss: float) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, autocast: Callable[[], Any]) -> dict[str, dict[str, float]]:
        """loss and acc1 of each split: {"val": ..., "test": ...} (test alone without a val split)."""
        was_training = model.training
        model.eval()
        metrics = {split: self._measure(model, autocast, x, y) for split, (x, y) in self.splits.items()}
        model.train(was_training)
        return metrics

    def _measure(self, model: torch.nn.Module, autocast: Callable[[], Any], images: torch.Tensor,
                 labels: torch.Tensor) -> dict[str, float]:
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        rank, world = self.dist.rank, self.dist.world_size
        for i, (x, y) in enumerate(eval_batches(images, labels, self.eval_batch_size)):
            if i % world != rank:  # data-parallel: each rank its share of the batches
                continue
            with autocast():
                logits = model(self.augment.normalize(x))
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(dim=-1) == y).sum()
        loss_total, correct_total = self.dist.sum_scalars(loss_sum, correct)
        n = len(labels)
        return {"loss": loss_total / n, "acc1": 100.0 * correct_total / n}

    def images(self) -> dict[str, Any]:
        return {}  # no images to show

    def state_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stream.load_state_dict(state["stream"])
        self.generator.set_state(state["generator"])
