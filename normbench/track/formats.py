"""Older run-folder formats, upgraded to today's in one place.

Why: a run folder (config.yaml) or a checkpoint (its saved config) written by an older
normbench must still read, resume and report. Every reader calls upgrade_config; none repeats
what changed.
"""

from __future__ import annotations


def upgrade_config(config: dict) -> dict:
    """An older run folder's config.yaml in today's layout (the file itself is left as it is):
    `task` was a top-level string ("classify") and is the group {name: ...}; label smoothing was
    trainer.label_smoothing and is task.label_smoothing, classification's (a folder older than
    the `task` key is a classification run)."""
    task, trainer = config.get("task"), config.get("trainer")
    old_task = isinstance(task, str)
    old_smoothing = isinstance(trainer, dict) and "label_smoothing" in trainer
    if not (old_task or old_smoothing):
        return config
    config = dict(config)
    if old_task:
        config["task"] = task = {"name": task}
    if old_smoothing:
        trainer = dict(trainer)
        smoothing = trainer.pop("label_smoothing")
        config["trainer"] = trainer
        task = task if isinstance(task, dict) else {"name": "classify"}
        if task.get("name") == "classify":
            config["task"] = {**task, "label_smoothing": task.get("label_smoothing", smoothing)}
    return config
