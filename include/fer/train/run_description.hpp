#pragma once
// The pieces of a run's config.json that describe where its data and its build came from: fingerprints of data
// splits (per-class counts and a SHA-256 of the ordered id/label list), of source files (size and SHA-256), and of
// the build (fer version from git describe at configure time, CPU target, CUDA).
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/device.hpp"
#include "fer/data/fashion_mnist.hpp"
#include "fer/data/image_set.hpp"
#include "fer/io/sha256.hpp"

#if __has_include("fer/build_info.hpp")
#include "fer/build_info.hpp"
#endif
#ifndef FER_GIT_DESCRIBE
#define FER_GIT_DESCRIBE "unknown"
#define FER_BUILD_MARCH "unknown"
#define FER_BUILD_TYPE "unknown"
#endif

namespace fer::train {

inline nlohmann::json build_info() {
  nlohmann::json isa = nlohmann::json::array();
#ifdef __AVX2__
  isa.push_back("avx2");
#endif
#ifdef __FMA__
  isa.push_back("fma");
#endif
#ifdef __AVX512F__
  isa.push_back("avx512f");
#endif
#ifdef __ARM_NEON
  isa.push_back("neon");
#endif
  return {{"fer_version", FER_GIT_DESCRIBE}, {"march", FER_BUILD_MARCH}, {"isa", isa},
          {"build_type", FER_BUILD_TYPE},    {"cuda", built_with_cuda()}, {"compiler", __VERSION__}};
}

// One split: its size, images per class, and a SHA-256 over "id,label\n" in order with the class names, so the
// same selection of the same source gives the same hash and any other selection a different one.
inline nlohmann::json describe_split(const data::ImageSet& set) {
  io::Sha256 h;
  for (const auto& name : set.class_names()) h.update(name + "\n");
  std::vector<int64_t> per_class(size_t(set.num_classes()), 0);
  for (int64_t i = 0; i < set.size(); ++i) {
    int32_t l = set.label(i);
    if (l >= 0 && l < set.num_classes()) ++per_class[size_t(l)];
    h.update(set.id(i) + "," + std::to_string(l) + "\n");
  }
  return {{"images", set.size()}, {"per_class", per_class}, {"ids_sha256", h.hex()}};
}

// The short fingerprint naming a split's evaluation directory (DIR/eval/<split>-<fingerprint>).
inline std::string split_fingerprint(const data::ImageSet& set) {
  return describe_split(set)["ids_sha256"].get<std::string>().substr(0, 12);
}

inline nlohmann::json describe_file(const std::filesystem::path& p) {
  return {{"path", std::filesystem::absolute(p).lexically_normal().string()}, {"bytes", std::filesystem::file_size(p)},
          {"sha256", io::sha256_file(p)}};
}

// The files behind a data source name or path: Fashion-MNIST's four IDX files, a CSV itself; an image-folder root
// is described by its splits (describe_split) only, its files are not hashed.
inline nlohmann::json describe_source_files(const std::string& source) {
  nlohmann::json files = nlohmann::json::array();
  if (source == "fashion-mnist" || source == "fmnist") {
    for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                          "t10k-labels-idx1-ubyte.gz"})
      if (std::filesystem::exists(std::filesystem::path(data::kFashionMnistRoot) / f))
        files.push_back(describe_file(std::filesystem::path(data::kFashionMnistRoot) / f));
  } else if (!source.empty() && std::filesystem::is_regular_file(source)) {
    files.push_back(describe_file(source));
  }
  return files;
}

}  // namespace fer::train
