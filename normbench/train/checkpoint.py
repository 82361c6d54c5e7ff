"""Checkpoints that resume a run exactly: model, optimizer, schedule, step, data position, RNG.

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
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from normbench.errors import CheckpointError

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
