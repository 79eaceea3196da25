// Every op of the op table (tests/op_table.hpp) on the CPU: finite-difference gradcheck in f64 of every operand, the
// values against the entry's independent reference where it has one, and the f32 kernels against the f64 ones on the
// same values (output and gradients). Ops with a random mask also show the mask's structure.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "op_table.hpp"
#include "rel_l2.hpp"

using namespace fer;
using fer::testing::rel_l2;
using fer::op_table::OpEntry;

namespace {

std::vector<Tensor> sample(const OpEntry& e, uint64_t seed, DType dt) {
  Generator g(seed);
  std::vector<Tensor> v;
  for (const op_table::OpInput& in : e.inputs)
    v.push_back(op_table::place_input(in, op_table::draw_input(in, in.shape, g), dt, Device::cpu()));
  return v;
}

// sqrt(sum (a-b)^2) / max(sqrt(sum b^2), tiny), in f64.

}  // namespace

TEST_CASE("op table: names are unique, every entry can run and has a FLOP count") {
  std::set<std::string> names;
  for (const OpEntry& e : op_table::ops()) {
    INFO(e.name);
    CHECK(names.insert(e.name).second);
    CHECK_FALSE(e.inputs.empty());
    CHECK(bool(e.run));
    CHECK(bool(e.flops));
    CHECK_FALSE(e.cuda_dtypes.empty());
  }
  MESSAGE(op_table::ops().size(), " ops in the table");
}

TEST_CASE("op table: gradcheck (f64) of every op") {
  // One thread: the samples are tiny, and on a loaded machine each parallel region would wait for a descheduled
  // thread thousands of times (the kernels' thread independence is tested per family).
  const int saved_threads = num_threads();
  set_num_threads(1);
  for (const OpEntry& e : op_table::ops()) {
    INFO(e.name);
    std::vector<Tensor> in = sample(e, op_table::seed_of(e.name), DType::f64);
    for (Tensor& t : in) t.set_requires_grad(true);
    testing::GradcheckOptions opt;
    opt.eps = e.grad.eps, opt.atol = e.grad.atol, opt.rtol = e.grad.rtol;
    CHECK(testing::gradcheck(e.run, in, opt) <= 1.0);
  }
  set_num_threads(saved_threads);
}

TEST_CASE("op table: values against the independent references") {
  int checked = 0;
  for (const OpEntry& e : op_table::ops()) {
    if (!e.reference) continue;
    INFO(e.name);
    std::vector<Tensor> in = sample(e, op_table::seed_of(e.name) + 1, DType::f64);
    NoGradGuard no_grad;
    Tensor y = e.run(in), ref = e.reference(in);
    REQUIRE(y.shape() == ref.shape());
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(std::abs(y.flat(i) - ref.flat(i)) <= 1e-12 * (1 + std::abs(ref.flat(i))));
    ++checked;
  }
  MESSAGE(checked, " ops checked against a reference");
}

TEST_CASE("op table: the f32 kernels match the f64 ones on the same values (output and every gradient)") {
  for (const OpEntry& e : op_table::ops()) {
    INFO(e.name);
    const uint64_t seed = op_table::seed_of(e.name) + 2;
    std::vector<Tensor> x32 = sample(e, seed, DType::f32), x64;
    for (size_t k = 0; k < x32.size(); ++k) {
      x64.push_back(op_table::place_input(e.inputs[k], x32[k], DType::f64, Device::cpu()));
      x32[k].set_requires_grad(true), x64.back().set_requires_grad(true);
    }
    Tensor y32 = e.run(x32);
    Generator g(seed ^ 0x9e3779b97f4a7c15ull);  // not the inputs' stream: an upstream equal to x cancels in norms
    Tensor up = Tensor::rand(y32.shape(), DType::f64, g, -1, 1);
    backward(y32, up.to(DType::f32));
    Tensor y64 = e.run(x64);
    backward(y64, up);
    CHECK(y32.dtype() == DType::f32);
    CHECK(rel_l2(y32.to(DType::f64), y64) <= 1e-5);
    for (size_t k = 0; k < x32.size(); ++k) {
      INFO("gradient of operand ", k);
      REQUIRE(x32[k].grad().defined());
      CHECK(rel_l2(x32[k].grad().to(DType::f64), x64[k].grad()) <= 1e-5);
    }
  }
}

TEST_CASE("op table: random-mask ops scale survivors by 1 / (1 - p) and zero the rest; the gradient is the mask") {
  for (const OpEntry& e : op_table::ops()) {
    if (e.drop_p == 0) continue;
    INFO(e.name);
    std::vector<Tensor> in = sample(e, op_table::seed_of(e.name) + 3, DType::f64);
    in[0].set_requires_grad(true);
    Tensor y = e.run(in);
    backward(y, Tensor::ones(y.shape(), DType::f64));
    const double keep_scale = 1.0 / (1.0 - e.drop_p);
    int64_t kept = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      const double m = y.flat(i) / in[0].flat(i);
      CHECK((m == 0.0 || std::abs(m - keep_scale) <= 1e-12));
      CHECK(in[0].grad().flat(i) == doctest::Approx(m).epsilon(1e-12));
      kept += m != 0.0;
    }
    CHECK(kept > 0);
    CHECK(kept < y.numel());
  }
}
