// Training step with BN + ReLU fused (nn::batch_norm_relu) against BN then ReLU apart, per backbone: an eager step
// (forward, cross-entropy, backward, SGD with momentum) on batch 32 at 64 px, 7 classes, f32. Fused and unfused
// alternate within each round (the order flips every round); the medians of each and of the per-round ratios are
// printed, with the peak resident memory (max RSS, getrusage) of the process after two fused steps (max RSS only
// grows: for a model's own figure run one model per process; bench/peak_rss_peer.py gives PyTorch's).
//   bench_bn_relu [--rounds R] [--batch N] [--size S] [model ...]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/nn/bn_relu.hpp"
#include "fer/optim/sgd.hpp"
#include "models/registry.hpp"
#include "paired_bench.hpp"

namespace bench_bn_relu {

int program_main(int argc, char** argv) {
  using namespace fer;
  using namespace fer::bench;
  const PairedArgs args = parse_paired_args(argc, argv, "bench_bn_relu", 32, {"resnet18", "densenet121"});
  const int rounds = args.rounds;
  const int64_t batch = args.batch, size = args.size;
  std::printf("training step, batch %lld, %lld px, %d rounds; load before: %s\n", (long long)batch, (long long)size,
              rounds, loadavg().c_str());
  std::printf("%-20s %12s %12s %14s %14s\n", "model", "unfused ms", "fused ms", "speed-up (med)", "max RSS MiB");  // after 2 fused steps
  try {
    for (const std::string& name : args.models) {
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
      auto step = [&](bool fuse) {
        nn::fuse_bn_relu(fuse);
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        backward(cross_entropy(model->forward(images), labels));
        opt.step();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      step(true), step(true);  // warm-up, fused first: the peak memory of fused steps is read before any unfused one
      const double rss_fused = max_rss_mib();
      step(false);
      std::vector<double> plain, fused, ratio;
      paired_rounds(rounds, [&] { return step(false); }, [&] { return step(true); }, plain, fused);
      for (size_t r = 0; r < plain.size(); ++r) ratio.push_back(plain[r] / fused[r]);
      nn::fuse_bn_relu(true);
      std::printf("%-20s %12.1f %12.1f %14.3f %14.0f\n", name.c_str(), 1e3 * median(plain), 1e3 * median(fused),
                  median(ratio), rss_fused);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bn_relu: error: %s\n", e.what());
    return 1;
  }
  std::printf("load after: %s\n", loadavg().c_str());
  return 0;
}

}  // namespace bench_bn_relu
