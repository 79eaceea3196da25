// Optimizers against torch.optim (PyTorch 1.13): the fixtures of tools/make_optim_fixtures.py replayed step by
// step (parameters after every step and the final state), plus state save/load, zero_grad and argument checks.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "fer/core/parallel.hpp"
#include "fer/optim/adam.hpp"
#include "fer/optim/sgd.hpp"

using namespace fer;
using nlohmann::json;

namespace {

json load_cases(const std::string& file) {
  std::ifstream f(std::string(FER_TEST_DATA) + "/optim/" + file);
  REQUIRE_MESSAGE(f.good(), "missing fixture ", file);
  json j = json::parse(f);
  REQUIRE(j["steps"] == 5);
  return j["cases"];
}

Tensor tensor_from(const json& values, DType dtype) {
  std::vector<double> v = values.get<std::vector<double>>();
  return Tensor::from_vector(v, {int64_t(v.size())}).to(dtype);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const json& c, const std::vector<Tensor>& params) {
  std::vector<optim::ParamGroup> groups;
  for (const auto& g : c["groups"]) {
    optim::ParamGroup group;
    for (int i : g["params"]) group.params.push_back(params[size_t(i)]);
    if (g.contains("lr")) group.lr = g["lr"].get<double>();
    if (g.contains("weight_decay")) group.weight_decay = g["weight_decay"].get<double>();
    groups.push_back(group);
  }
  const json& o = c["options"];
  std::string kind = c["optimizer"];
  if (kind == "SGD") {
    optim::SgdOptions s;
    s.lr = o["lr"];
    s.momentum = o.value("momentum", 0.0);
    s.dampening = o.value("dampening", 0.0);
    s.weight_decay = o.value("weight_decay", 0.0);
    s.nesterov = o.value("nesterov", false);
    s.maximize = o.value("maximize", false);
    return std::make_unique<optim::SGD>(groups, s);
  }
  optim::AdamOptions a = kind == "AdamW" ? optim::AdamW::defaults() : optim::AdamOptions{};
  a.lr = o["lr"];
  if (o.contains("betas")) a.beta1 = o["betas"][0], a.beta2 = o["betas"][1];
  a.eps = o.value("eps", a.eps);
  a.weight_decay = o.value("weight_decay", a.weight_decay);
  a.amsgrad = o.value("amsgrad", false);
  a.maximize = o.value("maximize", false);
  if (kind == "AdamW") return std::make_unique<optim::AdamW>(groups, a);
  REQUIRE(kind == "Adam");
  return std::make_unique<optim::Adam>(groups, a);
}

// Worst |a - b| / (|b| + floor) over two equally long sequences.
double worst_rel(const std::vector<double>& a, const std::vector<double>& b, double floor = 1e-3) {
  REQUIRE(a.size() == b.size());
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::abs(a[i] - b[i]) / (std::abs(b[i]) + floor));
  return w;
}

void replay(const json& c) {
  std::string name = c["name"];
  CAPTURE(name);
  DType dtype = c["dtype"] == "f32" ? DType::f32 : DType::f64;
  // f64 reproduces PyTorch's arithmetic up to rounding noise: relative 1e-12 (values below 1e-3 measured
  // against 1e-3). f32 differs by the FMA/vectorized rounding of PyTorch's kernels, an ulp or so of the O(1)
  // terms per operation, so it is measured as |a - b| / (|b| + 1) <= 1e-6.
  double tol = dtype == DType::f64 ? 1e-12 : 1e-6, floor = dtype == DType::f64 ? 1e-3 : 1.0;
  std::vector<Tensor> params;
  for (const auto& p0 : c["params0"]) params.push_back(tensor_from(p0, dtype).set_requires_grad());
  auto opt = make_optimizer(c, params);
  for (size_t step = 0; step < 5; ++step) {
    CAPTURE(step);
    for (size_t i = 0; i < params.size(); ++i) {
      const json& g = c["grads"][step][i];
      if (g.is_null()) params[i].drop_grad();  // no gradient: the optimizer must leave this parameter alone
      else params[i].grad_buffer().copy_(tensor_from(g, dtype));
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i) {
      CAPTURE(i);
      double w = worst_rel(params[i].to_vector(), c["params"][step][i].get<std::vector<double>>(), floor);
      CAPTURE(w);
      CHECK(w <= tol);
    }
  }
  auto state = opt->state_dict();
  for (const auto& [key, values] : c["state"].items()) {
    CAPTURE(key);
    auto it = state.find("state." + key);
    REQUIRE(it != state.end());
    double w = worst_rel(it->second.to_vector(), values.get<std::vector<double>>(), floor);
    CAPTURE(w);
    CHECK(w <= tol);
    if (getenv("FER_TEST_VERBOSE")) MESSAGE(name, " ", key, " worst ", w);
  }
  size_t n_state = 0;
  for (const auto& kv : state) n_state += kv.first.rfind("state.", 0) == 0;
  CHECK(n_state == c["state"].size());  // no extra state (e.g. no momentum buffer without momentum)
}

}  // namespace

TEST_CASE("SGD matches torch.optim.SGD") {
  json cases = load_cases("sgd.json");
  CHECK(cases.size() == 6);
  for (const auto& c : cases) replay(c);
}

TEST_CASE("Adam matches torch.optim.Adam") {
  json cases = load_cases("adam.json");
  CHECK(cases.size() == 5);
  for (const auto& c : cases) replay(c);
}

TEST_CASE("AdamW matches torch.optim.AdamW") {
  json cases = load_cases("adamw.json");
  CHECK(cases.size() == 3);
  for (const auto& c : cases) replay(c);
}

TEST_CASE("state_dict / load_state_dict resumes exactly, for SGD and Adam(W) with amsgrad") {
  Generator gen(11);
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    auto make = [&](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
      optim::AdamOptions a;
      a.amsgrad = true;
      a.weight_decay = 0.01;
      if (kind == 0) return std::make_unique<optim::SGD>(ps, optim::SgdOptions{0.1, 0.9, 0.0, 0.01, true});
      if (kind == 1) return std::make_unique<optim::Adam>(ps, a);
      return std::make_unique<optim::AdamW>(ps, a);
    };
    Tensor w0 = Tensor::randn({4, 3}, DType::f64, gen), b0 = Tensor::randn({3}, DType::f64, gen);
    std::vector<Tensor> grads;
    for (int s = 0; s < 10; ++s) grads.push_back(Tensor::randn({4, 3}, DType::f64, gen)), grads.push_back(Tensor::randn({3}, DType::f64, gen));
    auto run = [&](optim::Optimizer& opt, std::vector<Tensor>& ps, int from, int to) {
      for (int s = from; s < to; ++s) {
        ps[0].grad_buffer().copy_(grads[size_t(2 * s)]);
        ps[1].grad_buffer().copy_(grads[size_t(2 * s + 1)]);
        opt.step();
      }
    };
    std::vector<Tensor> straight = {w0.clone().set_requires_grad(), b0.clone().set_requires_grad()};
    auto opt_a = make(straight);
    run(*opt_a, straight, 0, 5);

    std::vector<Tensor> resumed = {w0.clone().set_requires_grad(), b0.clone().set_requires_grad()};
    auto opt_b = make(resumed);
    run(*opt_b, resumed, 0, 3);
    auto saved = opt_b->state_dict();
    opt_b->set_lr(123.0);  // overwritten by the load
    std::vector<Tensor> copy = {resumed[0].clone().set_requires_grad(), resumed[1].clone().set_requires_grad()};
    auto opt_c = make(copy);
    opt_c->load_state_dict(saved);
    run(*opt_c, copy, 3, 5);
    CHECK(copy[0].to_vector() == straight[0].to_vector());  // bit-identical
    CHECK(copy[1].to_vector() == straight[1].to_vector());
    if (kind > 0) {
      CHECK(saved.at("state.1.step").item() == 3);
      CHECK(saved.count("state.0.max_exp_avg_sq") == 1);
    } else {
      CHECK(saved.count("state.0.momentum_buffer") == 1);
    }
    CHECK(saved.at("param_groups.0.lr").item() == opt_a->lr());

    // Loading into parameters of another shape, or an unknown entry, is an error.
    std::vector<Tensor> other = {Tensor::zeros({2, 3}, DType::f64).set_requires_grad(), b0.clone().set_requires_grad()};
    auto opt_d = make(other);
    CHECK_THROWS_WITH_AS(opt_d->load_state_dict(saved), doctest::Contains("has shape"), fer::Error);
    auto bad = saved;
    bad["state.7.exp_avg"] = Tensor::zeros({3}, DType::f64);
    CHECK_THROWS_WITH_AS(opt_c->load_state_dict(bad), doctest::Contains("there are 2 parameters"), fer::Error);
    bad = saved;
    bad["momentum"] = Tensor::zeros({}, DType::f64);
    CHECK_THROWS_WITH_AS(opt_c->load_state_dict(bad), doctest::Contains("unexpected entry 'momentum'"), fer::Error);
  }
}

TEST_CASE("zero_grad, skipped parameters and a large parameter split across threads") {
  Tensor p = Tensor::ones({5}, DType::f32).set_requires_grad();
  Tensor q = Tensor::ones({2}, DType::f32).set_requires_grad();
  optim::Adam opt({p, q}, optim::AdamOptions{});
  p.grad_buffer().fill_(2.0);
  opt.step();
  CHECK(p.flat(0) == doctest::Approx(1 - 1e-3).epsilon(1e-6));  // Adam's first step moves by lr * sign(g)
  CHECK(q.flat(0) == 1.0);                                         // no gradient: untouched
  CHECK(opt.state_dict().count("state.1.step") == 0);
  opt.zero_grad();
  CHECK(p.grad().defined());
  CHECK(p.grad().flat(4) == 0.0);
  opt.zero_grad(true);
  CHECK(!p.grad().defined());

  // 2^17 + 3 elements: the update is split over the threads; per-element results do not depend on it.
  Generator gen(5);
  Tensor big = Tensor::randn({(1 << 17) + 3}, DType::f32, gen), grad = Tensor::randn(big.shape(), DType::f32, gen);
  Tensor a = big.clone().set_requires_grad(), b = big.clone().set_requires_grad();
  a.grad_buffer().copy_(grad);
  b.grad_buffer().copy_(grad);
  optim::AdamW opt_a({a}), opt_b({b});
  int threads = num_threads();
  set_num_threads(1);
  opt_b.step();
  set_num_threads(threads);
  opt_a.step();
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != big.to_vector());
}

TEST_CASE("optimizer arguments are checked") {
  Tensor p = Tensor::zeros({3}).set_requires_grad();
  CHECK_THROWS_WITH_AS(optim::SGD({p}, optim::SgdOptions{0.1, 0.0, 0.0, 0.0, true}), doctest::Contains("Nesterov"), fer::Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, optim::SgdOptions{-1.0}), doctest::Contains("invalid learning rate"), fer::Error);
  optim::AdamOptions a;
  a.beta2 = 1.0;
  CHECK_THROWS_WITH_AS(optim::Adam({p}, a), doctest::Contains("Adam: invalid beta2"), fer::Error);
  a = optim::AdamW::defaults();
  a.weight_decay = -0.1;
  CHECK_THROWS_WITH_AS(optim::AdamW({p}, a), doctest::Contains("AdamW: invalid weight_decay"), fer::Error);
  CHECK_THROWS_WITH_AS(optim::SGD({Tensor::zeros({3}, DType::i32)}), doctest::Contains("dtype i32"), fer::Error);
  Tensor r = Tensor::zeros({3}).set_requires_grad();
  r.impl()->grad = std::make_shared<TensorImpl>(*Tensor::zeros({4}).impl());  // a gradient of the wrong shape
  optim::SGD sgd({r});
  CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("does not match parameter"), fer::Error);
}

// One-cycle's momentum cycling reaches the optimizers through set_momentum (PyTorch's OneCycleLR sets SGD's
// momentum and Adam's beta1 before each step).
TEST_CASE("set_momentum: SGD's momentum and Adam's beta1 take effect from the next step") {
  Tensor p = Tensor::from_vector(std::vector<double>{1.0}, {1}).set_requires_grad();
  optim::SgdOptions so;
  so.lr = 0.1, so.momentum = 0.9;
  optim::SGD sgd({p}, so);
  p.grad_buffer().fill_(1.0);
  sgd.step();  // buf = 1, p = 0.9
  sgd.set_momentum(0.5);
  sgd.step();  // buf = 0.5 * 1 + 1 = 1.5, p = 0.9 - 0.15
  CHECK(p.flat(0) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK_THROWS_AS(sgd.set_momentum(-1), fer::Error);

  // Adam switched to beta1 = 0.85 before its first step equals Adam built with beta1 = 0.85.
  Tensor a = Tensor::from_vector(std::vector<double>{0.3, -0.2}, {2}).set_requires_grad();
  Tensor b = Tensor::from_vector(std::vector<double>{0.3, -0.2}, {2}).set_requires_grad();
  optim::AdamOptions ao;
  ao.lr = 0.01;
  optim::Adam switched({a}, ao);
  ao.beta1 = 0.85;
  optim::Adam built({b}, ao);
  switched.set_momentum(0.85);
  for (int s = 0; s < 3; ++s) {
    for (Tensor* t : {&a, &b}) {
      t->grad_buffer().set_flat(0, 0.5 + s), t->grad_buffer().set_flat(1, -1.0 * s);
    }
    switched.step(), built.step();
  }
  CHECK(a.flat(0) == b.flat(0));
  CHECK(a.flat(1) == b.flat(1));
  CHECK_THROWS_AS(switched.set_momentum(1.0), fer::Error);
}
