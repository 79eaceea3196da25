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
    std::vector<Batch> batches;
    for_each_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, std::map<std::string, Tensor>& st) {
      bool first = opts_.momentum != 0 && st.find("momentum_buffer") == st.end();
      Tensor buf = opts_.momentum != 0 ? state_like(st, "momentum_buffer", p) : Tensor();
      batch_of(batches, g, p, first ? 1.0 : 0.0).push_back({kernels::ref(p), kernels::ref(grad), kernels::ref(buf), {}, {}});
    });
    for (size_t k = 0; k < batches.size(); ++k) {
      Batch& b = batches[k];
      kernels::sgd_multi_step({table_cache(k), std::move(b.items), *b.group->lr, *b.group->weight_decay,
                               opts_.momentum, opts_.dampening, opts_.nesterov, opts_.maximize, b.key != 0.0});
    }
  }

 private:
  SgdOptions opts_;
};

}  // namespace fer::optim
