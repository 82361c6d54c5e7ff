"""A study's README says which of its variants have no runs yet (a variant added after the runs
were made, e.g. squash's derf), rather than listing it as if it ran; on hand-made run folders."""

from __future__ import annotations

from test_verdicts import squash_runs

from normbench.study import load_study
from normbench.study.readme import write_readme
from normbench.study.spec import Study


def test_readme_names_the_variants_without_runs(tmp_path):
    cfg = load_study("squash").cfg
    assert "derf" in cfg["variants"]
    result = squash_runs(tmp_path / "runs", identity_diverges=True, noalpha_acc=78.0)  # every variant but derf
    study = Study(name="squash", scale="cpu", cfg=cfg, out=tmp_path)
    text = write_readme(study, result, command="python sweep.py study=squash", sweep_time_s=0.0,
                        exit_codes={}).read_text()
    assert "Not run yet (no run folders): `derf`;" in text
    assert "`derf`: `norm=derf` (not run yet)" in text
    assert "`tanh`: `norm=dyt norm.squash=tanh`;" in text  # the variants that ran are listed as before

    cfg["variants"].pop("derf")
    text = write_readme(study, result, command="python sweep.py study=squash", sweep_time_s=0.0,
                        exit_codes={}).read_text()
    assert "not run yet" not in text.lower()
