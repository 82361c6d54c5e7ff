"""The Tracker: every number a run produces goes through one call of it.

`log(step, split, **metrics)` appends to metrics.jsonl, logs wandb series named by the one
naming rule (`split/metric`) and updates the progress bar; `probes(step, lines)` does the
same for probes.jsonl and the `probe/<layer>/<stat>` series; `warn` records a health
warning in the console, train.log and probes.jsonl; `summary` writes summary.json and
mirrors it into the wandb summary under the same names; `info` is the console's line;
`images(step, split, arrays)` writes PNGs into the run folder's images/ and logs them to wandb.

The rank-0 guard of data-parallel runs lives here: a Tracker made with main=False (every
torchrun rank but 0) writes no file, starts no wandb run, shows no progress bar and prints
nothing, yet returns the same named values, so every rank keeps the same `last` metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

from normbench.track.jsonl import JsonlWriter
from normbench.track.metrics import read_metrics, read_probes
from normbench.track.names import metric_key, probe_key
from normbench.track.progress import Progress
from normbench.track.summary import write_summary
from normbench.track.wandb_run import WandbRun

log = logging.getLogger("normbench")

# stats that become wandb series; the rest (layer, norm, depth_index) label them
_PROBE_SERIES = ("alpha", "shift", "inv_std", "input_std", "saturation", "weight_mean", "weight_std",
                 "running_var_mean", "token_std_mean", "token_std_std", "token_std_q10", "token_std_q50",
                 "token_std_q90", "inv_token_std", "alpha_grad", "alpha_update", "alpha_lr", "alpha_cum_abs_update",
                 "alpha_cum_update", "alpha_cum_lr", "alpha_budget_used")
_BRANCH_SERIES = ("stream_std", "branch_std", "branch_ratio")  # a `branch` line's keys, under the branch's name


def _number(value: Any) -> Any:
    """A value as metrics.jsonl stores it -> as wandb takes it ("nan"/"inf" back to floats)."""
    return float(value) if value in ("nan", "inf", "-inf") else value


class Tracker:
    def __init__(self, run_dir: str | Path, *, wandb: WandbRun, total_steps: int, initial_step: int = 0,
                 progress: bool = True, shown_rate: tuple[str, str] = ("samples_per_s", "samples/s"),
                 shown_metrics: tuple[str, ...] = ("acc1",), main: bool = True):
        """shown_rate: (the train metric of the task's throughput, its label), and shown_metrics:
        the metrics of each evaluated split (val, test), that the progress bar shows beside the
        train loss (Task.progress_metrics).
        main: false on every data-parallel rank but 0, which then writes nothing anywhere."""
        self.run_dir = Path(run_dir)
        self.main = main
        self.metrics = JsonlWriter(self.run_dir / "metrics.jsonl") if main else None
        self._probes: JsonlWriter | None = None  # opened on the first probe: runs without probes have no file
        self.wandb = wandb
        self.progress = Progress(total=total_steps, initial=initial_step, enabled=progress and main)
        self.shown_rate, self.shown_metrics = shown_rate, tuple(shown_metrics)

    @property
    def wandb_id(self) -> str | None:
        return self.wandb.id

    def log(self, step: int, split: str, **metrics: Any) -> dict[str, Any]:
        named = {metric_key(split, k): v for k, v in metrics.items()}
        if not self.main:
            return named
        self.metrics.write({"step": int(step), "split": split, **metrics})
        self.wandb.log(named, step=step)
        shown = {}
        if split == "train" and "loss" in metrics:
            shown["loss"] = f"{metrics['loss']:.4f}"
            rate, label = self.shown_rate
            if rate in metrics:
                shown[label] = f"{metrics[rate]:.0f}"
        if split != "train":  # val (selection) and test (reported): the task's progress metrics of each
            shown.update({f"{split} {k}": f"{metrics[k]:.4f}" for k in self.shown_metrics if k in metrics})
        self.progress.update(step, **shown)
        return named

    def probes(self, step: int, lines: Iterable[Mapping[str, Any]]) -> None:
        if not self.main:
            return
        if self._probes is None:
            self._probes = JsonlWriter(self.run_dir / "probes.jsonl")
        series = {}
        for line in lines:
            self._probes.write({"step": int(step), **line})
            keys = {"stats": _PROBE_SERIES, "branch": _BRANCH_SERIES}.get(line.get("kind"), ())
            series.update({probe_key(line["layer"], k): line[k] for k in keys if line.get(k) is not None})
        if series:
            self.wandb.log(series, step=step)

    def images(self, step: int, split: str, images: Mapping[str, Any]) -> None:
        """uint8 (H, W, C) arrays as PNGs in the run folder, images/<split>_<name>_step<step>.png (one
        per evaluation), and as wandb images named by the one rule (`split/name`)."""
        if not self.main or not images:
            return
        from PIL import Image

        folder = self.run_dir / "images"
        folder.mkdir(exist_ok=True)
        written = {}
        for name, array in images.items():
            path = folder / f"{split}_{name}_step{int(step):06d}.png"
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
            written[metric_key(split, name)] = path
        self.wandb.log_images(written, step=step)

    def carry(self, metrics: Iterable[Mapping[str, Any]], probes: Iterable[Mapping[str, Any]]) -> None:
        """Events of an earlier run folder that this run continues (trainer.resume=<path>):
        written as they were into this folder's metrics.jsonl and probes.jsonl and replayed into
        wandb in step order (metrics, then probes, of each step), the progress bar left alone."""
        if not self.main:
            return
        events = sorted([(e["step"], 0, e) for e in metrics] + [(e["step"], 1, e) for e in probes],
                        key=lambda t: t[:2])
        for step, kind, event in events:
            if kind == 0:
                self.metrics.write(dict(event))
                self.wandb.log({metric_key(event["split"], k): _number(v) for k, v in event.items()
                                if k not in ("step", "split")}, step=step)
            else:
                self.probes(step, [{k: v for k, v in event.items() if k != "step"}])

    def carry_from(self, earlier: Path, step: int) -> None:
        """trainer.resume=<path>: the earlier folder's metrics and probes up to the checkpoint's
        step, into this folder (and its wandb run), so its curves start at step 0."""
        if not self.main:
            return
        if not (earlier / "metrics.jsonl").exists():
            log.warning("no metrics.jsonl beside the checkpoint in %s: this folder's metrics start at step %d", earlier, step)
            return
        metrics = [e for e in read_metrics(earlier / "metrics.jsonl") if e["step"] <= step]
        probes = []
        if (earlier / "probes.jsonl").exists():
            probes = [e for e in read_probes(earlier / "probes.jsonl", kind=None) if e["step"] <= step]
        self.carry(metrics, probes)
        log.info("carried %d metric and %d probe lines up to step %d from %s", len(metrics), len(probes), step, earlier)

    def info(self, message: str, *args: Any) -> None:
        """A line on the console and in train.log (rank 0's)."""
        if self.main:
            log.info(message, *args)

    def warn(self, step: int, layer: str, message: str) -> None:
        if not self.main:
            return
        log.warning("step %d: norm layer %s: %s", step, layer, message)
        self.probes(step, [{"kind": "warning", "layer": layer, "message": message}])

    def summary(self, summary: dict[str, Any], final: bool = False) -> None:
        if not self.main:
            return
        write_summary(self.run_dir / "summary.json", summary)
        if final:  # the wandb summary takes the same names as summary.json
            self.wandb.summary({k: summary[k] for k in ("status", "best", "final", "step", "diverged")})

    def close(self, exit_code: int = 0) -> None:
        self.progress.close()
        self.wandb.finish(exit_code=exit_code)
        if self.metrics is not None:
            self.metrics.close()
        if self._probes is not None:
            self._probes.close()
