#pragma once
// The attributes fixture of tools/make_subgroup_fixtures.py (tests/data/attributes/) as the tests load it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/data/image_set.hpp"

namespace attributes_fixture {

inline std::filesystem::path dir() { return std::filesystem::path(FER_TEST_DATA) / "attributes"; }

inline nlohmann::json expected() {
  std::ifstream in(dir() / "expected.json");
  REQUIRE_MESSAGE(in.good(), "cannot open ", (dir() / "expected.json").string());
  return nlohmann::json::parse(in);
}

// 1x1 gray images with the given ids and labels (the join and the subsets look at ids and labels only).
inline std::shared_ptr<fer::data::InMemoryImageSet> images_with_ids(const std::vector<std::string>& ids,
                                                                    const std::vector<int32_t>& labels,
                                                                    const std::vector<std::string>& classes) {
  fer::data::LabeledImages d;
  d.height = d.width = d.channels = 1;
  d.class_names = classes;
  for (size_t i = 0; i < ids.size(); ++i) {
    uint8_t px = uint8_t(i);
    d.push_back(&px, labels[i], ids[i]);
  }
  return std::make_shared<fer::data::InMemoryImageSet>(d);
}

// The fixture's 120 images.
inline std::shared_ptr<fer::data::InMemoryImageSet> images(const nlohmann::json& e) {
  return images_with_ids(e["ids"].get<std::vector<std::string>>(), e["labels"].get<std::vector<int32_t>>(),
                         e["classes"].get<std::vector<std::string>>());
}

}  // namespace attributes_fixture
