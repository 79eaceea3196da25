// Training step with BN + ReLU fused (nn::batch_norm_relu) against BN then ReLU apart, per backbone: an eager step
// (forward, cross-entropy, backward, SGD with momentum) on batch 32 at 64 px, 7 classes, f32. Fused and unfused
// alternate within each round (the order flips every round); the medians of each and of the per-round ratios are
// printed, with the peak resident memory (max RSS, getrusage) of the process after each model.
//   bench_bn_relu [--rounds R] [--batch N] [--size S] [model ...]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/nn/bn_relu.hpp"
#include "fer/optim/sgd.hpp"
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

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fer;
  int rounds = 5;
  int64_t batch = 32, size = 64;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_bn_relu: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atol(argv[++i]);
    };
    if (a == "--rounds") rounds = int(value());
    else if (a == "--batch") batch = value();
    else if (a == "--size") size = value();
    else names.push_back(a);
  }
  if (rounds < 1 || batch < 2 || size < 32) {
    std::fprintf(stderr, "bench_bn_relu: need --rounds >= 1, --batch >= 2, --size >= 32\n");
    return 2;
  }
  if (names.empty()) names = {"resnet18", "densenet121"};
  std::printf("training step, batch %lld, %lld px, %d rounds; load before: %s\n", (long long)batch, (long long)size,
              rounds, loadavg().c_str());
  std::printf("%-20s %12s %12s %14s %14s\n", "model", "unfused ms", "fused ms", "speed-up (med)", "max RSS MiB");
  try {
    for (const std::string& name : names) {
      Generator gen(1);
      auto model = models::make_model(name, 7, size, gen);
      model->train();
      Tensor images = Tensor::randn({batch, size, size, 3}, DType::f32, gen);
      std::vector<int64_t> y(static_cast<size_t>(batch));
      for (int64_t i = 0; i < batch; ++i) y[size_t(i)] = i % 7;
      Tensor labels = Tensor::from_vector(y, {batch});
      optim::SgdOptions so;
      so.lr = 1e-3, so.momentum = 0.9;
      optim::SGD opt(model->parameters(), so);
      auto step = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        backward(cross_entropy(model->forward(images), labels));
        opt.step();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      nn::fuse_bn_relu(false), step();  // warm-up of both paths
      nn::fuse_bn_relu(true), step();
      std::vector<double> plain, fused, ratio;
      for (int r = 0; r < rounds; ++r) {
        double tp = 0, tf = 0;
        for (int k = 0; k < 2; ++k) {
          const bool fuse_now = (k == 0) == (r % 2 == 1);
          nn::fuse_bn_relu(fuse_now);
          (fuse_now ? tf : tp) = step();
        }
        plain.push_back(tp), fused.push_back(tf), ratio.push_back(tp / tf);
      }
      nn::fuse_bn_relu(true);
      std::printf("%-20s %12.1f %12.1f %14.3f %14.0f\n", name.c_str(), 1e3 * median(plain), 1e3 * median(fused),
                  median(ratio), max_rss_mib());
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bn_relu: error: %s\n", e.what());
    return 1;
  }
  std::printf("load after: %s\n", loadavg().c_str());
  return 0;
}
