"""Tests of the fused DyT (normbench/norms/fused) and of norm.impl.

The fused forward and backward against the float64 formula with hand-derived gradients
(the house rule: a reference written by hand, not the module again), and against eager:
fp32, bf16 and fp64, both layouts, odd sizes, channels_last memory, alpha frozen, no
weight or bias. Then what the design promises: bit-identical gradients run to run and
whatever the thread count, one saved activation, x's dtype kept under bf16, `auto`
falling back to eager where no kernel can be built, the custom op inside torch.compile,
the Triton kernels in Triton's CPU interpreter, and on a GPU when there is one.
"""

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from normbench.norms import DyT, NormConfigError, build_norm
from normbench.norms import dyt as dyt_module
from normbench.norms.fused import cpu, cpu_autograd, ops, reference

ROOT = Path(__file__).resolve().parents[1]
needs_kernel = pytest.mark.skipif(cpu.library() is None, reason=f"no CPU kernel: {cpu.reason()}")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# (layout, shape, memory): odd sizes; "cl" = a channels-first map in torch.channels_last memory
CASES = [
    ("channels_last", (7, 13), "contig"),
    ("channels_last", (3, 67, 13), "contig"),  # 201 rows: several reduction chunks
    ("channels_first", (3, 5, 11, 11), "contig"),
    ("channels_first", (3, 5, 11, 11), "cl"),
    ("channels_first", (6, 5), "contig"),
]
IDS = [f"{lay[9:]}-{'x'.join(map(str, s))}-{m}" for lay, s, m in CASES]


def channels(layout, shape):
    return shape[-1] if layout == "channels_last" or len(shape) <= 2 else shape[1]


def per_channel(v, layout, ndim):
    return v if layout == "channels_last" or ndim <= 2 else v.view((-1,) + (1,) * (ndim - 2))


def make(layout, c, impl, **kw):
    m = DyT(c, alpha0=0.8, layout=layout, impl=impl, **kw)
    with torch.no_grad():  # non-trivial parameters: ones/zeros would hide a bug
        if m.weight is not None:
            m.weight.copy_(torch.linspace(-1.5, 2.0, c))
        if m.bias is not None:
            m.bias.copy_(torch.linspace(0.5, -0.7, c))
    return m


def inputs(shape, memory, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 3  # |alpha x| up to ~10: saturated tanh too
    dy = torch.randn(shape, generator=g)
    if memory == "cl":
        x, dy = x.to(memory_format=torch.channels_last), dy.to(memory_format=torch.channels_last)
    return x.to(dtype), dy.to(dtype)


def run(m, x, dy):
    """(y, dx, {param name: grad}) of one forward and backward."""
    m.zero_grad()
    x = x.clone().requires_grad_()
    y = m(x)
    y.backward(dy)
    return y, x.grad, {n.removeprefix("_orig_mod."): p.grad for n, p in m.named_parameters()}


def reference_f64(m, x, dy):
    """The formula and its hand-derived gradients in float64, from m's parameters."""
    layout, nd = m.layout, x.ndim
    x, g = x.double(), dy.double()
    a = m.alpha.detach().double()
    w = per_channel(m.weight.detach().double(), layout, nd) if m.weight is not None else torch.ones(())
    b = per_channel(m.bias.detach().double(), layout, nd) if m.bias is not None else torch.zeros(())
    e = torch.exp(-2 * (a * x).abs())  # tanh written out: sign(z) (1 - e^-2|z|) / (1 + e^-2|z|)
    t = torch.sign(a * x) * (1 - e) / (1 + e)
    cdim = x.ndim - 1 if layout == "channels_last" or nd <= 2 else 1
    reduce = [d for d in range(nd) if d != cdim]
    grads = {
        "alpha": (g * w * x * (1 - t**2)).sum().reshape(1),
        "weight": (g * t).sum(reduce),
        "bias": g.sum(reduce),
        # how far an error e in t can move each sum: |d/dt| summed (assert_matches scales it by e)
        "_bound_alpha": (2 * t * g * w * x).abs().sum().reshape(1),
        "_bound_weight": g.abs().sum(reduce),
    }
    return w * t + b, g * w * a * (1 - t**2), grads


def assert_matches(got, want, tol):
    y, dx, grads = got
    y_ref, dx_ref, g_ref = want
    torch.testing.assert_close(y.double(), y_ref, **tol["y"])
    torch.testing.assert_close(dx.double(), dx_ref, **tol["y"])
    for name, grad in grads.items():
        scale = g_ref[name].abs().max().item() + 1.0  # sums of many terms: relative to their size
        # plus what the kernel's tanh error (tol["tanh"]) can add to the sum, term by term
        bound = g_ref.get(f"_bound_{name}")
        extra = 0.0 if bound is None else tol.get("tanh", 0.0) * bound.max().item() / scale
        torch.testing.assert_close(grad.double() / scale, g_ref[name] / scale, rtol=tol["sum"]["rtol"],
                                   atol=tol["sum"]["atol"] + extra)


# fused vs float64; fp32 tanh is a rational approximation, at most 4.2e-7 from tanh (cpu.py): "tanh"
# is that bound, by which the parameter sums may move term by term (on saturated inputs dalpha's
# terms g w x (1 - t^2) are mostly that error, so a fixed relative tolerance passed on some draws only)
TOL = {
    torch.float64: {"y": dict(rtol=1e-12, atol=1e-12), "sum": dict(rtol=1e-12, atol=1e-12)},
    torch.float32: {"y": dict(rtol=1e-5, atol=2e-6), "sum": dict(rtol=1e-5, atol=1e-6), "tanh": 4.2e-7},
    torch.bfloat16: {"y": dict(rtol=1e-2, atol=1e-2), "sum": dict(rtol=1e-5, atol=1e-5), "tanh": 4.2e-7},
}


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("layout,shape,memory", CASES, ids=IDS)
def test_fused_matches_float64_formula(layout, shape, memory, dtype):
    pdtype = torch.float64 if dtype == torch.float64 else torch.float32  # fp32 parameters under bf16
    m = make(layout, channels(layout, shape), "fused", dtype=pdtype)
    x, dy = inputs(shape, memory, dtype)
    y, dx, grads = run(m, x, dy)
    assert y.dtype == dtype and dx.dtype == dtype and y.stride() == x.stride() and dx.stride() == x.stride()
    assert all(g.dtype == pdtype for g in grads.values())
    # bf16: the formula on the same bf16 x and dy; y and dx are rounded once, the sums never
    assert_matches((y, dx, grads), reference_f64(m, x, dy), TOL[dtype])


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout,shape,memory", CASES, ids=IDS)
def test_fused_matches_eager(layout, shape, memory, dtype):
    c = channels(layout, shape)
    x, dy = inputs(shape, memory, dtype)
    y_e, dx_e, g_e = run(make(layout, c, "eager"), x, dy)
    y_f, dx_f, g_f = run(make(layout, c, "fused"), x, dy)
    assert y_e.dtype == y_f.dtype == dtype
    # bf16 eager rounds after every op (alpha*x, tanh, the grads' sums): looser there
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=4e-2)
    torch.testing.assert_close(y_f, y_e, **tol)
    torch.testing.assert_close(dx_f, dx_e, **tol)
    for name in g_e:
        scale = g_e[name].abs().max().item() + 1.0
        torch.testing.assert_close(g_f[name] / scale, g_e[name] / scale, **tol)


@needs_kernel
@pytest.mark.parametrize("layout,shape,memory", [CASES[1], CASES[2]], ids=[IDS[1], IDS[2]])
def test_frozen_alpha_and_no_affine(layout, shape, memory):
    c = channels(layout, shape)
    x, dy = inputs(shape, memory, torch.float32)
    for kw in (dict(learnable_alpha=False), dict(affine=False, bias=False), dict(bias=False)):
        m = make(layout, c, "fused", **kw)
        y, dx, grads = run(m, x, dy)
        y_ref, dx_ref, g_ref = reference_f64(m, x, dy)
        assert set(grads) == {n for n, _ in m.named_parameters()}
        assert ("alpha" in grads) == kw.get("learnable_alpha", True)
        assert_matches((y, dx, grads), (y_ref, dx_ref, g_ref), TOL[torch.float32])
        if not m.learnable_alpha:
            assert m.alpha.grad is None and not m.alpha.requires_grad


@needs_kernel
@pytest.mark.parametrize("layout,shape", [("channels_last", (5, 7)), ("channels_first", (2, 3, 4, 5))])
def test_gradcheck_float64(layout, shape):
    from torch.func import functional_call

    m = make(layout, channels(layout, shape), "fused", dtype=torch.float64)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in m.named_parameters()]
    x = (torch.randn(shape, dtype=torch.float64) * 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, *ps: functional_call(m, dict(zip(names, ps)), (x,)), (x, *params))
    y = m(x)
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):  # second derivatives: an error, never silent zeros
        gx.sum().backward()



@needs_kernel
@pytest.mark.parametrize("node", ["cxx", "python"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_rows_fast_path_runs_where_it_should_and_matches_the_formula(monkeypatch, dtype, node):
    """A contiguous channels-last fp32/bf16 input with fp32 parameters takes the fast path (the C++
    autograd node, or the same kernels through the Python autograd.Function where it cannot be built);
    anything else takes the general one. Every path matches the formula."""
    if node == "cxx" and cpu_autograd.op() is None:
        pytest.skip(f"no C++ autograd node: {cpu_autograd.reason()}")
    if node == "python":
        monkeypatch.setattr(cpu_autograd, "op", lambda: None)
    want = {"cxx": "CppFunction", "python": "_DyTFunctionBackward"}[node]
    x, dy = inputs((3, 67, 13), "contig", dtype)
    m = make("channels_last", 13, "fused")
    assert type(m(x.requires_grad_()).grad_fn).__name__ == want
    assert_matches(run(m, x.detach(), dy), reference_f64(m, x.detach(), dy), TOL[dtype])
    for m, x in ((m, x.detach().transpose(0, 1).contiguous().transpose(0, 1)),  # a transposed view
                 (make("channels_last", 13, "fused", dtype=torch.float64), x.detach().double()),
                 (make("channels_last", 13, "fused", bias=False), x.detach())):
        assert type(m(x.requires_grad_()).grad_fn).__name__ == "_DyTFunctionBackward"
        assert_matches(run(m, x.detach(), dy.to(x.dtype)), reference_f64(m, x.detach(), dy.to(x.dtype)),
                       TOL[x.dtype])


@needs_kernel
@pytest.mark.parametrize("kw", [dict(learnable_alpha=False), dict(alpha_param="log"), dict(cast=torch.bfloat16)],
                         ids=["frozen-alpha", "log-alpha", "bf16-parameters"])
def test_rows_fast_path_takes_any_alpha_and_casts_parameters_like_eager(kw):
    """The fast path's alpha is the parameter, the frozen buffer, or alpha0 * exp(s); parameters cast
    away from fp32 (model.to(bf16)) are read in fp32 by the node's kernels, their gradients cast back."""
    if cpu_autograd.op() is None:
        pytest.skip(f"no C++ autograd node: {cpu_autograd.reason()}")
    kw = dict(kw)
    cast = kw.pop("cast", None)
    m, ref = make("channels_last", 13, "auto", **kw), make("channels_last", 13, "eager", **kw)
    with torch.no_grad():
        for mod in (m, ref):
            for t in mod.parameters():
                t.copy_(torch.randn_like(t) * 0.1 + (1.0 if t is mod.weight else 0.0))
        ref.load_state_dict(m.state_dict())
    dtype = torch.float32
    if cast is not None:
        m, ref, dtype = m.to(cast), ref.to(cast), cast
    x, dy = inputs((3, 201, 13), "contig", dtype)
    y = m(x.clone().requires_grad_())
    assert type(y.grad_fn).__name__ == "CppFunction"
    got, want = run(m, x, dy), run(ref, x, dy)
    tol = TOL[torch.float32]["y"] if cast is None else dict(rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(got[0], want[0], **tol)
    torch.testing.assert_close(got[1], want[1], **tol)
    for name in want[2]:
        torch.testing.assert_close(got[2][name].float(), want[2][name].float(), rtol=1e-3 if cast is None else 5e-2,
                                   atol=1e-3 if cast is None else 5e-1)


@needs_kernel
@pytest.mark.parametrize("node", ["cxx", "python"])
def test_rows_fast_path_second_derivative_is_an_error(monkeypatch, node):
    """Never silent zeros: the C++ node refuses create_graph=True at once, naming the impl that has
    second derivatives; the Python path raises when the second derivative is taken."""
    if node == "cxx" and cpu_autograd.op() is None:
        pytest.skip(f"no C++ autograd node: {cpu_autograd.reason()}")
    if node == "python":
        monkeypatch.setattr(cpu_autograd, "op", lambda: None)
    m = make("channels_last", 13, "fused")
    x = inputs((3, 67, 13), "contig", torch.float32)[0].requires_grad_()
    with pytest.raises(RuntimeError, match="differentiable once|does not require grad|once_differentiable|not differentiable"):
        (gx,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
        gx.sum().backward()



@needs_kernel
@pytest.mark.parametrize("kw", [dict(bias=False), dict(affine=False, bias=False)], ids=["no-bias", "no-affine"])
def test_tokens_with_fewer_tokens_than_channels_and_no_bias(kw):
    """A (B, N, C) token tensor with N < C and no bias (the DyT-LLaMA form): the missing weight or
    bias is C values, not N (it once took N and read past them)."""
    m = make("channels_last", 32, "fused", **kw)
    x, dy = inputs((4, 16, 32), "contig", torch.float32)
    # dalpha sums g w x (1 - t^2) over many saturated values (|alpha x| up to ~10 here), where the
    # kernel's tanh (4e-7 from tanh) decides 1 - t^2: 5e-5 relative on this draw (eager: 3e-6)
    tol = {**TOL[torch.float32], "sum": dict(rtol=1e-4, atol=1e-4)}
    assert_matches(run(m, x, dy), reference_f64(m, x, dy), tol)
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():  # what torch.compile sees: the custom op's fake (meta) shapes
        t = torch.empty(4, 16, 32)
        dx, da, dw, db = ops.dyt_bwd(t, t, torch.empty(1), None, False)
    assert dx.shape == (4, 16, 32) and da.shape == (1,) and dw.shape == db.shape == (32,)

def test_reference_backend_fp16_matches_eager():
    """fp16 on the CPU has no kernel: the fused op runs its torch reference ops."""
    x, dy = inputs((9, 13), "contig", torch.float16)
    assert ops.backend(x) is reference
    y_e, dx_e, g_e = run(make("channels_last", 13, "eager"), x, dy)
    y_f, dx_f, g_f = run(make("channels_last", 13, "fused"), x, dy)
    assert y_f.dtype == torch.float16
    torch.testing.assert_close(y_f, y_e, rtol=2e-3, atol=4e-3)
    torch.testing.assert_close(dx_f, dx_e, rtol=2e-3, atol=4e-3)
    for n in g_e:
        torch.testing.assert_close(g_f[n], g_e[n], rtol=2e-2, atol=2e-2)


def test_non_contiguous_input_and_empty():
    m = make("channels_last", 13, "fused")
    x, dy = inputs((13, 20), "contig", torch.float32)
    xt, dyt = x.t(), dy.t()  # channels on the last dim, but strided memory
    got = run(m, xt, dyt)
    want = reference_f64(m, xt, dyt)
    assert_matches(got, want, TOL[torch.float32])
    y, dx, grads = run(m, torch.empty(0, 13), torch.empty(0, 13))
    assert y.shape == dx.shape == (0, 13) and all(not g.any() for g in grads.values())


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_cpu_tanh_accuracy_inf_and_nan(dtype):
    """The kernel's fp32 tanh (a rational approximation) within 5e-7 of tanh; inf saturates, NaN stays NaN."""
    m = make("channels_last", 11, "fused")
    with torch.no_grad():
        m.alpha.fill_(1.0)
        m.weight.fill_(1.0)
        m.bias.zero_()
        z = torch.linspace(-12, 12, 11 * 20001, dtype=torch.float64)
        y = m(z.to(dtype).view(-1, 11))
        want = torch.tanh(z.to(dtype).double()).view(-1, 11)
        atol = 5e-7 if dtype == torch.float32 else 4e-3  # bf16: one rounding of the output
        torch.testing.assert_close(y.double(), want, rtol=0, atol=atol)
        assert y.abs().max() <= 1
        special = torch.tensor([float("inf"), -float("inf"), float("nan"), 0.0] * 3, dtype=dtype)[:11]
        out = m(special.view(1, 11))[0]
        assert abs(out[0] - 1) < 1e-6 and abs(out[1] + 1) < 1e-6 and torch.isnan(out[2]) and out[3] == 0


def test_portable_c_path_matches(monkeypatch, tmp_path):
    """The plain-C loops (what a non-x86 or non-AVX2 machine builds) give the same results."""
    if cpu._compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setattr(cpu, "_FLAG_SETS", (("-O2", "-fno-trapping-math", "-fopenmp", "-fPIC", "-shared"),))
    x86 = platform.machine() in ("x86_64", "AMD64")
    fresh_build_matches(monkeypatch, tmp_path, (CASES[1], CASES[2]), simd_width=1 if x86 else None)  # no AVX loops


def fresh_build_matches(monkeypatch, tmp_path, cases, simd_width: int | None = None) -> None:
    """Build the C kernel afresh into tmp_path, rows through it (not through the cached C++ node's
    own copy), check its vector width and that each case in fp32 and bf16 gives the formula's results."""
    monkeypatch.setenv("NORMBENCH_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("NORMBENCH_FUSED_CPU_CXX", "0")
    cpu.library.cache_clear()
    cpu_autograd.op.cache_clear()
    try:
        if simd_width is not None:
            assert cpu.simd_width() == simd_width
        for layout, shape, memory in cases:
            for dtype in (torch.float32, torch.bfloat16):
                m = make(layout, channels(layout, shape), "fused")
                x, dy = inputs(shape, memory, dtype)
                assert_matches(run(m, x, dy), reference_f64(m, x, dy), TOL[dtype])
    finally:
        cpu.library.cache_clear()
        cpu_autograd.op.cache_clear()


def _cpu_flags() -> set[str]:
    try:
        return set(next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split())
    except (OSError, StopIteration):
        return set()


@pytest.mark.parametrize("isa", ["native", "avx2"])
def test_simd_paths_match(monkeypatch, tmp_path, isa):
    """Both SIMD bodies (AVX-512's 16 lanes, AVX2's 8) give the formula's results, tails and bf16
    included; NORMBENCH_FUSED_CPU_ISA=avx2 builds the 8-lane loops on an AVX-512 machine."""
    if cpu._compiler() is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs a C compiler on x86-64")
    flags = _cpu_flags()
    if not {"avx2", "fma"} <= flags:
        pytest.skip("needs AVX2 + FMA")
    monkeypatch.setenv("NORMBENCH_FUSED_CPU_ISA", isa)
    want = 16 if isa == "native" and {"avx512f", "avx512bw"} <= flags else 8
    # 64 channels: four 16-lane vectors; 37: two and a tail; 13: a tail only; 11 x 11 planes
    cases = (("channels_last", (9, 64), "contig"), ("channels_last", (9, 37), "contig"), CASES[1], CASES[2])
    fresh_build_matches(monkeypatch, tmp_path, cases, simd_width=want)


def test_unknown_isa_is_an_error(monkeypatch):
    monkeypatch.setenv("NORMBENCH_FUSED_CPU_ISA", "sse9")
    with pytest.raises(NormConfigError, match=r"NORMBENCH_FUSED_CPU_ISA = 'sse9'.*allowed: native, avx2"):
        cpu.flag_sets()


# ---- determinism, memory, dtype -------------------------------------------------------


@needs_kernel
@pytest.mark.parametrize("layout,shape,memory", [CASES[1], CASES[2], CASES[3]], ids=[IDS[1], IDS[2], IDS[3]])
def test_gradients_bit_identical_across_runs_and_thread_counts(layout, shape, memory):
    m = make(layout, channels(layout, shape), "fused")
    x, dy = inputs(shape, memory, torch.float32)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 2, 3):
            torch.set_num_threads(n)
            results.append(run(m, x, dy))
    finally:
        torch.set_num_threads(threads)
    first = results[0]
    for other in results[1:]:
        assert torch.equal(other[0], first[0]) and torch.equal(other[1], first[1])
        for name in first[2]:
            assert torch.equal(other[2][name], first[2][name]), name


@needs_kernel
def test_one_saved_activation():
    m = make("channels_last", 64, "fused")
    x = torch.randn(128, 64, requires_grad=True)
    params = {p.data_ptr() for p in m.parameters()}
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    activations = [t for t in saved if t is not None and t.data_ptr() not in params]
    assert len(activations) == 1 and activations[0].data_ptr() == x.data_ptr()


@pytest.mark.parametrize("impl", ["eager", "fused", "auto"])
def test_bf16_stays_bf16_under_autocast(impl):
    """An fp32 alpha must not promote a bf16 activation to fp32 (it did before issue 14)."""
    m = make("channels_last", 64, impl)
    x = torch.randn(96, 64).to(torch.bfloat16).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16
    assert all(p.grad.dtype == torch.float32 for p in m.parameters())
    y32 = m(torch.randn(96, 64))  # fp32 in, fp32 out: nothing is cast down either
    assert y32.dtype == torch.float32


# ---- norm.impl ------------------------------------------------------------------------


@needs_kernel
def test_auto_picks_fused_where_a_kernel_runs_and_eager_elsewhere():
    big, small = torch.randn(64, 128), torch.randn(4, 128)
    assert build_norm("dyt", 128).resolved_impl(big) == "fused"
    assert build_norm("dyt", 128).resolved_impl(small) == "eager"  # below AUTO_MIN_NUMEL
    assert build_norm("dyt", 128, squash="hardtanh").resolved_impl(big) == "eager"
    assert build_norm("dyt", 128).resolved_impl(big.half()) == "eager"  # no fp16 CPU kernel
    assert build_norm("dyt", 128, impl="torch").impl == "eager"  # the old name still works
    m_auto, m_eager = make("channels_last", 128, "auto"), make("channels_last", 128, "eager")
    torch.testing.assert_close(m_auto(big), m_eager(big))


def test_without_a_compiler_auto_is_eager_and_compiled_fails_clearly(monkeypatch):
    """What a machine without gcc/clang gets: no build attempt, eager results, one clear error."""
    had_library = cpu.library() is not None  # this machine's real answer, before the patch
    monkeypatch.setattr(cpu, "_compiler", lambda: None)
    monkeypatch.setattr(dyt_module, "compile_unavailable", lambda device_type: "no C++ compiler")
    cpu.library.cache_clear()
    cpu_autograd.op.cache_clear()  # the node is built from the C kernel: none either
    try:
        assert cpu.library() is None and "no C compiler" in cpu.reason() and cpu_autograd.op() is None
        x, dy = inputs((64, 128), "contig", torch.float32)
        m_auto, m_eager, m_fused = (make("channels_last", 128, i) for i in ("auto", "eager", "fused"))
        assert m_auto.resolved_impl(x) == "eager" and ops.backend(x) is reference
        y_a, dx_a, _ = run(m_auto, x, dy)
        y_e, dx_e, _ = run(m_eager, x, dy)
        assert torch.equal(y_a, y_e) and torch.equal(dx_a, dx_e)
        torch.testing.assert_close(run(m_fused, x, dy)[1], dx_e)  # fused: its torch reference ops
        with pytest.raises(NormConfigError, match=re.escape(
                "norm.impl = 'compiled' cannot run on cpu here: no C++ compiler; allowed here: auto, eager, fused")):
            make("channels_last", 128, "compiled")(x)
    finally:
        cpu.library.cache_clear()
        cpu_autograd.op.cache_clear()
    monkeypatch.undo()
    assert (cpu.library() is not None) == had_library  # the cache was cleared: the real kernel is back


@pytest.mark.parametrize("env,module,build", [("NORMBENCH_FUSED_CPU", cpu, "library"),
                                              ("NORMBENCH_FUSED_CPU_CXX", cpu_autograd, "op")], ids=["kernel", "cxx-node"])
def test_switch_off_by_environment(monkeypatch, env, module, build):
    monkeypatch.setenv(env, "0")
    getattr(module, build).cache_clear()
    try:
        assert getattr(module, build)() is None and f"{env}=0" in module.reason()
    finally:
        getattr(module, build).cache_clear()


def test_impl_errors():
    with pytest.raises(NormConfigError, match=re.escape(
            "norm.impl = 'fused' needs norm.squash = 'tanh', this one has 'sigmoid'; "
            "allowed with squash=sigmoid: auto, eager, compiled")):
        build_norm("dyt", 8, squash="sigmoid", impl="fused")
    with pytest.raises(NormConfigError, match=re.escape(
            "norm.impl = 'cuda' is unknown; allowed: auto, eager, fused, compiled")):
        build_norm("dyt", 8, impl="cuda")


# ---- torch.compile --------------------------------------------------------------------


@needs_kernel
def test_fused_op_inside_a_compiled_model_is_one_graph():
    """A model with impl=fused compiles without a graph break (the custom op is opaque)."""
    m = make("channels_first", 5, "fused")
    x, dy = inputs((2, 5, 7, 7), "contig", torch.float32)
    torch._dynamo.reset()
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    got, want = run(compiled, x, dy), run(m, x, dy)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    for n in got[2]:
        torch.testing.assert_close(got[2][n], want[2][n])


@needs_kernel
def test_custom_ops_pass_opcheck():
    x, dy = inputs((6, 13), "contig", torch.float32)
    a, w, b = torch.tensor([0.8], requires_grad=True), torch.randn(13, requires_grad=True), torch.randn(13)
    torch.library.opcheck(ops.dyt_fwd, (x.requires_grad_(), a, w, b, False),
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"))


@pytest.mark.slow  # compiles / spawns a process
@pytest.mark.skipif(dyt_module.compile_unavailable("cpu") is not None, reason="torch.compile cannot run here")
def test_compiled_impl_matches_eager():
    """impl=compiled (inductor): one small case; the first compile takes ~15 s on 2 cores."""
    x, dy = inputs((7, 13), "contig", torch.float32)
    got = run(make("channels_last", 13, "compiled"), x, dy)
    want = run(make("channels_last", 13, "eager"), x, dy)
    for a, b in zip(got[:2], want[:2]):
        torch.testing.assert_close(a, b)
    for n in got[2]:
        torch.testing.assert_close(got[2][n], want[2][n])


# ---- Triton: the interpreter here, the GPU where there is one -------------------------

_INTERPRETED = """
import torch
from normbench.norms.fused import reference, triton_gpu
for shape in [(37, 13, 1), (3, 5, 121)]:
    for dt in (torch.float32, torch.bfloat16):
        g = torch.Generator().manual_seed(0)
        x, dy = (torch.randn(shape, generator=g) * 3).to(dt), torch.randn(shape, generator=g).to(dt)
        a, w, b = torch.tensor([0.7]), torch.randn(shape[1], generator=g), torch.randn(shape[1], generator=g)
        for pdt in (torch.float32, dt):  # parameters in fp32, or in x's dtype (read as they are)
            ap, wp, bp = a.to(pdt), w.to(pdt), b.to(pdt)
            af, wf, bf = ap.float(), wp.float(), bp.float()
            y, y_ref, dx, dx_ref = (torch.empty_like(x) for _ in range(4))
            triton_gpu.forward(x, ap, wp, bp, y)
            reference.forward(x, af, wf, bf, y_ref)
            sums = triton_gpu.backward(dy, x, ap, wp, dx)
            sums_ref = reference.backward(dy, x, af, wf, dx_ref)
            tol = dict(rtol=1e-5, atol=1e-5) if dt == torch.float32 else dict(rtol=2e-2, atol=4e-2)
            torch.testing.assert_close(y, y_ref, **tol)
            torch.testing.assert_close(dx, dx_ref, **tol)
            for s, r in zip(sums, sums_ref):
                torch.testing.assert_close(s, r, rtol=1e-4, atol=1e-4)
print("ok")
"""


@pytest.mark.slow  # compiles / spawns a process
def test_triton_kernels_in_the_interpreter():
    """The Triton kernels' indexing and reductions, run by Triton's CPU interpreter."""
    pytest.importorskip("triton")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-c", _INTERPRETED], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout,shape,memory", CASES, ids=IDS)
def test_gpu_fused_matches_eager_and_formula(layout, shape, memory, dtype):
    from normbench.norms.fused import triton_gpu

    c = channels(layout, shape)
    x, dy = inputs(shape, memory, dtype)
    x, dy = x.cuda(), dy.cuda()
    assert ops.backend(x) is triton_gpu
    m_f, m_e = make(layout, c, "fused"), make(layout, c, "eager")
    want = reference_f64(m_f, x.cpu(), dy.cpu())
    got = run(m_f.cuda(), x, dy)
    eager = run(m_e.cuda(), x, dy)
    assert got[0].dtype == dtype and got[0].stride() == x.stride()
    on_cpu = (got[0].cpu(), got[1].cpu(), {n: g.cpu() for n, g in got[2].items()})
    assert_matches(on_cpu, want, TOL[dtype])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=4e-2)
    torch.testing.assert_close(got[0], eager[0], **tol)
    torch.testing.assert_close(got[1], eager[1], **tol)


@cuda
def test_gpu_gradients_bit_identical():
    m = make("channels_last", 384, "fused").cuda()
    x, dy = inputs((4096, 384), "contig", torch.float32)
    first, second = run(m, x.cuda(), dy.cuda()), run(m, x.cuda(), dy.cuda())
    assert torch.equal(first[1], second[1])
    for n in first[2]:
        assert torch.equal(first[2][n], second[2][n])
