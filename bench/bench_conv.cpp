// conv2d throughput on the CPU, f32, NHWC, batch 32: forward, and forward + backward (input and weight
// gradients) as a training step runs it, i.e. replaying a recorded graph in fixed buffers.
// GFLOP/s counts 2 * N * Ho * Wo * O * kh * kw * C/groups per forward, three times that per forward+backward.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/ops/conv.hpp"

namespace {

struct ConvShape {
  const char* name;
  int64_t n, h, w, c, o, k, stride, pad, groups;
};

const std::vector<ConvShape> kShapes = {
    {"conv3x3 64->64 16x16 s1", 32, 16, 16, 64, 64, 3, 1, 1, 1},
    {"conv3x3 64->128 16x16 s2", 32, 16, 16, 64, 128, 3, 2, 1, 1},
    {"conv1x1 256->64 16x16", 32, 16, 16, 256, 64, 1, 1, 0, 1},
    {"dwconv3x3 C144 16x16", 32, 16, 16, 144, 144, 3, 1, 1, 144},
    {"dwconv7x7 C96 16x16", 32, 16, 16, 96, 96, 7, 1, 3, 96},
};

double forward_flops(const ConvShape& s) {
  const int64_t ho = (s.h + 2 * s.pad - s.k) / s.stride + 1, wo = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  return 2.0 * double(s.n * ho * wo * s.o) * double(s.k * s.k * (s.c / s.groups));
}

void run(benchmark::State& state, ConvShape s, bool with_backward) {
  using namespace fer;
  Generator gen(1);
  Tensor x = Tensor::rand({s.n, s.h, s.w, s.c}, DType::f32, gen, -1, 1);
  Tensor w = Tensor::rand({s.o, s.k, s.k, s.c / s.groups}, DType::f32, gen, -0.1, 0.1);
  const Conv2dParams p = Conv2dParams::make(s.stride, s.pad, 1, s.groups);
  if (with_backward) x.set_requires_grad(true), w.set_requires_grad(true);
  Graph g = Graph::capture([&] { return conv2d(x, w, Tensor(), p); });
  Tensor seed = with_backward ? Tensor::rand(g.output().shape(), DType::f32, gen, -1, 1) : Tensor();
  for (auto _ : state) {
    g.forward();
    if (with_backward) g.backward(seed);
    benchmark::ClobberMemory();
  }
  const double flops = forward_flops(s) * (with_backward ? 3.0 : 1.0);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  for (bool bwd : {false, true})
    for (const ConvShape& s : kShapes) {
      std::string name = std::string(s.name) + (bwd ? " fwd+bwd" : " fwd");
      benchmark::RegisterBenchmark(name.c_str(), run, s, bwd)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
