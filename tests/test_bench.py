"""Tests of normbench.bench: the layer benchmark runs end to end and writes its files.

Tiny shapes, one block: these tests check the harness (rows, columns, files, errors,
interleaving), never a timing.
"""

import csv
import json
import platform
import re
from pathlib import Path

import pytest
import torch

from normbench.bench import layer, malloc, report
from normbench.bench.__main__ import main
from normbench.bench.timing import time_interleaved
from normbench.norms import dyt as dyt_module

TINY = ["layer", "--shapes", "64x48,cf:2x8x5x7", "--dtypes", "fp32,bf16", "--repeats", "1", "--warmup", "1",
        "--block-ms", "1", "--threads", "1"]


def test_layer_benchmark_writes_csv_markdown_figure_and_meta(tmp_path, monkeypatch):
    monkeypatch.setattr(dyt_module, "compile_unavailable", lambda device_type: "compile switched off in tests")
    out = tmp_path / "perf"
    cands = "layernorm,rmsnorm,dyt_eager,dyt_compiled,dyt_fused,dyt_kernel,dyt_node,liger_dyt"
    assert main([*TINY, "--candidates", cands, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["layer.csv", "layer.md", "layer_gbps.png", "meta.json"]

    rows = list(csv.DictReader(open(out / "layer.csv")))
    assert list(rows[0]) == list(report.CSV_FIELDS)
    cases = ["64x48 cl fp32", "64x48 cl bf16", "2x8x5x7 cf fp32", "2x8x5x7 cf bf16"]
    assert list(dict.fromkeys(r["case"] for r in rows)) == cases
    assert len(rows) == len(cases) * (1 + 8 * 2)  # the copy, then 8 candidates x 2 modes
    for r in rows:
        if r["candidate"] == "dyt_kernel" and r["layout"] == "channels_first":  # rows only: a row that says why
            assert r["status"].startswith("skipped: the C kernels alone run on the CPU, channels last")
            continue
        if r["candidate"] == "dyt_node" and r["layout"] == "channels_first":
            assert r["status"].startswith("skipped: the C++ autograd node runs on the CPU, channels last")
            continue
        if r["candidate"] in ("dyt_compiled", "liger_dyt"):  # cannot run here: a row that says why
            assert r["status"].startswith("skipped: ") and r["median_ms"] == ""
            continue
        assert r["status"] == "ok", r
        assert float(r["median_ms"]) > 0 and float(r["gbps"]) > 0 and float(r["x_roofline"]) > 0
        nbytes = int(r["numel"]) * (4 if r["dtype"] == "fp32" else 2)
        assert int(r["ideal_bytes"]) == {"copy": 2, "fwd": 2, "fwdbwd": 5}[r["mode"]] * nbytes
        if r["candidate"] == "layernorm":
            assert float(r["x_layernorm"]) == 1.0
    fused = [r for r in rows if r["candidate"] == "dyt_fused"]
    assert {r["backend"] for r in fused} == {"c-kernel"} or {r["backend"] for r in fused} == {"torch-ops"}
    assert any("compile switched off in tests" in r["status"] for r in rows)

    md = (out / "layer.md").read_text()
    assert md.startswith("# Norm-layer benchmark")
    assert "`python -m normbench.bench layer --shapes 64x48,cf:2x8x5x7" in md
    for case in cases:
        assert f"## {case} (copy: " in md
    assert "| dyt_fused | fwdbwd |" in md and "| layer | mode | backend | median ms |" in md

    meta = json.loads((out / "meta.json").read_text())
    assert meta["machine"]["threads"] == 1 and meta["repeats"] == 1 and meta["cases"] == cases
    assert {"cpu", "torch", "python", "git_commit", "load_avg_1_5_15"} <= set(meta["machine"])
    assert meta["machine"]["dyt_cpu_isa"] == "native" and meta["machine"]["dyt_cpu_simd_width"] in (0, 1, 8, 16)
    assert meta["malloc"]["asked"] == "pinned"
    assert "DyT's C kernel: " in md and " malloc: " in md
    assert (out / "layer_gbps.png").stat().st_size > 1000


@pytest.mark.parametrize("name,backend", [("dyt_kernel", "c-kernel, no autograd"), ("dyt_node", "c-kernel, C++ node")])
def test_the_cpu_only_candidates_compute_dyt_and_its_gradients(name, backend):
    """dyt_kernel (the C kernels into preallocated outputs) and dyt_node (the C++ autograd node without
    the module) against the formula y = w tanh(a x) + b and its autograd gradients; channels first
    gets a row saying why not."""
    from normbench.bench.layer import Case, build_candidate, kernel_call, node_call
    from normbench.norms.fused import cpu, cpu_autograd

    if (cpu.library() if name == "dyt_kernel" else cpu_autograd.op()) is None:
        pytest.skip(f"no {name} here: {cpu.reason() or cpu_autograd.reason()}")
    g = torch.Generator().manual_seed(0)
    x, dy = torch.randn(64, 48, generator=g), torch.randn(64, 48, generator=g)
    module, got_backend, why = build_candidate(name, Case((64, 48), "channels_last", "fp32"), torch.device("cpu"), x)
    assert why is None and got_backend == backend
    with torch.no_grad():
        module.alpha.fill_(0.7)
        module.weight.copy_(torch.rand(48, generator=g) + 0.5)
        module.bias.copy_(torch.randn(48, generator=g))
    a, w, b = (t.detach().clone().requires_grad_() for t in (module.alpha, module.weight, module.bias))
    xg = x.clone().requires_grad_()
    y = w * torch.tanh(a * xg) + b
    want = torch.autograd.grad(y, [xg, a, w, b], dy)
    call = kernel_call if name == "dyt_kernel" else node_call
    torch.testing.assert_close(call(module, x, dy, "fwd")().reshape(64, 48), y.detach(), rtol=1e-5, atol=1e-5)
    for got, ref in zip(call(module, x, dy, "fwdbwd")(), want):
        torch.testing.assert_close(got.reshape(ref.shape), ref, rtol=1e-4, atol=1e-4)
    assert build_candidate(name, Case((2, 8, 5, 7), "channels_first", "fp32"), torch.device("cpu"),
                           torch.randn(2, 8, 5, 7))[0] is None


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_malloc_pin_fixes_glibcs_thresholds():
    """glibc accepts both fixed thresholds (it refuses an mmap threshold above 32 MiB: pin() would
    then say None); the effect on the layer benchmark's spread is measured in results/perf, not here."""
    assert malloc.pin() == {"mmap_threshold": 32 << 20, "trim_threshold": (1 << 31) - 1}


@pytest.mark.parametrize("argv,message", [
    (["--shapes", "64x"], "--shapes: '64x' is not a shape"),
    (["--shapes", "cf:64x48"], "--shapes: 'cf:64x48' is channels first and needs (N, C, spatial...)"),
    (["--dtypes", "fp8"], "--dtypes: 'fp8' is unknown; allowed: fp32, bf16, fp16"),
    (["--candidates", "batchnorm"], "--candidates: 'batchnorm' is unknown; allowed: layernorm, rmsnorm"),
    (["--modes", "bwd"], "--modes: 'bwd' is unknown; allowed: fwd, fwdbwd"),
    (["--threads", "0"], "--threads: 0 is not allowed: must be >= 1"),
    (["--device", "tpu"], "--device: 'tpu' is unknown; allowed: cpu, cuda"),
    (["--processes", "-1"], "--processes >= 0 are required"),
])
def test_bad_arguments_are_one_line_errors(argv, message, tmp_path, capsys):
    assert main(["layer", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_parse_shape():
    assert layer.parse_shape("8192x384") == ((8192, 384), "channels_last")
    assert layer.parse_shape("8x196x384") == ((8, 196, 384), "channels_last")
    assert layer.parse_shape("16x96x56x56") == ((16, 96, 56, 56), "channels_first")
    assert layer.parse_shape("cl:16x56x56x96") == ((16, 56, 56, 96), "channels_last")
    assert layer.parse_shape("cf:4x8x10") == ((4, 8, 10), "channels_first")


def test_blocks_are_interleaved_in_shuffled_order():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abcd"}
    timings = time_interleaved(fns, repeats=40, warmup=0, block_s=1e-9)
    assert all(len(t.per_call_s) == 40 and t.calls_per_block == 1 for t in timings.values())
    timed = calls[4:]  # after one calibration call each
    repeats = [timed[i:i + 4] for i in range(0, len(timed), 4)]
    assert all(sorted(r) == list("abcd") for r in repeats)  # each candidate once a repeat
    # who runs before whom varies (a rotation would keep a's predecessor fixed): within a repeat,
    # every candidate is seen right after every other one
    follows = {(r[i], r[i + 1]) for r in repeats for i in range(3)}
    assert follows == {(a, b) for a in "abcd" for b in "abcd" if a != b}
    again = []
    time_interleaved({n: (lambda n=n: again.append(n)) for n in "abcd"}, repeats=40, warmup=0, block_s=1e-9)
    assert again == calls  # seeded: the same order every time


def test_isolated_layer_benchmark_runs_each_candidate_in_its_own_processes(tmp_path, monkeypatch):
    from normbench.bench import isolated

    launched = []
    real = isolated.run_one

    def spy(case, candidate, modes, out, *, passthrough):
        launched.append(candidate)
        return real(case, candidate, modes, out, passthrough=passthrough)

    monkeypatch.setattr(isolated, "run_one", spy)
    out = tmp_path / "iso"
    argv = ["layer", "--shapes", "64x48", "--dtypes", "fp32", "--repeats", "2", "--warmup", "1", "--block-ms", "1",
            "--threads", "1", "--candidates", "dyt_fused", "--processes", "2", "--out", str(out), "--no-plot"]
    assert main(argv) == 0
    # LayerNorm added as the pairing reference; each candidate once a round, two rounds
    assert sorted(launched) == ["dyt_fused", "dyt_fused", "layernorm", "layernorm"]
    rows = list(csv.DictReader(open(out / "layer.csv")))
    assert [(r["candidate"], r["mode"]) for r in rows] == [
        ("copy", "copy"), ("layernorm", "fwd"), ("layernorm", "fwdbwd"), ("dyt_fused", "fwd"), ("dyt_fused", "fwdbwd")]
    for r in rows:
        assert r["status"] == "ok" and r["processes"] == "2" and float(r["median_ms"]) > 0
    copy = int(rows[0]["blocks"])
    assert copy == 2 * 2 * 2  # every process times the copy: 2 rounds x 2 candidates x 2 blocks
    assert all(int(r["blocks"]) == 4 for r in rows[1:])
    assert rows[4]["x_layernorm_lo"] == ""  # two rounds: too few for a 90 % interval of the median
    meta = json.loads((out / "meta.json").read_text())
    assert meta["processes"] == 2 and "fresh processes" in (out / "layer.md").read_text()


def test_isolated_x_layernorm_is_the_median_of_per_round_ratios():
    from normbench.bench import isolated

    def row(cand, mode, ms):
        return {"candidate": cand, "mode": mode, "status": "ok", "median_ms": ms, "blocks": 3.0,
                "ideal_bytes": 1e6, "copy_gbps": 10.0}
    # rounds: LN 1, 2, 4, 1, 1 ms; DyT 0.9, 2.2, 3.0, 0.8, 1.2 -> ratios 0.9, 1.1, 0.75, 0.8, 1.2:
    # median 0.9, while the ratio of medians (1.2 / 1) would be 1.2; five rounds give the 90 % interval
    # [min, max] (it misses the median with probability 2 / 2^5)
    pairs = ((1, 0.9), (2, 2.2), (4, 3.0), (1, 0.8), (1, 1.2))
    rounds = [{("copy", "copy"): [row("copy", "copy", 0.2)], ("layernorm", "fwd"): [row("layernorm", "fwd", ln)],
               ("dyt_fused", "fwd"): [row("dyt_fused", "fwd", d)]} for ln, d in pairs]
    rows = isolated._combine(rounds, ["layernorm", "dyt_fused"], ["fwd"], 5)
    dyt = rows[2]
    assert dyt["median_ms"] == 1.2 and dyt["x_layernorm"] == pytest.approx(0.9)
    assert dyt["x_layernorm_lo"] == pytest.approx(0.75) and dyt["x_layernorm_hi"] == pytest.approx(1.2)
    assert dyt["blocks"] == 15 and dyt["processes"] == 5
    assert dyt["gbps"] == pytest.approx(1e6 / 1.2e-3 / 1e9) and dyt["roofline_ms"] == pytest.approx(0.1)


@pytest.mark.parametrize("n,k", [(5, 1), (11, 3), (31, 11), (100, 42)])
def test_median_ci_takes_the_binomial_order_statistics(n, k):
    import math

    from normbench.bench.timing import median_ci

    xs = [float(i) for i in range(1, n + 1)][::-1]  # unsorted input
    assert median_ci(xs) == (float(k), float(n + 1 - k))
    # by its definition: k is the largest with P(Bin(n, 1/2) <= k - 1) <= 5 %
    cdf = lambda m: sum(math.comb(n, i) for i in range(m + 1)) / 2 ** n  # noqa: E731
    assert cdf(k - 1) <= 0.05 < cdf(k)


def test_median_ci_needs_enough_values():
    from normbench.bench.timing import median_ci

    assert median_ci([1.0, 2.0, 3.0, 4.0]) is None and median_ci([]) is None
    assert median_ci([1.0, 2.0, 3.0], level=0.5) == (1.0, 3.0)


def test_default_out_dir_is_under_results_perf():
    path = report.default_out_dir()
    assert path.parent == Path("results/perf") and re.fullmatch(r"\d{8}-\d{6}", path.name)
    assert not path.exists()


# -- the step benchmark and the C10 LLaMA benchmark: harness only, tiny, never a timing -------
TINY_VIT = ["data=synthetic", "model.patch_size=4", "model.embed_dim=16", "model.depth=1", "model.num_heads=2"]


def test_step_benchmark_times_both_loops_for_each_norm_and_writes_its_files(tmp_path):
    out = tmp_path / "step"
    argv = ["step", "--norms", "layernorm,dyt", "--warmup", "2", "--steps", "2", "--repeats", "2", "--threads", "1",
            "--out", str(out), "--", *TINY_VIT]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "step.csv", "step.md", "step.png"]
    rows = list(csv.DictReader(open(out / "step.csv")))
    assert [(r["norm"], r["loop"]) for r in rows] == [("layernorm", "normbench"), ("layernorm", "bare"),
                                                     ("dyt", "normbench"), ("dyt", "bare")]
    for r in rows:
        assert float(r["median_ms"]) > 0 and r["repeats"] == "2"
        assert float(r["min_ms"]) <= float(r["median_ms"]) <= float(r["max_ms"])
        assert (float(r["x_bare"]) == 1.0) == (r["loop"] == "bare")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["info"]["model"] == "vit" and meta["info"]["data_ms_per_batch"] > 0
    assert set(meta["info"]) >= {"overhead_layernorm", "overhead_dyt"}
    # dyt / layernorm per repeat: two repeats, so the paired median is the mean of the two ratios
    for loop in ("normbench", "bare"):
        paired = meta["info"]["paired"]["dyt"][loop]
        assert 0 < paired["min"] <= paired["median"] <= paired["max"]
        assert paired["median"] == pytest.approx((paired["min"] + paired["max"]) / 2)
        assert paired["ci90_lo"] is None  # two repeats: too few for a 90 % interval of the median
    md = (out / "step.md").read_text()
    assert md.startswith("# Training-step benchmark") and "| dyt | bare |" in md and "Framework overhead" in md
    assert "Each norm / layernorm, paired per repeat: dyt (normbench loop)" in md


def test_step_benchmark_pairs_norms_step_by_step_in_alternating_order(tmp_path, monkeypatch):
    from normbench.bench import step as step_bench

    calls = []
    real = step_bench.bare_steps
    monkeypatch.setattr(step_bench, "bare_steps", lambda run, n: (calls.append((run.cfg.norm.name, n)), real(run, n)))
    out = tmp_path / "step"
    argv = ["step", "--norms", "layernorm,dyt", "--warmup", "1", "--steps", "1", "--repeats", "1", "--threads", "1",
            "--paired-steps", "5", "--out", str(out), "--", *TINY_VIT]
    assert main(argv) == 0
    paired = [c for c in calls if c[1] == 1][-10:]  # the last ten one-step calls: five rounds of two
    assert [name for name, _ in paired] == ["layernorm", "dyt", "dyt", "layernorm"] * 2 + ["layernorm", "dyt"]
    p = json.loads((out / "meta.json").read_text())["info"]["per_step"]
    assert p["rounds"] == 5 and set(p["median_ms"]) == {"layernorm", "dyt"}
    r = p["ratio"]["dyt"]
    assert 0 < r["min"] <= r["ci90_lo"] <= r["median"] <= r["ci90_hi"] <= r["max"]
    assert "paired step by step (bare loop;" in (out / "step.md").read_text()
    assert main(["step", "--paired-steps", "3"]) == 2  # too few rounds for an interval: refused before any run


def test_paired_processes_give_an_interval_over_process_medians(tmp_path, monkeypatch):
    from normbench.bench import step as step_bench

    specs = []

    def fake_process(spec, out):  # process i: dyt's steps 1 + i/100 x layernorm's, so its median ratio is known
        specs.append(spec)
        i = len(specs) - 1
        return {"layernorm": [0.010] * spec["rounds"], "dyt": [0.010 * (1 + i / 100)] * spec["rounds"]}

    monkeypatch.setattr(step_bench, "paired_in_fresh_process", fake_process)
    out = tmp_path / "step"
    argv = ["step", "--norms", "layernorm,dyt", "--warmup", "1", "--steps", "1", "--repeats", "1", "--threads", "1",
            "--paired-steps", "5", "--paired-processes", "5", "--out", str(out), "--", *TINY_VIT]
    assert main(argv) == 0
    assert [s["norms"] for s in specs] == [["layernorm", "dyt"], ["dyt", "layernorm"]] * 2 + [["layernorm", "dyt"]]
    assert all(s["threads"] == 1 and s["rounds"] == 5 and s["base"] == [*TINY_VIT, "trainer.device=cpu"] for s in specs)
    p = json.loads((out / "meta.json").read_text())["info"]["per_step"]
    assert p["processes"] == 5 and p["process_medians"]["dyt"] == pytest.approx([1.00, 1.01, 1.02, 1.03, 1.04])
    r = p["ratio_processes"]["dyt"]  # five processes: the 90 % interval of the median is their min and max
    assert (r["median"], r["ci90_lo"], r["ci90_hi"]) == pytest.approx((1.02, 1.00, 1.04))
    assert "in 5 fresh processes" in (out / "step.md").read_text()
    assert main(["step", "--paired-steps", "5", "--paired-processes", "3"]) == 2  # too few for an interval
    assert main(["step", "--paired-processes", "5"]) == 2  # nothing to place in processes


@pytest.mark.slow
def test_a_paired_steps_process_returns_every_rounds_step_times(tmp_path):
    from normbench.bench.step import paired_in_fresh_process

    spec = {"base": [*TINY_VIT, "trainer.device=cpu"], "norms": ["layernorm", "dyt"], "warmup": 1, "rounds": 3,
            "threads": 1, "device": "cpu"}
    got = paired_in_fresh_process(spec, tmp_path / "p")
    assert set(got) == {"layernorm", "dyt"} and all(len(v) == 3 and min(v) > 0 for v in got.values())


def test_step_benchmark_bad_norm_is_one_named_line(capsys):
    assert main(["step", "--norms", "layernorm,nope"]) == 2
    err = capsys.readouterr().err
    assert "--norms: 'nope' is unknown; allowed:" in err and "dyt" in err


def test_the_bare_loop_trains_the_runs_model_like_the_framework():
    """Same config and seed: the bare loop's weights after 3 steps are the framework's."""
    import torch
    from normbench.bench import step
    from normbench.train.loop import Trainer

    cfg = step.compose_run(step.bench_overrides(TINY_VIT + ["trainer.device=cpu"], "dyt", 3, 3, 1))
    cfg.trainer.max_steps = 3
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        framework = Trainer(cfg, Path(tmp) / "a")
        framework.fit()
        bare = Trainer(cfg, Path(tmp) / "b")
        bare.model.train()
        step.bare_steps(bare, 3)
    for (name, a), b in zip(framework.model.state_dict().items(), bare.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_llama_benchmark_writes_layer_and_model_rows_and_the_papers_table(tmp_path):
    out = tmp_path / "eff"
    argv = ["llama", "--candidates", "rmsnorm,dyt_eager,dyt_fused", "--embed-dim", "16", "--depth", "1",
            "--num-heads", "2", "--context", "8", "--batch", "2", "--repeats", "1", "--warmup", "0",
            "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["llama.csv", "llama.md", "llama.png", "meta.json"]
    rows = list(csv.DictReader(open(out / "llama.csv")))
    assert len(rows) == 3 * 2 * 2  # candidates x modes x (model, layer)
    for r in rows:
        assert r["status"] == "ok" and float(r["median_ms"]) > 0 and r["norm_layers"] == "3"  # 2 per block + final
        if r["candidate"] == "rmsnorm":
            assert float(r["x_rmsnorm"]) == 1.0
    md = (out / "llama.md").read_text()
    assert "| dyt | training | 4.8 | 39.1 |" in md and "| dyt_fused | inference |" in md


def test_the_norm_stack_runs_each_layer_on_the_input_it_saw():
    import torch
    from normbench.bench import llama

    model = llama.build_llama("dyt_eager", embed_dim=16, depth=2, num_heads=2, context=8,
                              device=torch.device("cpu"), dtype=torch.float32)
    tokens = torch.randint(0, 256, (2, 8))
    seen = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append(out.detach())) for m in model.modules()
             if llama.is_norm_layer(m)]
    model(tokens)
    for h in hooks:
        h.remove()
    layers = llama.capture_norm_inputs(model, tokens)
    assert len(layers) == 5 == len(seen)
    outs = llama.NormStack([m for m, _ in layers])(*[x for _, x in layers])
    for got, want in zip(outs, seen):
        torch.testing.assert_close(got, want)


def test_fused_backward_probe_script_runs_every_candidate(capsys):
    """scripts/fused_backward_probe.py at a tiny shape: every candidate timed, in its fixed order."""
    import importlib.util

    from conftest import ROOT

    from normbench.norms.fused import cpu_autograd

    if cpu_autograd.op() is None:
        pytest.skip("no C++ compiler for the fused DyT node")
    spec = importlib.util.spec_from_file_location("fused_backward_probe", ROOT / "scripts" / "fused_backward_probe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    medians = mod.main(["--rows", "64", "--channels", "16", "--repeats", "2", "--calls", "1"])
    assert list(medians) == ["k_pre", "k_fresh", "fwd_nograd", "fwd_grad", "fwdbwd_op", "fwdbwd", "fwdbwd_op2",
                             "fwdbwd_xonly", "bwd_only_retained", "ln_fwd", "ln_fwdbwd", "fwdbwd_end"]
    assert all(v > 0 for v in medians.values()) and "bwd_only_retained" in capsys.readouterr().out


def test_norm_layer_times_script_times_each_norm_layer_inside_a_step(tmp_path):
    """scripts/norm_layer_times.py: per-layer forward and backward microseconds of each norm inside a
    real step; an identity norm has no backward node of its own, so none is charged to it."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("norm_layer_times", ROOT / "scripts" / "norm_layer_times.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "layers"
    assert mod.main(["--threads", "1", "--norms", "identity,dyt", "--steps", "2", "--repeats", "2",
                     "--out", str(out), "--", *TINY_VIT]) == 0
    rows = {r["norm"]: r for r in json.loads((out / "layers_1thread.json").read_text())["rows"]}
    assert rows["dyt"]["layers"] == rows["identity"]["layers"] > 0
    assert rows["dyt"]["fwd_us_per_layer"] > 0 and rows["dyt"]["bwd_us_per_layer"] > 0
    assert rows["identity"]["bwd_us_per_layer"] == 0 and rows["dyt"]["step_ms"] > 0
    assert "| dyt |" in (out / "layers_1thread.md").read_text()
