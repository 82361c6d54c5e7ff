"""One wandb run per training job: offline by default, online when asked, or off.

wandb is imported only when it is used (it is slow to import), the config goes in as a
plain dict, and the run is finished inside the job so Hydra multirun jobs never share one.
Online without a key, without network or with wandb's servers down, wandb.init raises (or
times out); the run then goes on offline, with one warning, and `wandb sync` uploads it later:
the run folder is the source of truth, wandb never ends a run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from normbench.errors import LoggerConfigError

log = logging.getLogger(__name__)

MODES = ("offline", "online", "disabled")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise LoggerConfigError(f"logger.wandb.mode = {mode!r} is unknown; allowed: {', '.join(MODES)}")


class WandbRun:
    def __init__(
        self,
        mode: str,
        run_dir: str | Path,
        config: Mapping[str, Any],
        project: str,
        name: str,
        group: str | None = None,
        entity: str | None = None,
        tags: list[str] | None = None,
        resume_id: str | None = None,
    ):
        check_mode(mode)
        self.mode = mode
        self.run = None
        if mode == "disabled":
            return
        import wandb

        kwargs = dict(
            dir=str(run_dir),
            project=project,
            entity=entity,
            group=group,
            name=name,
            tags=list(tags or []),
            config=dict(config),
            id=resume_id,
            resume="allow" if resume_id else None,
            settings=wandb.Settings(silent=True, console="off"),
        )
        try:
            self.run = wandb.init(mode=mode, **kwargs)
        except Exception as err:  # wandb's own errors (no key, network) and whatever its client raises
            if mode != "online":
                raise
            log.warning("logger.wandb.mode = 'online' failed (%s: %s); this run logs offline instead, "
                        "`wandb sync %s/wandb/offline-run-*` uploads it later",
                        type(err).__name__, str(err).splitlines()[0] if str(err) else "", run_dir)
            self.mode = "offline"
            self.run = wandb.init(mode="offline", **kwargs)

    @property
    def id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.run is not None:
            self.run.log(dict(metrics), step=step)

    def log_images(self, paths: Mapping[str, Any], step: int) -> None:
        """Image files (name -> path) as wandb images."""
        if self.run is not None:
            import wandb

            self.run.log({k: wandb.Image(str(p)) for k, p in paths.items()}, step=step)

    def summary(self, values: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(dict(values))

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None


def start_wandb(cfg: Any, run_dir: Path, hydra: Any = None, resumed_from: Mapping | None = None,
                resume_id: str | None = None) -> "WandbRun":
    """The run's wandb run, named and grouped from the config (and Hydra's sweep), its config the
    resolved run config plus, for trainer.resume=<path>, the parent run it continues."""
    from omegaconf import OmegaConf

    from normbench.track.names import wandb_names

    w = cfg.logger.wandb
    group, name = wandb_names(cfg, run_dir, hydra)
    config = OmegaConf.to_container(cfg, resolve=True)
    if resumed_from is not None:
        config["resumed_from"] = dict(resumed_from)  # the parent run (and its wandb id)
    return WandbRun(mode=w.mode, run_dir=run_dir, config=config, project=w.project, entity=w.entity, group=group,
                    name=name, tags=list(w.tags), resume_id=resume_id)
