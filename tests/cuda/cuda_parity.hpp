#pragma once
// Shared tools of the CUDA parity tests: random inputs made on the CPU and copied to the GPU, outputs poisoned with
// NaN before a kernel runs (an element the kernel forgets to write stays NaN and fails the comparison), and the
// relative L2 error against the CPU backend's result.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/kernels/runtime.hpp"
#include "fer/core/allocator.hpp"
#include "fer/core/rng.hpp"
#include "fer/core/tensor.hpp"

namespace fer::cuda_test {

inline Device cuda0() { return Device::cuda(0); }  // not gpu(): that is the backend namespace

// Uniform values in [lo, hi) on the CPU, in `dtype` (converted from f64 draws).
inline Tensor random_cpu(const Shape& shape, Generator& g, double lo = -1.0, double hi = 1.0, DType dtype = DType::f32) {
  Tensor t = Tensor::empty(shape, DType::f64);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, lo + (hi - lo) * g.uniform());
  return dtype == DType::f64 ? t : t.to(dtype);
}

// A device tensor of `shape` filled with NaN: what a kernel leaves unwritten shows up in the comparison.
inline Tensor poisoned(const Shape& shape, DType dtype = DType::f32, Device d = cuda0()) {
  return Tensor::full(shape, std::nan(""), dtype).to(d);
}

// sqrt(sum (a-b)^2) / max(sqrt(sum b^2), tiny), over CPU copies in f64; NaN anywhere gives +inf.
inline double rel_l2(const Tensor& a_in, const Tensor& b_in) {
  REQUIRE(a_in.shape() == b_in.shape());
  Tensor a = a_in.host().to(DType::f64), b = b_in.host().to(DType::f64);
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.flat(i), y = b.flat(i);
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (std::isnan(x) || std::isnan(y) || x != y) return INFINITY;
      continue;  // equal infinities
    }
    num += (x - y) * (x - y), den += y * y;
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Stated tolerances: rel-L2 of a CUDA result against the CPU backend's.
constexpr double kTolF64 = 1e-12;   // same math, other summation order
constexpr double kTolF32 = 1e-5;    // pointwise and reductions in f32
constexpr double kTolTf32 = 5e-3;   // tensor-core GEMM/conv with TF32 inputs (10-bit mantissa)
constexpr double kTolBf16 = 2e-2;   // bf16 storage (8-bit mantissa), f32 accumulation
constexpr double kTolF16 = 4e-3;    // f16 storage (11-bit mantissa), f32 accumulation


// The tolerance above that applies to a result in `dt` (f32 means exact f32 kernels, not TF32).
inline double tolerance_for(DType dt) {
  switch (dt) {
    case DType::f64: return kTolF64;
    case DType::f32: return kTolF32;
    case DType::f16: return kTolF16;
    default: return kTolBf16;
  }
}

// The floating dtypes every kernel is compared in.
inline constexpr DType kFloatDtypes[] = {DType::f64, DType::f32, DType::f16, DType::bf16};

// The dtypes an op is compared in with its tolerance; `pre` marks the f32 run, which also accumulates its gradients
// onto preexisting ones.
struct DtypeMode {
  DType dt;
  bool pre;
  double tol;
};
inline constexpr DtypeMode kDtypeModes[] = {
    {DType::f64, false, kTolF64}, {DType::f32, true, kTolF32}, {DType::bf16, false, kTolBf16}, {DType::f16, false, kTolF16}};

// One input of check_parity: its shape and the range of its uniform random values.
struct Input {
  Shape shape;
  double lo = -1, hi = 1;
};

// Runs f on CPU tensors and on GPU copies of the same random inputs (rounded to dt first; the CPU reference of a
// 16-bit dtype runs in f32 on the rounded values), backward with one random upstream gradient onto preexisting random
// gradients (so accumulation is checked), and compares the output and every input gradient.
inline void check_parity(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                         const std::vector<Input>& ins, DType dt, uint64_t seed) {
  INFO(what, " ", dtype_name(dt));
  Generator g(seed);
  const DType ref = (dt == DType::f16 || dt == DType::bf16) ? DType::f32 : dt;
  std::vector<Tensor> xc, xg;
  for (const Input& in : ins) {
    Tensor r = random_cpu(in.shape, g, in.lo, in.hi, dt);
    Tensor pre = random_cpu(in.shape, g, -1, 1, dt);
    Tensor c = r.to(ref).clone(), d = r.to(cuda0());
    c.set_requires_grad(), d.set_requires_grad();
    c.grad_buffer().copy_(pre.to(ref));
    d.grad_buffer().copy_(pre);
    xc.push_back(c), xg.push_back(d);
  }
  // One tape per side: backward consumes the whole tape.
  Tensor yc = f(xc);
  Tensor up = random_cpu(yc.shape(), g, -1, 1, dt);
  backward(yc, up.to(ref));
  Tensor yg = f(xg);
  REQUIRE(yg.device() == cuda0());
  REQUIRE(yg.dtype() == dt);
  backward(yg, up.to(cuda0()));
  const double tol = tolerance_for(dt);
  CHECK(rel_l2(yg, yc) <= tol);
  for (size_t k = 0; k < xc.size(); ++k) {
    INFO("gradient of input ", k);
    REQUIRE(xg[k].grad().defined());
    CHECK(xg[k].grad().device() == cuda0());
    CHECK(rel_l2(xg[k].grad(), xc[k].grad()) <= tol);
  }
}

// Fills every cached block of the device's caching allocator up to `max_bytes` with 0xFF bytes (NaN in every floating
// dtype), so a tensor an op allocates next starts as NaN and an element the op forgets to write fails the comparison.
// Each size class is drained (blocks taken until the allocator has to make a new one), filled, and handed back.
inline void poison_device_cache(size_t max_bytes, Device d = cuda0()) {
  Allocator& a = cuda::caching_allocator(d.index);
  std::vector<Tensor> held;
  const size_t last = pool_size_class(max_bytes);
  for (size_t cls = pool_size_class(1); cls <= last; cls = pool_size_class(cls + 1)) {
    const size_t fresh = a.stats().system_allocs;
    for (int k = 0; k < 1024 && a.stats().system_allocs == fresh; ++k)
      held.push_back(Tensor::full({int64_t(cls)}, 255.0, DType::u8).to(d));
  }
}  // `held` goes back to the cache here

// An op whose constant operands (targets, running statistics, filters) are made for the device it runs on.
using DeviceOp = std::function<Tensor(const std::vector<Tensor>&, Device)>;

// How check_dtype_modes runs: the dtype modes, NaN-poisoned device memory, a factor on the tolerances, and how an
// operand's values become the operand (default: a contiguous copy in the dtype on the device).
struct ParityRun {
  std::vector<DtypeMode> modes{std::begin(kDtypeModes), std::end(kDtypeModes)};
  bool poison = false;
  double slack = 1.0;
  std::function<Tensor(size_t operand, const Tensor& values, DType dt, Device d)> place;
};

// Runs op on the CPU and on the GPU in every mode of `how`: `values` (f64, CPU; an undefined one is an absent operand
// and stays undefined) rounded to the mode's dtype, the CPU reference of a 16-bit mode in f32 on the rounded values;
// backward with `upstream` (f64, rounded likewise) onto `pre` (f64 preexisting gradients, one per operand, in the
// modes marked `pre`); compares the output and the gradient of every defined operand.
inline void check_dtype_modes(const std::string& what, const DeviceOp& op, const std::vector<Tensor>& values,
                              const Tensor& upstream, const std::vector<Tensor>& pre, const ParityRun& how = {}) {
  INFO(what);
  auto place = [&](size_t k, const Tensor& v, DType dt, Device d) {
    if (how.place) return how.place(k, v, dt, d);
    return d.is_cpu() ? v.to(dt).clone() : v.to(dt).to(d);
  };
  struct Run {
    Tensor y;
    std::vector<Tensor> grads;
  };
  auto run = [&](const std::vector<Tensor>& in, const Tensor& up, bool with_pre, Device d, DType dt) {
    std::vector<Tensor> xs;
    for (size_t k = 0; k < in.size(); ++k) {
      Tensor t = in[k].defined() ? place(k, in[k], dt, d) : Tensor();
      if (t.defined()) {
        t.set_requires_grad(true);
        if (with_pre && k < pre.size() && pre[k].defined()) t.grad_buffer().copy_(pre[k].to(dt).to(d));
      }
      xs.push_back(t);
    }
    Run r;
    r.y = op(xs, d);
    backward(r.y, up.to(dt).to(d));
    for (const Tensor& t : xs) r.grads.push_back(t.defined() ? t.grad() : Tensor());
    return r;
  };
  for (const DtypeMode& m : how.modes) {
    INFO(dtype_name(m.dt));
    const bool narrow = m.dt == DType::bf16 || m.dt == DType::f16;
    auto round = [&](const Tensor& t) { return narrow && t.defined() ? t.to(m.dt).to(DType::f32) : t; };
    std::vector<Tensor> rounded;
    for (const Tensor& t : values) rounded.push_back(round(t));
    Run ref = run(rounded, round(upstream), m.pre, Device::cpu(), narrow ? DType::f32 : m.dt);
    if (how.poison) {
      size_t largest = ref.y.numel();
      for (const Tensor& t : values) largest = std::max(largest, size_t(t.defined() ? t.numel() : 0));
      poison_device_cache(std::max<size_t>(size_t(64) << 10, 4 * largest * dtype_size(m.dt)));
    }
    Run dev = run(rounded, round(upstream), m.pre, cuda0(), m.dt);
    const double tol = m.tol * how.slack;
    CHECK(dev.y.device() == cuda0());
    CHECK(dev.y.dtype() == m.dt);
    CHECK(rel_l2(dev.y, ref.y) <= tol);
    for (size_t k = 0; k < values.size(); ++k) {
      INFO("gradient of operand ", k);
      if (!values[k].defined()) continue;
      REQUIRE(dev.grads[k].defined());
      CHECK(dev.grads[k].device() == cuda0());
      CHECK(rel_l2(dev.grads[k], ref.grads[k]) <= tol);
    }
  }
}

// A view of `base` with its own shape/strides/offset (not contiguous), on base's device.
inline Tensor strided_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>(*base.impl());
  impl->shape = shape, impl->strides = strides, impl->offset = base.offset() + offset;
  impl->requires_grad = false, impl->is_leaf = true, impl->grad.reset();
  return Tensor(std::move(impl));
}

}  // namespace fer::cuda_test
