// A replayed training step (forward, backward, SGD) with the intermediate gradients in one arena shared by live
// interval (fer/autograd/grad_arena.hpp) against each keeping a buffer of its own (Graph::set_gradient_arena(false)):
// per backbone, batch 32 at 64 px by default, both alternating within each round on one recorded step (the order
// flips every round), median time of each and median of the per-round ratios (off / on: above 1, the arena is
// faster), with the arena's size against the sum of the gradients it holds. The process's peak memory mixes both
// sides: compare bench_backbones --grad-arena off against its default for that.
//   bench_grad_arena [--rounds R] [--batch N] [--size S] [model ...]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "models/registry.hpp"
#include "paired_bench.hpp"

namespace bench_grad_arena {

int program_main(int argc, char** argv) {
  using namespace fer;
  using namespace fer::bench;
  const PairedArgs args = parse_paired_args(argc, argv, "bench_grad_arena", 32,
                                            {"resnet18", "densenet121", "mobilenet_v3_large", "efficientnet_b0"});
  std::printf("training step (replayed, SGD), batch %ld, %ld px, %d rounds; load before: %s\n", args.batch, args.size,
              args.rounds, loadavg().c_str());
  std::printf("%-20s %10s %10s %10s %10s %14s\n", "model", "grads MiB", "arena MiB", "off ms", "on ms",
              "off/on (med)");
  try {
    for (const std::string& name : args.models) {
      Generator gen(1);
      auto model = models::make_model(name, 7, args.size, gen);
      model->train();
      const Tensor x = Tensor::rand({args.batch, args.size, args.size, 3}, DType::f32, gen, -2, 2);
      std::vector<int64_t> labels;
      for (long i = 0; i < args.batch; ++i) labels.push_back(i % 7);
      const Tensor y = Tensor::from_vector(labels, {args.batch});
      optim::SGD opt(model->parameters(), optim::SgdOptions{.lr = 0.01, .momentum = 0.9});
      Graph g = Graph::capture([&] { return cross_entropy(model->forward(x), y); });
      const double grads_mib = double(g.arena_gradient_bytes()) / (1 << 20);
      const double arena_mib = double(g.gradient_arena_bytes()) / (1 << 20);
      auto step = [&](bool arena) {
        if (g.gradient_arena() != arena) g.set_gradient_arena(arena);  // re-planned outside the timing
        const auto t0 = std::chrono::steady_clock::now();
        opt.zero_grad();
        g.forward();
        g.backward();
        opt.step();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      step(false), step(true);  // warm-up of both (allocator, caches)
      std::vector<double> off, on, ratio;
      paired_rounds(args.rounds, [&] { return step(false); }, [&] { return step(true); }, off, on);
      for (size_t r = 0; r < off.size(); ++r) ratio.push_back(off[r] / on[r]);
      std::printf("%-20s %10.1f %10.1f %10.1f %10.1f %14.3f\n", name.c_str(), grads_mib, arena_mib, 1e3 * median(off),
                  1e3 * median(on), median(ratio));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_grad_arena: error: %s\n", e.what());
    return 1;
  }
  std::printf("load after: %s\n", loadavg().c_str());
  return 0;
}

}  // namespace bench_grad_arena
