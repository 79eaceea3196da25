// Weights files into models (nn/load_weights.hpp), compiled once: the PyTorch checkpoint readers (zip, pickle) and
// the safetensors reader are generated here, not in every program that loads weights.
#include "fer/nn/load_weights.hpp"

#include "fer/io/torch_checkpoint.hpp"

namespace fer::nn {

io::NamedTensors read_weights(const std::string& path, std::string* format,
                              std::vector<std::string>* notes) {
  auto file = io::MappedFile::open(path);
  std::span<const uint8_t> head(file->data(), std::min<size_t>(file->size(), 64));
  if (io::looks_like_zip(head) || io::looks_like_legacy_torch(head)) {
    io::TorchCheckpoint ck = io::read_torch_checkpoint(std::span<const uint8_t>(file->data(), file->size()), "'" + path + "'");
    if (format) *format = ck.format;
    if (notes) notes->insert(notes->end(), ck.notes.begin(), ck.notes.end());
    return std::move(ck.tensors);
  }
  // safetensors: an 8-byte little-endian header length, then a JSON object.
  if (head.size() > 8 && head[8] == '{') {
    if (format) *format = "safetensors";
    return io::SafetensorsFile(path).borrow_all();
  }
  fail("'", path, "': not a weights file fer can read (expected safetensors, or a PyTorch .pt/.pth written by torch.save)");
}

WeightsReport load_weights(Module& module, const std::string& path, const WeightsOptions& opt) {
  using namespace load_weights_detail;
  WeightsReport rep;
  io::NamedTensors source = read_weights(path, &rep.format, &rep.notes);
  rep.source_tensors = source.size();
  const std::string where = "'" + path + "'";

  std::map<std::string, const Tensor*> by_name;
  for (const auto& [n, t] : source) by_name[n] = &t;
  const StateDict model = module.state_dict();
  auto is_head = [&](const std::string& name) {
    for (const auto& p : opt.head_prefixes)
      if (starts_with(name, p)) return true;
    return false;
  };

  // num_batches_tracked absent from the file: kept as they are (skipped, as exact names).
  LoadOptions lo;
  lo.convert_dtype = opt.convert_dtype;
  size_t nbt = 0;
  for (const auto& [name, t] : model)
    if (ends_with(name, "num_batches_tracked") && !by_name.count(name)) lo.skip_prefixes.push_back(name), ++nbt;
  if (nbt)
    rep.notes.push_back(std::to_string(nbt) + " BatchNorm num_batches_tracked counters are not in the file (as many "
                        "exporters write state dicts); they keep their value, as PyTorch's loader does");

  if (!opt.pretrained) {
    lo.strict = true;
    rep.load = module.load_state_dict(source, lo, where);
    return rep;
  }

  // Pretrained: the backbone must load completely before anything is touched.
  std::vector<std::string> problems;
  size_t backbone = 0, backbone_ok = 0;
  for (const auto& [name, t] : model) {
    if (is_head(name) || ends_with(name, "num_batches_tracked")) continue;
    ++backbone;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      problems.push_back(name + ": not in the file");
    } else if (!(it->second->shape() == t.shape())) {
      problems.push_back(name + ": shape " + it->second->shape().str() + " in the file, the model expects " + t.shape().str());
    } else if (is_floating(it->second->dtype()) != is_floating(t.dtype())) {
      problems.push_back(name + ": dtype " + std::string(dtype_name(it->second->dtype())) + " in the file, the model has " +
                         std::string(dtype_name(t.dtype())));
    } else {
      ++backbone_ok;
    }
  }
  if (!problems.empty()) {
    std::string first;
    for (size_t i = 0; i < problems.size() && i < 8; ++i) first += "\n  " + problems[i];
    std::string extra;
    size_t unexpected = 0;
    for (const auto& entry : source) {  // (no structured binding: clang 14 cannot capture one in the lambda)
      const std::string& n = entry.first;
      if (!is_head(n) && !std::any_of(model.begin(), model.end(), [&](const auto& m) { return m.first == n; })) {
        if (unexpected++ < 3) extra += (extra.empty() ? "" : ", ") + n;
      }
    }
    fail(where, ": refusing these weights: only ", backbone_ok, " of the model's ", backbone,
         " backbone tensors would load (weights of another architecture or size?). First mismatches:", first,
         problems.size() > 8 ? "\n  ..." : "",
         unexpected ? "\n  the file also has " + std::to_string(unexpected) + " names the model lacks, e.g. " + extra : "");
  }
  // The head: the names under head_prefixes that do not load.
  for (const auto& [name, t] : model) {
    if (!is_head(name)) continue;
    auto it = by_name.find(name);
    if (it == by_name.end() || !(it->second->shape() == t.shape())) lo.skip_prefixes.push_back(name), rep.reinitialized.push_back(name);
  }
  // Source names the model lacks (after the above, only head leftovers or extras): skipped and noted.
  std::vector<std::string> extras;
  for (const auto& entry : source) {
    const std::string& n = entry.first;
    if (!std::any_of(model.begin(), model.end(), [&](const auto& m) { return m.first == n; })) extras.push_back(n), lo.skip_prefixes.push_back(n);
  }
  if (!extras.empty()) {
    std::string list;
    for (size_t i = 0; i < extras.size() && i < 8; ++i) list += " " + extras[i];
    rep.notes.push_back(std::to_string(extras.size()) + " tensors of the file are not in the model and were ignored:" + list +
                        (extras.size() > 8 ? " ..." : ""));
  }
  lo.strict = true;  // everything else must now match exactly
  rep.load = module.load_state_dict(source, lo, where);
  return rep;
}

}  // namespace fer::nn
