// GEMM throughput of fer::cpu::gemm<float> on each ISA path (forced with kernels::set_cpu_isa): generic (Eigen,
// the library's -march), avx2 and avx512 (fer's micro-kernels, kernels/cpu/isa/), on square products and the
// shapes a CNN step produces (im2col forward / weight gradient, 1x1 conv, classifier, ConvNeXt's pointwise MLP).
// `of_peak` is GFLOP/s over the FMA peak of that path's vector width (256-bit for generic and avx2, 512-bit for
// avx512) on the same threads, measured at start-up as bench_peak does.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/tensor.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "fma_peak.hpp"
#include "kernels/cpu/gemm.hpp"

namespace bench_gemm {

namespace {

using fer::kernels::CpuIsa;

struct GemmShape {
  const char* name;
  bool trans_a, trans_b;
  int64_t m, n, k;
};

// Batch 32 at 16x16 gives 8192 output pixels. ConvNeXt-Tiny's first stage (C = 96) runs its block MLP
// C -> 4C -> C through linear: forward x w^T, input gradient gy w, weight gradient gy^T x.
const std::vector<GemmShape> kShapes = {
    {"256x256x256", false, false, 256, 256, 256},
    {"512x512x512", false, false, 512, 512, 512},
    {"1024x1024x1024", false, false, 1024, 1024, 1024},
    {"conv3x3 fwd 8192x64x576", false, true, 8192, 64, 576},     // patches x weight^T
    {"conv3x3 wgrad 64x576x8192", true, false, 64, 576, 8192},   // gy^T x patches
    {"conv1x1 fwd 8192x64x256", false, true, 8192, 64, 256},
    {"linear 32x1000x512", false, true, 32, 1000, 512},
    {"convnext fc1 fwd 8192x384x96", false, true, 8192, 384, 96},
    {"convnext fc2 fwd 8192x96x384", false, true, 8192, 96, 384},
    {"convnext fc2 dgrad 8192x384x96", false, false, 8192, 384, 96},
    {"convnext fc1 wgrad 384x96x8192", true, false, 384, 96, 8192},
    {"convnext fc2 wgrad 96x384x8192", true, false, 96, 384, 8192},
};

double peak_of(CpuIsa isa) {
  using fer::bench::fma_peak_gflops;
  static const double p256 = fer::kernels::cpu_isa_supported(CpuIsa::avx2) ? fma_peak_gflops(256, fer::num_threads()) : 0;
  static const double p512 =
      fer::kernels::cpu_isa_supported(CpuIsa::avx512) ? fma_peak_gflops(512, fer::num_threads()) : 0;
  return isa == CpuIsa::avx512 ? p512 : p256;
}

void run(benchmark::State& state, GemmShape s, CpuIsa isa) {
  if (!fer::kernels::cpu_isa_supported(isa)) {
    state.SkipWithError((std::string("this CPU cannot run ") + fer::kernels::cpu_isa_name(isa)).c_str());
    return;
  }
  fer::kernels::set_cpu_isa(isa);
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
  const double gflop = 2e-9 * double(s.m) * double(s.n) * double(s.k);
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  if (peak_of(isa) > 0)
    state.counters["of_peak"] = benchmark::Counter(gflop / peak_of(isa), benchmark::Counter::kIsIterationInvariantRate);
}

void register_benchmarks() {
  for (const GemmShape& s : kShapes)
    for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512}) {
      const std::string name = std::string("gemm ") + s.name + " [" + fer::kernels::cpu_isa_name(isa) + "]";
      benchmark::RegisterBenchmark(name.c_str(), run, s, isa)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int program_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("auto ISA choice: %s (%s)\n", fer::kernels::cpu_isa_name(fer::kernels::cpu_isa()),
              fer::kernels::cpu_isa_reason().c_str());
  std::printf("FMA peak on %d threads: 256-bit %.1f GFLOP/s, 512-bit %.1f GFLOP/s (0: not supported)\n",
              fer::num_threads(), peak_of(CpuIsa::avx2), peak_of(CpuIsa::avx512));
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench_gemm
