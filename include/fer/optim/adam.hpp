#pragma once
// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), with torch.optim's
// single-tensor update of PyTorch 1.13, one fused pass per parameter. With t the step count:
//   AdamW only: p *= 1 - lr * weight_decay            Adam only: g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g                    v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v) (amsgrad; used instead of v below)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps          (eps after the bias-corrected square root)
//   p += -(lr / (1 - beta1^t)) * (m / denom)
#include <cmath>
#include <type_traits>

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
    jobs_.clear();
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
        jobs_.push_back({p.numel(), update<T>(p.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(),
                                              v_max.defined() ? v_max.data<T>() : nullptr, lr, wd, step_size,
                                              bias_correction2_sqrt)});
      });
    });
    run_jobs(jobs_);  // every CPU parameter in one parallel region
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
  struct Scalars {
    double b1, b2, one_minus_b1, one_minus_b2, eps, neg_step, bc2, l2, shrink;
  };
  // The update of elements [lo, hi); the options are template arguments, so the loop has no branch per element
  // and vectorizes. Each scalar enters the tensor arithmetic in the parameter's type, as in PyTorch's kernels.
  template <class T, bool kDecoupled, bool kL2, bool kAmsgrad>
  static void update_range(T* p, const T* grad, T* m, T* v, T* v_max, int64_t lo, int64_t hi, const Scalars& s,
                           T sign) {
    const T b1 = T(s.b1), b2 = T(s.b2), one_minus_b1 = T(s.one_minus_b1), one_minus_b2 = T(s.one_minus_b2);
    const T eps = T(s.eps), neg_step = T(s.neg_step), bc2 = T(s.bc2), l2 = T(s.l2), shrink = T(s.shrink);
    for (int64_t i = lo; i < hi; ++i) {
      T g = sign * grad[i];  // sign -1 when maximizing: an exact negation
      if constexpr (kDecoupled) p[i] = p[i] * shrink;
      if constexpr (kL2) g = g + l2 * p[i];
      const T mi = m[i] * b1 + one_minus_b1 * g;
      const T vi = v[i] * b2 + one_minus_b2 * (g * g);
      m[i] = mi;
      v[i] = vi;
      T second = vi;
      if constexpr (kAmsgrad) second = v_max[i] = std::max(v_max[i], vi);
      const T denom = std::sqrt(second) / bc2 + eps;
      p[i] = p[i] + neg_step * (mi / denom);
    }
  }

  template <class T>
  std::function<void(int64_t, int64_t)> update(T* p, const T* grad, T* m, T* v, T* v_max, double lr, double wd,
                                               double step_size, double bias_correction2_sqrt) const {
    const Scalars s{opts_.beta1, opts_.beta2, 1 - opts_.beta1, 1 - opts_.beta2, opts_.eps, -step_size,
                    bias_correction2_sqrt, decoupled_ ? 0.0 : wd, 1 - lr * wd};
    const T sign = opts_.maximize ? T(-1) : T(1);
    auto pick = [&](auto decoupled, auto l2, auto amsgrad) -> std::function<void(int64_t, int64_t)> {
      constexpr bool kD = decltype(decoupled)::value, kL = decltype(l2)::value, kA = decltype(amsgrad)::value;
      return [=](int64_t lo, int64_t hi) { update_range<T, kD, kL, kA>(p, grad, m, v, v_max, lo, hi, s, sign); };
    };
    using Y = std::true_type;
    using N = std::false_type;
    const bool decoupled = decoupled_ && wd != 0, l2 = T(s.l2) != T(0);
    if (v_max) {
      if (decoupled) return l2 ? pick(Y{}, Y{}, Y{}) : pick(Y{}, N{}, Y{});
      return l2 ? pick(N{}, Y{}, Y{}) : pick(N{}, N{}, Y{});
    }
    if (decoupled) return l2 ? pick(Y{}, Y{}, N{}) : pick(Y{}, N{}, N{});
    return l2 ? pick(N{}, Y{}, N{}) : pick(N{}, N{}, N{});
  }

  std::vector<ElementJob> jobs_;
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
