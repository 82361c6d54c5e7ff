"""Class-conditional image generation by flow matching (rectified flow), for the shared loop.

    x_t = (1 - t) x0 + t noise,  t ~ U(0, 1)      x0: an image scaled to [-1, 1]
    the model predicts the velocity v = noise - x0 from (x_t, t, label); the loss is the MSE
    sampling: Euler from t = 1 (noise) to t = 0 in task.sample_steps equal steps,
              x <- x - dt * v(x, t, label)

Training labels are replaced by the null class (index num_classes) with probability
task.class_dropout, so the sampler can use classifier-free guidance (task.guidance:
v = v_null + w (v_label - v_null); 1 is plain conditional sampling, one forward a step).

Best is the lowest validation loss, computed with fixed noise and fixed, evenly spread times
on the first task.val_size validation images, so it is comparable across runs and seeds. The
validation images are the data.val_split training images held out from training
(normbench/data/val_split.py; the judge is trained without them too); with data.val_split = 0
they are the test set's, and the metrics are logged as test/* so the name says so.
Each evaluation also samples task.eval_samples images (fixed noise, the classes in turn) and
reports the judge's accuracy on them (judge_acc, in %) and an FID on its penultimate features
against the same real validation images (fid; normbench/train/judge.py, frechet.py), and
keeps a grid (one row per class, task.grid_per_class samples) that the loop writes as a PNG
into the run folder and logs to wandb (images()). Throughput is counted in images.

The task owns its randomness: the batch order (BatchStream) and one generator for noise,
times and label dropout, both in state_dict(), so a resumed run continues exactly. The
fixed validation and sampling tensors come from their own seeds, never the run's.
data.augment does not apply (flips and crops would change what the model learns to draw).
Data-parallel: each rank trains on its slice and evaluates its share of the val loss; every
rank samples the same images (the metrics are the same on every rank).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from normbench.data import BatchStream, load_image_data_from_config
from normbench.dist import SINGLE, Dist, rank_seed
from normbench.errors import TrainerConfigError
from normbench.train.frechet import feature_stats, frechet_distance
from normbench.train.judge import Judge, cached_judge, load_judge
from normbench.train.task import register_task

VAL_SEED = 1234  # the fixed noise and times of the validation loss
SAMPLE_SEED = 4321  # the fixed noise of the evaluation samples


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] (clipped) -> uint8 [0, 255]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def grid_image(images: torch.Tensor, rows: int) -> np.ndarray:
    """uint8 (rows * cols, C, H, W) -> (rows * (H + 2) + 2, cols * (W + 2) + 2, C) uint8 with 2 px gaps, row-major."""
    n, c, h, w = images.shape
    cols = n // rows
    grid = torch.zeros(c, rows * (h + 2) + 2, cols * (w + 2) + 2, dtype=torch.uint8)
    for i in range(rows):
        for j in range(cols):
            grid[:, 2 + i * (h + 2):2 + i * (h + 2) + h, 2 + j * (w + 2):2 + j * (w + 2) + w] = images[i * cols + j]
    return grid.permute(1, 2, 0).cpu().numpy()


@dataclass
class GenerateTaskConfig:
    """`task=generate`: class-conditional image generation by flow matching;
    best is the lowest val loss (fixed noise and times: comparable across runs), throughput is counted
    in images. Its preset (configs/task/generate.yaml) also makes model=dit, norm=adaln_zero and
    optim=adamw_dit the defaults; the data stays the shipped subset (data=fashion_mnist: the full set)."""

    name: str = "generate"
    sample_steps: int = 10         # Euler steps of the sampler, from t = 1 (noise) to t = 0 (image)
    class_dropout: float = 0.1     # in [0, 1): share of training labels replaced by the null class (for guidance)
    guidance: float = 1.0          # classifier-free guidance scale of the sampler (>= 0); 1: none, one forward a step
    val_size: int = 500            # validation images of the fixed-noise val loss and of the FID's real side
    eval_samples: int = 250        # samples per evaluation (the classes in turn), for judge_acc and fid
    grid_per_class: int = 8        # the sample grid (PNG, wandb): one row per class, this many samples each
    judge: Optional[str] = None    # a normbench classify run folder; null: train one once and cache it
                                   # under the data cache dir
    judge_steps: int = 500         # steps of the cached judge (task.judge=null); part of its cache key


@register_task
class GenerateTask:
    Config = GenerateTaskConfig  # the `task=<name>` schema
    name = "generate"
    best_metric = "loss"
    selection_split = "val"  # "test" with data.val_split = 0 (set per run in __init__)
    higher_is_better = False
    throughput_unit = "images"
    units_per_sample = 1
    progress_metrics = ("loss", "fid", "judge_acc")

    @classmethod
    def check_config(cls, task_cfg: Mapping[str, Any]) -> None:
        def fail(key: str, why: str):
            raise TrainerConfigError(f"task.{key} = {task_cfg.get(key)!r} is not allowed: {why}")

        for key in ("sample_steps", "val_size", "eval_samples", "grid_per_class", "judge_steps"):
            value = task_cfg.get(key)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                fail(key, "must be an int >= 1")
        if not 0.0 <= task_cfg.get("class_dropout") < 1.0:
            fail("class_dropout", "must be in [0, 1)")
        if not task_cfg.get("guidance") >= 0.0:
            fail("guidance", "must be a number >= 0")
        if task_cfg.get("guidance") != 1.0 and task_cfg.get("class_dropout") == 0.0:
            fail("guidance", "needs task.class_dropout > 0 (the null class must be trained); allowed with "
                             "class_dropout = 0: 1.0")

    @classmethod
    def from_config(cls, cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> "GenerateTask":
        return cls(cfg.data, cfg.task, device, seed=cfg.trainer.seed, dist=dist)

    def __init__(self, data_cfg: Mapping[str, Any], task_cfg: Mapping[str, Any], device: torch.device, seed: int,
                 dist: Dist = SINGLE):
        self.check_config(task_cfg)
        self.dist = dist
        self.device = device
        self.batch_size = int(data_cfg["batch_size"])  # global: every rank's images together
        dist.local_batch_size(self.batch_size)
        self.data = data = load_image_data_from_config(data_cfg)
        self.num_classes = data.num_classes
        self.eval_batch_size = int(data_cfg["eval_batch_size"])
        self.sample_steps = int(task_cfg["sample_steps"])
        self.class_dropout = float(task_cfg["class_dropout"])
        self.guidance = float(task_cfg["guidance"])
        self.grid_per_class = int(task_cfg["grid_per_class"])
        n_samples = int(task_cfg["eval_samples"])
        if n_samples < self.num_classes * self.grid_per_class:
            raise TrainerConfigError(
                f"task.eval_samples = {n_samples} is not allowed: the grid needs task.grid_per_class = "
                f"{self.grid_per_class} samples of each of {self.num_classes} classes, so at least "
                f"{self.num_classes * self.grid_per_class}")
        self.stream = BatchStream(data.train_x, data.train_y, batch_size=self.batch_size, seed=seed,
                                  rank=dist.rank, world_size=dist.world_size)
        # noise, times and label dropout of training batches: the task's own, saved and resumed
        self.generator = torch.Generator(device=device).manual_seed(rank_seed(seed, dist.rank) + 1)

        # the fixed validation set: the first val_size validation images, noise and evenly spread times
        held_x, held_y = (data.val_x, data.val_y) if data.val_x is not None else (data.test_x, data.test_y)
        self.selection_split = "val" if data.val_x is not None else "test"
        val_size = min(int(task_cfg["val_size"]), len(held_y))
        self.val_images = held_x[:val_size].to(device)
        self.val_labels = held_y[:val_size].to(device)
        g = torch.Generator().manual_seed(VAL_SEED)
        self.val_noise = torch.randn(self.val_images.shape, generator=g).to(device)
        self.val_t = ((torch.randperm(val_size, generator=g).float() + 0.5) / val_size).to(device)
        # with a validation split, the test set's loss too (reported, never selected on: an lr picked on
        # val/loss is judged on test/loss), on its first val_size images with the same noise and times
        self.test_set = None
        if data.val_x is not None:
            n = min(val_size, len(data.test_y))
            self.test_set = (data.test_x[:n].to(device), data.test_y[:n].to(device), self.val_noise[:n], self.val_t[:n])
        # the fixed samples: the classes in turn, so sample i has class i % num_classes
        g = torch.Generator().manual_seed(SAMPLE_SEED)
        self.sample_labels = (torch.arange(n_samples) % self.num_classes).to(device)
        self.sample_noise = torch.randn((n_samples, *self.val_images.shape[1:]), generator=g).to(device)

        self.judge = self._load_judge(data_cfg, task_cfg)
        _, real_features = self._judge_batches(self.val_images)
        self.real_stats = feature_stats(real_features)
        self.grid: np.ndarray | None = None

    @classmethod
    def prepare(cls, cfg: DictConfig, train_fn: Callable[..., dict]) -> None:
        """Before the task is built (train() calls it): with task.judge = null, the cached judge
        for this data, trained first with train_fn when there is none."""
        if cfg.task.get("judge") is None:
            import torch.distributed as torch_dist

            from normbench.train.runtime import resolve_device

            cached_judge(cfg.data, int(cfg.task.judge_steps), resolve_device(cfg.trainer.device),
                         distributed=torch_dist.is_available() and torch_dist.is_initialized(), train_fn=train_fn)

    def _load_judge(self, data_cfg: Mapping[str, Any], task_cfg: Mapping[str, Any]) -> Judge:
        folder = task_cfg.get("judge")
        if folder is None:
            folder = cached_judge(data_cfg, int(task_cfg["judge_steps"]), self.device, distributed=self.dist.enabled)
        return load_judge(folder, device=self.device, num_classes=self.num_classes, in_chans=self.data.in_chans,
                          img_size=self.data.img_size, mean=self.data.mean, std=self.data.std)

    def model_kwargs(self) -> dict[str, int]:
        return {"num_classes": self.num_classes, "in_chans": self.data.in_chans, "img_size": self.data.img_size}

    # -- training ---------------------------------------------------------------------------
    def noised(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t, the velocity target noise - x0) at times t (B,)."""
        tt = t.view(-1, *([1] * (x0.ndim - 1)))
        return (1 - tt) * x0 + tt * noise, noise - x0

    def next_batch(self) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        """((x_t, t, labels with some dropped to the null class), velocity target)."""
        x, y = next(self.stream)
        x0, y = to_model_range(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)
        g = self.generator
        noise = torch.randn(x0.shape, generator=g, device=g.device).to(self.device)
        t = torch.rand(len(y), generator=g, device=g.device).to(self.device)
        drop = torch.rand(len(y), generator=g, device=g.device).to(self.device) < self.class_dropout
        x_t, target = self.noised(x0, noise, t)
        return (x_t, t, torch.where(drop, self.num_classes, y)), target

    def probe_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fixed probe batch: the first n training images noised halfway with fixed noise."""
        x0 = to_model_range(self.data.train_x[:n]).to(self.device)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(VAL_SEED)).to(self.device)
        t = torch.full((len(x0),), 0.5, device=self.device)
        return self.noised(x0, noise, t)[0], t, self.data.train_y[:n].to(self.device)

    def loss(self, model: torch.nn.Module, batch) -> torch.Tensor:
        inputs, target = batch
        return F.mse_loss(model(*inputs).float(), target)

    def train_metrics(self, loss: float) -> dict[str, float]:
        return {}

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, model: torch.nn.Module, noise: torch.Tensor, labels: torch.Tensor,
               autocast: Callable[[], Any]) -> torch.Tensor:
        """Euler from t = 1 to t = 0 in sample_steps steps, with classifier-free guidance when guidance != 1."""
        x, dt = noise.clone(), 1.0 / self.sample_steps
        null = torch.full_like(labels, self.num_classes)
        for i in range(self.sample_steps):
            t = torch.full((len(x),), 1.0 - i * dt, device=x.device)
            with autocast():
                if self.guidance == 1.0:
                    v = model(x, t, labels).float()
                else:  # conditional and unconditional in one batch
                    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).float()
                    v_label, v_null = both.chunk(2)
                    v = v_null + self.guidance * (v_label - v_null)
            x = x - dt * v
        return x

    def _judge_batches(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = zip(*(self.judge(images[i:i + self.eval_batch_size])
                                 for i in range(0, len(images), self.eval_batch_size)))
        return torch.cat(logits), torch.cat(features)

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, autocast: Callable[[], Any]) -> dict[str, dict[str, float]]:
        """{selection_split: loss, fid, judge_acc} (val; test with data.val_split = 0), and
        {"test": loss} beside a validation split."""
        was_training = model.training
        model.eval()
        loss = self._loss(model, autocast, self.val_images, self.val_labels, self.val_noise, self.val_t)
        test = None if self.test_set is None else self._loss(model, autocast, *self.test_set)
        bs = self.eval_batch_size
        samples = torch.cat([to_uint8(self.sample(model, self.sample_noise[i:i + bs], self.sample_labels[i:i + bs],
                                                  autocast)) for i in range(0, len(self.sample_labels), bs)])
        model.train(was_training)
        logits, features = self._judge_batches(samples)
        judge_acc = 100.0 * (logits.argmax(-1) == self.sample_labels).double().mean().item()
        fid = frechet_distance(*feature_stats(features), *self.real_stats)
        k = self.num_classes  # sample i has class i % k: row c of the grid holds samples c, c + k, ...
        order = torch.arange(self.grid_per_class * k).view(self.grid_per_class, k).T.flatten()
        self.grid = grid_image(samples[order], rows=k)
        out = {self.selection_split: {"loss": loss, "fid": fid, "judge_acc": judge_acc}}
        return out if test is None else {**out, "test": {"loss": test}}

    def _loss(self, model: torch.nn.Module, autocast: Callable[[], Any], images: torch.Tensor, labels: torch.Tensor,
              noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The mean velocity MSE over fixed images, noise and times (comparable across runs)."""
        loss_sum = torch.zeros((), device=self.device)
        rank, world, bs = self.dist.rank, self.dist.world_size, self.eval_batch_size
        for i, start in enumerate(range(0, len(images), bs)):
            if i % world != rank:  # data-parallel: each rank its share of the batches
                continue
            part = slice(start, start + bs)
            x_t, target = self.noised(to_model_range(images[part]), noise[part], t[part])
            with autocast():
                pred = model(x_t, t[part], labels[part])
            loss_sum += F.mse_loss(pred.float(), target, reduction="sum") / target[0].numel()
        (loss_total,) = self.dist.sum_scalars(loss_sum)
        return loss_total / len(images)

    def images(self) -> dict[str, np.ndarray]:
        """The latest evaluation's sample grid (uint8 H x W x C), for the run folder and wandb."""
        return {} if self.grid is None else {"samples": self.grid}

    def state_dict(self) -> dict[str, Any]:
        return {"stream": self.stream.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stream.load_state_dict(state["stream"])
        self.generator.set_state(state["generator"])
