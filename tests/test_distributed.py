"""Data-parallel training (torchrun / DDP) on two CPU processes with gloo.

Two processes with the same global batch train like one process, within a tolerance: not
bit-exact, because DDP sums each rank's gradient of its half-batch mean and divides by the
world size, where one process reduces the whole batch's gradient in one sum, and float
addition is not associative (and a matmul over half the rows may block differently). The
difference starts in the last bits (about 1e-7 relative) and a few optimizer steps keep it
there: losses are compared to rel 1e-5, weights to rtol 1e-4 / atol 1e-5, accuracy to one
test sample. AdamW turns the noise-only gradient of a bias just before a BatchNorm (zero in
exact arithmetic) into lr-sized steps, so the BatchNorm comparisons use SGD.
A two-process run killed and resumed is exactly (bit for bit) the two-process run never
killed: the same reductions in the same order.

The ranks are forked from the test process (no re-import: about a second a run); one test runs
train.py under torchrun itself, as a user would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from conftest import ROOT, TINY, assert_same_run, at_batch, simulated_kill

from normbench.data import BatchStream
from normbench.data.text import WindowStream
from normbench.dist import Dist, rank_seed
from normbench.errors import TrainerConfigError
from normbench.norms import BatchNorm, SyncBatchNorm, build_norm, convert_sync_batchnorm, is_norm_layer
from normbench.track import read_metrics, read_summary
from normbench.train import train
from normbench.train.checkpoint import load_checkpoint
from normbench.train.classify import ClassifyTask

WORLD = 2
LOSS_REL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, fn, args) -> None:
    # A forked child must not enter the OpenMP pool the parent's threads left behind (libgomp
    # is not fork-safe: the first parallel region hangs); one thread a rank, like torchrun's default.
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    fn(rank, *args)


def run_ranks(fn, *args, world: int = WORLD, timeout: float = 120.0) -> None:
    """fn(rank, *args) in `world` forked processes that torchrun's environment makes one process
    group (localhost); a rank's exception is raised here, with its traceback."""
    ctx = mp.start_processes(_rank_main, args=(world, _free_port(), fn, args), nprocs=world, join=False,
                             start_method="fork")
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{world} ranks did not finish in {timeout} s")


def _train(rank, cfg, run_dir):
    train(cfg, run_dir)


def _metrics(folder, split):
    return read_metrics(folder / "metrics.jsonl", split=split)


EVAL_SIZES = {"val": 64, "test": 256}  # TINY's synthetic data: its carved val split and its test set


def assert_same_curve(one, two, acc_samples=None):
    """Two run folders' train, val and test losses at the same steps within LOSS_REL; acc1 within
    acc_samples samples of each split (val: carved from the training set, the same on every rank;
    test: the held-out set; task=lm has none)."""
    for split in ("train", "val", "test"):
        a, b = _metrics(one, split), _metrics(two, split)
        assert [e["step"] for e in a] == [e["step"] for e in b] and (a or split == "test")
        for x, y in zip(a, b):
            assert y["loss"] == pytest.approx(x["loss"], rel=LOSS_REL), (split, x["step"])
            if acc_samples is not None and "acc1" in x:
                assert abs(x["acc1"] - y["acc1"]) <= 100.0 * acc_samples / EVAL_SIZES[split], (split, x["step"])


def assert_close_weights(one, two):
    a, b = load_checkpoint(one / "checkpoint.pt")["model"], load_checkpoint(two / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key].double(), a[key].double(), rtol=1e-4, atol=1e-5, msg=key)


# -- the batch order: one order, sharded by rank ------------------------------------------------
def test_the_ranks_batches_together_are_the_single_process_batch():
    x, y = torch.arange(50).view(50, 1, 1, 1).to(torch.uint8), torch.arange(50)
    one = BatchStream(x, y, batch_size=12, seed=3)
    ranks = [BatchStream(x, y, batch_size=12, seed=3, rank=r, world_size=3) for r in range(3)]
    for _ in range(9):  # four batches an epoch: over two epoch boundaries
        _, labels = next(one)
        parts = [next(s)[1] for s in ranks]
        assert all(len(p) == 4 for p in parts)
        assert torch.equal(torch.cat(parts), labels)
        assert all(s.state_dict() == one.state_dict() for s in ranks)  # the position is global


def test_the_ranks_windows_together_are_the_single_process_batch():
    tokens = np.arange(1000, dtype=np.uint8)
    one = WindowStream(tokens, 16, batch_size=8, seed=1)
    ranks = [WindowStream(tokens, 16, batch_size=8, seed=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):
        x, y = next(one)
        parts = [next(s) for s in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    assert all(s.state_dict() == one.state_dict() for s in ranks)


def test_a_batch_the_ranks_cannot_share_is_a_named_error(tiny_cfg, tiny_lm_cfg):
    two = Dist(rank=1, world_size=2)
    with pytest.raises(TrainerConfigError, match=r"data.batch_size = 63 is not divisible by the world size 2") as info:
        ClassifyTask.from_config(tiny_cfg("data.batch_size=63"), torch.device("cpu"), two)
    assert "allowed: a multiple of 2" in str(info.value) and "\n" not in str(info.value)
    from normbench.train.lm import LMTask

    with pytest.raises(TrainerConfigError, match=r"data.batch_size = 5 is not divisible by the world size 2"):
        LMTask.from_config(tiny_lm_cfg("data.batch_size=5"), torch.device("cpu"), two)


def test_each_rank_has_its_own_seed_and_rank_0_the_runs():
    assert rank_seed(7, 0) == 7
    seeds = {rank_seed(7, r) for r in range(1, 8)} | {rank_seed(s, 1) for s in range(8)}  # (7, 1) in both
    assert len(seeds) == 14 and all(0 <= s < 2**32 for s in seeds)


# -- SyncBatchNorm: normbench's conversion keeps layout, marker, name and state ------------------
def _bn_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 6), build_norm("batchnorm", 6),  # (B, T, C): channels_last
                                torch.nn.Sequential(build_norm("batchnorm", 6, layout="channels_first",
                                                               affine=False)),
                                torch.nn.BatchNorm1d(6))  # a stock torch one: channels first
    model(torch.randn(4, 6, 6))  # running statistics that are not the initial ones
    return model


def test_sync_bn_conversion_keeps_layout_marker_name_and_state():
    model = _bn_model()
    before = dict(model.named_modules())
    params = {n: p for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    model.eval()
    x = torch.randn(3, 6, 6)
    expected = model(x)

    convert_sync_batchnorm(model)
    after = dict(model.named_modules())
    assert after.keys() == before.keys()  # every module keeps its name
    for name in ("1", "2.0", "3"):
        old, new = before[name], after[name]
        assert type(new) is SyncBatchNorm and is_norm_layer(new) and new.norm_name == "batchnorm"
        assert new.layout == getattr(old, "layout", "channels_first")
        assert (new.eps, new.momentum, new.affine, new.training) == (old.eps, old.momentum, old.affine, old.training)
    assert after["1"].layout == "channels_last" and after["2.0"].weight is None
    now = dict(model.named_parameters())
    assert now.keys() == params.keys() and all(now[n] is p for n, p in params.items())  # the optimizer's objects
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n]), n
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)  # eval: the running statistics, same layout
    model.train()
    torch.testing.assert_close(model(x), _bn_model().train()(x))  # no process group: BatchNorm


def test_torchs_conversion_would_lose_the_layout():
    # why normbench converts: torch's turns a channels_last BatchNorm on tokens into one that
    # normalises dim 1 (the tokens), and drops the norm-layer marker
    bn = build_norm("batchnorm", 6)
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(bn))[0]
    assert not is_norm_layer(converted) and not hasattr(converted, "layout")


def test_sync_bn_with_a_world_of_one_is_batchnorm(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        bn = build_norm("batchnorm", 5)
        sync = convert_sync_batchnorm(torch.nn.Sequential(build_norm("batchnorm", 5)))[0]
        x = torch.randn(4, 3, 5, requires_grad=True)
        torch.testing.assert_close(sync(x), bn(x), rtol=0, atol=0)
        torch.testing.assert_close(sync.running_var, bn.running_var, rtol=0, atol=0)
    finally:
        dist.destroy_process_group()


def _sync_bn_rank(rank, x, w, out_path):
    import torch.distributed as dist

    from normbench.dist import setup

    setup("cpu")
    bn = convert_sync_batchnorm(torch.nn.Sequential(build_norm("batchnorm", x.shape[-1])))[0]
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, x.shape[-1]))
        bn.bias.copy_(torch.linspace(-1, 1, x.shape[-1]))
    half = len(x) // WORLD
    xr = x[rank * half:(rank + 1) * half].clone().requires_grad_()
    y = bn(xr)
    (y * w[rank * half:(rank + 1) * half]).sum().backward()
    grads = torch.stack([bn.weight.grad, bn.bias.grad])
    dist.all_reduce(grads)
    torch.save({"y": y.detach(), "dx": xr.grad, "grads": grads, "running": (bn.running_mean, bn.running_var)},
               out_path / f"rank{rank}.pt")


def test_sync_bn_on_two_ranks_is_batchnorm_over_the_global_batch(tmp_path):
    # channels_last on (B, T, C) tokens: the statistics are per channel C over B and T
    torch.manual_seed(0)
    x, w = torch.randn(8, 5, 4) * 3 + 1, torch.randn(8, 5, 4)
    run_ranks(_sync_bn_rank, x, w, tmp_path)

    bn = build_norm("batchnorm", 4)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, 4))
        bn.bias.copy_(torch.linspace(-1, 1, 4))
    xg = x.clone().requires_grad_()
    y = bn(xg)
    (y * w).sum().backward()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach())
    torch.testing.assert_close(torch.cat([r["dx"] for r in ranks]), xg.grad)
    torch.testing.assert_close(ranks[0]["grads"], torch.stack([bn.weight.grad, bn.bias.grad]))
    for r in ranks:
        torch.testing.assert_close(r["running"][0], bn.running_mean)
        torch.testing.assert_close(r["running"][1], bn.running_var)


def test_sync_bn_on_one_process_warns_and_keeps_batchnorm(tiny_cfg, tmp_path, caplog):
    from normbench.train.loop import Trainer

    run = Trainer(tiny_cfg("norm=batchnorm", "trainer.sync_bn=true"), tmp_path)
    assert "trainer.sync_bn = true has no effect on one process" in caplog.text
    assert any(type(m) is BatchNorm for m in run.model.modules())
    assert not any(isinstance(m, SyncBatchNorm) for m in run.model.modules())


# -- whole runs: two processes train like one ------------------------------------------------------
@pytest.mark.parametrize("task", ["classify", "lm"])
def test_two_processes_train_like_one_with_the_same_global_batch(tiny_cfg, tiny_lm_cfg, tmp_path, task):
    # classify: augmentation off, so the only difference is the gradient's reduction (each rank
    # augments with its own generator, which one process cannot reproduce)
    make = (lambda: tiny_cfg("data.augment.crop_padding=0", "optim.warmup_steps=0")) if task == "classify" \
        else (lambda: tiny_lm_cfg("optim.warmup_steps=0"))
    cfg = make()
    one, two = tmp_path / "one", tmp_path / "two"
    train(cfg, one)
    run_ranks(_train, cfg, two)

    assert not any((tmp_path / "two").glob("*.tmp"))
    assert_same_curve(one, two, acc_samples=1)
    assert_close_weights(one, two)
    a, b = read_summary(one / "summary.json"), read_summary(two / "summary.json")
    assert b["run"]["world_size"] == 2 and a["run"]["world_size"] == 1
    assert [e["samples"] for e in _metrics(two, "train")] == [e["samples"] for e in _metrics(one, "train")]
    assert (one / "probes.jsonl").exists() and (two / "probes.jsonl").exists()  # rank 0 probes


def test_sync_bn_on_two_processes_trains_like_batchnorm_on_one(tiny_cfg, tmp_path):
    # a ViT with BatchNorm on its (B, T, C) tokens: channels_last, the layout torch's conversion loses
    common = ("norm=batchnorm", "data.augment.crop_padding=0", "optim=sgd", "trainer.max_steps=8",
              "trainer.eval_every=4", "trainer.ckpt_every=4")
    one, synced, unsynced = tmp_path / "one", tmp_path / "synced", tmp_path / "unsynced"
    train(tiny_cfg(*common), one)
    run_ranks(_train, tiny_cfg(*common, "trainer.sync_bn=true"), synced)
    assert_same_curve(one, synced, acc_samples=1)
    assert_close_weights(one, synced)  # running statistics included
    # and the comparison can tell: without sync_bn each rank normalises its half-batch
    run_ranks(_train, tiny_cfg(*common), unsynced)
    a, b = _metrics(one, "train")[-1]["loss"], _metrics(unsynced, "train")[-1]["loss"]
    assert abs(a - b) > 100 * LOSS_REL * abs(a)


def test_a_two_process_run_killed_after_a_checkpoint_resumes_exactly(tiny_cfg, tmp_path, monkeypatch):
    # augmentation on: each rank's own generator is in the checkpoint and restored on its rank
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_ranks(_train, tiny_cfg(), straight)
    state = load_checkpoint(straight / "checkpoint.pt")
    assert len(state["ranks"]) == 2
    assert not torch.equal(state["ranks"][0]["task"]["generator"], state["ranks"][1]["task"]["generator"])
    assert torch.equal(state["task"]["generator"], state["ranks"][0]["task"]["generator"])

    undo = at_batch(monkeypatch, ClassifyTask, 4, simulated_kill)  # both ranks, in step 4 (after the step-3 checkpoint)
    with pytest.raises(Exception, match="simulated kill"):
        run_ranks(_train, tiny_cfg(), killed)
    undo()
    assert load_checkpoint(killed / "checkpoint.pt")["step"] == 3
    assert read_summary(killed / "summary.json")["status"] == "failed"

    run_ranks(_train, tiny_cfg("trainer.resume=true"), killed)
    assert read_summary(killed / "summary.json")["status"] == "ok"
    assert_same_run(straight, killed)  # bit for bit


def _sigterm_on_rank_1():
    if os.environ["RANK"] == "1":
        os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_on_one_rank_stops_every_rank_at_the_same_step(tiny_cfg, tmp_path, monkeypatch):
    # Rank 1 alone gets SIGTERM in step 4; the ranks' vote stops both after step 5 (the vote of
    # one boundary is read at the next, so no step waits on it), with one checkpoint, status
    # interrupted and the signal recorded, and the resumed run is exactly the run never stopped.
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run_ranks(_train, tiny_cfg(), straight)
    undo = at_batch(monkeypatch, ClassifyTask, 4, _sigterm_on_rank_1)
    run_ranks(_train, tiny_cfg(), stopped)
    undo()
    summary = read_summary(stopped / "summary.json")
    assert summary["status"] == "interrupted" and summary["step"] == 5
    assert summary["interrupted"] == {"signal": "SIGTERM", "exit_code": 143}
    assert load_checkpoint(stopped / "checkpoint.pt")["step"] == 5
    run_ranks(_train, tiny_cfg("trainer.resume=true"), stopped)
    assert_same_run(straight, stopped)


def test_a_two_process_checkpoint_resumes_on_one_process(tiny_cfg, tmp_path, caplog):
    # the data order is global, so it continues; per-rank augmentation cannot, and a warning says so
    folder = tmp_path / "run"
    run_ranks(_train, tiny_cfg("trainer.max_steps=3"), folder)
    (folder / "summary.json").unlink()  # not "ok": resume it
    summary = train(tiny_cfg("trainer.resume=true"), folder)
    assert summary["step"] == 6 and "was saved by 2 process(es) and resumes on 1" in caplog.text
    assert "ranks" not in load_checkpoint(folder / "checkpoint.pt")


@pytest.mark.slow  # torchrun: processes
def test_torchrun_train_py_writes_one_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "train.py",
           *TINY, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = read_summary(run_dir / "summary.json")
    assert summary["status"] == "ok" and summary["run"]["world_size"] == 2
    assert {p.name for p in run_dir.iterdir()} >= {".hydra", "config.yaml", "metrics.jsonl", "summary.json",
                                                   "checkpoint.pt", "train.log"}
    assert len(load_checkpoint(run_dir / "checkpoint.pt")["ranks"]) == 2
    assert not list(tmp_path.glob("normbench-rank*"))  # rank 1's Hydra folder (a temporary one) is gone
    assert not list(run_dir.glob("**/*.tmp"))
    log = (run_dir / "train.log").read_text()
    assert log.count("step 6  train loss") == 1  # rank 0 alone speaks
    assert [e["step"] for e in _metrics(run_dir, "val")] == [3, 6]
