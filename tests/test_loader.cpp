// The prefetching loader gives exactly make_batch's batches, in order, and reports a corrupt image by name.
#include <doctest/doctest.h>

#include <fstream>

#include "fer/data/loader.hpp"
#include "fer/data/sampling.hpp"

using namespace fer;

namespace {
std::filesystem::path make_pngs(const char* name, int n, bool corrupt_one) {
  auto root = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(root);
  for (int i = 0; i < n; ++i) {
    auto dir = root / (i % 2 ? "happy" : "sad");
    std::filesystem::create_directories(dir);
    io::Image img;
    img.height = img.width = 20, img.channels = 1;
    for (int k = 0; k < 400; ++k) img.pixels.push_back(uint8_t((k * 7 + i * 13) % 256));
    io::write_png(dir / ("img" + std::to_string(i) + ".png"), img);
  }
  if (corrupt_one) std::ofstream(root / "sad" / "img0.png", std::ios::binary) << "broken";
  return root;
}
}  // namespace

TEST_CASE("loader batches equal make_batch's, with augmentation, in order") {
  auto root = make_pngs("fer_test_loader", 23, false);
  data::FolderSplits f = data::read_image_folder(root);
  data::FileImageSet set(f.train, f.class_names, false);
  data::Preprocess pp;
  pp.size = 16;
  pp.augment = true;
  pp.aug = data::AugmentOptions::standard(16);
  std::vector<int64_t> order = data::ShuffleSampler(set.size(), 4).epoch(2);
  data::BatchLoader loader(set, order, 5, pp, 9, 2);
  REQUIRE(loader.num_batches() == 5);
  for (int64_t b = 0; b < loader.num_batches(); ++b) {
    data::Batch got = loader.next();
    int64_t lo = b * 5, hi = std::min<int64_t>(23, lo + 5);
    data::Batch want = data::make_batch(set, std::span<const int64_t>(order.data() + lo, size_t(hi - lo)), pp, 9, 2);
    CHECK(got.images.to_vector() == want.images.to_vector());
    CHECK(got.labels.to_vector() == want.labels.to_vector());
  }
}

TEST_CASE("a corrupt image surfaces from the loader thread as a clear error") {
  auto root = make_pngs("fer_test_loader_bad", 6, true);
  data::FolderSplits f = data::read_image_folder(root);
  data::FileImageSet set(f.train, f.class_names, false);
  std::vector<int64_t> order = {0, 1, 2, 3, 4, 5};
  data::BatchLoader loader(set, order, 6, data::Preprocess{}, 0, 0);
  CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("img0.png"), Error);
}
