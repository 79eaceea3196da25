#pragma once
// Grad-CAM and Grad-CAM++ through fer's autograd: a forward hook on the named layer keeps its activation A [N, h, w, K]
// (NHWC) and marks it as requiring grad; backward of each image's chosen class score (before softmax) gives
// dS/dA. With g = dS/dA:
//   Grad-CAM    w_k = mean_ij g_ijk                              map = sum_k w_k A_ijk
//   Grad-CAM++  a_ijk = g^2 / (2 g^2 + (sum_ij A_ijk) g^3 + 1e-6) (0 where g = 0)
//               w_k = sum_ij a_ijk relu(g_ijk)                   map = sum_k w_k A_ijk
// Grad-CAM++ uses the closed form of Chattopadhay et al. for an exponential score, as the common PyTorch
// implementations do. Maps are returned before the ReLU; relu() of them is the usual heat map. Parameters are
// frozen during the pass, so only the part of the network after the layer is recorded and differentiated.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fer/analysis/matrix.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/nn/layers.hpp"

namespace fer::analysis {

struct CamMaps {
  Tensor logits;                 // [N, C] f32 on the host
  std::vector<int64_t> targets;  // the class each map explains
  int64_t height = 0, width = 0;
  std::vector<double> gradcam;     // [N, h, w] row-major, before the ReLU
  std::vector<double> gradcam_pp;  // [N, h, w] before the ReLU
  // Image n's map as [h * w] values (post_relu: clamped at zero).
  std::vector<double> map(bool plus_plus, int64_t n, bool post_relu = true) const {
    const auto& all = plus_plus ? gradcam_pp : gradcam;
    auto first = all.begin() + n * height * width;
    std::vector<double> m(first, first + height * width);
    if (post_relu)
      for (double& v : m) v = std::max(v, 0.0);
    return m;
  }
};

// Maps of `images` [N, S, S, 3] for `targets` (one class per image; empty: each image's predicted class) at the
// module named `layer` (a named_modules() name, e.g. "layer4"). The model must be in eval mode.
inline CamMaps class_activation_maps(nn::Layer& model, const std::string& layer, const Tensor& images,
                                     std::vector<int64_t> targets = {}) {
  FER_CHECK(!model.is_training(), "Grad-CAM: put the model in eval mode first (batch norm and dropout would differ)");
  FER_CHECK(grad_enabled(), "Grad-CAM: gradients are disabled (a NoGradGuard is active)");
  FER_CHECK(Tape::current().size() == 0, "Grad-CAM: the autograd tape is not empty; run backward or clear it first");
  FER_CHECK(images.defined() && images.dim() == 4, "Grad-CAM: expected images [N, H, W, C]");
  const int64_t N = images.size(0);
  FER_CHECK(targets.empty() || int64_t(targets.size()) == N, "Grad-CAM: ", targets.size(), " targets for ", N, " images");
  nn::Module& hooked = model.module_at(layer);
  FER_CHECK(!hooked.has_forward_hook(), "Grad-CAM: module \"", layer, "\" already has a forward hook");

  Tensor activation;
  int calls = 0;
  hooked.set_forward_hook([&](const Tensor&, const Tensor& out) {
    ++calls;
    if (!out.requires_grad()) Tensor(out).set_requires_grad(true);
    activation = out;
    return out;
  });
  // Freeze the parameters (restored on every exit path) so the tape starts at the hooked activation.
  struct Restore {
    nn::Module& hooked;
    std::vector<std::pair<Tensor, bool>> flags;
    ~Restore() {
      hooked.clear_forward_hook();
      for (auto& [t, r] : flags) t.set_requires_grad(r);
      Tape::current().clear();
    }
  } restore{hooked, {}};
  for (Tensor& p : model.parameters()) {
    restore.flags.emplace_back(p, p.requires_grad());
    p.set_requires_grad(false);
  }

  Tensor logits = model(images);
  FER_CHECK(calls == 1, "Grad-CAM: module \"", layer, "\" ran ", calls, " times in one forward (needs exactly once)");
  FER_CHECK(activation.dim() == 4, "Grad-CAM: module \"", layer, "\" gives ", activation.shape().str(),
            ", not a feature map [N, h, w, K]");
  FER_CHECK(logits.dim() == 2 && logits.size(0) == N, "Grad-CAM: model output ", logits.shape().str(), " is not [N, C]");
  const int64_t C = logits.size(1);
  Tensor host_logits = host_copy(logits, DType::f32);
  const float* lp = host_logits.data<float>();
  if (targets.empty())
    for (int64_t n = 0; n < N; ++n) targets.push_back(std::max_element(lp + n * C, lp + (n + 1) * C) - (lp + n * C));
  std::vector<float> seed(size_t(N * C), 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    FER_CHECK(targets[size_t(n)] >= 0 && targets[size_t(n)] < C, "Grad-CAM: target class ", targets[size_t(n)],
              " out of range [0, ", C, ")");
    seed[size_t(n * C + targets[size_t(n)])] = 1.0f;
  }
  backward(logits, Tensor::from_vector(seed, logits.shape()).to(logits.dtype()).to(logits.device()));
  Tensor grad = activation.grad();
  FER_CHECK(grad.defined(), "Grad-CAM: the class score does not depend on module \"", layer, "\"");

  Tensor a = host_copy(activation, DType::f64), g = host_copy(grad, DType::f64);
  const double* A = a.data<double>();
  const double* G = g.data<double>();
  const int64_t H = a.size(1), W = a.size(2), K = a.size(3), HW = H * W;
  CamMaps out;
  out.logits = host_logits;
  out.targets = targets;
  out.height = H, out.width = W;
  out.gradcam.assign(size_t(N * HW), 0.0);
  out.gradcam_pp.assign(size_t(N * HW), 0.0);
  std::vector<double> w(static_cast<size_t>(K)), wpp(static_cast<size_t>(K)), sum_a(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    const double* An = A + n * HW * K;
    const double* Gn = G + n * HW * K;
    std::fill(w.begin(), w.end(), 0.0), std::fill(wpp.begin(), wpp.end(), 0.0), std::fill(sum_a.begin(), sum_a.end(), 0.0);
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t k = 0; k < K; ++k) w[size_t(k)] += Gn[p * K + k], sum_a[size_t(k)] += An[p * K + k];
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t k = 0; k < K; ++k) {
        double gv = Gn[p * K + k];
        if (gv == 0) continue;
        double g2 = gv * gv, alpha = g2 / (2 * g2 + sum_a[size_t(k)] * g2 * gv + 1e-6);
        wpp[size_t(k)] += alpha * std::max(gv, 0.0);
      }
    for (int64_t p = 0; p < HW; ++p) {
      double s = 0, spp = 0;
      for (int64_t k = 0; k < K; ++k) s += w[size_t(k)] * An[p * K + k], spp += wpp[size_t(k)] * An[p * K + k];
      out.gradcam[size_t(n * HW + p)] = s / double(HW);
      out.gradcam_pp[size_t(n * HW + p)] = spp;
    }
  }
  return out;
}

}  // namespace fer::analysis
