#pragma once
// nn::Module: the base of layers and models. A module owns its parameters and buffers as plain Tensor members
// and registers them by name, together with its child modules, so that
//  - named_parameters()/state_dict() produce exactly PyTorch's dotted keys ("layer1.0.conv1.weight"), in
//    PyTorch's order (a module's parameters, then its persistent buffers, then its children, depth first);
//  - load_state_dict() checks every name and shape and writes INTO the registered tensors (copy_), never
//    rebinding them, so handles held elsewhere (an optimizer's) stay valid;
//  - convolution weights, stored OHWI internally, are exported/imported in PyTorch's OIHW layout.
//
// Registration stores the address of the member Tensor, so a Module can be neither copied nor moved; hold
// modules by value as members of their parent (register_module(name, member)) or by std::shared_ptr.
// Never rebind a registered member after construction (assign through copy_ instead).
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer::nn {

// Named tensors in order (the shape of PyTorch's OrderedDict state_dict).
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// How a parameter is stored internally versus how PyTorch/NVIDIA store it.
enum class ParamLayout : uint8_t {
  plain,      // same layout everywhere (biases, linear weights [out, in], norms)
  conv_ohwi,  // conv weight stored [out, kh, kw, in/groups]; external layout is OIHW [out, in/groups, kh, kw]
};

// ---------------------------------------------------------------- layout conversion

namespace detail {

// dst[o][h][w][i] = src[o][i][h][w] (to_internal) or the reverse, on elements of E (a same-size integer type:
// the copy moves bits, whatever the dtype).
template <class E>
void permute_conv_weight(const E* src, E* dst, int64_t O, int64_t I, int64_t H, int64_t W, bool to_internal) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          int64_t oihw = ((o * I + i) * H + h) * W + w;
          int64_t ohwi = ((o * H + h) * W + w) * I + i;
          if (to_internal) dst[ohwi] = src[oihw];
          else dst[oihw] = src[ohwi];
        }
}

// A contiguous host copy of a 4-d conv weight in the other layout. `to_internal`: t is OIHW, result OHWI.
inline Tensor permute_conv_layout(const Tensor& t, bool to_internal) {
  FER_CHECK(t.dim() == 4, "conv weight layout conversion needs a 4-d tensor, got ", t.shape().str());
  Tensor src = t.host();
  if (!src.is_contiguous()) src = src.clone();
  const Shape& s = src.shape();
  // (O, I, H, W) from either layout.
  int64_t O = s[0], I = to_internal ? s[1] : s[3], H = to_internal ? s[2] : s[1], W = to_internal ? s[3] : s[2];
  Shape out_shape = to_internal ? Shape{O, H, W, I} : Shape{O, I, H, W};
  Tensor dst = Tensor::empty(out_shape, src.dtype());
  switch (dtype_size(src.dtype())) {
    case 1: permute_conv_weight(static_cast<const uint8_t*>(src.raw_data()), static_cast<uint8_t*>(dst.raw_data()), O, I, H, W, to_internal); break;
    case 2: permute_conv_weight(static_cast<const uint16_t*>(src.raw_data()), static_cast<uint16_t*>(dst.raw_data()), O, I, H, W, to_internal); break;
    case 4: permute_conv_weight(static_cast<const uint32_t*>(src.raw_data()), static_cast<uint32_t*>(dst.raw_data()), O, I, H, W, to_internal); break;
    case 8: permute_conv_weight(static_cast<const uint64_t*>(src.raw_data()), static_cast<uint64_t*>(dst.raw_data()), O, I, H, W, to_internal); break;
    default: fail("conv weight layout conversion: unexpected element size");
  }
  return dst;
}

}  // namespace detail

// The external (PyTorch) shape of a tensor stored with `layout` in `internal` shape.
inline Shape external_shape(const Shape& internal, ParamLayout layout) {
  if (layout == ParamLayout::plain) return internal;
  FER_CHECK(internal.size() == 4, "conv_ohwi layout needs a 4-d shape [out, kh, kw, in], got ", internal.str());
  return Shape{internal[0], internal[3], internal[1], internal[2]};
}

// The tensor in external layout: `t` itself for plain, a contiguous OIHW copy (on t's device) for conv_ohwi.
inline Tensor to_external_layout(const Tensor& t, ParamLayout layout) {
  if (layout == ParamLayout::plain) return t;
  return detail::permute_conv_layout(t, false).to(t.device());
}

// An external-layout tensor converted to internal layout (a host tensor; `t` itself for plain).
inline Tensor to_internal_layout(const Tensor& t, ParamLayout layout) {
  if (layout == ParamLayout::plain) return t;
  return detail::permute_conv_layout(t, true);
}

// ---------------------------------------------------------------- loading options and report

struct LoadOptions {
  // strict: any missing, unexpected or mismatched name is an error and nothing is loaded.
  // Non-strict: everything that matches is loaded and the rest is listed in the returned report.
  bool strict = true;
  // Names starting with one of these are neither loaded nor reported as missing/unexpected/mismatched (e.g.
  // {"fc."} to load an ImageNet backbone into a model with its own classifier head, strictly otherwise).
  std::vector<std::string> skip_prefixes = {};
  // Floating values are converted to the parameter's dtype (f16/bf16/f64 -> f32, ...). When false a dtype
  // difference is a mismatch. Floating <-> integer is always a mismatch.
  bool convert_dtype = true;
};

struct LoadMismatch {
  std::string name;
  std::string reason;  // e.g. "shape [1000, 512] in the source, the model expects [7, 512]"
};

struct LoadReport {
  std::vector<std::string> loaded;      // model names that received values
  std::vector<std::string> missing;     // model names absent from the source
  std::vector<std::string> unexpected;  // source names the model does not have
  std::vector<std::string> skipped;     // names (model or source) matching skip_prefixes
  std::vector<LoadMismatch> mismatched;
  bool complete() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const {
    std::ostringstream s;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      s << "\n  " << v.size() << ' ' << what << ':';
      size_t shown = std::min<size_t>(v.size(), 50);
      for (size_t i = 0; i < shown; ++i) s << ' ' << v[i];
      if (shown < v.size()) s << " ... (" << v.size() - shown << " more)";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    if (!mismatched.empty()) {
      s << "\n  " << mismatched.size() << " mismatched:";
      for (const auto& m : mismatched) s << "\n    " << m.name << ": " << m.reason;
    }
    return s.str();
  }
};

// ---------------------------------------------------------------- Module

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;

  // ---- registration (call from the constructor, after creating the member tensors)

  // A trainable tensor (requires_grad is set). `layout` says how it maps to PyTorch's layout.
  Tensor& register_parameter(const std::string& name, Tensor& t, ParamLayout layout = ParamLayout::plain) {
    check_new_name(name);
    FER_CHECK(t.defined(), "register_parameter(\"", name, "\"): tensor is undefined");
    FER_CHECK(is_floating(t.dtype()), "register_parameter(\"", name, "\"): parameters must be floating, got ",
              dtype_name(t.dtype()));
    FER_CHECK(layout != ParamLayout::conv_ohwi || t.dim() == 4, "register_parameter(\"", name,
              "\"): a conv_ohwi weight must be 4-d [out, kh, kw, in], got ", t.shape().str());
    t.set_requires_grad(true);
    params_.push_back({name, &t, layout, true});
    return t;
  }
  // State that is not trained (BatchNorm running statistics, StyleGAN's noise_const). Persistent buffers are part
  // of the state dict.
  Tensor& register_buffer(const std::string& name, Tensor& t, bool persistent = true) {
    check_new_name(name);
    FER_CHECK(t.defined(), "register_buffer(\"", name, "\"): tensor is undefined");
    buffers_.push_back({name, &t, ParamLayout::plain, persistent});
    return t;
  }
  // A child owned through a shared_ptr.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    FER_CHECK(m != nullptr, "register_module(\"", name, "\"): null module");
    add_child(name, m.get());
    owned_children_.push_back(m);
    return m;
  }
  // A child held by value as a member of this module.
  template <class M>
  M& register_module(const std::string& name, M& m) {
    add_child(name, &m);
    return m;
  }

  // ---- traversal (names are PyTorch's state_dict keys)

  // Parameters, each once even when shared under several names (the first name wins, as in PyTorch).
  StateDict named_parameters() const {
    StateDict out;
    std::unordered_set<const TensorImpl*> seen;
    visit_slots("", [&](const std::string& full, const Slot& s, bool is_param) {
      if (is_param && seen.insert(s.tensor->impl()).second) out.emplace_back(full, *s.tensor);
    });
    return out;
  }
  std::vector<Tensor> parameters() const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
  }
  // All buffers (persistent or not), each once.
  StateDict named_buffers() const {
    StateDict out;
    std::unordered_set<const TensorImpl*> seen;
    visit_slots("", [&](const std::string& full, const Slot& s, bool is_param) {
      if (!is_param && seen.insert(s.tensor->impl()).second) out.emplace_back(full, *s.tensor);
    });
    return out;
  }
  // This module (name "") and all descendants, depth first, each once.
  std::vector<std::pair<std::string, Module*>> named_modules() {
    std::vector<std::pair<std::string, Module*>> out;
    std::unordered_set<const Module*> seen;
    collect_modules("", this, out, seen);
    return out;
  }
  const std::vector<std::pair<std::string, Module*>>& named_children() const { return children_; }
  int64_t num_parameters() const {
    int64_t n = 0;
    for (auto& [name, t] : named_parameters()) n += t.numel();
    return n;
  }

  // ---- modes and gradients

  Module& train(bool on = true) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
    return *this;
  }
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }
  // Zeroes the accumulated gradients in place (keeps the buffers, which recorded steps may refer to), or drops them.
  void zero_grad(bool set_to_none = false) {
    for (auto& [name, t] : named_parameters()) {
      if (set_to_none) t.drop_grad();
      else t.zero_grad();
    }
  }

  // Moves every parameter and buffer to `d` (as PyTorch's module.to(device)): the registered tensors are replaced
  // by copies on `d`, parameters keep requires_grad, gradients are dropped. Optimizers hold tensors too: build them
  // after moving the model.
  Module& to(Device d) {
    visit_slots("", [&](const std::string&, const Slot& s, bool is_param) {
      if (s.tensor->device() == d) return;
      Tensor moved = s.tensor->detach().to(d);
      if (is_param) moved.set_requires_grad(s.tensor->requires_grad());
      *s.tensor = moved;
    });
    return *this;
  }
  // The device of the first parameter or buffer (the CPU for a module without tensors).
  Device device() const {
    Device d = Device::cpu();
    bool found = false;
    visit_slots("", [&](const std::string&, const Slot& s, bool) {
      if (!found) d = s.tensor->device(), found = true;
    });
    return d;
  }

  // ---- forward hooks (PyTorch's register_forward_hook)

  // Called by nn::Layer::operator() with the module's input and output; what it returns becomes the output. One
  // hook per module; it reads or marks intermediate activations (Grad-CAM, embeddings). Models call their children
  // through operator() (as PyTorch calls module(x), not module.forward(x)) wherever a hook may be wanted.
  using ForwardHook = std::function<Tensor(const Tensor& input, const Tensor& output)>;
  void set_forward_hook(ForwardHook hook) { forward_hook_ = std::move(hook); }
  void clear_forward_hook() { forward_hook_ = nullptr; }
  bool has_forward_hook() const { return bool(forward_hook_); }
  Tensor apply_forward_hook(const Tensor& input, const Tensor& output) {
    return forward_hook_ ? forward_hook_(input, output) : output;
  }
  // The descendant with this dotted name (as named_modules() spells it; "" is this module); an error lists the
  // names there are when there is none.
  Module& module_at(const std::string& name) {
    auto all = named_modules();
    for (auto& [n, m] : all)
      if (n == name) return *m;
    std::string known;
    for (size_t i = 1; i < all.size() && i <= 60; ++i) known += (i > 1 ? ", " : "") + all[i].first;
    if (all.size() > 61) known += ", ...";
    fail("no module named \"", name, "\" (modules: ", known, ")");
  }

  // ---- state dict

  // Parameters and persistent buffers under PyTorch's names and layouts. Plain entries share storage with the
  // module (as in PyTorch; detached); conv weights are contiguous OIHW copies.
  StateDict state_dict() const {
    StateDict out;
    visit_slots("", [&](const std::string& full, const Slot& s, bool) {
      if (s.persistent) out.emplace_back(full, to_external_layout(s.tensor->detach(), s.layout));
    });
    return out;
  }

  // Copies values from `source` (external names and layouts) into the registered tensors. Every name, shape and
  // dtype is checked first; in strict mode any problem throws a fer::Error listing them all and nothing is
  // modified. `source_name` (e.g. a file path) prefixes messages.
  LoadReport load_state_dict(const StateDict& source, const LoadOptions& options = {},
                             const std::string& source_name = "state dict") {
    auto skipped = [&](const std::string& name) {
      for (const auto& p : options.skip_prefixes)
        if (name.compare(0, p.size(), p) == 0) return true;
      return false;
    };
    std::map<std::string, const Tensor*> by_name;
    for (const auto& [name, t] : source) {
      FER_CHECK(by_name.emplace(name, &t).second, "load_state_dict from ", source_name, ": duplicate name \"",
                name, "\"");
      FER_CHECK(t.defined(), "load_state_dict from ", source_name, ": \"", name, "\" is undefined");
    }

    LoadReport report;
    struct Job {
      std::string name;
      const Slot* slot;
      const Tensor* src;
    };
    std::vector<Job> jobs;
    std::set<std::string> model_names;
    visit_slots("", [&](const std::string& full, const Slot& s, bool) {
      if (!s.persistent) return;
      model_names.insert(full);
      if (skipped(full)) return report.skipped.push_back(full);
      auto it = by_name.find(full);
      if (it == by_name.end()) return report.missing.push_back(full);
      const Tensor& src = *it->second;
      std::string problem = load_problem(src, *s.tensor, s.layout, options);
      if (!problem.empty()) return report.mismatched.push_back({full, problem});
      jobs.push_back({full, &s, &src});
    });
    for (const auto& [name, t] : source) {
      if (model_names.count(name)) continue;
      if (skipped(name)) report.skipped.push_back(name);
      else report.unexpected.push_back(name);
    }
    FER_CHECK(!options.strict || report.complete(), "load_state_dict from ", source_name,
              ": names or shapes do not match the model (nothing was loaded):", report.str());

    for (const Job& job : jobs) {
      Tensor value = to_internal_layout(*job.src, job.slot->layout);
      if (value.dtype() != job.slot->tensor->dtype()) value = value.to(job.slot->tensor->dtype());
      job.slot->tensor->copy_(value);
      report.loaded.push_back(job.name);
    }
    return report;
  }

 private:
  struct Slot {
    std::string name;
    Tensor* tensor;
    ParamLayout layout;
    bool persistent;
  };

  void check_new_name(const std::string& name) const {
    FER_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: invalid name \"", name,
              "\" (must be non-empty without '.')");
    auto taken = [&](const auto& v) {
      return std::any_of(v.begin(), v.end(), [&](const auto& e) { return entry_name(e) == name; });
    };
    FER_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), "Module: name \"", name,
              "\" is already registered");
  }
  static const std::string& entry_name(const Slot& s) { return s.name; }
  static const std::string& entry_name(const std::pair<std::string, Module*>& c) { return c.first; }

  void add_child(const std::string& name, Module* m) {
    check_new_name(name);
    FER_CHECK(m != this, "register_module(\"", name, "\"): a module cannot contain itself");
    children_.emplace_back(name, m);
  }

  // f(full_name, slot, is_param) in state_dict order.
  template <class F>
  void visit_slots(const std::string& prefix, F&& f) const {
    for (const Slot& s : params_) f(prefix + s.name, s, true);
    for (const Slot& s : buffers_) f(prefix + s.name, s, false);
    for (const auto& [name, child] : children_) child->visit_slots(prefix + name + ".", f);
  }

  static void collect_modules(const std::string& name, Module* m, std::vector<std::pair<std::string, Module*>>& out,
                              std::unordered_set<const Module*>& seen) {
    if (!seen.insert(m).second) return;
    out.emplace_back(name, m);
    for (const auto& [child_name, child] : m->children_)
      collect_modules(name.empty() ? child_name : name + "." + child_name, child, out, seen);
  }

  // Why `src` (external layout) cannot be loaded into `dst`; empty when it can.
  static std::string load_problem(const Tensor& src, const Tensor& dst, ParamLayout layout, const LoadOptions& o) {
    Shape expected = external_shape(dst.shape(), layout);
    if (!(src.shape() == expected))
      return "shape " + src.shape().str() + " in the source, the model expects " + expected.str();
    if (src.dtype() != dst.dtype()) {
      bool both_float = is_floating(src.dtype()) && is_floating(dst.dtype());
      bool both_int = !is_floating(src.dtype()) && !is_floating(dst.dtype());
      if (!(both_float || both_int) || !o.convert_dtype)
        return "dtype " + std::string(dtype_name(src.dtype())) + " in the source, the model has " +
               std::string(dtype_name(dst.dtype()));
    }
    return {};
  }

  std::vector<Slot> params_, buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::shared_ptr<Module>> owned_children_;
  ForwardHook forward_hook_;
  bool training_ = true;
};

}  // namespace fer::nn
