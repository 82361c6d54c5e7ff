"""configs/ is found from the checkout a command runs in, not only beside the package (a wheel has none)."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, ROOT

from normbench import checkout
from normbench.checkout import checkout_root, configs_dir
from normbench.errors import CheckoutError, InputError


def make_configs(where):
    (where / "configs" / "study").mkdir(parents=True)
    (where / "configs" / "train.yaml").write_text("defaults: []\n")
    (where / "configs" / "study" / "squash.yaml").write_text((CONFIGS / "study" / "squash.yaml").read_text())
    return where / "configs"


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(checkout.ENV, raising=False)


def test_the_working_directorys_configs_come_before_the_packages(tmp_path, monkeypatch, no_env):
    assert configs_dir() == CONFIGS  # the tests run from the checkout, which is also the package's
    mine = make_configs(tmp_path / "clone")
    monkeypatch.chdir(tmp_path / "clone")
    assert configs_dir() == mine and checkout_root() == tmp_path / "clone"
    (mine / "train.yaml").unlink()  # a configs/ without train.yaml is not a checkout's: passed over
    assert configs_dir() == CONFIGS


def test_the_variable_and_an_argument_win(tmp_path, monkeypatch):
    env, arg = make_configs(tmp_path / "env"), make_configs(tmp_path / "arg")
    make_configs(tmp_path / "cwd")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv(checkout.ENV, str(env))
    assert configs_dir() == env
    assert configs_dir(arg) == arg
    monkeypatch.setenv(checkout.ENV, str(tmp_path))  # no train.yaml there: an error, not a fallback
    with pytest.raises(CheckoutError, match=rf"^\$NORMBENCH_CONFIGS = '{tmp_path}' holds no train.yaml; allowed: "):
        configs_dir()


def test_none_found_names_every_place_looked_in(tmp_path, monkeypatch, no_env):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checkout, "BESIDE_PACKAGE", tmp_path / "site-packages" / "configs")  # a wheel's
    with pytest.raises(CheckoutError) as info:
        configs_dir()
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert "$NORMBENCH_CONFIGS is unset" in message and f"{tmp_path / 'configs'} (the working directory's)" in message
    assert f"{tmp_path / 'site-packages' / 'configs'} (beside the package)" in message
    assert message.endswith("set NORMBENCH_CONFIGS=<checkout>/configs")


def test_a_study_and_the_step_bench_use_the_checkout_found(tmp_path, monkeypatch, no_env, capsys):
    from normbench.bench.__main__ import main
    from normbench.study import load_study

    make_configs(tmp_path / "clone")
    monkeypatch.chdir(tmp_path / "clone")
    study = load_study("squash")
    assert (study.configs, study.out) == (tmp_path / "clone" / "configs", tmp_path / "clone" / "results" / "squash")
    assert study.shown(study.out) == "results/squash"
    with pytest.raises(CheckoutError, match="train.py = .* is missing: a study runs the train.py beside its configs/"):
        from normbench.study.runner import launch
        launch(study, [], dry_run=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checkout, "BESIDE_PACKAGE", tmp_path / "none")
    assert main(["step", "--norms", "layernorm", "--steps", "1", "--repeats", "1", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: no normbench configs/ found:")
    assert not (tmp_path / "o").exists()


def test_sweep_py_runs_its_own_checkouts_study_from_anywhere(tmp_path, monkeypatch, no_env, capsys):
    import runpy

    make_configs(tmp_path / "other")  # another checkout's configs/ in the working directory is not sweep.py's
    monkeypatch.chdir(tmp_path / "other")
    sweep = runpy.run_path(str(ROOT / "sweep.py"))
    assert sweep["main"](["study=squash", "study.scale=smoke", "--dry-run"]) == 0  # composes its configs/
    commands = capsys.readouterr().out.splitlines()
    assert commands and all(c.startswith(f"{ROOT / 'train.py'} -m ") for c in commands)
    assert all(f"hydra.sweep.dir={ROOT / 'results' / 'squash-smoke' / 'runs'} " in c for c in commands)
