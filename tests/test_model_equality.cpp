// The backbones compute exactly what torchvision 0.14 computes: deterministic weights from a formula of each
// state_dict name (the same formula as tools/make_fixtures.py, so no weights are committed), then eval logits at
// 64x64 and 224x224 and one training step on 4 images at 64x64 (loss, gradients, batch-norm running statistics) compared with
// torchvision's (tests/data/models/equality.json). Tolerances (the issue's): rel-L2 <= 1e-4 for eval outputs and
// running statistics, <= 1e-3 for the loss and gradients (see below for the two ill-conditioned first-conv gradients
// and tf_efficientnet_b0_ns's 224-px logits).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "det_weights.hpp"
#include "fixture_json.hpp"
#include "fer/ops/loss.hpp"
#include "models/blocks.hpp"
#include "models/densenet.hpp"
#include "models/registry.hpp"
#include "models/resnet.hpp"

using namespace fer;

namespace {

using fer::testing::det_input;
using fer::testing::rel_l2;
void fill(nn::Module& m) { fer::testing::fill_det_weights(m); }

std::vector<double> first_values(const Tensor& t, size_t keep) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel() && v.size() < keep; ++i) v.push_back(t.flat(i));
  return v;
}

}  // namespace

TEST_CASE("backbones equal torchvision on deterministic weights: eval logits, a training step") {
  auto fixtures = fer::testing::load_json_fixture("models/equality.json");
  for (const auto& [name, rec] : fixtures.items()) {
    CAPTURE(name);
    auto model = models::make_model(name, 7, 64);
    fill(*model);
    {
      InferenceGuard guard;
      model->eval();
      for (int64_t size : {64, 224}) {
        CAPTURE(size);
        Tensor logits = model->forward(det_input(size));
        double e = rel_l2(logits.to_vector(), rec[size == 64 ? "logits64" : "logits224"].get<std::vector<double>>());
        // 1e-4, or 3x the logits' own f32 rounding sensitivity (torch f32 vs f64, logits_f32_noise) where recorded
        // and larger. Only tf_efficientnet_b0_ns at 224 px: 4.18e-5 -> 1.25e-4. Its squeeze-excitation gates see
        // pre-activations of rms 200-530 under these formula weights, so the sigmoid multiplies the relative error
        // 5-14x in blocks 5-6: fer's own f32 forward is 1.13e-4 from its f64 one (which is 2.5e-5 from the fixture)
        // with the C library's expf, 1.33e-4 with the vectorized exp, and the distance to the fixture moves from
        // 0.9e-4 to 3.3e-4 with the last bit of SiLU's exp alone (measured 2026-12-03).
        double tol = 1e-4;
        if (rec.contains("logits_f32_noise"))
          tol = std::max(tol, 3 * rec["logits_f32_noise"][std::to_string(size)].get<double>());
        MESSAGE(name, " logits ", size, "x", size, ": rel-L2 ", e, " (tolerance ", tol, ")");
        CHECK(e <= tol);
      }
    }
    // Training step: batch norm in training mode, dropout and stochastic depth off (as the script).
    model->train();
    for (auto& [mname, m] : model->named_modules())  // (timm's DropPath is our StochasticDepth)
      if (dynamic_cast<nn::Dropout*>(m) || dynamic_cast<models::StochasticDepth*>(m)) m->eval();
    Tensor logits = model->forward(det_input(64, 4));
    Tensor loss = cross_entropy(logits, Tensor::from_vector<int64_t>({1, 5, 0, 3}, {4}));
    CHECK(loss.item() == doctest::Approx(rec["loss"].get<double>()).epsilon(1e-3));
    backward(loss);
    std::map<std::string, Tensor> params;
    for (const auto& [pname, p] : model->named_parameters()) params[pname] = p;
    for (const auto& [pname, want] : rec["grads"].items()) {
      CAPTURE(pname);
      REQUIRE(params.count(pname));
      Tensor g = params[pname].grad();
      REQUIRE(g.defined());
      if (g.dim() == 4) g = nn::to_external_layout(g, nn::ParamLayout::conv_ohwi);
      double e = rel_l2(first_values(g, want.size()), want.get<std::vector<double>>());
      // 1e-3, or 3x the gradient's own f32 rounding sensitivity measured in torch (f32 vs f64) where that is larger:
      // the first conv of DenseNet-121 / ResNet-50 moves by 1-2% between torch's f32 and f64 runs.
      double tol = std::max(1e-3, 3 * rec["grad_f32_noise"][pname].get<double>());
      MESSAGE(name, " grad ", pname, ": rel-L2 ", e, " (tolerance ", tol, ")");
      CHECK(e <= tol);
    }
    std::map<std::string, Tensor> buffers;
    for (const auto& [bname, b] : model->named_buffers()) buffers[bname] = b;
    for (const auto& [bname, want] : rec["bn"].items()) {
      CAPTURE(bname);
      REQUIRE(buffers.count(bname));
      CHECK(rel_l2(first_values(buffers[bname], want.size()), want.get<std::vector<double>>()) <= 1e-4);
    }
  }
}
