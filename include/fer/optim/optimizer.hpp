#pragma once
// The optimizer base: parameter groups (each with its own lr and weight decay), per-parameter state tensors
// created on first use, zero_grad, and the state as named tensors for checkpoints.
//
// Parameters live on the CPU or on a CUDA device (f32 or f64; a 16-bit model keeps f32 master weights, which is
// the caller's business). A step makes one multi-tensor kernel call (fer/kernels/optim.hpp) per parameter group
// (and dtype, device and per-tensor scalar such as Adam's step count), with the same arithmetic on both backends.
//
// State names follow torch.optim's state_dict layout: "state.<i>.<key>" for parameter i counted across the
// groups in order (e.g. "state.3.exp_avg"), and "param_groups.<g>.lr" / ".weight_decay" as f64 scalars.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/region_merging.hpp"
#include "fer/core/tensor.hpp"
#include "fer/kernels/optim.hpp"
#include "fer/ops/common.hpp"

namespace fer::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<double> lr;            // unset: the optimizer's default
  std::optional<double> weight_decay;  // unset: the optimizer's default
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Updates every parameter that has a gradient; parameters whose gradient is undefined are skipped.
  virtual void step() = 0;
  virtual const char* name() const = 0;
  // The momentum a schedule prescribes (one-cycle's momentum cycling, as PyTorch's OneCycleLR): SGD's momentum,
  // Adam's beta1. Optimizers without one ignore it.
  virtual void set_momentum(double) {}

  // Zeroes the gradients in place (keeping the buffers, which recorded Graphs accumulate into), or drops them.
  // The contiguous CPU buffers are zeroed in one parallel region over all of them (cut into equal byte ranges),
  // not one single-threaded memset per parameter while the other threads wait.
  void zero_grad(bool set_to_none = false) {
    zero_ranges_.clear();
    int64_t total = 0;
    for (auto& g : groups_)
      for (Tensor& p : g.params) {
        if (set_to_none) {
          p.drop_grad();
          continue;
        }
        const Tensor grad = p.grad();
        if (!grad.defined()) continue;
        if (region_merging() && grad.device().is_cpu() && grad.is_contiguous()) {
          zero_ranges_.push_back({static_cast<char*>(grad.raw_data()), int64_t(grad.nbytes())});
          total += int64_t(grad.nbytes());
        } else {
          grad.zero_();
        }
      }
    parallel_for(0, total, kZeroGrain, [&](int64_t lo, int64_t hi) {
      int64_t base = 0;
      for (const auto& [data, bytes] : zero_ranges_) {
        const int64_t a = std::max(lo, base), b = std::min(hi, base + bytes);
        if (a < b) std::memset(data + (a - base), 0, size_t(b - a));
        base += bytes;
        if (base >= hi) break;
      }
    });
  }

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Sets the learning rate of every group (schedules).
  void set_lr(double lr) {
    FER_CHECK(lr >= 0, name(), ": invalid learning rate ", lr);
    for (auto& g : groups_) g.lr = lr;
  }
  double lr(size_t group = 0) const {
    FER_CHECK(group < groups_.size(), name(), ": no parameter group ", group);
    return *groups_[group].lr;
  }
  int64_t num_params() const { return int64_t(state_.size()); }

  // The state as named tensors (copies: the checkpoint stays valid while training goes on).
  std::map<std::string, Tensor> state_dict() const {
    std::map<std::string, Tensor> out;
    for (size_t i = 0; i < state_.size(); ++i)
      for (const auto& [key, t] : state_[i]) out["state." + std::to_string(i) + "." + key] = t.clone();
    for (size_t g = 0; g < groups_.size(); ++g) {
      out["param_groups." + std::to_string(g) + ".lr"] = Tensor::full({}, *groups_[g].lr, DType::f64);
      out["param_groups." + std::to_string(g) + ".weight_decay"] = Tensor::full({}, *groups_[g].weight_decay, DType::f64);
    }
    return out;
  }

  // Restores a state saved by state_dict() of the same kind of optimizer over parameters of the same shapes.
  // Replaces all per-parameter state; hyper-parameters of the groups are restored when present.
  void load_state_dict(const std::map<std::string, Tensor>& named) {
    std::vector<std::map<std::string, Tensor>> loaded(state_.size());
    std::vector<const Tensor*> params = flat_params();
    for (const auto& [name_, t] : named) {
      std::vector<std::string> parts = split(name_);
      FER_CHECK(parts.size() == 3, name(), ".load_state_dict: unexpected entry '", name_, "'");
      size_t index = parse_index(name_, parts[1]);
      if (parts[0] == "param_groups") {
        FER_CHECK(index < groups_.size(), name(), ".load_state_dict: '", name_, "' but there are ", groups_.size(), " groups");
        FER_CHECK(t.numel() == 1, name(), ".load_state_dict: '", name_, "' must be a scalar");
        if (parts[2] == "lr") groups_[index].lr = t.item();
        else if (parts[2] == "weight_decay") groups_[index].weight_decay = t.item();
        else fail(name(), ".load_state_dict: unknown group setting '", name_, "'");
        continue;
      }
      FER_CHECK(parts[0] == "state", name(), ".load_state_dict: unexpected entry '", name_, "'");
      FER_CHECK(index < state_.size(), name(), ".load_state_dict: '", name_, "' but there are ", state_.size(), " parameters");
      const Tensor& p = *params[index];
      bool scalar = parts[2] == "step";
      FER_CHECK(scalar ? t.numel() == 1 : t.shape() == p.shape(), name(), ".load_state_dict: '", name_, "' has shape ",
                t.shape().str(), ", parameter ", index, " has shape ", p.shape().str());
      loaded[index][parts[2]] =
          scalar ? t.to(DType::f64).host().clone().view_as_shape({}) : t.to(p.dtype()).to(p.device()).clone();
    }
    state_ = std::move(loaded);
  }

 protected:
  // `default_lr` / `default_wd` fill the groups that leave them unset.
  Optimizer(std::vector<ParamGroup> groups, double default_lr, double default_wd) : groups_(std::move(groups)) {
    size_t count = 0;
    for (auto& g : groups_) {
      if (!g.lr) g.lr = default_lr;
      if (!g.weight_decay) g.weight_decay = default_wd;
      count += g.params.size();
    }
    state_.resize(count);
  }
  static std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup{std::move(params), {}, {}}}; }

  // Checks the groups' settings and the parameters (after the derived class named itself).
  void validate() const {
    FER_CHECK(!groups_.empty(), name(), ": no parameter groups");
    for (const auto& g : groups_) {
      FER_CHECK(*g.lr >= 0, name(), ": invalid learning rate ", *g.lr);
      FER_CHECK(*g.weight_decay >= 0, name(), ": invalid weight_decay ", *g.weight_decay);
      for (const Tensor& p : g.params) {
        FER_CHECK(p.defined(), name(), ": undefined parameter");
        FER_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, name(), ": parameter of dtype ",
                  dtype_name(p.dtype()), " (f32 or f64 expected)");
        FER_CHECK(p.is_contiguous(), name(), ": parameters must be contiguous tensors");
        FER_CHECK(p.device().is_cpu() || built_with_cuda(), name(), ": parameter on ", p.device().str(),
                  " in a build without CUDA");
      }
    }
  }

  // Calls f(group, param, grad, state) for every parameter with a defined gradient.
  template <class F>
  void for_each_with_grad(F&& f) {
    size_t i = 0;
    for (auto& g : groups_)
      for (Tensor& p : g.params) {
        Tensor grad = p.grad();
        auto& st = state_[i++];
        if (!grad.defined()) continue;
        FER_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype() && grad.is_contiguous() &&
                      grad.device() == p.device(),
                  name(), ": gradient ", grad.str(), " does not match parameter ", p.str());
        f(g, p, grad, st);
      }
  }

  // The state tensor `key` of a parameter, created as zeros like the parameter on first use.
  static Tensor& state_like(std::map<std::string, Tensor>& st, const char* key, const Tensor& p) {
    auto it = st.find(key);
    if (it == st.end()) it = st.emplace(key, Tensor::zeros_like(p)).first;
    return it->second;
  }
  // The step counter (an f64 scalar, as torch keeps a tensor), incremented; returns the new value.
  static double increment_step(std::map<std::string, Tensor>& st) {
    auto it = st.find("step");
    if (it == st.end()) it = st.emplace("step", Tensor::zeros({}, DType::f64)).first;
    double* s = it->second.data<double>();
    return *s += 1.0;
  }

  std::vector<ParamGroup> groups_;
  // zero_grad's buffers (kept between calls: a replayed step allocates nothing).
  std::vector<std::pair<char*, int64_t>> zero_ranges_;
  static constexpr int64_t kZeroGrain = int64_t(1) << 18;
  std::vector<std::map<std::string, Tensor>> state_;  // per parameter, flat over groups

  // The parameters of one multi-tensor kernel call: one group, dtype and device, and one value of `key` (a
  // per-tensor scalar of the update: SGD's first-step flag, Adam's step count).
  struct Batch {
    const ParamGroup* group;
    DType dtype;
    Device device;
    double key;
    std::vector<kernels::MultiTensorItem> items;
  };
  // The batch of (group, p's dtype and device, key), appended in first-seen order (the same order every step, so
  // call k reuses table slot k).
  static std::vector<kernels::MultiTensorItem>& batch_of(std::vector<Batch>& batches, const ParamGroup& g,
                                                         const Tensor& p, double key) {
    for (Batch& b : batches)
      if (b.group == &g && b.dtype == p.dtype() && b.device == p.device() && b.key == key) return b.items;
    batches.push_back({&g, p.dtype(), p.device(), key, {}});
    return batches.back().items;
  }
  // The device-table cache of the k-th call of a step.
  kernels::TableCache* table_cache(size_t k) {
    if (table_caches_.size() <= k) table_caches_.resize(k + 1);
    return &table_caches_[k];
  }
  std::vector<kernels::TableCache> table_caches_;

 private:
  std::vector<const Tensor*> flat_params() const {
    std::vector<const Tensor*> out;
    for (const auto& g : groups_)
      for (const Tensor& p : g.params) out.push_back(&p);
    return out;
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> parts(1);
    for (char ch : s) {
      if (ch == '.' && parts.size() < 3) parts.emplace_back();
      else parts.back() += ch;
    }
    return parts;
  }
  size_t parse_index(const std::string& full, const std::string& s) const {
    FER_CHECK(!s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos, name(),
              ".load_state_dict: bad index in '", full, "'");
    return size_t(std::stoul(s));
  }
};

}  // namespace fer::optim
