"""sweep.py: a study's grid as train.py multiruns, and its named errors (a smoke study end to end,
resumed after a kill: tests/test_sweep_faults.py)."""

from __future__ import annotations

import subprocess

import pytest

from conftest import ROOT, run_script

from normbench.study import StudyError, load_study


def run_sweep(*args: str) -> subprocess.CompletedProcess:
    return run_script("sweep.py", *args)


def test_jobs_cross_variants_with_the_scale_and_name_runs_by_what_varies():
    study = load_study("squash", ["study.scale=cpu"])
    jobs = study.jobs()
    variants = [j.variant for j in jobs]
    assert variants.count("layernorm") == 3 and variants.count("tanh") == 2  # main grid + lr search (+ 2x run)
    for job in jobs:
        keys = [o.split("=", 1)[0] for o in job.overrides]
        assert len(keys) == len(set(keys)), job  # Hydra refuses a key given twice
        assert "optim.grad_clip=null" in job.overrides  # the study states its whole recipe
    search = [j for j in jobs if j.variant == "tanh"][1]
    assert "optim.lr=1e-3,4e-3,8e-3" in search.overrides and search.swept == ["optim.lr", "trainer.seed"]
    noalpha = next(j for j in jobs if j.variant == "tanh_noalpha")
    assert "norm=dyt_noalpha" in noalpha.overrides  # f(x): alpha fixed at 1


def test_a_list_value_is_not_a_sweep():
    from normbench.study.spec import _is_sweep

    assert _is_sweep("1e-3,4e-3") and _is_sweep("range(0,3)") and not _is_sweep("[100,-1]") and not _is_sweep("0.5")
    # a quoted value is one value, whatever it holds (norm.layernorm_at='blocks.[1-9].*,fc_norm')
    assert not _is_sweep("'blocks.[1-9].*,fc_norm'") and _is_sweep("'a,b',c") and not _is_sweep('"x,[y"')
    job = load_study("ln_curve", ["study.scale=cpu"]).jobs()[0]
    assert job.swept == ["trainer.seed"]  # probe.scurve_steps=[100,-1] names no run folder


def test_a_grid_key_names_run_folders_even_with_one_value_unless_a_variant_pins_it():
    narrowed = ['study.scales.cpu.grid=["norm.alpha0_attn=0.5,1.0","norm.alpha0=8.0"]']
    for job in load_study("llm_alpha0", narrowed).jobs():  # an extension of the grid to other=8 alone
        assert job.swept == ["norm.alpha0", "norm.alpha0_attn", "trainer.seed"]
        argv = job.argv(ROOT / "runs", [], "g")
        excluded = next(a for a in argv if a.startswith("hydra.job.config.override_dirname.exclude_keys="))
        assert "norm.alpha0," not in excluded and "norm.alpha0]" not in excluded
    pinned = load_study("stability", ["study.scales.cpu.variants=[tanh_p4]"]).jobs()[0]
    assert "model.depth" not in pinned.swept  # the grid sweeps depth, this variant pins it: not in the names


def test_a_scale_runs_a_subset_of_variants_in_its_order():
    study = load_study("squash", ["study.scales.cpu.variants=[sigmoid_noalpha,identity]"])
    assert [j.variant for j in study.jobs()] == ["sigmoid_noalpha", "identity"]
    with pytest.raises(StudyError, match="'nope', not a variant of study=squash; allowed: layernorm"):
        load_study("squash", ["study.scales.cpu.variants=[nope]"]).jobs()


def test_a_variants_seeds_split_into_jobs_that_make_the_same_run_folders():
    """--procs > 1 runs a variant's seeds side by side: one job per seed, each naming its folder by
    the seed as the whole multirun would (so a split run resumes an unsplit one and back)."""
    job = load_study("length").jobs()[0]
    assert "trainer.seed=0,1,2" in job.overrides
    split = job.per_seed()
    assert [next(o for o in j.overrides if o.startswith("trainer.seed=")) for j in split] == \
        ["trainer.seed=0", "trainer.seed=1", "trainer.seed=2"]
    for one in split:
        assert one.variant == job.variant and one.swept == job.swept
        assert [o for o in one.overrides if not o.startswith("trainer.seed=")] == \
            [o for o in job.overrides if not o.startswith("trainer.seed=")]
        assert one.argv(ROOT / "runs", [], "g")[-3:] == job.argv(ROOT / "runs", [], "g")[-3:]  # the folder keys


def test_only_runs_a_scales_grid_or_its_search_and_a_null_search_is_none():
    study = load_study("length")
    every, grid, search = study.jobs(), study.jobs("grid"), study.jobs("search")
    assert len(grid) == 7 and len(grid) + len(search) == len(every)
    assert all("trainer.max_steps=1000,4000" in j.overrides for j in grid)
    assert all("trainer.max_steps=16000" in j.overrides for j in search)
    assert load_study("length", ["study.scales.cpu.search=null"]).jobs() == grid
    with pytest.raises(StudyError, match="--only = 'all' is not allowed; allowed: grid, search"):
        study.jobs("all")


def test_dry_run_with_procs_checks_each_seeds_job(capsys):
    from normbench.study.runner import launch

    study = load_study("squash", ["study.scale=smoke", "study.scales.smoke.seeds=[0,1]"])
    assert launch(study, [], dry_run=True, procs=2) == {v: 0 for v in ("layernorm", "tanh", "identity", "tanh_noalpha")}
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == 8 and sum("trainer.seed=1 " in c for c in commands) == 4  # 4 variants x 2 seeds


@pytest.mark.slow  # spawns processes
def test_sweep_py_takes_procs_and_only_and_names_a_bad_only():
    proc = run_sweep("study=squash", "study.scale=smoke", "study.scales.smoke.seeds=[0,1]", "--dry-run", "--procs=2",
                     "--only=grid")
    commands = [line for line in proc.stdout.splitlines() if line.endswith("train.py") or "train.py -m" in line]
    assert proc.returncode == 0 and len(commands) == 8, proc.stderr[-2000:]  # 4 variants x 2 seeds
    assert sum("trainer.seed=1 " in c for c in commands) == 4
    proc = run_sweep("study=squash", "--only=everything")
    assert proc.returncode == 2 and "error: --only = 'everything' is not allowed; allowed: grid, search" in proc.stderr


@pytest.mark.slow  # spawns a process
def test_bad_study_names_and_scales_are_named_errors():
    with pytest.raises(StudyError, match="study = 'nope' is unknown; allowed: .*squash"):
        load_study("nope")
    with pytest.raises(StudyError, match="study.scale = 'huge' is not allowed .*smoke, cpu"):
        load_study("squash", ["study.scale=huge"])
    proc = run_sweep("study=squash", "study.scale=huge")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: study.scale = 'huge'")


@pytest.mark.parametrize("override, message", [
    ("study.name=other", "study.name = 'other' does not match its file, configs/study/squash.yaml"),
    ("study.margin=-1", "study.margin = -1 is not allowed: must be a number > 0"),
    ("+study.verdict=holds", "study.verdict is not a study key"),  # accepted and never read before
    ("+study.notes=text", "study.notes is not a study key"),
])
def test_study_keys_are_read_or_rejected(override, message):
    with pytest.raises(StudyError, match=message):
        load_study("squash", [override.lstrip("+")])
    assert load_study("squash", ["study.margin=0.5"]).cfg["margin"] == 0.5


# A smoke study end to end (table, figures, README, a killed job resumed by a re-run):
# tests/test_sweep_faults.py::test_a_study_goes_on_past_a_killed_job_and_a_rerun_finishes_it


def test_first_point_cuts_each_sweep_to_its_first_value_and_leaves_hydra_keys_out():
    from normbench.study.spec import first_point

    assert first_point(["optim.lr=1e-3,2e-3", "model.layers=[1,1],x", "trainer.seed=0,1,2", "norm=dyt",
                        "hydra.sweep.dir=/x", "hydra/launcher=joblib", "a=range(0,3)"]) == \
        ["optim.lr=1e-3", "model.layers=[1,1]", "trainer.seed=0", "norm=dyt"]


def test_dry_run_runs_the_pre_flight_checks_of_every_variant():
    """`sweep.py --dry-run` composes each job's first grid point and runs the run's own checks
    (normbench.train.preflight), so a bad value fails before any job starts, naming the variant."""
    from normbench.study.runner import launch

    study = load_study("squash", ["study.scale=smoke"])
    assert launch(study, [], dry_run=True) == {v: 0 for v in ("layernorm", "tanh", "identity", "tanh_noalpha")}
    with pytest.raises(StudyError, match="study squash, variant layernorm: norm.alpha0 = -1.0 is not allowed"):
        launch(study, ["norm.alpha0=-1"], dry_run=True)


def test_runs_with_a_validation_split_are_not_added_beside_runs_without_one(tmp_path):
    """A study whose finished image runs predate data.val_split refuses new runs that carve one
    (one table would mean two data sets by val/*), before any job starts; a study of new-format
    runs goes on."""
    import yaml
    from runfolders import make_run

    from normbench.study.runner import check_data_format

    runs = tmp_path / "runs"
    make_run(runs / "vit_dyt", "trainer.seed=0")  # an image run's folder as train.py wrote it before val_split
    study, passthrough = load_study("vision_norms", ["study.scale=smoke"]).with_sweep_dir([f"hydra.sweep.dir={runs}"])
    with pytest.raises(StudyError, match=r"1 finished run\(s\) in .* predate data.val_split .* data.val_split = 64 "):
        check_data_format(study, passthrough)
    config = runs / "vit_dyt" / "trainer.seed=0" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["data"] = {"name": "synthetic", "val_split": 64}
    config.write_text(yaml.safe_dump(cfg))
    check_data_format(study, passthrough)  # one format: nothing to refuse


def test_lm_runs_with_another_test_split_are_not_added_to_a_study(tmp_path):
    """Finished language-model runs without a test split refuse new runs that hold one out (the
    test split moves val/* to other bytes), before any job starts; the same fraction goes on."""
    import yaml
    from runfolders import make_run

    from normbench.study.runner import check_data_format

    runs = tmp_path / "runs"
    run = make_run(runs / "rmsnorm", "trainer.seed=0")
    config = run / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**cfg, "task": {"name": "lm"}, "data": {"name": "shakespeare"}}))
    study, passthrough = load_study("llm_norms", ["study.scale=smoke"]).with_sweep_dir([f"hydra.sweep.dir={runs}"])
    check_data_format(study, passthrough)  # neither holds out a test split
    with pytest.raises(StudyError, match=r"hold out data.test_fraction = 0, and new runs of variant \w+ would hold out "
                                         r"data.test_fraction = 0.05: their val/\* would be other bytes"):
        check_data_format(study, passthrough + ["data.test_fraction=0.05"])


STUDIES = sorted(p.stem for p in (ROOT / "configs" / "study").glob("*.yaml"))


@pytest.mark.parametrize("name", STUDIES)
def test_every_studys_smoke_scale_passes_the_dry_run(name):
    """Each study's smoke scale composes and passes the runs' own checks for every variant it
    lists: a typo in a study yaml fails here, not when someone starts the study."""
    from normbench.study.runner import launch

    study = load_study(name, ["study.scale=smoke"])
    codes = launch(study, [], dry_run=True)
    assert codes and set(codes.values()) == {0}
