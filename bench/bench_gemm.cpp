// GEMM throughput of fer::cpu::gemm (Eigen, threaded by Eigen itself when called outside a parallel region):
// square products and the shapes a CNN step produces (im2col forward / weight gradient, 1x1 conv, classifier).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "fer/core/tensor.hpp"
#include "kernels/cpu/gemm.hpp"

namespace {

struct GemmShape {
  const char* name;
  bool trans_a, trans_b;
  int64_t m, n, k;
};

// Batch 32 at 16x16 gives 8192 output pixels.
const std::vector<GemmShape> kShapes = {
    {"gemm 256x256x256", false, false, 256, 256, 256},
    {"gemm 512x512x512", false, false, 512, 512, 512},
    {"gemm 1024x1024x1024", false, false, 1024, 1024, 1024},
    {"gemm conv3x3 fwd 8192x64x576", false, true, 8192, 64, 576},     // patches x weight^T
    {"gemm conv3x3 wgrad 64x576x8192", true, false, 64, 576, 8192},   // gy^T x patches
    {"gemm conv1x1 fwd 8192x64x256", false, true, 8192, 64, 256},
    {"gemm linear 32x1000x512", false, true, 32, 1000, 512},
};

void run(benchmark::State& state, GemmShape s) {
  fer::Generator gen(1);
  const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
  fer::Tensor a = fer::Tensor::rand({a_rows, a_cols}, fer::DType::f32, gen, -1, 1);
  fer::Tensor b = fer::Tensor::rand({b_rows, b_cols}, fer::DType::f32, gen, -1, 1);
  fer::Tensor c = fer::Tensor::zeros({s.m, s.n});
  for (auto _ : state) {
    fer::cpu::gemm<float>(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data<float>(), a_cols, b.data<float>(), b_cols,
                          c.data<float>(), s.n, false);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  for (const GemmShape& s : kShapes)
    benchmark::RegisterBenchmark(s.name, run, s)->UseRealTime()->Unit(benchmark::kMicrosecond);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
