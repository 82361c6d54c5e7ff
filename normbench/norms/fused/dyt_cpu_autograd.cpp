// DyT's fused CPU kernels (dyt_cpu.c) behind a C++ autograd node: the op normbench_cpu::dyt_rows.
// Why C++ here: inside a training step, a Python autograd.Function costs more per call than the
// kernels save over LayerNorm (results/perf/README.md); this node costs what LayerNorm's does.
// Built and loaded by cpu_autograd.py; the kernels, their chunking and their workspace are dyt_cpu.c's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>

extern "C" {
void dyt_fwd_rows_f32(const float*, float*, const float*, const float*, const float*, int64_t, int64_t, int);
void dyt_fwd_rows_bf16(const uint16_t*, uint16_t*, const float*, const float*, const float*, int64_t, int64_t, int);
void dyt_bwd_rows_f32(const float*, const float*, float*, const float*, const float*, float*, float*, float*, float*,
                      float*, int64_t, int64_t, int64_t, int);
void dyt_bwd_rows_bf16(const uint16_t*, const uint16_t*, uint16_t*, const float*, const float*, float*, float*, float*,
                       float*, float*, int64_t, int64_t, int64_t, int);
int dyt_pad(void);
int64_t dyt_num_chunks(int64_t rows);
}

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

int64_t padded(int64_t c) { const int64_t p = dyt_pad(); return (c + p - 1) / p * p; }
template <typename T> T* ptr(const at::Tensor& t) { return reinterpret_cast<T*>(t.data_ptr()); }

struct DyTRows : public torch::autograd::Function<DyTRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& w,
                            const at::Tensor& b) {
    auto y = at::empty_like(x);
    const int64_t c = x.size(-1), n = x.numel() / c;
    const int nt = at::get_num_threads();
    if (x.scalar_type() == at::kFloat)
      dyt_fwd_rows_f32(ptr<float>(x), ptr<float>(y), ptr<float>(alpha), ptr<float>(w), ptr<float>(b), n, c, nt);
    else
      dyt_fwd_rows_bf16(ptr<uint16_t>(x), ptr<uint16_t>(y), ptr<float>(alpha), ptr<float>(w), ptr<float>(b), n, c, nt);
    ctx->save_for_backward({x, alpha, w});
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "DyT's fused CPU kernel is differentiable once: no create_graph=True; norm.impl=eager has second derivatives");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &alpha = saved[1], &w = saved[2];
    const at::Tensor g = grads[0].contiguous();
    const int64_t c = x.size(-1), n = x.numel() / c, k = dyt_num_chunks(n), o = 3 * k * padded(c) + c;
    // The partial sums live only in this call; the three parameter grads are tensors of their own,
    // so a caller holding them does not hold the workspace (glibc then reuses its memory).
    auto ws = at::empty({o + k}, x.options().dtype(at::kFloat));
    auto da = at::empty({1}, ws.options()), dw = at::empty({c}, ws.options()), db = at::empty({c}, ws.options());
    auto dx = at::empty_like(x);
    float* p = ptr<float>(ws);
    const int nt = at::get_num_threads();
    if (x.scalar_type() == at::kFloat)
      dyt_bwd_rows_f32(ptr<float>(x), ptr<float>(g), ptr<float>(dx), ptr<float>(alpha), ptr<float>(w), p, p + o,
                       ptr<float>(dw), ptr<float>(db), ptr<float>(da), n, c, k, nt);
    else
      dyt_bwd_rows_bf16(ptr<uint16_t>(x), ptr<uint16_t>(g), ptr<uint16_t>(dx), ptr<float>(alpha), ptr<float>(w), p,
                        p + o, ptr<float>(dw), ptr<float>(db), ptr<float>(da), n, c, k, nt);
    return {dx, da, dw, db};
  }
};

at::Tensor dyt_rows(const at::Tensor& x, const at::Tensor& alpha, const at::Tensor& w, const at::Tensor& b) {
  // DyT.forward checks x (a contiguous fp32/bf16 CPU tensor); the kernels read fp32 parameters, so
  // parameters of another dtype (a model cast with .to()) are read in fp32, as ops.py's path does
  // (to() is a no-op for fp32 ones, and autograd casts their gradients back).
  return DyTRows::apply(x, alpha.to(at::kFloat), w.to(at::kFloat), b.to(at::kFloat));
}
}  // namespace

TORCH_LIBRARY(normbench_cpu, m) { m.def("dyt_rows(Tensor x, Tensor alpha, Tensor weight, Tensor bias) -> Tensor"); }
TORCH_LIBRARY_IMPL(normbench_cpu, CompositeImplicitAutograd, m) { m.impl("dyt_rows", dyt_rows); }
