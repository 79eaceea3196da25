// Eval forward with batch norm folded into the convolutions (nn::fold_batch_norm) against the same model unfolded:
// per backbone, batch 64 at 64 px (NHWC, f32, no tape), folded and unfolded alternating within each round (the
// order flips every round), median time of each and median of the per-round ratios, so that a machine shared with
// other work shifts both sides alike.
//   bench_fold_bn [--rounds R] [--batch N] [--size S] [model ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/nn/fold_bn.hpp"
#include "models/registry.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

double seconds_of(fer::nn::Layer& m, const fer::Tensor& x) {
  const auto t0 = std::chrono::steady_clock::now();
  fer::Tensor y = m.forward(x);
  (void)y;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fer;
  int rounds = 5;
  int64_t batch = 64, size = 64;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_fold_bn: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atol(argv[++i]);
    };
    if (a == "--rounds") rounds = int(value());
    else if (a == "--batch") batch = value();
    else if (a == "--size") size = value();
    else names.push_back(a);
  }
  if (rounds < 1 || batch < 1 || size < 32) {
    std::fprintf(stderr, "bench_fold_bn: need --rounds >= 1, --batch >= 1, --size >= 32\n");
    return 2;
  }
  if (names.empty()) names = {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "densenet121"};
  std::printf("eval forward, batch %lld, %lld px, %d rounds; load before: %s\n", (long long)batch, (long long)size,
              rounds, loadavg().c_str());
  std::printf("%-20s %6s %12s %12s %14s\n", "model", "folded", "unfolded ms", "folded ms", "speed-up (med)");
  try {
    for (const std::string& name : names) {
      Generator gen(1);
      auto m = models::make_model(name, 7, size, gen);
      m->eval();
      InferenceGuard guard;
      Tensor x = Tensor::randn({batch, size, size, 3}, DType::f32, gen);
      const int64_t pairs = nn::fold_batch_norm(*m);
      seconds_of(*m, x);  // warm-up of both paths (allocator, caches)
      nn::unfold_batch_norm(*m);
      seconds_of(*m, x);
      std::vector<double> plain, folded, ratio;
      for (int r = 0; r < rounds; ++r) {
        double tp = 0, tf = 0;
        for (int k = 0; k < 2; ++k) {
          const bool fold_now = (k == 0) == (r % 2 == 1);
          if (fold_now) nn::fold_batch_norm(*m), tf = seconds_of(*m, x);
          else nn::unfold_batch_norm(*m), tp = seconds_of(*m, x);
        }
        plain.push_back(tp), folded.push_back(tf), ratio.push_back(tp / tf);
      }
      std::printf("%-20s %6lld %12.1f %12.1f %14.3f\n", name.c_str(), (long long)pairs, 1e3 * median(plain),
                  1e3 * median(folded), median(ratio));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fold_bn: error: %s\n", e.what());
    return 1;
  }
  std::printf("load after: %s\n", loadavg().c_str());
  return 0;
}
