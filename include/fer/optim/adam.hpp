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
#ifdef FER_WITH_CUDA
    std::vector<CudaBatch> batches;
#endif
    for_each_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) {
      double t = increment_step(st);
      Tensor m = state_like(st, "exp_avg", p), v = state_like(st, "exp_avg_sq", p);
      Tensor v_max = opts_.amsgrad ? state_like(st, "max_exp_avg_sq", p) : Tensor();
#ifdef FER_WITH_CUDA
      if (p.device().is_cuda()) {  // batched by step count: one launch per group below
        cuda_batch(batches, g, p, t).push_back({p, grad, m, v, v_max});
        return;
      }
#endif
      // Scalars in double, as Python computes them before handing them to the tensor ops.
      double lr = *g.lr, wd = *g.weight_decay;
      double step_size = lr / (1 - std::pow(opts_.beta1, t));
      double bias_correction2_sqrt = std::sqrt(1 - std::pow(opts_.beta2, t));
      dispatch_float(p.dtype(), name(), [&](auto tag) {
        using T = decltype(tag);
        update<T>(p.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), v_max.defined() ? v_max.data<T>() : nullptr,
                  p.numel(), lr, wd, step_size, bias_correction2_sqrt);
      });
    });
#ifdef FER_WITH_CUDA
    for (size_t k = 0; k < batches.size(); ++k) {
      const CudaBatch& b = batches[k];
      const double t = b.key;
      gpu::adam_multi_step(table_cache(k), b.items, *b.group->lr, *b.group->weight_decay, opts_.beta1, opts_.beta2,
                           opts_.eps, *b.group->lr / (1 - std::pow(opts_.beta1, t)),
                           std::sqrt(1 - std::pow(opts_.beta2, t)), decoupled_, opts_.maximize);
    }
#endif
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
  template <class T>
  void update(T* p, const T* grad, T* m, T* v, T* v_max, int64_t n, double lr, double wd, double step_size,
              double bias_correction2_sqrt) const {
    // Each scalar enters the tensor arithmetic in the parameter's type, as in PyTorch's kernels.
    const T b1 = T(opts_.beta1), b2 = T(opts_.beta2), one_minus_b1 = T(1 - opts_.beta1), one_minus_b2 = T(1 - opts_.beta2);
    const T eps = T(opts_.eps), neg_step = T(-step_size), bc2 = T(bias_correction2_sqrt);
    const T l2 = decoupled_ ? T(0) : T(wd), shrink = T(1 - lr * wd);
    const bool decoupled = decoupled_ && wd != 0, maximize = opts_.maximize;
    for_elements(n, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        T g = maximize ? -grad[i] : grad[i];
        if (decoupled) p[i] = p[i] * shrink;
        if (l2 != 0) g = g + l2 * p[i];
        m[i] = m[i] * b1 + one_minus_b1 * g;
        v[i] = v[i] * b2 + one_minus_b2 * (g * g);
        T second = v[i];
        if (v_max) second = v_max[i] = std::max(v_max[i], v[i]);
        T denom = std::sqrt(second) / bc2 + eps;
        p[i] = p[i] + neg_step * (m[i] / denom);
      }
    });
  }

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
