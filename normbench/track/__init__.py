"""Where numbers go: metrics.jsonl (the source of truth), summary.json, wandb and the console."""

from normbench.track.metrics import MetricsWriter, read_metrics
from normbench.track.summary import read_summary, write_summary
from normbench.track.wandb_run import WandbRun

__all__ = ["MetricsWriter", "read_metrics", "read_summary", "write_summary", "WandbRun"]
