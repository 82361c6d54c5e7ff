"""Checkpoints that resume a run exactly: model, optimizer, schedule, step, data position, RNG.

Two parts: the file (written atomically, read safely, below) and what a run's checkpoint holds
(train state: assemble_state / restore_state, per-rank parts merged for data-parallel runs, and
check_same_model: a checkpoint resumes only the model it was saved from).

Written to a temporary file and renamed, so a kill mid-save never destroys the previous
checkpoint. A file that cannot be read is a CheckpointError naming the path, raised before
any training starts.

Loaded with torch.load(weights_only=True): a checkpoint may come from elsewhere (a shared
folder, a download), and a pickle's __reduce__ can run any code, so only tensors and plain
containers are accepted. The RNG states are therefore stored as plain lists (format 2); a
format-1 checkpoint (numpy's RNG state as an array) is still read, with numpy's array
constructor as the one allowed global, where torch has torch.serialization.safe_globals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import random
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from omegaconf import OmegaConf

from normbench.errors import CheckpointError, TrainerConfigError
from normbench.track.formats import upgrade_config

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # 1: numpy's RNG state as an ndarray


def rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format_version": FORMAT_VERSION, **state}, tmp)
    os.replace(tmp, path)


def parse_resume(value: Any) -> bool | str | None:
    """trainer.resume as written: a bool, null, a path, or the strings "true"/"false" that a
    quoted override (`trainer.resume='true'`) gives; those mean the bools, not a path."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "false"):
            return word == "true"
        if not word:
            raise CheckpointError("trainer.resume = '' is not allowed; allowed: false, true, or a path to a "
                                  "checkpoint file or a run folder holding one")
    return value


def resolve_checkpoint(resume: Any, run_dir: str | Path) -> Path | None:
    """trainer.resume: false -> None; true -> this run folder's checkpoint if there is one;
    a path -> that checkpoint file, or the checkpoint inside that run folder (must exist)."""
    if resume is False or resume is None:
        return None
    if resume is True:
        path = Path(run_dir) / CHECKPOINT_NAME
        return path if path.exists() else None
    path = Path(str(resume)).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(
            f"trainer.resume = {str(resume)!r}: no checkpoint at {path}; allowed: false, true "
            f"(this run folder's {CHECKPOINT_NAME}), or a path to a checkpoint file or a run folder holding one"
        )
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with _format1_globals():
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # a torn or foreign file (an opcode weights_only refuses)
            raise CheckpointError(f"checkpoint {path} cannot be read (UnpicklingError: {_first_line(err)}); it is "
                                  "corrupt or not a normbench checkpoint; allowed: a normbench checkpoint") from err
        # weights_only refused an object (a global, an opcode): nothing of it was executed
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and plain containers; it is "
                              "refused unread, as a file that could run code when loaded "
                              f"({_first_line(err)}); allowed: a normbench checkpoint") from err
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {_first_line(err)}); "
                              "it is corrupt or not a normbench checkpoint; allowed: a normbench checkpoint") from err
    if not isinstance(state, dict) or state.get("format_version") not in READABLE_FORMATS:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path} has format {found!r}; allowed: a normbench checkpoint of format "
                              f"{', '.join(map(str, READABLE_FORMATS))}")
    return state


def _format1_globals():
    """numpy's array constructor, allowed while loading: format 1 stored numpy's RNG state as
    an array. It builds arrays only; any other global is still refused."""
    safe = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    if safe is None:
        return contextlib.nullcontext()
    from numpy.core.multiarray import _reconstruct  # numpy 2 re-exports numpy._core's

    return safe([_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))])


def _first_line(err: Exception) -> str:
    # torch's weights_only message is many lines of advice; one of them says what it refused
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    line = next((line for line in lines if "Unsupported" in line), lines[0] if lines else "")
    return line.split(". Please")[0].removeprefix("WeightsUnpickler error: ")


# -- what a run's checkpoint holds ------------------------------------------------------------
MODEL_GROUPS = ("task", "model", "norm", "normfree")  # what the weights in a checkpoint are of


def _model_identity(config: Mapping, group: str) -> Any:
    """What of `group` a checkpoint's weights depend on. The task is compared by its name alone
    (its other keys, label smoothing, shape the loss, not the weights)."""
    value = config.get(group)
    if group == "task":
        name = value.get("name") if isinstance(value, Mapping) else None
        return {"name": name} if name is not None else None
    return value


def check_same_model(saved: dict, current: dict, path: Path) -> None:
    """A checkpoint resumes only the model it was saved from: another one would fail to load
    its weights (a traceback) or, worse, load them into a model that means something else.
    Keys one side lacks (a schema that grew since) are not compared; an older checkpoint's
    config is read in today's layout first (normbench.track.formats)."""
    saved = upgrade_config(dict(saved))
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


def rank_state(run) -> dict[str, Any]:
    """What differs between ranks: RNG states, the task's (its augmentation generator), the
    unlogged loss window."""
    return {"rng": rng_state(), "task": run.task.state_dict(), "window": run.window.state_dict()}


def assemble_state(run, ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint of a training run (normbench.train.loop.Trainer), from every rank's
    rank_state (one on one process). Its top-level rng and task are rank 0's and its window the
    global one, so it reads like a single-process checkpoint; `ranks` holds each rank's own for
    an exact data-parallel resume."""
    window = dict(ranks[0]["window"])
    window["loss"] = sum(r["window"]["loss"] for r in ranks) / len(ranks)
    extra = {"ranks": ranks} if len(ranks) > 1 else {}
    return {
        "step": run.step,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(),
        "scaler": run.scaler.state_dict(),
        "task": ranks[0]["task"],
        "rng": ranks[0]["rng"],
        **extra,
        "best": run.best,
        "last": run.last,
        "elapsed": run.elapsed_before + (time.perf_counter() - run.t_start),
        "train_time": run.train_time,
        "action_time": run.action_time,
        "samples_seen": run.samples_seen,
        "window": window,
        "wandb_id": run.wandb_id,
        "resumed_from": run.resumed_from,
        "config": OmegaConf.to_container(run.cfg, resolve=True),
    }


def restore_state(run, state: dict[str, Any], path: Path) -> None:
    """Put a checkpoint back into a built training run (the inverse of assemble_state)."""
    saved, current = state.get("config", {}), OmegaConf.to_container(run.cfg, resolve=True)
    check_same_model(saved, current, path)
    if saved.get("data") != current.get("data"):  # continuing on other data can be meant (fine-tuning)
        log.warning("resuming %s with a different `data` config than it was saved with", path)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    run.scaler.load_state_dict(state["scaler"])
    own = _own_state(run, state, path)
    run.task.load_state_dict(own["task"])
    if own["rng"] is not None:
        set_rng_state(own["rng"])
    run.step = state["step"]
    run.best = state["best"]
    run.last = state["last"]
    run.elapsed_before = state["elapsed"]
    run.train_time = state["train_time"]
    run.action_time = state.get("action_time", {})
    run.samples_seen = state["samples_seen"]
    if own["window"] is not None:
        run.window.load_state_dict(own["window"])
    run.wandb_id = state["wandb_id"]
    run.resumed_from = state.get("resumed_from")
    if run.cfg.trainer.resume is not True:  # a path: another folder's run continues in this one
        run.resumed_from = {"checkpoint": str(path.resolve()), "run_dir": str(path.resolve().parent),
                            "step": run.step, "wandb_id": run.wandb_id}
        run.wandb_id = None  # a new wandb run for this folder; the earlier one is its parent
    log.info("resumed from %s at step %d", path, run.step)


def _own_state(run, state: dict[str, Any], path: Path) -> dict[str, Any]:
    """This rank's rng, task state and window from a checkpoint. Saved by as many ranks as
    run now: each rank its own (exact). Otherwise the data position and the loss window
    are global and continue exactly; a rank keeps the RNG states saved under its number,
    and one the checkpoint has none for keeps its own fresh ones (augmentation not exact)."""
    ranks = state.get("ranks") or [{"rng": state["rng"], "task": state["task"], "window": state.get("window")}]
    rank, world = run.dist.rank, run.dist.world_size
    if len(ranks) == world:
        return ranks[rank]
    if run.dist.is_main:
        log.warning("checkpoint %s was saved by %d process(es) and resumes on %d: the data order continues "
                    "exactly, per-process randomness (augmentation) does not", path, len(ranks), world)
    if rank < len(ranks):
        return {**ranks[rank], "window": state.get("window")}
    # the data position is global (the same in every rank's task state); the generator stays this rank's
    return {"rng": None, "task": {**run.task.state_dict(), "stream": state["task"]["stream"]},
            "window": state.get("window")}


def refuse_to_overwrite(run_dir: Path, resume: Any) -> None:
    """A fresh run never writes into a folder that holds another run: nothing written is lost."""
    held = [n for n in ("metrics.jsonl", CHECKPOINT_NAME) if (Path(run_dir) / n).exists()]
    if held and resume is not True:
        raise TrainerConfigError(
            f"run folder {run_dir} already holds a run ({', '.join(held)}) and trainer.resume = {resume!r}; "
            "allowed: trainer.resume=true to continue it there, or a new hydra.run.dir"
        )
