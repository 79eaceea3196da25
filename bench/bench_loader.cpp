// Data pipeline throughput: decode (PNG) + resize + augment + normalize of 48x48 and 64x64 face-sized images, as
// training reads them (no decoded cache, so every image is decoded), on all cores and on the loader's one thread.
// Compare with training images/s (log.csv of a run): the loader must stay ahead of the model.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "fer/data/loader.hpp"
#include "registered_benchmarks.hpp"

namespace bench_loader {

using namespace fer;

namespace {

std::shared_ptr<data::FileImageSet> png_set(int64_t side, int64_t n) {
  auto root = std::filesystem::temp_directory_path() / ("fer_bench_loader_" + std::to_string(side));
  if (!std::filesystem::exists(root / "happy")) {
    std::filesystem::create_directories(root / "happy");
    Generator g(1);
    for (int64_t i = 0; i < n; ++i) {
      io::Image img;
      img.height = img.width = side, img.channels = 1;
      for (int64_t k = 0; k < side * side; ++k) img.pixels.push_back(uint8_t(g.below(256)));
      io::write_png(root / "happy" / ("img" + std::to_string(i) + ".png"), img);
    }
  }
  data::FolderSplits f = data::read_image_folder(root);
  return std::make_shared<data::FileImageSet>(f.train, f.class_names, false);
}

void BM_DecodeAugment(benchmark::State& state) {
  const int64_t side = state.range(0), n = 256;
  const bool serial = state.range(1) == 1;
  auto set = png_set(side, n);
  data::Preprocess pp;
  pp.size = side;
  pp.augment = true;
  pp.aug = data::AugmentOptions::standard(side);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  int64_t epoch = 0;
  for (auto _ : state) {
    data::Batch b = data::make_batch(*set, idx, pp, 0, epoch++, serial);
    benchmark::DoNotOptimize(b.images.raw_data());
  }
  state.counters["images/s"] = benchmark::Counter(double(n) * double(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

int program_main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_DecodeAugment", BM_DecodeAugment)
      ->ArgNames({"side", "one_thread"})
      ->Args({48, 0})
      ->Args({64, 0})
      ->Args({48, 1})
      ->Args({64, 1})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  return run_registered_benchmarks(argc, argv);
}

}  // namespace bench_loader
