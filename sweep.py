"""Run one named study of the paper and write its table, figures and README:

    python sweep.py study=squash                       # the cpu grid, into results/squash/
    python sweep.py study=squash study.scale=smoke     # seconds, for a quick check
    python sweep.py study=stability hydra/launcher=joblib hydra.launcher.n_jobs=2
    python sweep.py study=squash --report              # rebuild table/figures/README from run folders
    python sweep.py study=alpha_lr study.scale=gpu --procs=8   # 8 runs at once (one GPU, many small runs)
    python sweep.py study=length --procs=2 trainer.threads=1   # 2 cores: two runs (seeds or variants) at once
    python sweep.py study=length --only=grid                   # the scale's grid alone (or =search)

`study=` and `study.<key>=` configure the study (configs/study/<name>.yaml); every other
argument is a train.py override and reaches every run (launchers, trainer.device=cuda, ...).
The study is this checkout's: its configs/, its train.py and its results/, wherever it runs from.
Re-running a study skips finished runs and resumes or redoes the rest. SIGTERM or Ctrl-C stops
the running job at a step boundary with a checkpoint and exits 128 + the signal (143, 130).
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from normbench.errors import InputError
from normbench.study import load_study, run_study
from normbench.study.runner import StudyInterrupted
from normbench.study.spec import check_part

CONFIGS = Path(__file__).resolve().parent / "configs"  # as train.py's config_path: the script's checkout


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    names = [a.split("=", 1)[1] for a in args if a.startswith("study=")]
    study_overrides = [a for a in args if a.startswith("study.")]
    passthrough = [a for a in args if not a.startswith("study=") and not a.startswith("study.")]
    procs = [f for f in flags if f.startswith("--procs=")]
    only = [f for f in flags if f.startswith("--only=")]
    unknown = flags - {"--report", "--dry-run", *procs, *only}
    try:
        if unknown or len(names) != 1:
            raise InputError(f"usage: python sweep.py study=<name> [study.scale=smoke|cpu|gpu] [train overrides] "
                             f"[--report] [--dry-run] [--procs=N] [--only=grid|search]; "
                             f"got {' '.join(argv) or 'no arguments'}")
        n = procs[-1].split("=", 1)[1] if procs else "1"
        if not n.isdigit() or int(n) < 1:
            raise InputError(f"--procs = {n!r} is not allowed: must be an int >= 1 (jobs at once, one seed of a "
                             "variant each)")
        which = only[-1].split("=", 1)[1] if only else None
        check_part(which)
        study = load_study(names[0], study_overrides, configs=CONFIGS)
        readme = run_study(study, passthrough, command="python sweep.py " + shlex.join(argv),
                           dry_run="--dry-run" in flags, report_only="--report" in flags, procs=int(n), part=which)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except StudyInterrupted as err:  # 128 + the signal, as train.py exits: SLURM/submitit may requeue
        print(f"sweep: {err}", file=sys.stderr)
        return err.exit_code
    if readme is not None:
        print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
