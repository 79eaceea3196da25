// Every op of the op table (tests/op_table.hpp) on CUDA against the CPU backend: forward and the gradient of every
// operand, in every dtype the entry lists (f64: kTolF64, f32 onto preexisting gradients: kTolF32, bf16 and f16
// against the CPU's f32 result on the same rounded inputs: kTolBf16 / kTolF16), with the device's cached memory
// NaN-poisoned before each run so an element an op leaves unwritten fails. Ops that draw a random mask (CPU and CUDA
// draw different ones) are checked for the mask's structure and the gradient it implies.
#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_parity.hpp"
#include "op_table.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_op_table {

using namespace fer;
using namespace fer::cuda_test;
using fer::op_table::OpEntry;

namespace {

DtypeMode mode_of(DType dt) {
  for (const DtypeMode& m : kDtypeModes)
    if (m.dt == dt) return m;
  FAIL("no parity mode for dtype ", dtype_name(dt));
  return {};
}

std::vector<Tensor> draw_inputs(const OpEntry& e, Generator& g) {
  std::vector<Tensor> v;
  for (const op_table::OpInput& in : e.inputs) v.push_back(op_table::draw_input(in, in.shape, g));
  return v;
}

// dropout-like ops: y = x * m with m in {0, 1 / (1 - p)} per element, the gradient pre + upstream * m, and a kept
// fraction within 5 standard deviations of 1 - p.
void check_random_mask(const OpEntry& e, DType dt, uint64_t seed) {
  INFO(e.name, " ", dtype_name(dt));
  Generator g(seed);
  std::vector<Tensor> values = draw_inputs(e, g);
  REQUIRE(values.size() == 1);
  const double tol = mode_of(dt).tol, keep_scale = 1.0 / (1.0 - e.drop_p);
  Tensor x = op_table::place_input(e.inputs[0], values[0], dt, cuda0());
  x.set_requires_grad(true);
  Tensor pre = random_cpu(values[0].shape(), g, -1, 1, DType::f64).to(dt);
  x.grad_buffer().copy_(pre.to(cuda0()));
  poison_device_cache(size_t(64) << 10);
  Tensor y = e.run({x});
  Tensor up = random_cpu(y.shape(), g, -1, 1, DType::f64).to(dt);
  backward(y, up.to(cuda0()));
  Tensor xh = x.host().to(DType::f64), yh = y.host().to(DType::f64), gh = x.grad().host().to(DType::f64);
  Tensor pre64 = pre.to(DType::f64), up64 = up.to(DType::f64);
  Tensor expected = Tensor::empty(xh.shape(), DType::f64);
  int64_t kept = 0, bad = 0;
  for (int64_t i = 0; i < xh.numel(); ++i) {
    const double m = yh.flat(i) / xh.flat(i);  // inputs are in [0.5, 1.5]
    const bool keep = std::abs(m - keep_scale) <= tol * keep_scale, drop = m == 0.0;
    bad += !(keep || drop);
    kept += keep;
    expected.set_flat(i, pre64.flat(i) + up64.flat(i) * (keep ? keep_scale : 0.0));
  }
  CHECK(bad == 0);
  CHECK(rel_l2(gh, expected) <= tol);
  const double n = double(xh.numel()), q = 1.0 - e.drop_p;
  // Row-mode ops keep or drop whole rows: count rows.
  const double groups = e.name.find("rows") != std::string::npos ? double(xh.size(0)) : n;
  const double kept_groups = double(kept) * groups / n;
  CHECK(std::abs(kept_groups - groups * q) <= 5 * std::sqrt(groups * q * (1 - q)) + 1);
}

}  // namespace

TEST_CASE("the poisoned cache hands out NaN: an op's output starts as NaN") {
  poison_device_cache(size_t(64) << 10);
  for (DType dt : kFloatDtypes) {
    Tensor t = Tensor::empty({7, 33}, dt, cuda0()).host().to(DType::f64);
    for (int64_t i = 0; i < t.numel(); ++i) REQUIRE(std::isnan(t.flat(i)));
  }
}

TEST_CASE("op table: every op on CUDA matches the CPU in every dtype it lists (NaN-poisoned device memory)") {
  for (const OpEntry& e : op_table::ops()) {
    const uint64_t seed = op_table::seed_of(e.name);
    if (e.drop_p > 0) {
      for (DType dt : e.cuda_dtypes) check_random_mask(e, dt, seed);
      continue;
    }
    Generator g(seed);
    std::vector<Tensor> values = draw_inputs(e, g), pre;
    for (const Tensor& v : values) pre.push_back(random_cpu(v.shape(), g, -1, 1, DType::f64));
    Tensor y_shape;
    {
      NoGradGuard no_grad;
      std::vector<Tensor> cpu_in;
      for (size_t k = 0; k < values.size(); ++k) cpu_in.push_back(op_table::place_input(e.inputs[k], values[k], DType::f64, Device::cpu()));
      y_shape = e.run(cpu_in);
    }
    Tensor upstream = random_cpu(y_shape.shape(), g, -1, 1, DType::f64);
    ParityRun how;
    how.modes.clear();
    for (DType dt : e.cuda_dtypes) how.modes.push_back(mode_of(dt));
    how.poison = true;
    how.slack = e.parity_slack;
    how.place = [&e](size_t k, const Tensor& v, DType dt, Device d) { return op_table::place_input(e.inputs[k], v, dt, d); };
    check_dtype_modes(e.name, [&e](const std::vector<Tensor>& t, Device) { return e.run(t); }, values, upstream, pre, how);
  }
}

}  // namespace test_cuda_op_table
