// Schedules, gradient clipping and early stopping against torch.optim / torch.nn.utils
// (tools/make_schedule_fixtures.py).
#include <doctest/doctest.h>

#include "fer/train/early_stopping.hpp"
#include "fer/train/grad_clip.hpp"
#include "fer/train/loss_scale.hpp"
#include "fer/train/schedule.hpp"
#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;

TEST_CASE("schedules equal torch.optim.lr_scheduler step by step") {
  auto j = fer::testing::load_json_fixture("train/schedules.json");
  auto check = [](const train::Schedule& s, const nlohmann::json& want, bool momentum = false) {
    for (size_t t = 0; t < want.size(); ++t) {
      CAPTURE(t);
      double v = momentum ? s.momentum(int64_t(t)) : s.lr(int64_t(t));
      CHECK(v == doctest::Approx(want[t].get<double>()).epsilon(1e-12));
    }
  };
  check(train::StepSchedule(0.1, 3, 0.5), j["step"]);
  check(train::WarmupCosineSchedule(0.1, 10, 3, 1e-4, 0.01), j["warmup_cosine"]);
  train::OneCycleSchedule one(0.5, 20, 0.3);
  check(one, j["one_cycle"]);
  check(one, j["one_cycle_momentum"], true);
  CHECK_THROWS_AS(train::WarmupCosineSchedule(0.1, 5, 5), Error);
}

TEST_CASE("clip_grad_norm equals torch.nn.utils.clip_grad_norm_ (fixture computed in f32: tolerance 1e-6)") {
  auto j = fer::testing::load_json_fixture("train/schedules.json")["clip"];
  Tensor a = Tensor::zeros({4, 3}, DType::f64), b = Tensor::zeros({5}, DType::f64);
  a.set_requires_grad(true), b.set_requires_grad(true);
  a.grad_buffer().copy_(fer::testing::tensor_of(j["grads"][0], {4, 3}));
  b.grad_buffer().copy_(fer::testing::tensor_of(j["grads"][1], {5}));
  double total = train::clip_grad_norm({a, b}, j["max_norm"]);
  CHECK(total == doctest::Approx(j["total_norm"].get<double>()).epsilon(1e-6));
  CHECK(fer::testing::max_abs_diff(a.grad(), fer::testing::tensor_of(j["clipped"][0], {4, 3})) < 1e-6);
  CHECK(fer::testing::max_abs_diff(b.grad(), fer::testing::tensor_of(j["clipped"][1], {5})) < 1e-6);
}

TEST_CASE("early stopping counts epochs without improvement") {
  train::EarlyStopping es(2, true, 0.01);
  CHECK(es.update(0.50));
  CHECK(es.update(0.60));
  CHECK_FALSE(es.update(0.605));  // below min_delta
  CHECK_FALSE(es.should_stop());
  CHECK_FALSE(es.update(NAN));
  CHECK(es.should_stop());
  CHECK(es.best() == 0.60);
  train::EarlyStopping loss(1, false);
  CHECK(loss.update(1.0));
  CHECK(loss.update(0.5));
  CHECK_FALSE(loss.update(0.7));
  CHECK(loss.should_stop());
}

TEST_CASE("dynamic loss scaling: unscale, skip on overflow with backoff, growth after an interval") {
  train::DynamicLossScaler s(1024.0, 2.0, 0.5, 3);
  Tensor p = Tensor::zeros({3});
  p.set_requires_grad(true);
  p.grad_buffer().copy_(Tensor::from_vector<float>({1024.f, -2048.f, 512.f}, {3}));
  CHECK(s.unscale({p}));
  CHECK(p.grad().to_vector() == std::vector<double>{1.0, -2.0, 0.5});
  for (int i = 0; i < 3; ++i) s.update(true);
  CHECK(s.scale() == 2048.0);
  p.grad_buffer().copy_(Tensor::from_vector<float>({INFINITY, 1.f, 1.f}, {3}));
  CHECK_FALSE(s.unscale({p}));
  s.update(false);
  CHECK(s.scale() == 1024.0);
}
