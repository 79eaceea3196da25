#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay, with
// torch.optim.SGD's update (PyTorch 1.13), one fused pass per parameter:
//   d = grad (+ weight_decay * p)
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d     (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
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
        update<T>(p.data<T>(), grad.data<T>(), buf.defined() ? buf.data<T>() : nullptr, p.numel(), T(*g.lr),
                  T(*g.weight_decay), first);
      });
    });
#ifdef FER_WITH_CUDA
    for (size_t k = 0; k < batches.size(); ++k) {
      const CudaBatch& b = batches[k];
      gpu::sgd_multi_step(table_cache(k), b.items, *b.group->lr, *b.group->weight_decay, opts_.momentum,
                          opts_.dampening, opts_.nesterov, opts_.maximize, b.key != 0.0);
    }
#endif
  }

 private:
  template <class T>
  void update(T* p, const T* grad, T* buf, int64_t n, T lr, T wd, bool first) const {
    const T momentum = T(opts_.momentum), keep = T(1 - opts_.dampening);
    const bool nesterov = opts_.nesterov, maximize = opts_.maximize;
    for_elements(n, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        T d = maximize ? -grad[i] : grad[i];
        if (wd != 0) d = d + wd * p[i];
        if (buf) {
          buf[i] = first ? d : buf[i] * momentum + keep * d;
          d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] = p[i] + (-lr) * d;
      }
    });
  }

  SgdOptions opts_;
};

}  // namespace fer::optim
