"""A study's README says which of its variants have no runs yet (a variant added after the runs
were made, e.g. squash's derf), rather than listing it as if it ran; on hand-made run folders."""

from __future__ import annotations

from runfolders import make_run, squash_runs

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


def test_readme_states_the_margin_and_that_old_runs_selected_on_the_test_set(tmp_path):
    cfg = load_study("squash").cfg
    result = squash_runs(tmp_path / "runs", identity_diverges=True, noalpha_acc=78.0)
    # the hand-made runs are old-format (val/acc1 only), as squash's were before its whole rerun
    report = {**cfg["report"], "metric": "val/acc1"}
    study = Study(name="squash", scale="cpu", cfg={**cfg, "margin": 0.5, "report": report}, out=tmp_path)
    text = write_readme(study, result, command="python sweep.py study=squash", sweep_time_s=0.0,
                        exit_codes={}).read_text()
    assert "equivalence margin 0.5 points (this study's `margin`)" in text
    # hand-made runs have no data.val_split in their config: they predate the validation split
    assert "**Selected on the test set.**" in text
    assert "(90 % CI, paired by seed, n=3)" in text  # each verdict line carries its interval and n


def test_report_of_a_study_folder_reads_its_runs_folder_alone(tmp_path):
    """`python -m normbench.report results/<study>` gives sweep.py --report's table: a pilot or a
    length check kept beside runs/ is not pooled into it."""
    import yaml

    from normbench.report import report

    squash_runs(tmp_path / "runs", identity_diverges=True, noalpha_acc=78.0)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"report": {"group_by": ["variant"], "figures": []}}))
    make_run(tmp_path / "pilot_w64", "tanh-9", variant="tanh", seed=9, acc=10.0, lr=2e-3)
    whole = report([tmp_path], tmp_path / "out")
    assert all("pilot_w64" not in str(r.path) for r in whole.runs)
    assert len(whole.runs) == len(report([tmp_path / "runs"], tmp_path / "out2").runs)
