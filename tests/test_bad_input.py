"""The bad-input catalogue: each mistake a user can make in a run's input is one line that
names the key, the value and what is allowed (an InputError, which train.py prints without a
traceback), raised before training starts, and leaves earlier run folders as they were.

Most cases go through train(cfg, run_dir) as train.py calls it; a few run train.py itself.
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import TINY, TINY_LM, TINY_RUN, compose_cfg, run_script
from idx_files import write_fashion_files

from normbench.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    InputError,
    LoggerConfigError,
    ModelConfigError,
    NormConfigError,
    NormFreeConfigError,
    OptimConfigError,
    TrainerConfigError,
)
from normbench.train import train


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A finished run folder, as an earlier run left it."""
    folder = tmp_path_factory.mktemp("earlier") / "run"
    train(compose_cfg(TINY), folder)
    return folder


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_named_line(err, key, value):
    msg = str(err)
    assert isinstance(err, InputError), type(err)
    assert "\n" not in msg, msg
    assert key in msg, (key, msg)
    assert value in msg, (value, msg)
    # what is allowed, in the words of each family's message
    assert any(w in msg for w in ("allowed", "must be", "norms that fit", "models for task", "models it fits",
                                  "Get it with")), msg


def base_for(extra):
    """TINY (a tiny ViT) unless the case picks another model, whose keys TINY's would not fit."""
    if any(o.startswith("model=") for o in extra):
        return ["data=synthetic", *TINY_RUN]
    return TINY


# (name, extra overrides on TINY, error class, the key named, the value named)
CASES = [
    ("unknown key", ["+norm.alpha00=1"], ConfigError, "norm.alpha00", "1"),
    ("unknown top-level key", ["+lr=0.1"], ConfigError, "lr", "0.1"),
    ("wrong type float", ["optim.lr=abc"], ConfigError, "optim.lr", "'abc'"),
    ("wrong type int", ["trainer.seed=abc"], ConfigError, "trainer.seed", "'abc'"),
    ("wrong type bool", ["norm.learnable_alpha=maybe"], ConfigError, "norm.learnable_alpha", "'maybe'"),
    ("a scalar for a mapping", ["data.augment=3"], ConfigError, "data.augment", "3"),
    ("alpha0 zero", ["norm=dyt", "norm.alpha0=0"], NormConfigError, "norm.alpha0", "0"),
    ("alpha0 negative", ["norm=dyt", "norm.alpha0=-1"], NormConfigError, "norm.alpha0", "-1"),
    ("unknown squash", ["norm=dyt", "norm.squash=relu"], NormConfigError, "norm.squash", "'relu'"),
    ("negative lr", ["optim.lr=-1"], OptimConfigError, "optim.lr", "-1"),
    ("unknown optimizer", ["optim.name=adagrad9"], OptimConfigError, "optim.name", "adagrad9"),
    ("batch size 0", ["data.batch_size=0"], DataError, "data.batch_size", "0"),
    ("groups not dividing channels", ["model=convnext", "model.dims=[12,24]", "model.depths=[1,1]",
                                      "model.norm_route=norm_layer", "norm=groupnorm", "norm.num_groups=5"],
     NormConfigError, "num_groups", "5"),
    ("norm unsuited to the model", ["norm=groupnorm"], ModelConfigError, "norm=groupnorm", "vit"),
    ("patch size not dividing the image", ["model.patch_size=5"], ModelConfigError, "model.patch_size", "5"),
    ("model for another task", ["model=llama"], ModelConfigError, "model=llama", "classify"),
    ("unknown task", ["task.name=segment"], TrainerConfigError, "task.name", "'segment'"),
    ("max_steps 0", ["trainer.max_steps=0"], TrainerConfigError, "trainer.max_steps", "0"),
    ("grad checkpointing without the hook", ["model=vgg", "norm=groupnorm", "trainer.grad_checkpointing=true"],
     TrainerConfigError, "trainer.grad_checkpointing", "model=vgg"),
    ("grad checkpointing with BatchNorm", ["model=resnet", "norm=batchnorm", "trainer.grad_checkpointing=true"],
     TrainerConfigError, "trainer.grad_checkpointing", "norm=batchnorm"),
    ("log_every 0", ["trainer.log_every=0"], TrainerConfigError, "trainer.log_every", "0"),
    ("unknown precision", ["trainer.precision=fp8"], TrainerConfigError, "trainer.precision", "'fp8'"),
    ("unknown device", ["trainer.device=tpu"], TrainerConfigError, "trainer.device", "'tpu'"),
    ("label smoothing 1", ["task.label_smoothing=1.0"], TrainerConfigError, "task.label_smoothing", "1.0"),
    ("label smoothing negative", ["task.label_smoothing=-0.1"], TrainerConfigError, "task.label_smoothing", "-0.1"),
    ("unknown wandb mode", ["logger.wandb.mode=maybe"], LoggerConfigError, "logger.wandb.mode", "'maybe'"),
    ("fixup with a norm", ["normfree=fixup", "norm=layernorm"], NormFreeConfigError, "normfree", "layernorm"),
    ("fixup on convnext", ["model=convnext", "normfree=fixup", "norm=identity"], NormFreeConfigError,
     "normfree", "convnext"),
    ("unknown normfree option", ["normfree.name=dropnorm"], NormFreeConfigError, "normfree", "dropnorm"),
    ("resume nowhere", ["trainer.resume=/no/such/run"], CheckpointError, "trainer.resume", "/no/such/run"),
    ("resume empty", ["trainer.resume=''"], CheckpointError, "trainer.resume", "''"),
    ("probe every 0", ["probe.every=0"], ConfigError, "probe.every", "0"),
]


@pytest.mark.parametrize("name, extra, error, key, value", CASES, ids=[c[0] for c in CASES])
def test_bad_value_is_one_named_line_before_training(earlier, tmp_path, name, extra, error, key, value):
    before = files_of(earlier)
    run_dir = tmp_path / "run"
    with pytest.raises(error) as info:
        train(compose_cfg(base_for(extra) + extra), run_dir)
    assert_one_named_line(info.value, key, value)
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "checkpoint.pt").exists()
    assert files_of(earlier) == before


# -- data files ---------------------------------------------------------------------------------
@pytest.fixture
def no_standard_places(tmp_path, monkeypatch):
    from normbench.data import paths

    monkeypatch.setattr(paths, "DEBIAN_FASHION_MNIST", tmp_path / "no_debian")
    monkeypatch.setattr(paths, "DEFAULT_ROOT", tmp_path / "no_cache")


def test_missing_data_files(no_standard_places, tmp_path):
    with pytest.raises(DataError) as info:
        train(compose_cfg(TINY + ["data=fashion_mnist", f"data.root={tmp_path / 'empty'}"]), tmp_path / "run")
    assert_one_named_line(info.value, "data.name", str(tmp_path / "empty"))
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_truncated_data_file(no_standard_places, tmp_path):
    root = tmp_path / "fmnist"
    write_fashion_files(root, size=28)
    bad = root / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError) as info:
        train(compose_cfg(TINY + ["data=fashion_mnist", f"data.root={root}", "model.patch_size=7"]), tmp_path / "run")
    assert isinstance(info.value, InputError) and "\n" not in str(info.value)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "truncated" in str(info.value)


def test_empty_text_corpus(tiny_lm_cfg, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError) as info:
        train(tiny_lm_cfg("data=text", f"data.paths=[{empty}]"), tmp_path / "run")
    assert_one_named_line(info.value, "data.paths", str(empty))
    assert "empty" in str(info.value)


def test_a_test_split_with_no_room_for_training(tiny_lm_cfg, tmp_path):
    with pytest.raises(DataError) as info:
        train(tiny_lm_cfg("data.val_fraction=0.5", "data.test_fraction=0.5"), tmp_path / "run")
    assert_one_named_line(info.value, "data.test_fraction", "0.5")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# -- checkpoints and run folders ----------------------------------------------------------------
@pytest.fixture
def copy_of(earlier, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(earlier, folder)
    (folder / "summary.json").unlink()  # unfinished, so trainer.resume=true reads its checkpoint
    return folder


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_corrupt_or_truncated_checkpoint(copy_of, damage):
    ckpt = copy_of / "checkpoint.pt"
    ckpt.write_bytes(b"\x00garbage" * 10 if damage == "corrupt" else ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    before = files_of(copy_of)
    with pytest.raises(CheckpointError) as info:
        train(compose_cfg(TINY + ["trainer.resume=true"]), copy_of)
    assert_one_named_line(info.value, "checkpoint", str(ckpt))
    assert "corrupt" in str(info.value)
    assert files_of(copy_of) == before


def test_resuming_with_a_different_model(copy_of):
    before = files_of(copy_of)
    with pytest.raises(CheckpointError) as info:
        train(compose_cfg(TINY + ["trainer.resume=true", "model.embed_dim=32"]), copy_of)
    assert_one_named_line(info.value, "model.embed_dim", "32")
    assert "16" in str(info.value)  # what the checkpoint was saved with
    assert files_of(copy_of) == before


def test_a_fresh_run_in_a_folder_holding_one(earlier):
    before = files_of(earlier)
    with pytest.raises(TrainerConfigError) as info:
        train(compose_cfg(TINY), earlier)
    assert_one_named_line(info.value, "trainer.resume", "False")
    assert files_of(earlier) == before


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainerConfigError) as info:
        train(compose_cfg(TINY), blocker / "run")
    assert_one_named_line(info.value, "hydra.run.dir", str(blocker / "run"))
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder stops only other users
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(TrainerConfigError, match="cannot be written"):
            train(compose_cfg(TINY), ro / "run")


@pytest.mark.slow  # spawns a process
def test_resume_as_a_quoted_string_is_the_bool(earlier, tmp_path):
    # trainer.resume='true' (a string after Hydra's quoting) means true, not a path named "true"
    copy = tmp_path / "copy"
    shutil.copytree(earlier, copy)
    summary = train(compose_cfg(TINY + ["trainer.resume='true'"]), copy)
    assert summary["status"] == "ok"  # the finished run, left as it is
    with pytest.raises(TrainerConfigError, match="already holds a run"):
        train(compose_cfg(TINY + ["trainer.resume='false'"]), copy)


# ckpt_every not a multiple of log_every used to lose the unlogged loss window on resume; the
# checkpoint now carries it, so the pair is allowed, not an error: test_resume's
# test_resume_after_a_kill_is_exact runs with log_every=2, ckpt_every=3 and resumes exactly.


# -- train.py itself: the message a user sees ---------------------------------------------------
def run_train(*args):
    return run_script("train.py", *args, timeout=240)


@pytest.mark.slow  # spawns a process
def test_train_py_unknown_group_option_names_the_options(tmp_path):
    proc = run_train(*TINY, "norm=dyt_typo", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "norm/dyt_typo" in proc.stderr and "layernorm" in proc.stderr  # Hydra lists the options
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.slow  # spawns a process
def test_train_py_prints_a_checkpoint_error_as_one_line(earlier, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(earlier, copy)
    (copy / "summary.json").unlink()
    before = files_of(copy)
    proc = run_train(*TINY_LM[:4], *TINY_LM[4:], "trainer.resume=true", f"hydra.run.dir={copy}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "task.name = 'lm' but checkpoint" in error[0], proc.stderr[-2000:]
    assert {k: v for k, v in files_of(copy).items() if k.parts[0] != ".hydra" and k.name != "train.log"} == \
        {k: v for k, v in before.items() if k.parts[0] != ".hydra" and k.name != "train.log"}
