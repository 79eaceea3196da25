// The BN + ReLU pair of a training step on its own, f32 NHWC: batch norm (batch statistics) forward and backward,
// as relu(batch_norm(x)) and as the fused batch_norm_relu(x), at ResNet-18 shapes of a batch of 32 at 64 px, and
// plain batch_norm for reference; and the end of a ResNet block, relu(add(batch_norm(x), r)) against the fused
// batch_norm_add_relu(x, r); and batch_norm_relu reading its input as the channel prefix of a buffer twice as wide
// (DenseNet's in-place blocks) against the same input contiguous. Eager (tape recorded and run each iteration).
#include <benchmark/benchmark.h>

#include <string>

#include "fer/fer.hpp"
#include "registered_benchmarks.hpp"

namespace bench_bn_relu_op {

namespace {

enum class Mode { bn, relu_of_bn, fused, relu_of_add, fused_add, fused_prefix };

void run(benchmark::State& state, int64_t hw, int64_t c, Mode mode) {
  using namespace fer;
  Generator gen(1);
  const int64_t n = 32;
  Tensor x = Tensor::randn({n, hw, hw, c}, DType::f32, gen), gy = Tensor::randn({n, hw, hw, c}, DType::f32, gen);
  Tensor w = Tensor::ones({c}), b = Tensor::zeros({c}), rm = Tensor::zeros({c}), rv = Tensor::ones({c});
  Tensor r = Tensor::randn({n, hw, hw, c}, DType::f32, gen), wide = Tensor::randn({n, hw, hw, 2 * c}, DType::f32, gen);
  x.set_requires_grad(true), w.set_requires_grad(true), b.set_requires_grad(true), r.set_requires_grad(true);
  wide.set_requires_grad(true);
  for (auto _ : state) {
    Tensor y = mode == Mode::bn             ? batch_norm(x, w, b, rm, rv, true)
               : mode == Mode::relu_of_bn   ? relu(batch_norm(x, w, b, rm, rv, true))
               : mode == Mode::fused        ? batch_norm_relu(x, w, b, rm, rv, true)
               : mode == Mode::relu_of_add  ? relu(add(batch_norm(x, w, b, rm, rv, true), r))
               : mode == Mode::fused_add    ? batch_norm_add_relu(x, r, w, b, rm, rv, true)
                                            : batch_norm_relu(channel_prefix(wide, c), w, b, rm, rv, true);
    backward(y, gy);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * hw * hw * c * int64_t(sizeof(float)));
}

void register_benchmarks() {
  const struct {
    int64_t hw, c;
  } shapes[] = {{16, 64}, {8, 128}, {4, 256}};  // ResNet-18 layer1..3 at 64 px
  for (auto s : shapes)
    for (auto [mode, name] : {std::pair{Mode::bn, "batch_norm"}, std::pair{Mode::relu_of_bn, "relu(batch_norm)"},
                              std::pair{Mode::fused, "batch_norm_relu"}, std::pair{Mode::relu_of_add, "relu(add(batch_norm, r))"},
                              std::pair{Mode::fused_add, "batch_norm_add_relu"},
                              std::pair{Mode::fused_prefix, "batch_norm_relu on a channel prefix"}}) {
      std::string label = std::string(name) + " fwd+bwd 32x" + std::to_string(s.hw) + "x" + std::to_string(s.hw) +
                          "x" + std::to_string(s.c);
      benchmark::RegisterBenchmark(label.c_str(), run, s.hw, s.c, mode)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int program_main(int argc, char** argv) {
  register_benchmarks();
  return run_registered_benchmarks(argc, argv);
}

}  // namespace bench_bn_relu_op
