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

Under torchrun the same loop trains data-parallel (normbench/dist.py): the model is wrapped in
DistributedDataParallel (its BatchNorms made SyncBatchNorm with trainer.sync_bn), each rank
trains on its slice of the global batch, logged losses and evaluations are all-reduced so
every rank takes the same decisions (divergence guard, best), checkpoints gather every
rank's RNG state, and rank 0 alone writes (the Tracker's guard, the checkpoint).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from normbench.config import validate_config
from normbench.dist import SINGLE, Dist, StopVote, rank_seed
from normbench.dist import setup as setup_dist
from normbench.errors import CheckpointError
from normbench.models import build_model, check_model_fits_norm, check_model_fits_task
from normbench.normfree import apply_normfree, check_normfree
from normbench.norms import convert_sync_batchnorm
from normbench.preempt import StopRequest
from normbench.probes import HealthMonitor, NormProbe, check_probe_config
from normbench.track import (Tracker, WandbRun, metric_key, read_metrics, read_probes, read_summary, versions,
                             wandb_names)
from normbench.track.wandb_run import check_mode as check_wandb_mode
from normbench.train.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    parse_resume,
    resolve_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from normbench.train.classify import ClassifyTask
from normbench.train.generate import GenerateTask
from normbench.train.guard import Diverged, check_loss, check_weights
from normbench.train.lm import LMTask
from normbench.train.optim import build_optimizer, build_schedule
from normbench.train.periodic import Periodic
from normbench.train.task import Task, is_better
from normbench.train.runtime import (
    TrainerConfigError,
    autocast,
    check_grad_checkpointing,
    check_trainer_config,
    check_writable,
    resolve_device,
    seed_everything,
)

log = logging.getLogger(__name__)

TASKS: dict[str, type[Task]] = {"classify": ClassifyTask, "lm": LMTask, "generate": GenerateTask}
DONE = ("ok", "diverged")  # a finished run: trainer.resume=true leaves it as it is (and resumes
# "running" when its process is gone, "failed" and "interrupted")


def check_task(task_cfg: Mapping) -> None:
    """The `task` group names a known task and holds allowed values, before anything is built."""
    name = task_cfg.get("name")
    if name not in TASKS:
        raise TrainerConfigError(f"task.name = {name!r} is unknown; allowed: {', '.join(TASKS)}")
    TASKS[name].check_config(task_cfg)


def build_task(cfg: DictConfig, device: torch.device, dist: Dist = SINGLE) -> Task:
    check_task(cfg.task)
    return TASKS[cfg.task.name].from_config(cfg, device, dist)


def read_run_state(run_dir: Path) -> dict | None:
    """summary.json of a run folder, or None when there is none (or a torn/foreign one)."""
    path = run_dir / "summary.json"
    try:
        return read_summary(path) if path.exists() else None
    except ValueError:
        return None


def alive_elsewhere(summary: dict) -> bool:
    """True when a "running" summary's process is still alive on this host (another sweep or
    launcher is training this folder); a killed run's process is gone, so it is unfinished."""
    proc = summary.get("process") or {}
    if summary.get("status") != "running" or proc.get("host") != socket.gethostname() or not proc.get("pid"):
        return False
    if proc["pid"] == os.getpid():
        return False
    try:
        os.kill(proc["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


MODEL_GROUPS = ("task", "model", "norm", "normfree")  # what the weights in a checkpoint are of


def _model_identity(config: Mapping, group: str) -> Any:
    """What of `group` a checkpoint's weights depend on. The task is compared by its name alone
    (its other keys, label smoothing, shape the loss, not the weights); a checkpoint saved when
    `task` was a top-level string ("classify") compares as the group {name: "classify"}."""
    value = config.get(group)
    if group == "task":
        name = value.get("name") if isinstance(value, Mapping) else value
        return {"name": name} if name is not None else None
    return value


def check_same_model(saved: dict, current: dict, path: Path) -> None:
    """A checkpoint resumes only the model it was saved from: another one would fail to load
    its weights (a traceback) or, worse, load them into a model that means something else.
    Keys one side lacks (a schema that grew since) are not compared."""
    for group in MODEL_GROUPS:
        a, b = _model_identity(saved, group), _model_identity(current, group)
        if not isinstance(a, dict) or not isinstance(b, dict):
            pairs = [(group, a, b)] if a is not None and a != b else []
        else:
            pairs = [(f"{group}.{k}", a[k], b[k]) for k in a if k in b and a[k] != b[k]]
        if pairs:
            key, was, now = pairs[0]
            raise CheckpointError(f"{key} = {now!r} but checkpoint {path} was saved with {key} = {was!r}; allowed: "
                                  f"resume with the checkpoint's {', '.join(MODEL_GROUPS)} (or start a fresh run)")


class TrainWindow:
    """The train loss and time since the last log: summed on the device, read once per window
    (data-parallel: each rank sums its own; the mean read is over every rank's)."""

    def __init__(self, device: torch.device, dist: Dist = SINGLE):
        self.loss = torch.zeros((), device=device)
        self.dist = dist
        self.reset()

    def reset(self) -> None:
        self.loss.zero_()
        self.steps, self.start, self.paused, self.before = 0, time.perf_counter(), 0.0, 0.0

    # A checkpoint keeps the unlogged window, so a run stopped between two logs and resumed
    # logs the same mean loss as a run never stopped.
    def state_dict(self) -> dict[str, float]:
        return {"loss": self.loss.item(), "steps": self.steps, "time": self.elapsed()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.reset()
        self.loss.fill_(state["loss"])
        self.steps, self.before = int(state["steps"]), float(state["time"])

    def add(self, loss: torch.Tensor) -> None:
        self.loss += loss
        self.steps += 1

    def mean_loss(self) -> float:
        """The mean train loss of the window over every rank (a collective under torchrun)."""
        if not self.steps:
            return float("nan")
        return self.dist.all_reduce_(self.loss / self.steps, op="mean").item()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused + self.before


class Run:
    """State of one training run; `train()` is the way in."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path, hydra: Any = None, dist: Dist = SINGLE):
        validate_config(cfg)  # a wrong type is one named error, before anything is built
        self.cfg = cfg
        self.dist = dist
        self.normfree_cfg = cfg.get("normfree") or {"name": "none"}
        self.hydra = hydra
        self.run_dir = Path(run_dir)
        check_writable(self.run_dir)
        t = cfg.trainer
        check_trainer_config(t)
        check_probe_config(cfg.probe, t.max_steps)
        check_wandb_mode(cfg.logger.wandb.mode)
        check_task(cfg.task)
        check_model_fits_task(cfg.model.name, cfg.task.name)
        check_model_fits_norm(cfg.model, cfg.norm)  # adaln on vit, layernorm on dit: before data or judge load
        check_normfree(self.normfree_cfg, cfg.model.name, cfg.norm.name)
        check_grad_checkpointing(t.grad_checkpointing, cfg.model.name, cfg.norm.name)
        ckpt_path = resolve_checkpoint(t.resume, self.run_dir)  # a bad path fails here, before any work
        self._refuse_to_overwrite(t.resume)
        self.device = dist.device if dist.enabled else resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(int(t.threads))
        seed_everything(t.seed)  # on every rank: the same initial model

        self.task = build_task(cfg, self.device, dist)
        model = build_model(cfg.model, cfg.norm, **self.task.model_kwargs())
        # before the optimizer: the transforms add parameters (Fixup's scalars, sigmaReparam's gamma)
        model = apply_normfree(model, self.normfree_cfg, cfg.model.name, cfg.norm.name)
        if t.grad_checkpointing:
            model.set_grad_checkpointing(True)
        if t.sync_bn and dist.enabled:  # before the probes and DDP find the norm layers
            model = convert_sync_batchnorm(model)
        elif t.sync_bn:
            log.warning("trainer.sync_bn = true has no effect on one process (it shares BatchNorm statistics "
                        "between torchrun's processes); training with BatchNorm")
        self.model = model.to(self.device)
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
        self.probe = NormProbe(self.model, self.task.probe_batch(p.batch_size), p.scurve_tokens,
                               p.scurve_channels, optimizer=self.optimizer) if p.enabled and dist.is_main else None
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
            self._restore(load_checkpoint(ckpt_path), ckpt_path)
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

    def _refuse_to_overwrite(self, resume: Any) -> None:
        """A fresh run never writes into a folder that holds another run: nothing written is lost."""
        held = [n for n in ("metrics.jsonl", CHECKPOINT_NAME) if (self.run_dir / n).exists()]
        if held and resume is not True:
            raise TrainerConfigError(
                f"run folder {self.run_dir} already holds a run ({', '.join(held)}) and trainer.resume = {resume!r}; "
                "allowed: trainer.resume=true to continue it there, or a new hydra.run.dir"
            )

    # -- checkpoint ---------------------------------------------------------------------
    def _rank_state(self) -> dict[str, Any]:
        """What differs between ranks: RNG states, the task's (its augmentation generator), the
        unlogged loss window."""
        return {"rng": rng_state(), "task": self.task.state_dict(), "window": self.window.state_dict()}

    def _state(self, ranks: list[dict[str, Any]]) -> dict[str, Any]:
        """The checkpoint, from every rank's _rank_state (one on one process). Its top-level rng
        and task are rank 0's and its window the global one, so it reads like a single-process
        checkpoint; `ranks` holds each rank's own for an exact data-parallel resume."""
        window = dict(ranks[0]["window"])
        window["loss"] = sum(r["window"]["loss"] for r in ranks) / len(ranks)
        extra = {"ranks": ranks} if len(ranks) > 1 else {}
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "task": ranks[0]["task"],
            "rng": ranks[0]["rng"],
            **extra,
            "best": self.best,
            "last": self.last,
            "elapsed": self.elapsed_before + (time.perf_counter() - self.t_start),
            "train_time": self.train_time,
            "action_time": self.action_time,
            "samples_seen": self.samples_seen,
            "window": window,
            "wandb_id": self.wandb_id,
            "resumed_from": self.resumed_from,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        saved, current = state.get("config", {}), OmegaConf.to_container(self.cfg, resolve=True)
        check_same_model(saved, current, path)
        if saved.get("data") != current.get("data"):  # continuing on other data can be meant (fine-tuning)
            log.warning("resuming %s with a different `data` config than it was saved with", path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        own = self._own_state(state, path)
        self.task.load_state_dict(own["task"])
        if own["rng"] is not None:
            set_rng_state(own["rng"])
        self.step = state["step"]
        self.best = state["best"]
        self.last = state["last"]
        self.elapsed_before = state["elapsed"]
        self.train_time = state["train_time"]
        self.action_time = state.get("action_time", {})
        self.samples_seen = state["samples_seen"]
        if own["window"] is not None:
            self.window.load_state_dict(own["window"])
        self.wandb_id = state["wandb_id"]
        self.resumed_from = state.get("resumed_from")
        if self.cfg.trainer.resume is not True:  # a path: another folder's run continues in this one
            self.resumed_from = {"checkpoint": str(path.resolve()), "run_dir": str(path.resolve().parent),
                                 "step": self.step, "wandb_id": self.wandb_id}
            self.wandb_id = None  # a new wandb run for this folder; the earlier one is its parent
        log.info("resumed from %s at step %d", path, self.step)

    def _own_state(self, state: dict[str, Any], path: Path) -> dict[str, Any]:
        """This rank's rng, task state and window from a checkpoint. Saved by as many ranks as
        run now: each rank its own (exact). Otherwise the data position and the loss window
        are global and continue exactly; a rank keeps the RNG states saved under its number,
        and one the checkpoint has none for keeps its own fresh ones (augmentation not exact)."""
        ranks = state.get("ranks") or [{"rng": state["rng"], "task": state["task"], "window": state.get("window")}]
        rank, world = self.dist.rank, self.dist.world_size
        if len(ranks) == world:
            return ranks[rank]
        if self.dist.is_main:
            log.warning("checkpoint %s was saved by %d process(es) and resumes on %d: the data order continues "
                        "exactly, per-process randomness (augmentation) does not", path, len(ranks), world)
        if rank < len(ranks):
            return {**ranks[rank], "window": state.get("window")}
        # the data position is global (the same in every rank's task state); the generator stays this rank's
        return {"rng": None, "task": {**self.task.state_dict(), "stream": state["task"]["stream"]},
                "window": state.get("window")}

    def save(self) -> None:
        ranks = self.dist.gather_object(self._rank_state())  # a collective: every rank saves together
        if self.dist.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT_NAME, self._state(ranks))
        self.saved_step = self.step

    # -- outputs --------------------------------------------------------------------------
    def summary(self, status: str, diverged: dict | None = None, error: str | None = None) -> dict[str, Any]:
        cfg = self.cfg
        elapsed = self.elapsed_before + (time.perf_counter() - self.t_start)
        final = {k: v for k, v in self.last.items() if not k.startswith("train/") or k == "train/loss"}  # val, test
        return {
            "status": status,
            "step": self.step,
            "max_steps": cfg.trainer.max_steps,
            "final": final,
            "best": self.best,
            "wall_time_s": round(elapsed, 3),
            "train_time_s": round(self.train_time, 3),
            "action_time_s": {k: round(v, 3) for k, v in self.action_time.items()},
            "throughput_samples_per_s": round(self.samples_seen / self.train_time, 2) if self.train_time else None,
            # in the task's unit (images or tokens per second), over the whole train time
            "throughput": {"unit": f"{self.task.throughput_unit}/s",
                           "value": round(self.samples_seen * self.task.units_per_sample / self.train_time, 2)
                           if self.train_time else None},
            "num_params": self.num_params,
            "diverged": diverged,
            "error": error,
            "interrupted": self.stop.record() if status == "interrupted" else None,
            "run": {"task": cfg.task.name, "model": cfg.model.name, "norm": cfg.norm.name,
                    "normfree": self.normfree_cfg["name"], "data": cfg.data.name,
                    "variant": cfg.get("variant"), "seed": cfg.trainer.seed, "device": str(self.device),
                    "world_size": self.dist.world_size},
            "versions": versions(),
            "process": {"host": socket.gethostname(), "pid": os.getpid()},  # who trains it, for sweeps
            # the mode wandb runs in: "offline" when online was asked but could not start
            "wandb": {"mode": self.wandb_mode, "id": self.wandb_id},
            "resumed_from": self.resumed_from,  # trainer.resume=<path>: the run this folder continues
        }

    def _start_wandb(self) -> WandbRun:
        w = self.cfg.logger.wandb
        group, name = wandb_names(self.cfg, self.run_dir, self.hydra)
        config = OmegaConf.to_container(self.cfg, resolve=True)
        if self.resumed_from is not None:
            config["resumed_from"] = self.resumed_from  # the parent run (and its wandb id)
        run = WandbRun(mode=w.mode, run_dir=self.run_dir, config=config,
                       project=w.project, entity=w.entity, group=group, name=name, tags=list(w.tags),
                       resume_id=self.wandb_id)
        self.wandb_id, self.wandb_mode = run.id, run.mode
        return run

    def _rate_shown(self) -> tuple[str, str]:
        """(the train metric of the task's throughput, its label on the progress bar): an image
        is a sample, so classification's is samples_per_s, shown as images/s."""
        unit = self.task.throughput_unit
        return ("samples_per_s" if self.task.units_per_sample == 1 else f"{unit}_per_s"), f"{unit}/s"

    def _carry_earlier_events(self) -> None:
        """trainer.resume=<path>: the earlier folder's metrics and probes up to the checkpoint's
        step, into this folder (and its wandb run), so its curves start at step 0."""
        if not self.dist.is_main:
            return
        earlier, step = Path(self.resumed_from["run_dir"]), self.resumed_from["step"]
        if not (earlier / "metrics.jsonl").exists():
            log.warning("no metrics.jsonl beside %s: this folder's metrics start at step %d",
                        self.resumed_from["checkpoint"], step)
            return
        metrics = [e for e in read_metrics(earlier / "metrics.jsonl") if e["step"] <= step]
        probes = []
        if (earlier / "probes.jsonl").exists():
            probes = [e for e in read_probes(earlier / "probes.jsonl", kind=None) if e["step"] <= step]
        self.tracker.carry(metrics, probes)
        log.info("carried %d metric and %d probe lines up to step %d from %s", len(metrics), len(probes), step, earlier)

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
        if self.resumed_from is not None and self.cfg.trainer.resume is not True:
            self._carry_earlier_events()
        self.tracker.summary(self.summary("running"))
        status, diverged, error = "ok", None, None
        self.model.train()
        self.window.start = time.perf_counter()  # a restored window's time so far is in window.before
        try:
            with self.stop:
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
    """
    # Under torchrun: the process group, and rank 0's run folder for every rank (each rank's Hydra
    # made its own; only rank 0's is written, the others read checkpoints from it).
    dist = setup_dist(str(cfg.trainer.device))
    run_dir = Path(dist.broadcast_object(str(run_dir)))
    resume = parse_resume(cfg.trainer.resume)
    if resume is not cfg.trainer.resume:
        cfg.trainer.resume = resume  # a quoted 'true' is true, not a path
    if cfg.trainer.resume is True:
        state = read_run_state(Path(run_dir))
        if state is not None and state.get("status") in DONE:
            log.info("%s already finished (%s); nothing to do", run_dir, state["status"])
            return state
        if state is not None and alive_elsewhere(state):
            log.warning("%s is being trained by process %s; left to it", run_dir, state["process"]["pid"])
            return state
    return Run(cfg, run_dir, hydra=hydra, dist=dist).fit()
