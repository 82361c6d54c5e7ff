"""The one shared training loop: every model, norm and task trains through `train()`.

It builds everything (so bad config or missing data fails before the first step), resumes
from a checkpoint when asked, trains with the divergence guard, evaluates every
`trainer.eval_every` steps, and keeps the run folder complete at every moment:
metrics.jsonl line by line, summary.json at each evaluation, the checkpoint every
`trainer.ckpt_every` steps. A diverged run ends with status "diverged" and its best
accuracy kept; an exception ends it with status "failed" and is re-raised.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from normbench.models import build_model
from normbench.track import MetricsWriter, WandbRun, write_summary
from normbench.track.wandb_run import check_mode as check_wandb_mode
from normbench.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    resolve_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from normbench.train.classify import ClassifyTask
from normbench.train.optim import build_optimizer, build_schedule
from normbench.train.progress import Progress
from normbench.train.runtime import (
    TrainerConfigError,
    autocast,
    check_trainer_config,
    resolve_device,
    seed_everything,
)

log = logging.getLogger(__name__)

TASKS = {"classify": ClassifyTask}


def build_task(cfg: DictConfig, device: torch.device):
    if cfg.task not in TASKS:
        raise TrainerConfigError(f"task = {cfg.task!r} is unknown; allowed: {', '.join(TASKS)}")
    return TASKS[cfg.task](cfg.data, device, seed=cfg.trainer.seed, label_smoothing=cfg.trainer.label_smoothing)


class Run:
    """State of one training run; `train()` is the way in."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        t = cfg.trainer
        check_trainer_config(t)
        check_wandb_mode(cfg.logger.wandb.mode)
        ckpt_path = resolve_checkpoint(t.resume, self.run_dir)  # a bad path fails here, before any work
        self._refuse_to_overwrite(t.resume)
        self.device = resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(int(t.threads))
        seed_everything(t.seed)

        self.task = build_task(cfg, self.device)
        self.model = build_model(cfg.model, cfg.norm, **self.task.model_kwargs()).to(self.device)
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.schedule = build_schedule(self.optimizer, cfg.optim, t.max_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        self.forward_model = torch.compile(self.model) if t.compile else self.model

        self.step = 0
        self.best = {"value": None, "step": None}
        self.last_val: dict[str, float] = {}
        self.last_train_loss: float | None = None
        self.elapsed_before = 0.0  # wall time of earlier sessions of a resumed run
        self.train_time = 0.0
        self.samples_seen = 0
        self.wandb_id: str | None = None
        if ckpt_path is not None:
            self._restore(load_checkpoint(ckpt_path), ckpt_path)

    def _refuse_to_overwrite(self, resume: Any) -> None:
        """A fresh run never writes into a folder that holds another run: nothing written is lost."""
        held = [n for n in ("metrics.jsonl", CHECKPOINT_NAME) if (self.run_dir / n).exists()]
        if held and resume is not True:
            raise TrainerConfigError(
                f"run folder {self.run_dir} already holds a run ({', '.join(held)}) and trainer.resume = {resume!r}; "
                "allowed: trainer.resume=true to continue it there, or a new hydra.run.dir"
            )

    # -- checkpoint ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "task": self.task.state_dict(),
            "rng": rng_state(),
            "best": self.best,
            "last_val": self.last_val,
            "elapsed": self.elapsed_before + (time.perf_counter() - self.t_start),
            "train_time": self.train_time,
            "samples_seen": self.samples_seen,
            "wandb_id": self.wandb_id,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        saved, current = state.get("config", {}), OmegaConf.to_container(self.cfg, resolve=True)
        for group in ("model", "norm", "data", "task"):
            if saved.get(group) != current.get(group):
                log.warning("resuming %s with a different `%s` config than it was saved with", path, group)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.task.load_state_dict(state["task"])
        set_rng_state(state["rng"])
        self.step = state["step"]
        self.best = state["best"]
        self.last_val = state["last_val"]
        self.elapsed_before = state["elapsed"]
        self.train_time = state["train_time"]
        self.samples_seen = state["samples_seen"]
        self.wandb_id = state["wandb_id"]
        log.info("resumed from %s at step %d", path, self.step)

    def save(self) -> None:
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, self._state())

    # -- outputs --------------------------------------------------------------------------
    def summary(self, status: str, diverged: dict | None = None, error: str | None = None) -> dict[str, Any]:
        cfg = self.cfg
        metric = self.task.best_metric
        elapsed = self.elapsed_before + (time.perf_counter() - self.t_start)
        final = {f"val_{k}": v for k, v in self.last_val.items()}
        if self.last_train_loss is not None:
            final["train_loss"] = self.last_train_loss
        summary = {
            "status": status,
            "step": self.step,
            "max_steps": cfg.trainer.max_steps,
            "final": final,
            "best": {"metric": f"val_{metric}", "value": self.best["value"], "step": self.best["step"]},
            "wall_time_s": round(elapsed, 3),
            "train_time_s": round(self.train_time, 3),
            "throughput_samples_per_s": round(self.samples_seen / self.train_time, 2) if self.train_time else None,
            "num_params": self.num_params,
            "diverged": diverged,
            "error": error,
            "run": {"task": cfg.task, "model": cfg.model.name, "norm": cfg.norm.name, "data": cfg.data.name,
                    "seed": cfg.trainer.seed, "device": str(self.device)},
            "wandb": {"mode": cfg.logger.wandb.mode, "id": self.wandb_id},
        }
        write_summary(self.run_dir / "summary.json", summary)
        return summary

    def _start_wandb(self) -> WandbRun:
        w = self.cfg.logger.wandb
        run = WandbRun(
            mode=w.mode,
            run_dir=self.run_dir,
            config=OmegaConf.to_container(self.cfg, resolve=True),
            project=w.project,
            entity=w.entity,
            group=w.group or f"{self.cfg.model.name}-{self.cfg.norm.name}",
            name=w.name or self.run_dir.name,
            tags=list(w.tags),
            resume_id=self.wandb_id,
        )
        self.wandb_id = run.id
        return run

    # -- the loop ---------------------------------------------------------------------------
    def evaluate(self, metrics: MetricsWriter, wandb: WandbRun) -> dict[str, float]:
        t = self.cfg.trainer
        self.last_val = self.task.evaluate(self.forward_model, lambda: autocast(self.device, t.precision))
        metrics.write(self.step, "val", **self.last_val)
        wandb.log({f"val/{k}": v for k, v in self.last_val.items()}, step=self.step)
        value = self.last_val[self.task.best_metric]
        if self.best["value"] is None or value > self.best["value"]:
            self.best = {"value": value, "step": self.step}
        return self.last_val

    def train_step(self, batch, grad_clip: float | None) -> torch.Tensor:
        """One optimizer step; returns the detached loss (no host sync)."""
        with autocast(self.device, self.cfg.trainer.precision):
            loss = self.task.loss(self.forward_model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss.detach().float()

    def fit(self) -> dict[str, Any]:
        cfg, t = self.cfg, self.cfg.trainer
        self.t_start = time.perf_counter()
        OmegaConf.save(cfg, self.run_dir / "config.yaml", resolve=True)
        metrics = MetricsWriter(self.run_dir / "metrics.jsonl")
        wandb = self._start_wandb()
        progress = Progress(total=t.max_steps, initial=self.step, enabled=t.progress)
        self.summary("running")
        grad_clip = cfg.optim.grad_clip
        status, diverged, error = "ok", None, None
        self.model.train()
        try:
            window_loss = torch.zeros((), device=self.device)
            window_steps, window_start, paused = 0, time.perf_counter(), 0.0
            while self.step < t.max_steps:
                batch = self.task.next_batch()
                window_loss += self.train_step(batch, grad_clip)
                window_steps += 1
                self.step += 1
                self.samples_seen += len(batch[1])
                last = self.step == t.max_steps

                if self.step % t.log_every == 0 or last:
                    # One host sync per window (.item()), not per step; it also makes the window's time honest.
                    train_loss = (window_loss / window_steps).item()
                    window_time = time.perf_counter() - window_start - paused
                    self.train_time += window_time
                    self.last_train_loss = train_loss
                    speed = window_steps * self.task.batch_size / window_time
                    lr = self.optimizer.param_groups[0]["lr"]
                    metrics.write(self.step, "train", loss=train_loss, lr=lr, samples_per_s=speed,
                                  samples=self.samples_seen, train_time_s=round(self.train_time, 3))
                    wandb.log({"train/loss": train_loss, "train/lr": lr, "train/samples_per_s": speed}, step=self.step)
                    progress.update(self.step, loss=train_loss, speed=speed)
                    window_loss.zero_()
                    window_steps, window_start, paused = 0, time.perf_counter(), 0.0
                    # The divergence guard reads the loss at log steps only, for the same reason.
                    if not math.isfinite(train_loss) or train_loss > t.max_loss:
                        diverged = {"step": self.step, "loss": train_loss if math.isfinite(train_loss) else str(train_loss)}
                        log.warning("diverged at step %d: train loss %s (bound trainer.max_loss=%s)",
                                    self.step, train_loss, t.max_loss)
                        status = "diverged"
                        break  # the last checkpoint (before divergence) is kept as it is
                tic = time.perf_counter()  # evaluation and checkpoints do not count as training time
                if self.step % t.eval_every == 0 or last:
                    val = self.evaluate(metrics, wandb)
                    progress.update(self.step, acc=val[self.task.best_metric])
                    log.info("step %d  train loss %.4f  val loss %.4f  val %s %.2f", self.step,
                             self.last_train_loss, val["loss"], self.task.best_metric, val[self.task.best_metric])
                    self.summary("running")
                if self.step % t.ckpt_every == 0 or last:
                    self.save()
                paused += time.perf_counter() - tic
        except BaseException as err:
            status, error = "failed", f"{type(err).__name__}: {err}"
            raise
        finally:
            progress.close()
            summary = self.summary(status, diverged=diverged, error=error)
            wandb.summary({"status": status, "best_val_" + self.task.best_metric: self.best["value"]})
            wandb.finish(exit_code=0 if status != "failed" else 1)
            metrics.close()
        return summary


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train one run described by a composed config into `run_dir`; returns summary.json's content."""
    return Run(cfg, run_dir).fit()
