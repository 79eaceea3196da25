#pragma once
// The op table: one entry per public op (include/fer/ops/*.hpp) and variant, read by
//   tests/test_op_table.cpp              gradcheck in f64 of every entry, its f32 kernels against its f64 ones, and its
//                                        values against the entry's reference where it has one;
//   tests/cuda/test_cuda_op_table.cpp    CPU against CUDA for every entry in every dtype it lists, device memory
//                                        NaN-poisoned first;
//   bench/bench_ops.cpp                  every entry forward and backward on the CPU (and CUDA where present), in
//                                        GFLOP/s and GB/s against the machine's ceilings measured at start-up.
// Adding an op = one entry in `ops()` below, e.g.
//   put({"gelu", {{{3, 5, 7}, {64, 64, 256}, -4, 4}}, [](T t) { return gelu(t[0]); }, per_output(8)});
//
// An entry (struct OpEntry, fields in brace order):
//   name         unique, says the op and the variant ("conv2d depthwise 5x5 stride 2, multiplier 2");
//   inputs       one OpInput per tensor the op differentiates: {sample shape, bench shape, lo, hi, kinks, strided}.
//                The sample is small (gradcheck perturbs every element); the bench shape (empty = the sample's) is
//                the benchmark's; values are uniform in [lo, hi) and kept kKinkMargin away from `kinks` (where the
//                op is not differentiable); `strided` gives the input as a non-contiguous view;
//   run          the op through its public function. Operands that take no gradient (targets, running statistics,
//                filters, class weights) are made inside `run` (constant_like() and friends), in inputs[0]'s dtype
//                and on its device, so one function serves every device and dtype;
//   flops        forward floating-point operations for the input shapes and the output shape (data_movement(): 0);
//                the bench counts 2x that backward, and counts bytes itself: every input and the output once
//                forward; the output gradient, the inputs and each input gradient (read and written: gradients
//                accumulate) backward; nothing for a view;
//   reference    optional: the op's values computed independently from its definition, f64 on the CPU;
//   cuda_dtypes  the dtypes the CUDA parity test compares (16-bit against the CPU's f32 on the same rounded values);
//   grad         finite-difference step and tolerances of the gradcheck (the defaults suit most ops);
//   parity_slack multiplies the parity test's stated tolerance of each dtype (1: as stated in cuda_parity.hpp);
//   drop_p       > 0 for ops that draw a random mask (dropout): y = x * mask, mask in {0, 1 / (1 - p)}. `run`
//                re-seeds its generator, so a gradcheck sees one mask; CPU and CUDA draw different masks, so the
//                parity test checks the mask's structure and the gradient it implies instead of equal values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/core/rng.hpp"
#include "fer/core/tensor.hpp"
#include "fer/ops/bias_act.hpp"
#include "fer/ops/cast.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/conv.hpp"
#include "fer/ops/dropout.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/linear.hpp"
#include "fer/ops/loss.hpp"
#include "fer/ops/modconv.hpp"
#include "fer/ops/norm.hpp"
#include "fer/ops/pool.hpp"
#include "fer/ops/shape.hpp"
#include "fer/ops/upfirdn2d.hpp"

namespace fer::op_table {

constexpr double kKinkMargin = 1e-3;

struct OpInput {
  Shape shape;        // the test sample
  Shape bench_shape;  // the benchmark's (empty: the sample's)
  double lo = -1, hi = 1;
  std::vector<double> kinks{};
  bool strided = false;
};

struct GradTolerance {
  double eps = 1e-6, atol = 1e-6, rtol = 1e-5;
};

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
using FlopFn = std::function<double(const std::vector<Shape>& inputs, const Shape& output)>;

inline constexpr DType kAllDtypes[] = {DType::f64, DType::f32, DType::bf16, DType::f16};

struct OpEntry {
  std::string name;
  std::vector<OpInput> inputs;
  OpFn run;
  FlopFn flops;
  OpFn reference{};
  std::vector<DType> cuda_dtypes{std::begin(kAllDtypes), std::end(kAllDtypes)};
  GradTolerance grad{};
  double parity_slack = 1.0;
  double drop_p = 0.0;
};

// ---- helpers for entries and for the programs that read the table

// A constant operand (no gradient) of `shape` with uniform values in [lo, hi) from `seed`, in like's dtype and on
// like's device.
inline Tensor constant_like(const Tensor& like, const Shape& shape, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  return Tensor::rand(shape, DType::f64, g, lo, hi).to(like.dtype()).to(like.device());
}

// Running statistics [C] for batch norm over x [..., C] (fresh tensors: training updates them in place).
inline Tensor running_mean(const Tensor& x) { return constant_like(x, {x.size(-1)}, -0.5, 0.5, 11); }
inline Tensor running_var(const Tensor& x) { return constant_like(x, {x.size(-1)}, 0.5, 2, 12); }

// Class targets for logits [N, C] on the logits' device: every fifth row (from the fourth) ignored (-100).
inline Tensor class_targets(const Tensor& logits, DType dtype = DType::i64) {
  const int64_t n = logits.size(0), c = logits.size(1);
  Tensor t = Tensor::empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) t.set_flat(i, i % 5 == 3 ? -100.0 : double((i * 7 + 3) % c));
  return t.to(logits.device());
}

// Probability targets for logits [N, C] (rows summing to 1), in the logits' dtype and on their device; made once per
// shape, dtype and device (they are never written).
inline Tensor probability_targets(const Tensor& logits) {
  thread_local std::map<std::string, Tensor> made;
  const std::string key = logits.shape().str() + std::string(dtype_name(logits.dtype())) + logits.device().str();
  if (auto it = made.find(key); it != made.end()) return it->second;
  Generator g(5);
  Tensor p = Tensor::rand(logits.shape(), DType::f64, g, 0.05, 1.0);
  const int64_t n = logits.size(0), c = logits.size(1);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += p.flat(i * c + k);
    for (int64_t k = 0; k < c; ++k) p.set_flat(i * c + k, p.flat(i * c + k) / s);
  }
  return made[key] = p.to(logits.dtype()).to(logits.device());
}

// The generator of the random ops, re-seeded at every call so a gradcheck sees one mask.
inline Generator& reseeded_generator(uint64_t seed) {
  thread_local Generator g;
  g.manual_seed(seed);
  return g;
}

// A non-contiguous view with v's values, dtype and device: every other element of the last dim of a base twice as
// wide (the elements between hold zeros).
inline Tensor strided_copy(const Tensor& v) {
  const Shape shape = v.shape();
  Shape wide = shape;
  wide.d[wide.size() - 1] *= 2;
  auto view_of = [&](const Tensor& base) {
    auto impl = std::make_shared<TensorImpl>(*base.impl());
    impl->shape = shape;
    impl->strides = contiguous_strides(wide);
    impl->strides.d[shape.size() - 1] = 2;
    impl->requires_grad = false, impl->is_leaf = true, impl->grad.reset();
    return Tensor(std::move(impl));
  };
  Tensor base = Tensor::zeros(wide, DType::f64), values = v.host().to(DType::f64);
  Tensor filled = view_of(base);
  for (int64_t i = 0; i < values.numel(); ++i) filled.set_flat(i, values.flat(i));
  return view_of(base.to(v.dtype()).to(v.device()));
}

// The values of input `in` with `shape`: uniform in [lo, hi), kept off the kinks, f64 on the CPU, contiguous.
inline Tensor draw_input(const OpInput& in, const Shape& shape, Generator& g) {
  Tensor t = Tensor::rand(shape, DType::f64, g, in.lo, in.hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.flat(i);
    for (double k : in.kinks)
      if (std::abs(v - k) < kKinkMargin) v = k + (v < k ? -2 * kKinkMargin : 2 * kKinkMargin);
    t.set_flat(i, v);
  }
  return t;
}

// Values (any dtype, any device) placed as input `in` of an op: in `dtype` on `device`, a strided view where the input
// says so; always a new tensor (never `values` itself).
inline Tensor place_input(const OpInput& in, const Tensor& values, DType dtype, Device device) {
  Tensor t = values.to(dtype).to(device);
  if (in.strided) return strided_copy(t);
  return t.impl() == values.impl() ? t.clone() : t;
}

// A seed of the entry's own (FNV-1a of its name): adding an entry leaves every other entry's samples as they were.
inline uint64_t seed_of(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

inline Shape bench_shape(const OpInput& in) { return in.bench_shape.size() ? in.bench_shape : in.shape; }

inline double numel(const Shape& s) { return double(s.numel()); }

// ---- references (f64, CPU, straight from the definitions)

inline OpFn pointwise_reference(double (*f)(double)) {
  return [f](const std::vector<Tensor>& t) {
    Tensor x = t[0].to(DType::f64).clone(), y = Tensor::empty(t[0].shape(), DType::f64);
    for (int64_t i = 0; i < x.numel(); ++i) y.set_flat(i, f(x.flat(i)));
    return y;
  };
}

// f(a, b) with numpy broadcasting.
inline OpFn broadcast_reference(double (*f)(double, double)) {
  return [f](const std::vector<Tensor>& t) {
    const Shape &a = t[0].shape(), &b = t[1].shape();
    Shape out;
    out.nd = std::max(a.nd, b.nd);
    for (int i = 0; i < out.nd; ++i) {
      int ia = a.nd - out.nd + i, ib = b.nd - out.nd + i;
      out.d[i] = std::max(ia >= 0 ? a[ia] : 1, ib >= 0 ? b[ib] : 1);
    }
    Tensor y = Tensor::empty(out, DType::f64);
    for (int64_t i = 0; i < y.numel(); ++i) {
      int64_t rem = i, ja = 0, jb = 0, sa = 1, sb = 1;
      for (int d = out.nd - 1; d >= 0; --d) {
        int64_t idx = rem % out[d];
        rem /= out[d];
        int ia = a.nd - out.nd + d, ib = b.nd - out.nd + d;
        if (ia >= 0) ja += (a[ia] == 1 ? 0 : idx) * sa, sa *= a[ia];
        if (ib >= 0) jb += (b[ib] == 1 ? 0 : idx) * sb, sb *= b[ib];
      }
      y.set_flat(i, f(t[0].flat(ja), t[1].flat(jb)));
    }
    return y;
  };
}

// c = a b for a [..., M, K] (or a [K] row) and b [..., K, N] with a shared leading batch; bt: b given as [N, K].
inline Tensor reference_matmul(const Tensor& a, const Tensor& b, bool bt) {
  const int64_t k = a.size(-1), n = bt ? b.size(0) : b.size(-1);
  const int64_t m = a.dim() >= 2 ? a.size(-2) : 1;
  const int64_t batch = a.numel() / (m * k);
  const bool batched_b = !bt && b.dim() == 3;
  Shape out = a.shape();
  out.d[out.nd - 1] = n;
  Tensor c = Tensor::empty(out, DType::f64);
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t q = 0; q < k; ++q) {
          double bv = bt ? b.flat(j * k + q) : b.flat((batched_b ? p * k * n : 0) + q * n + j);
          s += a.flat((p * m + i) * k + q) * bv;
        }
        c.set_flat((p * m + i) * n + j, s);
      }
  return c;
}

// softmax (or log_softmax) over the last dim.
inline OpFn softmax_reference(bool log) {
  return [log](const std::vector<Tensor>& t) {
    const Tensor& x = t[0];
    const int64_t c = x.size(-1), rows = x.numel() / c;
    Tensor y = Tensor::empty(x.shape(), DType::f64);
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < c; ++k) m = std::max(m, x.flat(r * c + k));
      for (int64_t k = 0; k < c; ++k) s += std::exp(x.flat(r * c + k) - m);
      for (int64_t k = 0; k < c; ++k) {
        double z = x.flat(r * c + k) - m - std::log(s);
        y.set_flat(r * c + k, log ? z : std::exp(z));
      }
    }
    return y;
  };
}

// ---- FLOP counts

inline FlopFn per_output(double k) {
  return [k](const std::vector<Shape>&, const Shape& out) { return k * numel(out); };
}
inline FlopFn per_input(double k) {
  return [k](const std::vector<Shape>& in, const Shape&) { return k * numel(in[0]); };
}
inline FlopFn data_movement() {
  return [](const std::vector<Shape>&, const Shape&) { return 0.0; };
}
// conv2d: 2 * (outputs) * kh * kw * (input channels per group).
inline FlopFn conv_flops() {
  return [](const std::vector<Shape>& in, const Shape& out) { return 2.0 * numel(out) * in[1][1] * in[1][2] * in[1][3]; };
}

// ---- the entries

inline OpEntry unary_entry(const char* name, Tensor (*op)(const Tensor&), double (*ref)(double), double lo, double hi,
                           std::vector<double> kinks, double flops_per_element) {
  OpEntry e;
  e.name = name;
  e.inputs = {{{3, 5, 7}, {64, 64, 256}, lo, hi, std::move(kinks)}};
  e.run = [op](const std::vector<Tensor>& t) { return op(t[0]); };
  e.flops = per_output(flops_per_element);
  e.reference = pointwise_reference(ref);
  return e;
}

inline Conv2dParams conv_params(std::array<int64_t, 2> stride, std::array<int64_t, 4> pad, std::array<int64_t, 2> dil) {
  Conv2dParams p;
  p.stride = stride, p.padding = pad, p.dilation = dil;
  return p;
}

// The groups follow from the shapes (input channels / the weight's channels per group), so sample and bench shapes
// may differ in channels.
inline OpEntry conv_entry(const char* name, Shape x, Shape w, bool bias, Conv2dParams p, Shape bench_x, Shape bench_w) {
  OpEntry e;
  e.name = name;
  e.inputs = {{x, bench_x}, {w, bench_w}};
  if (bias) e.inputs.push_back({{w[0]}, {bench_w[0]}});
  e.run = [p](const std::vector<Tensor>& t) {
    Conv2dParams q = p;
    q.groups = t[0].size(3) / t[1].size(3);
    return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), q);
  };
  e.flops = conv_flops();
  return e;
}

inline Pool2dParams pool_params(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                std::array<int64_t, 2> pad, std::array<int64_t, 2> dil, bool ceil, bool include_pad) {
  Pool2dParams p;
  p.kernel = kernel, p.stride = stride, p.padding = pad, p.dilation = dil, p.ceil_mode = ceil;
  p.count_include_pad = include_pad;
  return p;
}

inline OpEntry bias_act_entry(const char* name, Activation act, bool bias) {
  OpEntry e;
  e.name = name;
  e.inputs = {{{3, 7}, {2048, 512}, -2, 2}};
  if (bias) e.inputs.push_back({{7}, {512}, -0.5, 0.5});
  e.run = [act](const std::vector<Tensor>& t) { return bias_act(t[0], t.size() > 1 ? t[1] : Tensor(), act); };
  e.flops = per_output(4);
  return e;
}

inline OpEntry modconv_entry(const char* name, Shape x, Shape w, ModConvParams p, bool noise, Shape bench_x,
                             Shape bench_w) {
  OpEntry e;
  e.name = name;
  e.inputs = {{x, bench_x}, {w, bench_w}, {{x[0], w[3]}, {bench_x[0], bench_w[3]}, 0.5, 1.5}};
  const int64_t up = p.up;
  if (noise) {
    const int64_t oh = x[1] * up + 2 * p.padding - w[1] + 1, ow = x[2] * up + 2 * p.padding - w[2] + 1;
    const int64_t boh = bench_x[1] * up + 2 * p.padding - bench_w[1] + 1, bow = bench_x[2] * up + 2 * p.padding - bench_w[2] + 1;
    e.inputs.push_back({{x[0], oh, ow, 1}, {bench_x[0], boh, bow, 1}});
  }
  e.run = [p](const std::vector<Tensor>& t) { return modulated_conv2d(t[0], t[1], t[2], p, t.size() > 3 ? t[3] : Tensor()); };
  // The convolution with the per-sample weights dominates: 2 * outputs * kh * kw * I (up > 1: per input pixel).
  e.flops = [up](const std::vector<Shape>& in, const Shape& out) {
    const double per = 2.0 * in[1][1] * in[1][2] * in[1][3];
    return up == 1 ? per * numel(out) : per * numel(in[0]) / double(in[0][3]) * double(in[1][0]);
  };
  e.cuda_dtypes = {DType::f64, DType::f32};
  return e;
}

inline const std::vector<OpEntry>& ops() {
  static const std::vector<OpEntry> table = [] {
    std::vector<OpEntry> v;
    auto put = [&v](OpEntry e) { v.push_back(std::move(e)); };
    using T = const std::vector<Tensor>&;

    // ---- activations and unary math (fer/ops/elementwise.hpp)
    put(unary_entry("relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2, 2, {0}, 1));
    put(unary_entry("relu6", [](const Tensor& x) { return relu6(x); }, [](double x) { return std::clamp(x, 0.0, 6.0); },
                    -2, 8, {0, 6}, 2));
    put(unary_entry("leaky_relu 0.1", [](const Tensor& x) { return leaky_relu(x, 0.1); },
                    [](double x) { return x > 0 ? x : 0.1 * x; }, -2, 2, {0}, 2));
    put(unary_entry("gelu", [](const Tensor& x) { return gelu(x); },
                    [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4, 4, {}, 8));
    put(unary_entry("silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); },
                    -4, 4, {}, 4));
    put(unary_entry("hardswish", [](const Tensor& x) { return hardswish(x); },
                    [](double x) { return x * std::clamp(x + 3, 0.0, 6.0) / 6; }, -5, 5, {-3, 3}, 4));
    put(unary_entry("hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); },
                    [](double x) { return std::clamp(x + 3, 0.0, 6.0) / 6; }, -5, 5, {-3, 3}, 3));
    put(unary_entry("sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); },
                    -4, 4, {}, 4));
    put(unary_entry("tanh", [](const Tensor& x) { return fer::tanh(x); }, [](double x) { return std::tanh(x); }, -3, 3, {}, 4));
    put(unary_entry("exp", [](const Tensor& x) { return fer::exp(x); }, [](double x) { return std::exp(x); }, -2, 2, {}, 1));
    put(unary_entry("log", [](const Tensor& x) { return fer::log(x); }, [](double x) { return std::log(x); }, 0.5, 2, {}, 1));
    put(unary_entry("sqrt", [](const Tensor& x) { return fer::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.5, 2, {}, 1));
    put(unary_entry("rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.5, 2, {}, 2));
    put(unary_entry("square", [](const Tensor& x) { return square(x); }, [](double x) { return x * x; }, -2, 2, {}, 1));
    put(unary_entry("neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, -2, 2, {}, 1));
    put(unary_entry("abs", [](const Tensor& x) { return fer::abs(x); }, [](double x) { return std::abs(x); }, -2, 2, {0}, 1));
    put(unary_entry("affine 1.7 x - 0.3", [](const Tensor& x) { return affine(x, 1.7, -0.3); },
                    [](double x) { return 1.7 * x - 0.3; }, -2, 2, {}, 2));
    put(unary_entry("scale 0.25", [](const Tensor& x) { return scale(x, 0.25); }, [](double x) { return 0.25 * x; }, -2, 2,
                    {}, 1));
    put(unary_entry("add_scalar 2.5", [](const Tensor& x) { return add_scalar(x, 2.5); }, [](double x) { return x + 2.5; },
                    -2, 2, {}, 1));

    // ---- broadcasting binary ops: both operands broadcast ([2, 3, 4] with [3, 1]; bench: NHWC with a [C] bias, and
    // an SE-style [N, 1, 1, C] scale)
    put({"add broadcast", {{{2, 3, 4}, {32, 64, 64, 64}}, {{3, 1}, {64}}}, [](T t) { return add(t[0], t[1]); },
         per_output(1), broadcast_reference([](double a, double b) { return a + b; })});
    put({"sub broadcast", {{{3, 1}, {64}}, {{2, 3, 4}, {32, 64, 64, 64}}}, [](T t) { return sub(t[0], t[1]); },
         per_output(1), broadcast_reference([](double a, double b) { return a - b; })});
    put({"mul broadcast", {{{2, 3, 4}, {32, 64, 64, 64}}, {{2, 1, 4}, {32, 1, 1, 64}}}, [](T t) { return mul(t[0], t[1]); },
         per_output(1), broadcast_reference([](double a, double b) { return a * b; })});
    put({"div broadcast", {{{2, 3, 4}, {32, 64, 64, 64}}, {{3, 1}, {64}, 0.5, 2}}, [](T t) { return div(t[0], t[1]); },
         per_output(1), broadcast_reference([](double a, double b) { return a / b; })});

    // ---- reductions
    put({"sum over dims 0, 2", {{{3, 4, 5}, {64, 64, 256}}}, [](T t) { return sum(t[0], {0, 2}); }, per_input(1)});
    put({"sum all", {{{3, 4, 5}, {64, 64, 256}}}, [](T t) { return sum(t[0]); }, per_input(1)});
    put({"mean over the last dim, keepdim", {{{3, 4, 5}, {64, 64, 256}}}, [](T t) { return mean(t[0], {-1}, true); },
         per_input(1)});
    put({"mean over dim 0 (many rows)", {{{9, 3}, {65536, 64}}}, [](T t) { return mean(t[0], {0}); }, per_input(1)});

    // ---- cast (fer/ops/cast.hpp): a round trip through another dtype, so the result is comparable in every dtype
    {
      OpEntry e{"cast round trip (through f32, or f64 from f32)", {{{3, 5, 7}, {64, 64, 256}}},
                [](T t) {
                  const DType via = t[0].dtype() == DType::f32 ? DType::f64 : DType::f32;
                  return cast(cast(t[0], via), t[0].dtype());
                },
                data_movement()};
      e.grad = {1e-3, 1e-4, 1e-4};  // the f64 -> f32 rounding inside the central difference
      put(e);
    }

    // ---- layout (fer/ops/common.hpp, fer/ops/shape.hpp)
    put({"contiguous of a strided view", {{{3, 4, 5}, {64, 64, 128}, -1, 1, {}, true}}, [](T t) { return contiguous(t[0]); },
         data_movement()});
    put({"reshape", {{{2, 3, 4}, {64, 64, 256}}}, [](T t) { return reshape(t[0], {4, -1}); }, data_movement()});
    put({"flatten 1..-1", {{{2, 3, 4, 5}, {64, 16, 16, 64}}}, [](T t) { return flatten(t[0], 1); }, data_movement()});
    put({"permute 2, 0, 1", {{{2, 3, 4}, {64, 64, 256}}}, [](T t) { return permute(t[0], {2, 0, 1}); }, data_movement()});
    put({"nhwc_to_nchw", {{{2, 3, 4, 5}, {32, 32, 32, 64}}}, [](T t) { return nhwc_to_nchw(t[0]); }, data_movement()});
    put({"nchw_to_nhwc", {{{2, 5, 3, 4}, {32, 64, 32, 32}}}, [](T t) { return nchw_to_nhwc(t[0]); }, data_movement()});
    put({"slice dim 1, 1:5:2", {{{2, 6, 3}, {64, 512, 128}}}, [](T t) { return slice(t[0], 1, 1, -1, 2); }, data_movement()});
    put({"concat last dim", {{{2, 3, 4}, {32, 1024, 64}}, {{2, 3, 2}, {32, 1024, 32}}},
         [](T t) { return concat({t[0], t[1], t[0]}, -1); }, data_movement()});
    put({"concat middle dim", {{{2, 3, 4}, {32, 512, 64}}, {{2, 2, 4}, {32, 256, 64}}},
         [](T t) { return concat({t[0], t[1]}, 1); }, data_movement()});
    // DenseNet's block buffer: a layer's channels written in place into a wider (constant) buffer.
    put({"write_channels into channels [2, 5) of 7", {{{2, 3, 4, 3}, {32, 16, 16, 32}}},
         [](T t) {
           const Tensor buf = constant_like(t[0], {t[0].size(0), t[0].size(1), t[0].size(2), t[0].size(3) + 4}, -1, 1, 21);
           return write_channels(buf, t[0], 2);
         },
         data_movement()});
    put({"split dim 1, second piece", {{{2, 5, 3}, {64, 500, 128}}},
         [](T t) { return split(t[0], {1, t[0].size(1) - 3, 2}, 1)[1]; }, data_movement()});
    put({"chunk 3 along the last dim, last piece", {{{2, 3, 8}, {64, 256, 256}}}, [](T t) { return chunk(t[0], 3, -1)[2]; },
         data_movement()});
    put({"channel_shuffle 3 groups", {{{2, 2, 2, 6}, {32, 32, 32, 96}}}, [](T t) { return channel_shuffle(t[0], 3); },
         data_movement()});
    put({"pad2d (1, 0, 2, -1), value 0.5", {{{2, 3, 4, 2}, {32, 32, 32, 64}}},
         [](T t) { return pad2d(t[0], {1, 0, 2, -1}, 0.5); }, data_movement()});

    // ---- convolution (fer/ops/conv.hpp): NHWC input, OHWI weight
    put(conv_entry("conv2d 3x3 pad 1 + bias", {2, 5, 4, 3}, {4, 3, 3, 3}, true, Conv2dParams::make(1, 1), {8, 32, 32, 64},
                   {64, 3, 3, 64}));
    put(conv_entry("conv2d stride 2, asymmetric padding", {2, 6, 5, 3}, {4, 3, 3, 3}, true,
                   conv_params({2, 2}, {1, 0, 0, 1}, {1, 1}), {8, 64, 64, 32}, {64, 3, 3, 32}));
    put(conv_entry("conv2d dilation 2, 2 groups", {1, 6, 6, 4}, {6, 3, 3, 2}, false, Conv2dParams::make(1, 2, 2),
                   {8, 32, 32, 64}, {64, 3, 3, 32}));
    put(conv_entry("conv2d depthwise 3x3", {2, 5, 5, 4}, {4, 3, 3, 1}, true, Conv2dParams::make(1, 1),
                   {16, 32, 32, 128}, {128, 3, 3, 1}));
    put(conv_entry("conv2d depthwise 5x5 stride 2, multiplier 2", {1, 7, 6, 3}, {6, 5, 5, 1}, false,
                   Conv2dParams::make(2, 2), {8, 32, 32, 64}, {128, 5, 5, 1}));
    put(conv_entry("conv2d 1x1 (pointwise)", {2, 3, 3, 5}, {6, 1, 1, 5}, false, Conv2dParams::make(1, 0), {16, 32, 32, 64},
                   {128, 1, 1, 64}));

    // ---- dense (fer/ops/linear.hpp)
    put({"linear + bias, 3-d input", {{{2, 3, 5}, {16, 64, 256}}, {{4, 5}, {512, 256}}, {{4}, {512}}},
         [](T t) { return linear(t[0], t[1], t[2]); },
         [](const std::vector<Shape>& in, const Shape& out) { return 2.0 * numel(out) * in[1][1]; },
         [](T t) {
           Tensor y = reference_matmul(t[0], t[1], true);
           for (int64_t i = 0; i < y.numel(); ++i) y.set_flat(i, y.flat(i) + t[2].flat(i % t[2].numel()));
           return y;
         }});
    put({"linear without bias", {{{3, 5}, {1024, 256}}, {{2, 5}, {1000, 256}}}, [](T t) { return linear(t[0], t[1]); },
         [](const std::vector<Shape>& in, const Shape& out) { return 2.0 * numel(out) * in[1][1]; },
         [](T t) { return reference_matmul(t[0], t[1], true); }});
    put({"matmul", {{{3, 5}, {512, 512}}, {{5, 2}, {512, 512}}}, [](T t) { return matmul(t[0], t[1]); },
         [](const std::vector<Shape>& in, const Shape& out) { return 2.0 * numel(out) * in[0][1]; },
         [](T t) { return reference_matmul(t[0], t[1], false); }});
    put({"matmul batched", {{{2, 3, 4}, {8, 256, 256}}, {{2, 4, 3}, {8, 256, 256}}}, [](T t) { return matmul(t[0], t[1]); },
         [](const std::vector<Shape>& in, const Shape& out) { return 2.0 * numel(out) * in[0][2]; },
         [](T t) { return reference_matmul(t[0], t[1], false); }});

    // ---- normalization (fer/ops/norm.hpp): running statistics are constants made inside
    const FlopFn norm_flops = per_input(8);
    put({"batch_norm training, affine, running statistics updated",
         {{{3, 2, 2, 4}, {32, 32, 32, 64}, -2, 2}, {{4}, {64}, 0.5, 1.5}, {{4}, {64}, -0.5, 0.5}},
         [](T t) { return batch_norm(t[0], t[1], t[2], running_mean(t[0]), running_var(t[0]), true, 0.1, 1e-5); },
         norm_flops});
    put({"batch_norm training, no affine, 3-d", {{{4, 7, 3}, {64, 1024, 64}, -2, 2}},
         [](T t) { return batch_norm(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, norm_flops});
    put({"batch_norm eval (running statistics)",
         {{{3, 2, 2, 4}, {32, 32, 32, 64}, -2, 2}, {{4}, {64}, 0.5, 1.5}, {{4}, {64}, -0.5, 0.5}},
         [](T t) { return batch_norm(t[0], t[1], t[2], running_mean(t[0]), running_var(t[0]), false, 0.1, 1e-3); },
         norm_flops});
    put({"batch_norm eval without running statistics", {{{3, 2, 3, 5}, {32, 32, 32, 64}, -2, 2}, {{5}, {64}, 0.5, 1.5}},
         [](T t) { return batch_norm(t[0], t[1], Tensor(), Tensor(), Tensor(), false); }, norm_flops});
    {
      // 16-bit rounding can flip the sign of outputs near 0 against the f32 reference, which moves the ReLU's mask.
      OpEntry e{"batch_norm_relu training", {{{3, 2, 3, 5}, {32, 32, 32, 64}, -2, 2}, {{5}, {64}, 0.5, 1.5}, {{5}, {64}, -0.5, 0.5}},
                [](T t) { return batch_norm_relu(t[0], t[1], t[2], Tensor(), Tensor(), true); }, norm_flops};
      e.cuda_dtypes = {DType::f64, DType::f32};
      put(e);
      e.name = "batch_norm_relu eval";
      e.run = [](T t) { return batch_norm_relu(t[0], t[1], t[2], running_mean(t[0]), running_var(t[0]), false); };
      put(e);
    }
    {
      // BN + ReLU reading a channel prefix of a wider buffer in place (rows 7 apart), its input gradient landing in
      // the buffer's gradient: DenseNet's layers read their growing input so.
      OpEntry e{"batch_norm_relu training on a channel prefix (strided rows)",
                {{{3, 2, 3, 5}, {32, 16, 16, 128}, -2, 2}, {{5}, {128}, 0.5, 1.5}, {{5}, {128}, -0.5, 0.5}},
                [](T t) {
                  const Shape s = t[0].shape();
                  const Tensor buf = constant_like(t[0], {s[0], s[1], s[2], s[3] + 2}, -1, 1, 22);
                  return batch_norm_relu(channel_prefix(write_channels(buf, t[0], 0), s[3]), t[1], t[2], Tensor(), Tensor(), true);
                },
                norm_flops};
      e.cuda_dtypes = {DType::f64, DType::f32};
      put(e);
    }
    {
      // relu(bn(x) + residual): the 16-bit sign flips of batch_norm_relu apply here too.
      OpEntry e{"batch_norm_add_relu training, running statistics updated",
                {{{3, 2, 3, 5}, {32, 32, 32, 64}, -2, 2}, {{5}, {64}, 0.5, 1.5}, {{5}, {64}, -0.5, 0.5},
                 {{3, 2, 3, 5}, {32, 32, 32, 64}, -1, 1}},
                [](T t) {
                  return batch_norm_add_relu(t[0], t[3], t[1], t[2], running_mean(t[0]), running_var(t[0]), true);
                },
                per_input(9)};
      e.cuda_dtypes = {DType::f64, DType::f32};
      put(e);
      e.name = "batch_norm_add_relu eval";
      e.run = [](T t) { return batch_norm_add_relu(t[0], t[3], t[1], t[2], running_mean(t[0]), running_var(t[0]), false); };
      put(e);
    }
    put({"layer_norm, affine", {{{2, 3, 6}, {64, 196, 256}, -2, 2}, {{6}, {256}}, {{6}, {256}}},
         [](T t) { return layer_norm(t[0], t[1], t[2], 1e-5); }, norm_flops});
    put({"layer_norm, no affine", {{{3, 1, 2, 5}, {64, 14, 14, 256}, -2, 2}},
         [](T t) { return layer_norm(t[0], Tensor(), Tensor()); }, norm_flops});

    // ---- pooling (fer/ops/pool.hpp)
    put({"max_pool2d 3x3 stride 2 pad 1", {{{2, 7, 7, 3}, {32, 64, 64, 64}}},
         [](T t) { return max_pool2d(t[0], Pool2dParams::make(3, 2, 1)); }, per_output(9)});
    put({"max_pool2d 2x3 dilation (2, 1), ceil_mode", {{{2, 9, 10, 2}, {32, 64, 64, 64}}},
         [](T t) { return max_pool2d(t[0], pool_params({2, 3}, {1, 2}, {1, 1}, {2, 1}, true, true)); }, per_output(6)});
    put({"avg_pool2d 3x2 stride 2 pad 1, ceil_mode, padding excluded", {{{2, 7, 6, 3}, {32, 64, 64, 64}}},
         [](T t) { return avg_pool2d(t[0], pool_params({3, 2}, {2, 2}, {1, 1}, {1, 1}, true, false)); }, per_output(6)});
    put({"avg_pool2d 2x2", {{{2, 6, 4, 3}, {32, 64, 64, 64}}}, [](T t) { return avg_pool2d(t[0], Pool2dParams::make(2)); },
         per_output(4)});
    put({"adaptive_avg_pool2d to 3x2", {{{2, 7, 5, 2}, {64, 14, 14, 512}}},
         [](T t) { return adaptive_avg_pool2d(t[0], 3, 2); }, per_input(1)});
    put({"adaptive_avg_pool2d growing to 9x6", {{{1, 7, 5, 2}, {32, 16, 16, 64}}},
         [](T t) { return adaptive_avg_pool2d(t[0], 9, 6); }, per_output(2)});

    // ---- softmax and losses (fer/ops/loss.hpp): targets and class weights are constants made inside
    put({"softmax last dim", {{{4, 7}, {1024, 1000}, -3, 3}}, [](T t) { return softmax(t[0], -1); }, per_input(5),
         softmax_reference(false)});
    put({"log_softmax last dim", {{{4, 7}, {1024, 1000}, -3, 3}}, [](T t) { return log_softmax(t[0], -1); }, per_input(5),
         softmax_reference(true)});
    put({"softmax middle dim (strided rows)", {{{3, 5, 4}, {64, 100, 256}, -3, 3}}, [](T t) { return softmax(t[0], 1); },
         per_input(5)});
    put({"cross_entropy class targets, weights, label smoothing, mean", {{{5, 7}, {1024, 1000}, -3, 3}},
         [](T t) {
           CrossEntropyOptions o;
           o.weight = constant_like(t[0], {t[0].size(1)}, 0.2, 2, 77), o.label_smoothing = 0.2;
           return cross_entropy(t[0], class_targets(t[0]), o);
         },
         per_input(6)});
    put({"cross_entropy i32 targets, sum", {{{6, 5}, {1024, 1000}, -3, 3}},
         [](T t) {
           CrossEntropyOptions o;
           o.reduction = CrossEntropyOptions::Reduction::sum;
           return cross_entropy(t[0], class_targets(t[0], DType::i32), o);
         },
         per_input(5)});
    put({"cross_entropy reduction none", {{{5, 7}, {1024, 1000}, -3, 3}},
         [](T t) {
           CrossEntropyOptions o;
           o.reduction = CrossEntropyOptions::Reduction::none, o.label_smoothing = 0.1;
           return cross_entropy(t[0], class_targets(t[0]), o);
         },
         per_input(5)});
    put({"cross_entropy probability targets", {{{5, 7}, {1024, 1000}, -3, 3}},
         [](T t) { return cross_entropy(t[0], probability_targets(t[0])); }, per_input(6)});

    // ---- dropout (fer/ops/dropout.hpp): random masks
    {
      OpEntry e{"dropout p 0.3", {{{4, 3, 5}, {64, 64, 256}, 0.5, 1.5}},
                [](T t) { return dropout(t[0], 0.3, true, reseeded_generator(99)); }, per_input(1)};
      e.drop_p = 0.3;
      put(e);
      e = {"stochastic_depth p 0.4, rows", {{{6, 2, 2, 3}, {64, 32, 32, 64}, 0.5, 1.5}},
           [](T t) { return stochastic_depth(t[0], 0.4, true, true, reseeded_generator(98)); }, per_input(1)};
      e.drop_p = 0.4;
      put(e);
    }

    // ---- StyleGAN2 ops (fer/ops/bias_act.hpp, modconv.hpp, upfirdn2d.hpp)
    put(bias_act_entry("bias_act linear + bias", Activation::linear, true));
    put(bias_act_entry("bias_act relu + bias", Activation::relu, true));
    put(bias_act_entry("bias_act lrelu + bias (NVIDIA's alpha and gain)", Activation::lrelu, true));
    put(bias_act_entry("bias_act lrelu, no bias", Activation::lrelu, false));
    put(bias_act_entry("bias_act tanh + bias", Activation::tanh, true));
    put(bias_act_entry("bias_act sigmoid + bias", Activation::sigmoid, true));
    put(bias_act_entry("bias_act elu + bias", Activation::elu, true));
    put(bias_act_entry("bias_act selu + bias", Activation::selu, true));
    put(bias_act_entry("bias_act softplus + bias", Activation::softplus, true));
    put(bias_act_entry("bias_act swish + bias", Activation::swish, true));
    {
      OpEntry e{"modulate_weights, demodulated", {{{4, 3, 3, 3}, {256, 3, 3, 256}}, {{2, 3}, {4, 256}, 0.5, 1.5}},
                [](T t) { return modulate_weights(t[0], t[1], true); }, per_output(3)};
      e.cuda_dtypes = {DType::f64, DType::f32};
      put(e);
    }
    {
      ModConvParams p;
      p.padding = 1;
      put(modconv_entry("modulated_conv2d 3x3", {2, 5, 5, 3}, {4, 3, 3, 3}, p, false, {4, 16, 16, 256}, {256, 3, 3, 256}));
      put(modconv_entry("modulated_conv2d 3x3 + noise", {2, 4, 4, 3}, {2, 3, 3, 3}, p, true, {4, 16, 16, 256},
                        {256, 3, 3, 256}));
      p.up = 2;
      put(modconv_entry("modulated_conv2d 3x3 up 2 (transposed)", {1, 4, 3, 3}, {2, 3, 3, 3}, p, false, {4, 8, 8, 256},
                        {256, 3, 3, 256}));
      ModConvParams q;
      q.demodulate = false;
      put(modconv_entry("modulated_conv2d 1x1, not demodulated", {2, 3, 3, 4}, {3, 1, 1, 4}, q, false, {4, 64, 64, 256},
                        {3, 1, 1, 256}));
    }
    put({"add_noise", {{{2, 3, 3, 4}, {16, 64, 64, 128}}, {{2, 3, 3, 1}, {16, 64, 64, 1}}, {{1}, {1}}},
         [](T t) { return add_noise(t[0], t[1], t[2]); }, per_output(2)});
    {
      UpFirDnParams p;
      p.up_x = 2, p.up_y = 1, p.down_x = 1, p.down_y = 2, p.pad_x0 = 2, p.pad_x1 = 1, p.pad_y0 = 1, p.pad_y1 = -1;
      p.flip_filter = true, p.gain = 1.5;
      put({"upfirdn2d up (2, 1) down (1, 2), pads and a crop, flipped", {{{1, 6, 4, 2}, {16, 64, 64, 64}}},
           [p](T t) { return upfirdn2d(t[0], setup_filter({1, 3, 3, 1}, true, t[0].dtype()), p); }, per_output(32)});
    }
    put({"upsample2d 2x", {{{1, 3, 4, 2}, {16, 32, 32, 128}}},
         [](T t) { return upsample2d(t[0], setup_filter({1, 3, 3, 1}, true, t[0].dtype())); }, per_output(8)});
    put({"downsample2d 2x", {{{1, 6, 7, 2}, {16, 64, 64, 128}}},
         [](T t) { return downsample2d(t[0], setup_filter({1, 3, 3, 1}, true, t[0].dtype())); }, per_output(32)});
    return v;
  }();
  return table;
}

}  // namespace fer::op_table
