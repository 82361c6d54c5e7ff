"""The language-modelling task: next-byte prediction on byte-level text, for the shared loop.

Best is the lowest validation loss (in nats per byte); bits per byte is the same number
divided by ln 2, logged beside it because it compares across tokenizations and papers.
Throughput is counted in tokens. The task owns its window stream, so a checkpoint of its
state ({seed, step}) resumes the batch order exactly. One implementation of the Task
protocol (normbench/train/task.py). Data-parallel, data.batch_size is the global batch: each
rank reads its slice of every batch's windows and evaluates its share of the validation
batches, whose sums are all-reduced (normbench/dist.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from normbench.data.text import WindowStream, eval_windows, first_windows, load_text_data_from_config
from normbench.dist import SINGLE, Dist
from normbench.train.task import register_task


def bits_per_byte(loss: float) -> float:
    """A byte-level cross-entropy in nats -> bits per byte."""
    return loss / math.log(2)


@dataclass
class LMTaskConfig:
    """`task=lm`: next-byte language modelling; best is the lowest val
    loss, throughput is counted in tokens. Its preset (configs/task/lm.yaml) also makes
    model=llama, data=shakespeare and optim=adamw_llama the defaults."""

    name: str = "lm"


@register_task
class LMTask:
    Config = LMTaskConfig  # the `task=<name>` schema
    name = "lm"
    best_metric = "loss"
    selection_split = "val"  # data.val_fraction of the corpus; test/* (data.test_fraction) is only reported
    higher_is_better = False
    throughput_unit = "tokens"
    progress_metrics = ("loss", "bpb")

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any]) -> None:
        pass  # the `task` group of lm has only its name (the schema rejects any other key)

    @classmethod
    def from_config(cls, cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> "LMTask":
        return cls(cfg.data, device, seed=cfg.trainer.seed, dist=dist)

    def __init__(self, data_cfg: Mapping[str, Any], device: torch.device, seed: int, dist: Dist = SINGLE):
        self.dist = dist
        self.batch_size = int(data_cfg["batch_size"])  # global: every rank's windows together
        dist.local_batch_size(self.batch_size)  # a batch the ranks cannot share is a named error, before loading
        self.data = load_text_data_from_config(data_cfg)
        self.device = device
        self.context_length = int(data_cfg["context_length"])
        self.units_per_sample = self.context_length
        self.eval_batch_size = int(data_cfg["eval_batch_size"])
        self.eval_windows = data_cfg.get("eval_windows")
        self.stream = WindowStream(self.data.train, self.context_length, self.batch_size, seed=seed,
                                   rank=dist.rank, world_size=dist.world_size)

    def model_kwargs(self) -> dict[str, int]:
        return {"vocab_size": self.data.vocab_size, "context_length": self.context_length}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = next(self.stream)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def probe_batch(self, n: int) -> torch.Tensor:
        """The fixed probe batch: the first n non-overlapping windows of the training split."""
        starts = first_windows(self.data.train, self.context_length, n)
        x = torch.stack([torch.from_numpy(self.data.train[s : s + self.context_length].astype("int64")) for s in starts])
        return x.to(self.device)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())

    def train_metrics(self, loss: float) -> dict[str, float]:
        return {"bpb": bits_per_byte(loss)}

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, autocast: Callable[[], Any]) -> dict[str, dict[str, float]]:
        """Mean loss over each split's windows (data.eval_windows of them, or every one): {"val": ...},
        and "test" where data.test_fraction holds one out (reported; best is selected on val)."""
        was_training = model.training
        model.eval()
        splits = {"val": self.data.val, **({"test": self.data.test} if self.data.test is not None else {})}
        metrics = {name: self._measure(model, autocast, tokens) for name, tokens in splits.items()}
        model.train(was_training)
        return metrics

    def _measure(self, model: torch.nn.Module, autocast: Callable[[], Any], tokens) -> dict[str, float]:
        loss_sum, count = torch.zeros((), device=self.device), 0
        rank, world = self.dist.rank, self.dist.world_size
        batches = eval_windows(tokens, self.context_length, self.eval_batch_size, self.eval_windows)
        for i, (x, y) in enumerate(batches):
            if i % world != rank:  # data-parallel: each rank its share of the batches
                continue
            x, y = x.to(self.device), y.to(self.device)
            with autocast():
                logits = model(x)
            loss_sum += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="sum")
            count += y.numel()
        loss_total, count = self.dist.sum_scalars(loss_sum, torch.tensor(count, device=self.device))
        loss = loss_total / count
        return {"loss": loss, "bpb": bits_per_byte(loss)}

    def images(self) -> dict[str, Any]:
        return {}  # no images to show

    def state_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stream.load_state_dict(state["stream"])
