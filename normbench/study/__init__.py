"""Studies: one named ablation of the paper = one command (`python sweep.py study=<name>`).

A study config (configs/study/<name>.yaml) states the claim, the paper's numbers, its whole
recipe per scale, its variants and grid, and how to report it. `plan` turns it into Hydra
multiruns of train.py (one per variant), `run_study` launches them (finished runs are
skipped, unfinished ones resumed) and `write_readme` puts table, figures and verdict in
results/<name>/README.md.
"""

from normbench.study.spec import SCALES, StudyError, Study, load_study
from normbench.study.runner import run_study

__all__ = ["SCALES", "Study", "StudyError", "load_study", "run_study"]
