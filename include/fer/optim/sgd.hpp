#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay, with
// torch.optim.SGD's update (PyTorch 1.13), one fused pass per parameter:
//   d = grad (+ weight_decay * p)
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d     (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
#include <type_traits>

#include "fer/optim/optimizer.hpp"

namespace fer::optim {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SgdOptions opts = {}) : SGD(one_group(std::move(params)), opts) {}
  SGD(std::vector<ParamGroup> groups, SgdOptions opts)
      : Optimizer(std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
    validate();
    FER_CHECK(opts.momentum >= 0, "SGD: invalid momentum ", opts.momentum);
    FER_CHECK(!opts.nesterov || (opts.momentum > 0 && opts.dampening == 0),
              "SGD: Nesterov momentum requires a momentum and zero dampening");
  }
  const char* name() const override { return "SGD"; }
  const SgdOptions& options() const { return opts_; }
  void set_momentum(double m) override {
    FER_CHECK(m >= 0, "SGD: invalid momentum ", m);
    opts_.momentum = m;
  }

  void step() override {
#ifdef FER_WITH_CUDA
    std::vector<CudaBatch> batches;
#endif
    jobs_.clear();
    for_each_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) {
      bool first = opts_.momentum != 0 && st.find("momentum_buffer") == st.end();
      Tensor buf = opts_.momentum != 0 ? state_like(st, "momentum_buffer", p) : Tensor();
#ifdef FER_WITH_CUDA
      if (p.device().is_cuda()) {  // batched: one launch per group below
        cuda_batch(batches, g, p, first ? 1.0 : 0.0).push_back({p, grad, buf, Tensor(), Tensor()});
        return;
      }
#endif
      dispatch_float(p.dtype(), "SGD", [&](auto tag) {
        using T = decltype(tag);
        jobs_.push_back({p.numel(), update<T>(p.data<T>(), grad.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                                              T(*g.lr), T(*g.weight_decay), first)});
      });
    });
    run_jobs(jobs_);  // every CPU parameter in one parallel region
#ifdef FER_WITH_CUDA
    for (size_t k = 0; k < batches.size(); ++k) {
      const CudaBatch& b = batches[k];
      gpu::sgd_multi_step(table_cache(k), b.items, *b.group->lr, *b.group->weight_decay, opts_.momentum,
                          opts_.dampening, opts_.nesterov, opts_.maximize, b.key != 0.0);
    }
#endif
  }

 private:
  // The update of elements [lo, hi): the options are template arguments, so the loop has no branch per element
  // and vectorizes.
  template <class T, bool kDecay, bool kMomentum, bool kNesterov>
  static void update_range(T* p, const T* grad, T* buf, int64_t lo, int64_t hi, T lr, T wd, T momentum, T keep,
                           T sign, bool first) {
    for (int64_t i = lo; i < hi; ++i) {
      T d = sign * grad[i];  // sign -1 when maximizing: an exact negation
      if constexpr (kDecay) d = d + wd * p[i];
      if constexpr (kMomentum) {
        const T b = first ? d : buf[i] * momentum + keep * d;
        buf[i] = b;
        d = kNesterov ? d + momentum * b : b;
      }
      p[i] = p[i] + (-lr) * d;
    }
  }

  template <class T>
  std::function<void(int64_t, int64_t)> update(T* p, const T* grad, T* buf, T lr, T wd, bool first) const {
    const T momentum = T(opts_.momentum), keep = T(1 - opts_.dampening), sign = opts_.maximize ? T(-1) : T(1);
    auto pick = [&](auto decay, auto with_momentum, auto nesterov) -> std::function<void(int64_t, int64_t)> {
      constexpr bool kD = decltype(decay)::value, kM = decltype(with_momentum)::value, kN = decltype(nesterov)::value;
      return [=](int64_t lo, int64_t hi) {
        update_range<T, kD, kM, kN>(p, grad, buf, lo, hi, lr, wd, momentum, keep, sign, first);
      };
    };
    using Y = std::true_type;
    using N = std::false_type;
    const bool decay = wd != 0;
    if (!buf) return decay ? pick(Y{}, N{}, N{}) : pick(N{}, N{}, N{});
    if (opts_.nesterov) return decay ? pick(Y{}, Y{}, Y{}) : pick(N{}, Y{}, Y{});
    return decay ? pick(Y{}, Y{}, N{}) : pick(N{}, Y{}, N{});
  }

  std::vector<ElementJob> jobs_;
  SgdOptions opts_;
};

}  // namespace fer::optim
