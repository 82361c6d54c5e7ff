"""Where numbers go: metrics.jsonl (the source of truth), probes.jsonl, summary.json, wandb and
the console, all through one Tracker."""

from normbench.track.metrics import read_metrics, read_probes
from normbench.track.names import metric_key, probe_key, wandb_names
from normbench.track.summary import DONE, alive_elsewhere, build_summary, read_run_state, read_summary, write_summary
from normbench.track.tracker import Tracker
from normbench.track.versions import versions
from normbench.track.wandb_run import WandbRun, start_wandb

__all__ = ["DONE", "Tracker", "WandbRun", "alive_elsewhere", "build_summary", "metric_key", "probe_key", "read_metrics",
           "read_probes", "read_run_state", "read_summary", "start_wandb", "versions", "wandb_names", "write_summary"]
