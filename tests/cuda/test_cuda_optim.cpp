// CUDA multi-tensor optimizer steps against the CPU loops: the same parameters and gradients on both sides, several
// steps, then parameters and every state tensor compared (f32: rel-L2 <= 1e-6; f64: kTolF64), for SGD (momentum,
// dampening, Nesterov, weight decay, maximize) and Adam/AdamW (weight decay, amsgrad), with two parameter groups
// and a parameter without a gradient. Also the gradient reductions: global norm, clipping, unscale + non-finite
// detection.
#include <cmath>
#include <functional>
#include <memory>

#include "cuda/cuda_parity.hpp"

#include "fer/optim/adam.hpp"
#include "fer/optim/sgd.hpp"
#include "fer/train/grad_clip.hpp"
#include "fer/train/loss_scale.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_optim {

using namespace fer;
using namespace fer::cuda_test;

namespace {

constexpr double kTolOptimF32 = 1e-6;

const std::vector<Shape> kShapes = {{7, 3, 3, 5}, {13}, {1}, {65, 33}, {4, 1, 1, 9}, {300, 7}};

// Parameters on the CPU and their device copies, with gradients set on both.
struct Twin {
  std::vector<Tensor> cpu, dev;
};

Twin make_params(Generator& gen, DType dt) {
  Twin t;
  for (const Shape& s : kShapes) {
    Tensor p = random_cpu(s, gen, -1, 1, dt);
    Tensor c = p.clone(), d = p.to(cuda_test::cuda0());
    c.set_requires_grad(true);
    d.set_requires_grad(true);
    t.cpu.push_back(c);
    t.dev.push_back(d);
  }
  return t;
}

// Fresh random gradients on both sides; the parameter at `skip` gets none (it must stay untouched).
void set_grads(Twin& t, Generator& gen, size_t skip) {
  for (size_t i = 0; i < t.cpu.size(); ++i) {
    if (i == skip) {
      t.cpu[i].drop_grad();
      t.dev[i].drop_grad();
      continue;
    }
    Tensor g = random_cpu(t.cpu[i].shape(), gen, -1, 1, t.cpu[i].dtype());
    t.cpu[i].grad_buffer().copy_(g);
    t.dev[i].grad_buffer().copy_(g.to(cuda_test::cuda0()));
  }
}

std::vector<optim::ParamGroup> two_groups(const std::vector<Tensor>& ps) {
  optim::ParamGroup a{{ps.begin(), ps.begin() + 3}, {}, {}};
  optim::ParamGroup b{{ps.begin() + 3, ps.end()}, 0.03, 0.0};
  return {a, b};
}

void compare(optim::Optimizer& oc, optim::Optimizer& og, const Twin& t, DType dt) {
  const double tol = dt == DType::f64 ? kTolF64 : kTolOptimF32;
  for (size_t i = 0; i < t.cpu.size(); ++i) {
    CAPTURE(i);
    CHECK(t.dev[i].device() == cuda_test::cuda0());
    CHECK(rel_l2(t.dev[i], t.cpu[i]) <= tol);
  }
  auto sc = oc.state_dict(), sg = og.state_dict();
  REQUIRE(sc.size() == sg.size());
  for (const auto& [name, tc] : sc) {
    CAPTURE(name);
    REQUIRE(sg.count(name) == 1);
    CHECK(rel_l2(sg.at(name), tc) <= tol);
  }
}

void run_steps(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>& make, DType dt,
               uint64_t seed) {
  Generator gen(seed);
  Twin t = make_params(gen, dt);
  auto oc = make(two_groups(t.cpu));
  auto og = make(two_groups(t.dev));
  for (int step = 0; step < 5; ++step) {
    // The parameter without a gradient changes: steps with different per-tensor step counts / first flags.
    set_grads(t, gen, step < 2 ? 1 : 4);
    oc->step();
    og->step();
  }
  compare(*oc, *og, t, dt);
}

}  // namespace

TEST_CASE("SGD on CUDA matches the CPU loop") {
  struct V {
    const char* name;
    optim::SgdOptions o;
  };
  std::vector<V> variants;
  optim::SgdOptions plain;
  plain.lr = 0.05;
  variants.push_back({"plain", plain});
  optim::SgdOptions mom = plain;
  mom.momentum = 0.9, mom.dampening = 0.1, mom.weight_decay = 1e-3;
  variants.push_back({"momentum, dampening, weight decay", mom});
  optim::SgdOptions nest = plain;
  nest.momentum = 0.8, nest.nesterov = true, nest.weight_decay = 5e-4;
  variants.push_back({"nesterov", nest});
  optim::SgdOptions maxi = mom;
  maxi.maximize = true, maxi.dampening = 0;
  variants.push_back({"maximize", maxi});
  uint64_t seed = 31;
  for (const V& v : variants)
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(v.name);
      CAPTURE(dtype_name(dt));
      run_steps([&](std::vector<optim::ParamGroup> g) { return std::make_unique<optim::SGD>(std::move(g), v.o); }, dt,
                seed++);
    }
}

TEST_CASE("Adam and AdamW on CUDA match the CPU loop") {
  uint64_t seed = 41;
  for (bool decoupled : {false, true})
    for (bool amsgrad : {false, true})
      for (double wd : {0.0, 0.01})
        for (DType dt : {DType::f32, DType::f64}) {
          CAPTURE(decoupled);
          CAPTURE(amsgrad);
          CAPTURE(wd);
          CAPTURE(dtype_name(dt));
          optim::AdamOptions o;
          o.lr = 3e-3, o.amsgrad = amsgrad, o.weight_decay = wd, o.beta1 = 0.8;
          run_steps(
              [&](std::vector<optim::ParamGroup> g) -> std::unique_ptr<optim::Optimizer> {
                if (decoupled) return std::make_unique<optim::AdamW>(std::move(g), o);
                return std::make_unique<optim::Adam>(std::move(g), o);
              },
              dt, seed++);
        }
}

TEST_CASE("optimizer state saved from CUDA loads back onto CUDA parameters") {
  Generator gen(51);
  Twin t = make_params(gen, DType::f32);
  optim::Adam a(t.dev);
  set_grads(t, gen, 99);
  a.step();
  auto saved = a.state_dict();
  std::map<std::string, Tensor> on_host;
  for (const auto& [k, v] : saved) on_host[k] = v.host();
  optim::Adam b(t.dev);
  b.load_state_dict(on_host);
  set_grads(t, gen, 99);
  b.step();  // would throw if the loaded state stayed on the CPU
  CHECK(b.state_dict().at("state.0.exp_avg").device() == cuda_test::cuda0());
}

TEST_CASE("grad norm, clipping and loss-scale unscaling on CUDA match the CPU") {
  Generator gen(61);
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Twin t = make_params(gen, dt);
    set_grads(t, gen, 2);
    const double nc = train::grad_norm(t.cpu), ng = train::grad_norm(t.dev);
    CHECK(std::abs(ng - nc) <= 1e-12 * nc);  // both in double; only the summation order differs
    CHECK(train::grad_norm(t.dev) == ng);     // deterministic
    const double cc = train::clip_grad_norm(t.cpu, 0.5 * nc), cg = train::clip_grad_norm(t.dev, 0.5 * nc);
    CHECK(std::abs(cg - cc) <= 1e-12 * cc);
    // The two totals differ in the last bits (summation order), so the clip factors may round apart in f32.
    for (size_t i = 0; i < t.cpu.size(); ++i)
      if (t.cpu[i].grad().defined())
        CHECK(rel_l2(t.dev[i].grad(), t.cpu[i].grad()) <= (dt == DType::f64 ? 1e-12 : kTolOptimF32));
    // Same gradients again on both sides; unscaling is elementwise and exact to the CPU's arithmetic.
    for (size_t i = 0; i < t.cpu.size(); ++i)
      if (t.cpu[i].grad().defined()) t.dev[i].grad_buffer().copy_(t.cpu[i].grad().to(cuda_test::cuda0()));
    train::DynamicLossScaler scaler(1024.0);
    CHECK(scaler.unscale(t.cpu) == true);
    CHECK(scaler.unscale(t.dev) == true);
    for (size_t i = 0; i < t.cpu.size(); ++i)
      if (t.cpu[i].grad().defined()) CHECK(rel_l2(t.dev[i].grad(), t.cpu[i].grad()) == 0.0);
    // A NaN, and an Inf, in one element of one gradient is detected.
    for (double bad : {std::nan(""), double(INFINITY)}) {
      Tensor g = t.cpu[3].grad().clone();
      g.set_flat(17, bad);
      t.dev[3].grad_buffer().copy_(g.to(cuda_test::cuda0()));
      CHECK(scaler.unscale(t.dev) == false);
      CHECK(!std::isfinite(train::grad_norm(t.dev)));
      t.dev[3].grad_buffer().copy_(t.cpu[3].grad().to(cuda_test::cuda0()));
    }
  }
}

TEST_CASE("unscale and norm work on 16-bit gradients") {
  Generator gen(71);
  for (DType dt : {DType::f16, DType::bf16}) {
    Tensor p = random_cpu({129, 5}, gen, -1, 1, DType::f32).to(dt).to(cuda_test::cuda0());
    p.set_requires_grad(true);
    Tensor g16 = random_cpu({129, 5}, gen, -4, 4, dt);
    p.grad_buffer().copy_(g16.to(cuda_test::cuda0()));
    double ref = 0;
    for (int64_t i = 0; i < g16.numel(); ++i) ref += g16.flat(i) * g16.flat(i);
    CHECK(std::abs(train::grad_norm({p}) - std::sqrt(ref)) <= 1e-12 * std::sqrt(ref));
    train::DynamicLossScaler scaler(4.0);
    CHECK(scaler.unscale({p}));
    // f32 product of the value and 0.25, rounded to the 16-bit type (as the kernel does).
    Tensor expect = Tensor::empty(g16.shape(), DType::f32);
    for (int64_t i = 0; i < g16.numel(); ++i) expect.set_flat(i, double(float(g16.flat(i)) * 0.25f));
    CHECK(rel_l2(p.grad(), expect.to(dt)) == 0.0);
  }
}

}  // namespace test_cuda_optim
