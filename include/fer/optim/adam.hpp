#pragma once
// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), with torch.optim's
// single-tensor update of PyTorch 1.13, one fused pass per parameter. With t the step count:
//   AdamW only: p *= 1 - lr * weight_decay            Adam only: g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g                    v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v) (amsgrad; used instead of v below)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps          (eps after the bias-corrected square root)
//   p += -(lr / (1 - beta1^t)) * (m / denom)
#include <cmath>

#include "fer/optim/optimizer.hpp"

namespace fer::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions opts = {}) : Adam(one_group(std::move(params)), opts) {}
  Adam(std::vector<ParamGroup> groups, AdamOptions opts) : Adam(std::move(groups), opts, false) {}
  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  const AdamOptions& options() const { return opts_; }
  void set_momentum(double beta1) override {
    FER_CHECK(beta1 >= 0 && beta1 < 1, "Adam: invalid beta1 ", beta1);
    opts_.beta1 = beta1;  // the bias correction uses the current beta1, as torch.optim.Adam does
  }

  void step() override {
    std::vector<Batch> batches;
    for_each_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) {
      double t = increment_step(st);
      Tensor m = state_like(st, "exp_avg", p), v = state_like(st, "exp_avg_sq", p);
      Tensor v_max = opts_.amsgrad ? state_like(st, "max_exp_avg_sq", p) : Tensor();
      batch_of(batches, g, p, t).push_back(
          {kernels::ref(p), kernels::ref(grad), kernels::ref(m), kernels::ref(v), kernels::ref(v_max)});
    });
    for (size_t k = 0; k < batches.size(); ++k) {
      Batch& b = batches[k];
      // Scalars in double, as Python computes them before handing them to the tensor ops.
      const double t = b.key, lr = *b.group->lr;
      kernels::adam_multi_step({table_cache(k), std::move(b.items), lr, *b.group->weight_decay, opts_.beta1,
                                opts_.beta2, opts_.eps, lr / (1 - std::pow(opts_.beta1, t)),
                                std::sqrt(1 - std::pow(opts_.beta2, t)), decoupled_, opts_.maximize});
    }
  }

 protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions opts, bool decoupled)
      : Optimizer(std::move(groups), opts.lr, opts.weight_decay), opts_(opts), decoupled_(decoupled) {
    validate();
    FER_CHECK(opts.eps >= 0, name(), ": invalid eps ", opts.eps);
    FER_CHECK(opts.beta1 >= 0 && opts.beta1 < 1, name(), ": invalid beta1 ", opts.beta1);
    FER_CHECK(opts.beta2 >= 0 && opts.beta2 < 1, name(), ": invalid beta2 ", opts.beta2);
  }

 private:
  AdamOptions opts_;
  bool decoupled_;
};

// AdamW: Adam with decoupled weight decay (torch.optim.AdamW; note its default weight_decay is 0.01).
class AdamW : public Adam {
 public:
  static AdamOptions defaults() {
    AdamOptions o;
    o.weight_decay = 1e-2;
    return o;
  }
  AdamW(std::vector<Tensor> params, AdamOptions opts = defaults()) : Adam(one_group(std::move(params)), opts, true) {}
  AdamW(std::vector<ParamGroup> groups, AdamOptions opts) : Adam(std::move(groups), opts, true) {}
};

}  // namespace fer::optim
