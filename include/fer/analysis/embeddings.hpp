#pragma once
// Penultimate features: the input of a model's final classifier layer, which is the last nn::Linear in module order
// for every registry model (fc, classifier, classifier.N, net.7, hidden_head.2), read with a forward hook, so no
// model needs a features() method. Written as safetensors (features [N, D] f32, logits [N, C] f32) with a CSV of
// metadata per row (file, source real/synthetic, class, prediction, confidence).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "fer/analysis/matrix.hpp"
#include "fer/autograd/grad_mode.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/nn/layers.hpp"

namespace fer::analysis {

// The name of the last nn::Linear in named_modules() order (its input is the penultimate feature vector).
inline std::string penultimate_layer(nn::Module& model) {
  std::string name;
  for (auto& [n, m] : model.named_modules())
    if (dynamic_cast<nn::Linear*>(m)) name = n;
  FER_CHECK(!name.empty(), "embeddings: the model has no Linear layer whose input could serve as features");
  return name;
}

struct Features {
  Tensor features;  // [N, D] f32 host
  Tensor logits;    // [N, C] f32 host
};

// Features (the input of module `layer`, flattened per image; default: penultimate_layer) and logits of `images`.
inline Features extract_features(nn::Layer& model, const Tensor& images, std::string layer = "") {
  if (layer.empty()) layer = penultimate_layer(model);
  nn::Module& hooked = model.module_at(layer);
  FER_CHECK(!hooked.has_forward_hook(), "embeddings: module \"", layer, "\" already has a forward hook");
  Tensor input;
  int calls = 0;
  hooked.set_forward_hook([&](const Tensor& in, const Tensor& out) {
    ++calls, input = in;
    return out;
  });
  struct Unhook {
    nn::Module& m;
    ~Unhook() { m.clear_forward_hook(); }
  } unhook{hooked};
  InferenceGuard no_grad;
  Tensor logits = model(images);
  FER_CHECK(calls == 1, "embeddings: module \"", layer, "\" ran ", calls, " times in one forward (needs exactly once)");
  FER_CHECK(input.dim() >= 2 && input.size(0) == images.size(0), "embeddings: module \"", layer, "\" input ",
            input.shape().str(), " is not [N, ...]");
  Features f;
  int64_t n = input.size(0);
  f.features = host_copy(input, DType::f32).view_as_shape({n, input.numel() / n});
  f.logits = host_copy(logits, DType::f32);
  return f;
}

struct EmbeddingRow {
  std::string file;    // the sample's id (path or index)
  std::string source;  // "real" or "synthetic"
  int64_t label = -1;
  int64_t prediction = -1;
  double confidence = 0;  // softmax probability of the prediction
};

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// DIR/embeddings.safetensors (features, logits, labels i64, domain i64: 0 real, 1 synthetic) and DIR/embeddings.csv.
inline void save_embeddings(const std::filesystem::path& dir, const Tensor& features, const Tensor& logits,
                            const std::vector<EmbeddingRow>& rows, const std::vector<std::string>& class_names) {
  FER_CHECK(features.dim() == 2 && int64_t(rows.size()) == features.size(0) && logits.size(0) == features.size(0),
            "save_embeddings: ", rows.size(), " rows for features ", features.shape().str(), " and logits ",
            logits.shape().str());
  std::vector<int64_t> labels, domains;
  std::ostringstream csv;
  csv << "index,file,source,class,label,prediction,predicted_class,confidence\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    auto name = [&](int64_t c) { return c >= 0 && c < int64_t(class_names.size()) ? class_names[size_t(c)] : std::string(); };
    labels.push_back(r.label), domains.push_back(r.source == "synthetic" ? 1 : 0);
    char conf[32];
    std::snprintf(conf, sizeof conf, "%.6f", r.confidence);
    csv << i << ',' << csv_field(r.file) << ',' << r.source << ',' << csv_field(name(r.label)) << ',' << r.label << ','
        << r.prediction << ',' << csv_field(name(r.prediction)) << ',' << conf << '\n';
  }
  std::filesystem::create_directories(dir);
  int64_t n = int64_t(rows.size());
  io::save_safetensors((dir / "embeddings.safetensors").string(),
                       {{"features", features}, {"logits", logits},
                        {"labels", Tensor::from_vector<int64_t>(labels, {n})},
                        {"domain", Tensor::from_vector<int64_t>(domains, {n})}});
  io::write_file_atomically(dir / "embeddings.csv", csv.str());
}

}  // namespace fer::analysis
