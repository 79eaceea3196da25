// Eval forward with batch norm folded into the convolutions (nn::fold_batch_norm) against the same model unfolded:
// per backbone, batch 64 at 64 px (NHWC, f32, no tape), folded and unfolded alternating within each round (the
// order flips every round), median time of each and median of the per-round ratios, so that a machine shared with
// other work shifts both sides alike.
//   bench_fold_bn [--rounds R] [--batch N] [--size S] [model ...]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/nn/fold_bn.hpp"
#include "models/registry.hpp"
#include "paired_bench.hpp"

namespace bench_fold_bn {

namespace {

double seconds_of(fer::nn::Layer& m, const fer::Tensor& x) {
  const auto t0 = std::chrono::steady_clock::now();
  fer::Tensor y = m.forward(x);
  (void)y;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int program_main(int argc, char** argv) {
  using namespace fer;
  using namespace fer::bench;
  const PairedArgs args = parse_paired_args(argc, argv, "bench_fold_bn", 64,
                                            {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "densenet121"});
  const int rounds = args.rounds;
  const int64_t batch = args.batch, size = args.size;
  std::printf("eval forward, batch %lld, %lld px, %d rounds; load before: %s\n", (long long)batch, (long long)size,
              rounds, loadavg().c_str());
  std::printf("%-20s %6s %12s %12s %14s\n", "model", "folded", "unfolded ms", "folded ms", "speed-up (med)");
  try {
    for (const std::string& name : args.models) {
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
      paired_rounds(
          rounds, [&] { return nn::unfold_batch_norm(*m), seconds_of(*m, x); },
          [&] { return nn::fold_batch_norm(*m), seconds_of(*m, x); }, plain, folded);
      for (size_t r = 0; r < plain.size(); ++r) ratio.push_back(plain[r] / folded[r]);
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

}  // namespace bench_fold_bn
