#pragma once
// Reads a generator out of a network pickle written by NVIDIA's StyleGAN2-ADA training loop (a dict with
// 'G', 'D', 'G_ema', ...), without Python and without executing anything.
//
// NVIDIA's persistent modules pickle as torch_utils.persistence._reconstruct_persistent_obj(meta); meta holds
// the module's source text (ignored), its class name and its state: `_parameters`, `_buffers`, `_modules`
// (OrderedDicts), `_non_persistent_buffers_set`, and `_init_args` / `_init_kwargs` (the constructor arguments).
// The result is the module's state_dict under NVIDIA's dotted names, plus the constructor arguments as JSON.
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fer/core/tensor.hpp"
#include "fer/io/torch_pickle.hpp"

namespace fer {

struct Stylegan2Checkpoint {
  std::string class_name;              // "Generator"
  std::map<std::string, Tensor> state;  // parameters and persistent buffers, e.g. "synthesis.b4.conv1.weight"
  // Constructor arguments: z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs.
  // Arguments left at their defaults are absent (e.g. synthesis_kwargs.architecture).
  nlohmann::json init_kwargs;
  // Plain-data attributes of every module as built, by dotted module name ("" for the network itself), e.g.
  // attributes["synthesis.b4"]["architecture"] == "skip", attributes["synthesis"]["num_ws"].
  nlohmann::json attributes = nlohmann::json::object();
};

namespace detail {

class Stylegan2PickleReader {
 public:
  Stylegan2PickleReader(std::string source, const pickle::Limits& limits, size_t input_bytes)
      : r_(std::move(source), limits, input_bytes) {
    r_.add_dict_class("dnnlib.util", "EasyDict");  // NVIDIA's kwargs dicts (a dict subclass)
  }

  Stylegan2Checkpoint read(const pickle::Object& root, const std::string& network) {
    const auto* top = r_.dict_items(root);
    if (!top) r_.error("top level", "expected a dict of networks, got ", root.describe());
    const pickle::Object* net = lookup(*top, network);
    if (!net) {
      std::string keys;
      for (auto& [k, v] : *top) keys += (keys.empty() ? "" : ", ") + (k->kind == pickle::Kind::string ? k->text : k->describe());
      r_.error(network, "not in the pickle (its keys: ", keys, ")");
    }
    Stylegan2Checkpoint out;
    const auto& state = module_state(*net, network, &out.class_name);
    collect(state, network, "", out, 0);
    out.init_kwargs = init_kwargs(state, network, out.class_name);
    return out;
  }

 private:
  using Items = std::vector<std::pair<pickle::Object*, pickle::Object*>>;

  static const pickle::Object* lookup(const Items& items, std::string_view key) {
    for (auto it = items.rbegin(); it != items.rend(); ++it)
      if (it->first->kind == pickle::Kind::string && it->first->text == key) return it->second;
    return nullptr;
  }
  const Items& dict(const pickle::Object& o, std::string_view what) const {
    const Items* items = r_.dict_items(o);
    if (!items) r_.error(what, "expected a dict, got ", o.describe());
    return *items;
  }

  // The state dict of a persistent module record.
  const Items& module_state(const pickle::Object& o, std::string_view what, std::string* class_name) const {
    if (!o.is_call_to("torch_utils.persistence", "_reconstruct_persistent_obj") || o.args->items.size() != 1)
      r_.error(what, "expected an NVIDIA persistent module (torch_utils.persistence._reconstruct_persistent_obj), got ",
               o.describe());
    const Items& meta = dict(*o.args->items[0], what);
    r_.charge(meta.size(), what);
    const pickle::Object* type = lookup(meta, "type");
    if (!type || type->kind != pickle::Kind::string || type->text != "class") r_.error(what, "persistent object is not of type 'class'");
    const pickle::Object* name = lookup(meta, "class_name");
    if (!name || name->kind != pickle::Kind::string) r_.error(what, "persistent object without a class_name");
    if (class_name) *class_name = name->text;
    const pickle::Object* state = lookup(meta, "state");
    if (!state) r_.error(what, "persistent object without a state");
    return dict(*state, what);
  }

  // Appends the module's parameters and persistent buffers, then its submodules', under dotted names.
  void collect(const Items& state, const std::string& what, const std::string& prefix, Stylegan2Checkpoint& out, int depth) {
    if (depth > r_.limits().max_depth) r_.error(what, "modules nested deeper than ", r_.limits().max_depth, " levels");
    // A module shared by several parents is walked once per path: charge it, with the names built for it.
    r_.charge(1 + state.size() + prefix.size(), what + "." + prefix);
    std::set<std::string> non_persistent;
    if (const pickle::Object* s = lookup(state, "_non_persistent_buffers_set")) {
      const auto* names = r_.set_items(*s);
      if (!names) r_.error(what + "." + prefix + "_non_persistent_buffers_set", "expected a set, got ", s->describe());
      r_.charge(names->size(), what);
      for (const pickle::Object* n : *names)
        if (n->kind == pickle::Kind::string) non_persistent.insert(n->text);
    }
    for (const char* field : {"_parameters", "_buffers"}) {
      const pickle::Object* tensors = lookup(state, field);
      if (!tensors) r_.error(what + "." + prefix, "module state has no ", field);
      const Items& named = dict(*tensors, what + "." + prefix + field);
      r_.charge(named.size(), what);
      for (auto& [k, v] : named) {
        if (k->kind != pickle::Kind::string) r_.error(what + "." + prefix + field, "tensor name is a ", k->describe());
        if (v->kind == pickle::Kind::none || (field[1] == 'b' && non_persistent.count(k->text))) continue;
        const std::string name = prefix + k->text;
        out.state[name] = r_.tensor(*v, what + "." + name);
      }
    }
    nlohmann::json& attrs = out.attributes[prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1)];
    attrs = nlohmann::json::object();
    for (auto& [k, v] : state) {
      if (k->kind != pickle::Kind::string || k->text.empty() || k->text[0] == '_' || k->text == "training") continue;
      try {
        attrs[k->text] = r_.to_json(*v, what);
      } catch (const Error&) {
        // not plain data (e.g. a tensor kept as an attribute): not an attribute we report; out of budget: stop
        if (r_.walk_exhausted()) throw;
      }
    }
    const pickle::Object* modules = lookup(state, "_modules");
    if (!modules) r_.error(what + "." + prefix, "module state has no _modules");
    const Items& children = dict(*modules, what + "." + prefix + "_modules");
    r_.charge(children.size(), what);
    for (auto& [k, v] : children) {
      if (k->kind != pickle::Kind::string) r_.error(what + "." + prefix + "_modules", "module name is a ", k->describe());
      if (v->kind == pickle::Kind::none) continue;
      const std::string sub = prefix + k->text;
      collect(module_state(*v, what + "." + sub, nullptr), what, sub + ".", out, depth + 1);
    }
  }

  // _init_kwargs, plus _init_args named by the Generator's signature when given positionally.
  nlohmann::json init_kwargs(const Items& state, const std::string& what, const std::string& class_name) const {
    const pickle::Object* kw = lookup(state, "_init_kwargs");
    if (!kw) r_.error(what, "no _init_kwargs in the module state");
    nlohmann::json kwargs = r_.to_json(*kw, what + "._init_kwargs");
    if (!kwargs.is_object()) r_.error(what, "_init_kwargs is not a dict");
    const pickle::Object* args = lookup(state, "_init_args");
    if (!args || args->items.empty()) return kwargs;
    static const char* generator_params[] = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
                                             "synthesis_kwargs"};
    nlohmann::json positional = r_.to_json(*args, what + "._init_args");
    if (class_name != "Generator" || !positional.is_array() || positional.size() > std::size(generator_params))
      r_.error(what, "cannot name ", args->items.size(), " positional constructor arguments of class ", class_name);
    for (size_t i = 0; i < positional.size(); ++i) {
      if (kwargs.contains(generator_params[i])) r_.error(what, generator_params[i], " given twice");
      kwargs[generator_params[i]] = positional[i];
    }
    return kwargs;
  }

  torch_pickle::Reader r_;
};

}  // namespace detail

// Reads network `network` (default G_ema) from the bytes of a network pickle; `source` names it in errors.
inline Stylegan2Checkpoint read_stylegan2_pkl(std::span<const uint8_t> bytes, const std::string& source,
                                              const std::string& network = "G_ema", const pickle::Limits& limits = {}) {
  pickle::Unpickler u(bytes, source, limits);
  const pickle::Object* root = u.load();
  return detail::Stylegan2PickleReader(source, limits, bytes.size()).read(*root, network);
}

inline Stylegan2Checkpoint load_stylegan2_pkl(const std::string& path, const std::string& network = "G_ema",
                                              const pickle::Limits& limits = {}) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  FER_CHECK(f, path, ": cannot open the network pickle");
  const std::streamoff size = f.tellg();
  FER_CHECK(size >= 0, path, ": cannot determine the file size");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  FER_CHECK(f.read(reinterpret_cast<char*>(bytes.data()), size), path, ": read error");
  return read_stylegan2_pkl(bytes, path, network, limits);
}

}  // namespace fer
