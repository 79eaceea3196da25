// conv2d throughput on the CPU, f32, NHWC, batch 32: forward, and forward + backward (input and weight
// gradients) as a training step runs it, i.e. replaying a recorded graph in fixed buffers.
// GFLOP/s counts 2 * N * Ho * Wo * O * kh * kw * C/groups per forward, three times that per forward+backward.
// The "pass" rows time each kernel alone (forward, input gradient, weight gradient: each the forward's flops) and
// report `of_peak`: GFLOP/s over the FMA peak of the vector width of the ISA the GEMM runs on (fma_peak.hpp),
// measured at start-up on the same threads. The "im2col" / "implicit" rows force the forward pass and weight
// gradient of a one-group KxK convolution on either path (kernels/cpu/conv_implicit.hpp; the plain rows run the
// automatic choice). `--implicit-pairs R` first prints, per such shape and pass, R rounds of the two paths
// alternating (the order flipping every round): median ms and GFLOP/s (% of the FMA peak) of each, and the median
// per-round ratio.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fer/fer.hpp"
#include "fer/kernels/conv.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "fer/ops/conv.hpp"
#include "fma_peak.hpp"
#include "kernels/cpu/conv_implicit.hpp"
#include "paired_bench.hpp"

namespace bench_conv {

namespace {

struct ConvShape {
  const char* name;
  int64_t n, h, w, c, o, k, stride, pad, groups;
};

// ResNet-18's 3x3 convolutions at 64 px (its stages are 16, 8, 4 and 2 px wide), then other kinds.
const std::vector<ConvShape> kShapes = {
    {"conv3x3 64->64 16x16 s1", 32, 16, 16, 64, 64, 3, 1, 1, 1},
    {"conv3x3 64->128 16x16 s2", 32, 16, 16, 64, 128, 3, 2, 1, 1},
    {"conv3x3 128->128 8x8 s1", 32, 8, 8, 128, 128, 3, 1, 1, 1},
    {"conv3x3 256->256 4x4 s1", 32, 4, 4, 256, 256, 3, 1, 1, 1},
    {"conv3x3 512->512 2x2 s1", 32, 2, 2, 512, 512, 3, 1, 1, 1},
    {"conv3x3 128->256 8x8 s2", 32, 8, 8, 128, 256, 3, 2, 1, 1},
    {"conv3x3 256->512 4x4 s2", 32, 4, 4, 256, 512, 3, 2, 1, 1},
    // ... and at 48 px (12, 6, 3 and 2 px wide stages).
    {"conv3x3 64->64 12x12 s1", 32, 12, 12, 64, 64, 3, 1, 1, 1},
    {"conv3x3 128->128 6x6 s1", 32, 6, 6, 128, 128, 3, 1, 1, 1},
    {"conv3x3 256->256 3x3 s1", 32, 3, 3, 256, 256, 3, 1, 1, 1},
    {"conv1x1 256->64 16x16", 32, 16, 16, 256, 64, 1, 1, 0, 1},
    {"dwconv3x3 C144 16x16", 32, 16, 16, 144, 144, 3, 1, 1, 144},
    {"dwconv7x7 C96 16x16", 32, 16, 16, 96, 96, 7, 1, 3, 96},
    // Depthwise layers of mobilenet_v3_large and efficientnet_b0 at 64 px (kernels/cpu/conv_depthwise.cpp).
    {"dwconv3x3 C64 32x32 s2", 32, 32, 32, 64, 64, 3, 2, 1, 64},
    {"dwconv5x5 C72 16x16 s2", 32, 16, 16, 72, 72, 5, 2, 2, 72},
    {"dwconv5x5 C120 8x8", 32, 8, 8, 120, 120, 5, 1, 2, 120},
    {"dwconv3x3 C96 32x32 s2", 32, 32, 32, 96, 96, 3, 2, 1, 96},
    {"dwconv5x5 C480 4x4", 32, 4, 4, 480, 480, 5, 1, 2, 480},
    {"dwconv5x5 C1152 2x2", 32, 2, 2, 1152, 1152, 5, 1, 2, 1152},
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

enum class Pass { forward, input_grad, weight_grad };
enum class Path { planned, im2col, implicit };

// FMA peak of the vector width the f32 GEMM runs on.
double gemm_peak() {
  using fer::kernels::CpuIsa;
  static const double peak = fer::bench::fma_peak_gflops(fer::kernels::cpu_isa() == CpuIsa::avx512 ? 512 : 256,
                                                         fer::num_threads());
  return peak;
}

fer::kernels::ConvGeometry geometry(const ConvShape& s) {
  fer::kernels::ConvGeometry g;
  g.n = s.n, g.h = s.h, g.w = s.w, g.c = s.c, g.o = s.o, g.kh = g.kw = s.k;
  g.ho = (s.h + 2 * s.pad - s.k) / s.stride + 1, g.wo = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  g.stride_h = g.stride_w = s.stride, g.pad_top = g.pad_left = s.pad, g.groups = s.groups;
  return g;
}

bool has_implicit_path(const ConvShape& s) { return s.groups == 1 && s.k > 1; }

void run_pass(benchmark::State& state, ConvShape s, Pass pass, Path path) {
  using namespace fer;
  using kernels::ref;
  const kernels::ConvGeometry g = geometry(s);
  const kernels::ConvPlan plan = kernels::plan_conv2d(g);
  kernels::set_conv_implicit_mode(path == Path::planned  ? kernels::ConvImplicitMode::automatic
                                  : path == Path::implicit ? kernels::ConvImplicitMode::always
                                                           : kernels::ConvImplicitMode::never);
  Generator gen(1);
  Tensor x = Tensor::rand({g.n, g.h, g.w, g.c}, DType::f32, gen, -1, 1);
  Tensor w = Tensor::rand({g.o, g.kh, g.kw, g.c / g.groups}, DType::f32, gen, -0.1, 0.1);
  Tensor y = Tensor::rand({g.n, g.ho, g.wo, g.o}, DType::f32, gen, -1, 1);
  Tensor gx = Tensor::zeros({g.n, g.h, g.w, g.c}), gw = Tensor::zeros(w.shape());
  Tensor ws = plan.workspace > 0 ? Tensor::empty({plan.workspace}) : Tensor();
  Tensor partials = plan.weight_grad_workspace > 0 ? Tensor::empty({plan.weight_grad_workspace}) : Tensor();
  for (auto _ : state) {
    if (pass == Pass::forward) kernels::conv2d_forward_cpu({plan, ref(x), ref(w), {}, ref(y), ref(ws)});
    else if (pass == Pass::input_grad) kernels::conv2d_backward_input_cpu({plan, ref(y), ref(w), ref(gx), ref(ws)});
    else kernels::conv2d_backward_weight_cpu({plan, ref(y), ref(x), ref(gw), ref(ws), ref(partials)});
    benchmark::ClobberMemory();
  }
  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::automatic);
  const double gflop = forward_flops(s) * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_peak"] = benchmark::Counter(gflop / gemm_peak(), benchmark::Counter::kIsIterationInvariantRate);
}

void register_benchmarks() {
  for (bool bwd : {false, true})
    for (const ConvShape& s : kShapes) {
      std::string name = std::string(s.name) + (bwd ? " fwd+bwd" : " fwd");
      benchmark::RegisterBenchmark(name.c_str(), run, s, bwd)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  for (const ConvShape& s : kShapes)
    for (Pass pass : {Pass::forward, Pass::input_grad, Pass::weight_grad}) {
      const char* what = pass == Pass::forward ? " pass fwd" : pass == Pass::input_grad ? " pass dgrad" : " pass wgrad";
      const std::string name = std::string(s.name) + what;
      benchmark::RegisterBenchmark(name.c_str(), run_pass, s, pass, Path::planned)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      if (pass == Pass::input_grad || !has_implicit_path(s)) continue;
      for (Path path : {Path::im2col, Path::implicit}) {
        const std::string forced = name + (path == Path::implicit ? " implicit" : " im2col");
        benchmark::RegisterBenchmark(forced.c_str(), run_pass, s, pass, path)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
}

// The two paths of each one-group KxK shape's forward pass and weight gradient, alternating (see the top).
void implicit_pairs(int rounds) {
  using namespace fer;
  using kernels::ConvImplicitMode;
  using kernels::ref;
  std::printf("implicit GEMM vs im2col, %d alternating rounds, load %s\n", rounds, bench::loadavg().c_str());
  std::printf("%-28s %-5s %10s %11s %16s %16s %7s\n", "shape", "pass", "im2col ms", "implicit ms",
              "im2col GF/s (%)", "implicit GF/s (%)", "ratio");
  for (const ConvShape& s : kShapes) {
    if (!has_implicit_path(s)) continue;
    const kernels::ConvGeometry g = geometry(s);
    const kernels::ConvPlan plan = kernels::plan_conv2d(g);
    Generator gen(1);
    Tensor x = Tensor::rand({g.n, g.h, g.w, g.c}, DType::f32, gen, -1, 1);
    Tensor w = Tensor::rand({g.o, g.kh, g.kw, g.c}, DType::f32, gen, -0.1, 0.1);
    Tensor y = Tensor::rand({g.n, g.ho, g.wo, g.o}, DType::f32, gen, -1, 1);
    Tensor gw = Tensor::zeros(w.shape());
    Tensor ws = Tensor::empty({plan.workspace});
    Tensor partials = plan.weight_grad_workspace > 0 ? Tensor::empty({plan.weight_grad_workspace}) : Tensor();
    for (Pass pass : {Pass::forward, Pass::weight_grad}) {
      // Each side repeats the pass for about 50 ms per round (counted once, from an im2col warm-up).
      auto time = [&](bool implicit, int reps) {
        kernels::set_conv_implicit_mode(implicit ? ConvImplicitMode::always : ConvImplicitMode::never);
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) {
          if (pass == Pass::forward) kernels::conv2d_forward_cpu({plan, ref(x), ref(w), {}, ref(y), ref(ws)});
          else kernels::conv2d_backward_weight_cpu({plan, ref(y), ref(x), ref(gw), ref(ws), ref(partials)});
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      };
      time(true, 1);
      const int reps = std::max(1, int(0.05 / time(false, 3)));
      std::vector<double> ta, tb, ratio;
      bench::paired_rounds(rounds, [&] { return time(false, reps); }, [&] { return time(true, reps); }, ta, tb);
      for (size_t r = 0; r < ta.size(); ++r) ratio.push_back(ta[r] / tb[r]);
      const double ma = bench::median(ta), mb = bench::median(tb), gf = forward_flops(s) * 1e-9;
      std::printf("%-28s %-5s %10.3f %11.3f %9.1f (%3.0f%%) %9.1f (%3.0f%%) %7.3f\n", s.name,
                  pass == Pass::forward ? "fwd" : "wgrad", ma * 1e3, mb * 1e3, gf / ma, 100 * gf / ma / gemm_peak(),
                  gf / mb, 100 * gf / mb / gemm_peak(), bench::median(ratio));
    }
  }
  kernels::set_conv_implicit_mode(ConvImplicitMode::automatic);
  std::printf("(ratio: per-round im2col time / implicit time, median; load after: %s)\n", bench::loadavg().c_str());
}

}  // namespace

int program_main(int argc, char** argv) {
  int pairs = 0;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--implicit-pairs") == 0 && i + 1 < argc) {
      pairs = std::atoi(argv[i + 1]);
      for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
      argc -= 2;
      break;
    }
  benchmark::Initialize(&argc, argv);
  std::printf("GEMM ISA: %s; its FMA peak on %d threads: %.1f GFLOP/s\n",
              fer::kernels::cpu_isa_name(fer::kernels::cpu_isa()), fer::num_threads(), gemm_peak());
  if (pairs > 0) implicit_pairs(pairs);
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench_conv
