"""The one shared training loop: every model, norm and task trains through `train()`.

It builds everything (so bad config or missing data fails before the first step), resumes
from a checkpoint when asked, and trains; everything that happens every k steps (the
train-loss log with the divergence guard, evaluation, probes, checkpoints) is a Periodic
action, and every number goes through the Tracker. The run folder is complete at every
moment: metrics.jsonl and probes.jsonl line by line, summary.json at each evaluation, the
checkpoint every `trainer.ckpt_every` steps (never after a divergence). A diverged run ends
with status "diverged" and its best metric kept; an exception ends it "failed" and is re-raised;
SIGTERM or Ctrl-C ends it at the next step boundary with a checkpoint and status "interrupted"
(normbench/preempt.py), and trainer.resume=true continues it exactly.

trainer.resume=<path> continues another folder's run in this one, which is then whole on its
own: summary.json records where it came from (`resumed_from`), the earlier folder's metrics
and probes up to the checkpoint's step are carried into it (and into its wandb run), and it is
a new wandb run whose config names the earlier one as its parent.

Under torchrun the same loop trains data-parallel (normbench/dist.py: DDP, all-reduced logs and
evaluations so every rank decides alike, rank 0 alone writes). What is not the loop has its own
home: train/preflight.py, train/task.py, train/build.py (the model of a run), train/checkpoint.py,
train/window.py, track/summary.py, track/wandb_run.py.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from normbench.dist import SINGLE, Dist, StopVote, rank_seed
from normbench.dist import setup as setup_dist
from normbench.models.registry import models
from normbench.preempt import StopRequest
from normbench.probes import HealthMonitor, NormProbe
from normbench.track import (DONE, Tracker, WandbRun, alive_elsewhere, build_summary, metric_key, read_run_state,
                             start_wandb)
from normbench.track.logfiles import log_split
from normbench.train.checkpoint import (CHECKPOINT_NAME, assemble_state, load_checkpoint, parse_resume, rank_state,
                                        refuse_to_overwrite, resolve_checkpoint, restore_state, save_checkpoint)
from normbench.train.guard import Diverged, check_loss, check_weights
from normbench.train.gc_freeze import frozen_heap
from normbench.train.build import build_run_model
from normbench.train.optim import build_optimizer, build_schedule
from normbench.train.periodic import Periodic
from normbench.train.preflight import preflight
from normbench.train.runtime import autocast, check_writable, resolve_device, seed_everything
from normbench.train.task import build_task, is_better, prepare_task
from normbench.train.window import TrainWindow

log = logging.getLogger(__name__)


class Trainer:
    """One training run, built (everything that can fail on bad input fails here, before the
    first step) and trained by fit(); `train()` is the way in."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path, hydra: Any = None, dist: Dist = SINGLE):
        preflight(cfg)
        self.cfg = cfg
        self.dist = dist
        self.hydra = hydra
        self.run_dir = Path(run_dir)
        check_writable(self.run_dir)
        t = cfg.trainer
        ckpt_path = resolve_checkpoint(t.resume, self.run_dir)  # a bad path fails here, before any work
        refuse_to_overwrite(self.run_dir, t.resume)
        self.device = dist.device if dist.enabled else resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(int(t.threads))
        seed_everything(t.seed)  # on every rank: the same initial model

        prepare_task(cfg, train)  # what the task needs made first (task=generate: its judge), with this train()
        self.task = build_task(cfg, self.device, dist)
        self.model = build_run_model(cfg, self.task, self.device, dist, self.run_dir, fresh=ckpt_path is None)
        if dist.rank:  # each rank its own randomness from here on (dropout); rank 0 keeps the run's
            seed_everything(rank_seed(t.seed, dist.rank))
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.schedule = build_schedule(self.optimizer, cfg.optim, t.max_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")
        # The compiled forward trains and evaluates; probes and checkpoints use the eager model
        # (hooks on a compiled graph never run).
        self.forward_model = torch.compile(self.model) if t.compile else self.model
        p = cfg.probe
        # Probes measure the one model on rank 0 (the weights are the same on every rank).
        # Given the optimizer, it sums alpha's updates every step (kept in the optimizer's state_dict).
        branches = models()[cfg.model.name].branches
        self.probe = NormProbe(self.model, self.task.probe_batch(p.batch_size), p.scurve_tokens, p.scurve_channels,
                               optimizer=self.optimizer, branches=branches(self.model) if branches else ()
                               ) if p.enabled and dist.is_main else None
        self.monitor = HealthMonitor(**p.monitor)
        self.best_key = metric_key(self.task.selection_split, self.task.best_metric)  # val/acc1; test/* reported

        self.step = 0
        self.best = {"metric": self.best_key, "value": None, "step": None}
        self.last: dict[str, float] = {}  # latest `split/metric` values (restored on resume)
        self.lr_used = float("nan")  # the lr of the latest step, read before the schedule moves on
        self.elapsed_before = 0.0  # wall time of earlier sessions of a resumed run
        self.train_time = 0.0
        self.action_time: dict[str, float] = {}  # seconds spent in each periodic action (probe cost, ...)
        self.samples_seen = 0
        self.wandb_id: str | None = None
        # trainer.resume=<path>: {checkpoint, run_dir, step, wandb_id} of the run this one continues
        self.resumed_from: dict[str, Any] | None = None
        self.wandb_mode = cfg.logger.wandb.mode
        self.window = TrainWindow(self.device, dist)
        self.saved_step: int | None = None  # the step of the last checkpoint this session wrote
        self.stop = StopRequest()
        self.stop_vote = StopVote(dist)  # every rank stops at the same step boundary
        if ckpt_path is not None:
            restore_state(self, load_checkpoint(ckpt_path), ckpt_path)
        # Data-parallel training goes through DDP (it all-reduces the gradients in the backward
        # pass); evaluation uses forward_model, so each rank can evaluate its own share.
        self.train_model = self.forward_model
        if dist.enabled:
            self.train_model = DistributedDataParallel(
                self.forward_model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

        self.actions = [
            Periodic("log", t.log_every, self.log_train, training=True),
            Periodic("evaluate", t.eval_every, self.evaluate),
        ]
        if self.probe is not None:
            self.actions.append(Periodic("probe", p.every, self.run_probe, at_start=True))
        self.actions.append(Periodic("checkpoint", t.ckpt_every, self.checkpoint))
        self.scurve_steps = {t.max_steps if s == -1 else int(s) for s in p.scurve_steps}  # 0: at init

    # -- checkpoint ---------------------------------------------------------------------
    def save(self) -> None:
        ranks = self.dist.gather_object(rank_state(self))  # a collective: every rank saves together
        if self.dist.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT_NAME, assemble_state(self, ranks))
        self.saved_step = self.step

    # -- outputs --------------------------------------------------------------------------
    def summary(self, status: str, diverged: dict | None = None, error: str | None = None) -> dict[str, Any]:
        return build_summary(self, status, diverged=diverged, error=error)

    def _start_wandb(self) -> WandbRun:
        run = start_wandb(self.cfg, self.run_dir, self.hydra, resumed_from=self.resumed_from, resume_id=self.wandb_id)
        self.wandb_id, self.wandb_mode = run.id, run.mode
        return run

    def _rate_shown(self) -> tuple[str, str]:
        """(the train metric of the task's throughput, its label on the progress bar): an image
        is a sample, so classification's is samples_per_s, shown as images/s."""
        unit = self.task.throughput_unit
        return ("samples_per_s" if self.task.units_per_sample == 1 else f"{unit}_per_s"), f"{unit}/s"

    # -- periodic actions -------------------------------------------------------------------
    def log_train(self) -> None:
        # One host sync per window (.item()), not per step; it also makes the window's time honest.
        w = self.window
        loss, window_time, steps = w.mean_loss(), w.elapsed(), w.steps
        w.reset()
        self.train_time += window_time
        samples_per_s = steps * self.task.batch_size / window_time
        # tokens_per_s for lm; an image is a sample, so classification logs samples_per_s alone
        rate = ({} if self.task.units_per_sample == 1
                else {f"{self.task.throughput_unit}_per_s": samples_per_s * self.task.units_per_sample})
        self.last.update(self.tracker.log(self.step, "train", loss=loss, **self.task.train_metrics(loss),
                         lr=self.lr_used, samples_per_s=samples_per_s, **rate,
                         samples=self.samples_seen, train_time_s=round(self.train_time, 3)))
        check_loss(self.step, loss, self.cfg.trainer.max_loss)

    def evaluate(self) -> None:
        self.dist.broadcast_buffers(self.model)  # rank 0's running statistics: one model on every rank
        splits = self.task.evaluate(self.forward_model, lambda: autocast(self.device, self.cfg.trainer.precision))
        named: dict[str, float] = {}
        for split, metrics in splits.items():
            named.update(self.tracker.log(self.step, split, **metrics))
        self.last.update(named)
        select = self.task.selection_split  # val: selection; test: reported beside it
        self.tracker.images(self.step, select, self.task.images())  # task=generate: its sample grid
        value = splits[select][self.task.best_metric]
        if is_better(self.task, value, self.best["value"]):  # best carries every split's metrics at its step
            self.best = {"metric": self.best_key, "value": value, "step": self.step, "metrics": named}
        # "val loss 0.4123 acc1 87.1000  test loss ...": fixed decimals, 8.0 shows as 8.0000, not 8
        shown = "  ".join(f"{split} " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                          for split, metrics in splits.items())
        self.tracker.info("step %d  train loss %.4f  %s", self.step, self.last.get("train/loss", float("nan")), shown)
        self.tracker.summary(self.summary("running"))

    def run_probe(self) -> None:
        lines = self.probe(scurve=self.step in self.scurve_steps)
        self.tracker.probes(self.step, lines)
        for layer, message in self.monitor(lines):
            self.tracker.warn(self.step, layer, message)

    def checkpoint(self) -> None:
        # Never replace the last good checkpoint with a diverged one: check the loss of the
        # window not yet logged, and the weights themselves.
        loss = self.last.get("train/loss", 0.0)
        if self.window.steps:  # steps since the last log: their loss has not been checked yet
            loss = self.window.mean_loss()
            check_loss(self.step, loss, self.cfg.trainer.max_loss)
        check_weights(self.step, self.model, loss)
        self.save()

    # -- the loop ---------------------------------------------------------------------------
    def train_step(self, batch, grad_clip: float | None) -> torch.Tensor:
        """One optimizer step; returns the detached loss (no host sync)."""
        with autocast(self.device, self.cfg.trainer.precision):
            loss = self.task.loss(self.train_model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.lr_used = self.optimizer.param_groups[0]["lr"]  # this step's lr, before the schedule moves on
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss.detach().float()

    def fit(self) -> dict[str, Any]:
        cfg, t = self.cfg, self.cfg.trainer
        self.t_start = time.perf_counter()
        main = self.dist.is_main  # rank 0 alone writes the run folder, wandb and the console
        if main:
            OmegaConf.save(cfg, self.run_dir / "config.yaml", resolve=True)
        wandb = self._start_wandb() if main else WandbRun(mode="disabled", run_dir=self.run_dir, config={},
                                                           project="", name="")
        self.tracker = Tracker(self.run_dir, wandb=wandb, total_steps=t.max_steps,
                               initial_step=self.step, progress=t.progress, shown_rate=self._rate_shown(),
                               shown_metrics=self.task.progress_metrics, main=main)
        if self.resumed_from is not None and self.cfg.trainer.resume is not True and main:
            self.tracker.carry_from(Path(self.resumed_from["run_dir"]), self.resumed_from["step"])
        self.tracker.summary(self.summary("running"))
        status, diverged, error = "ok", None, None
        self.model.train()
        self.window.start = time.perf_counter()  # a restored window's time so far is in window.before
        try:
            with self.stop, frozen_heap():
                status = self._steps()
        except Diverged as err:
            status, diverged = "diverged", err.record()
            log.warning("%s; the last checkpoint (before it) is kept", err)
        except BaseException as err:
            status, error = "failed", f"{type(err).__name__}: {err}"
            raise
        finally:
            summary = self.summary(status, diverged=diverged, error=error)
            self.tracker.summary(summary, final=True)
            code = {"failed": 1, "interrupted": (summary["interrupted"] or {}).get("exit_code", 1)}.get(status, 0)
            self.tracker.close(exit_code=code)
        return summary

    def _steps(self) -> str:
        """Train to trainer.max_steps, or to the step boundary after a stop request; returns the status."""
        t = self.cfg.trainer
        if self.step == 0:
            for action in self.actions:
                if action.at_start:
                    action.run()
        while self.step < t.max_steps:
            signum = self.stop_vote(self.stop.signum)  # data-parallel: every rank at the same step
            if signum:
                self.stop.signum = self.stop.signum or signum  # a rank that got none records another's
                if self.saved_step != self.step:
                    self.checkpoint()  # the guard first: a diverged state is never saved
                log.warning("interrupted at step %d; checkpoint written, trainer.resume=true continues", self.step)
                return "interrupted"
            batch = self.task.next_batch()
            self.window.add(self.train_step(batch, self.cfg.optim.grad_clip))
            self.step += 1
            self.samples_seen += len(batch[1]) * self.dist.world_size  # the global batch
            last = self.step == t.max_steps
            for action in self.actions:
                if action.due(self.step, last):
                    tic = time.perf_counter()
                    action.run()
                    spent = time.perf_counter() - tic
                    self.action_time[action.name] = self.action_time.get(action.name, 0.0) + spent
                    if not action.training:
                        self.window.paused += spent
        self.stop_vote.finish()  # the vote still in flight: every rank takes part in it
        return "ok"


def train(cfg: DictConfig, run_dir: str | Path, hydra: Any = None) -> dict[str, Any]:
    """Train one run described by a composed config into `run_dir`; returns summary.json's content.

    With trainer.resume=true a finished run (ok or diverged) is left as it is and its summary
    returned, so re-running a sweep skips what is done and resumes what is not; a run that
    another live process on this host is training (two sweeps, a parallel launcher) is left to it.
    The caller's cfg is not changed.
    """
    # Under torchrun: the process group, and rank 0's run folder for every rank (each rank's Hydra
    # made its own; only rank 0's is written, the others read checkpoints from it).
    dist = setup_dist(str(cfg.trainer.device))
    run_dir = Path(dist.broadcast_object(str(run_dir)))
    cfg = copy.deepcopy(cfg)
    cfg.trainer.resume = parse_resume(cfg.trainer.resume)  # a quoted 'true' is true, not a path
    if cfg.trainer.resume is True:
        state = read_run_state(run_dir)
        if state is not None and state.get("status") in DONE:
            # on the console only: a study commits the run's train.log (normbench/track/logfiles.py)
            log_split(log, logging.INFO, "%s already finished (%s); nothing to do", run_dir, state["status"], files=False)
            return state
        if state is not None and alive_elsewhere(state):
            log_split(log, logging.WARNING, "%s is being trained by process %s; left to it", run_dir,
                      state["process"]["pid"], files=False)
            return state
    return Trainer(cfg, run_dir, hydra=hydra, dist=dist).fit()
