// Stochastic depth of tf_efficientnet_b0_ns follows timm: none by default (timm.create_model's drop_path_rate is
// None), and --drop_path r gives block i of n the rate r * i / n (timm's _gen_efficientnet rule); models without
// stochastic depth refuse the flag instead of ignoring it.
#include <doctest/doctest.h>

#include "models/blocks.hpp"
#include "models/registry.hpp"

using namespace fer;

namespace {
std::vector<double> drop_rates(nn::Module& m) {
  std::vector<double> p;
  for (auto& [name, mod] : m.named_modules())
    if (auto* sd = dynamic_cast<models::StochasticDepth*>(mod)) p.push_back(sd->p());
  return p;
}
}  // namespace

TEST_CASE("tf_efficientnet_b0_ns: no stochastic depth by default, --drop_path as timm") {
  Generator gen(3);
  auto plain = models::make_model("tf_efficientnet_b0_ns", 8, 64, gen);
  const auto off = drop_rates(*plain);
  REQUIRE(off.size() == 16);
  for (double p : off) CHECK(p == 0.0);
  auto with = models::make_model("tf_efficientnet_b0_ns", 8, 64, gen, 0, 0.5, 0.2);
  const auto on = drop_rates(*with);
  REQUIRE(on.size() == 16);
  for (size_t i = 0; i < on.size(); ++i) CHECK(on[i] == doctest::Approx(0.2 * double(i) / 16.0));
  CHECK_THROWS_WITH_AS(models::make_model("resnet18", 7, 64, gen, 0, 0.5, 0.1), doctest::Contains("has no stochastic depth"),
                       fer::Error);
}
