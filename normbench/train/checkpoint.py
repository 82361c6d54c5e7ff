"""Checkpoints that resume a run exactly: model, optimizer, schedule, step, data position, RNG.

Written to a temporary file and renamed, so a kill mid-save never destroys the previous
checkpoint. A file that cannot be read is a CheckpointError naming the path, raised before
any training starts.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from normbench.errors import CheckpointError

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format_version": FORMAT_VERSION, **state}, tmp)
    os.replace(tmp, path)


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
        # weights_only=False: the checkpoint holds RNG states (numpy arrays, tuples); it is our own file.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); "
                              "it is corrupt or not a normbench checkpoint") from err
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} is not a normbench checkpoint of format {FORMAT_VERSION}")
    return state
