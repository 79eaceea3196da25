// Training throughput on one GPU (device 0): images/s of a full step -- forward, cross-entropy, backward, AdamW --
// for the seven backbones at 64x64, batch 256, 7 classes, in f32 and with bf16 autocast (AMP), on random data
// already on the device (no loader in the loop). Eager steps, as the trainer runs them (train mode: dropout and
// stochastic depth active).
// Each benchmark builds its model, runs FER_BENCH_TRAIN_WARMUP steps (default 5), then times
// FER_BENCH_TRAIN_STEPS steps (default 30), one step per iteration, with CUDA events on the device stream (the
// time between the events includes the host's work: the GPU waits for it when the host is slower).
// Without a CUDA device the program says so and exits 0 without running anything.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "fer/autograd/autocast.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/kernels/runtime.hpp"
#include "fer/ops/loss.hpp"
#include "fer/optim/adam.hpp"
#include "models/registry.hpp"

namespace {

using namespace fer;

constexpr int64_t kBatch = 256, kImage = 64, kClasses = 7;
const Device kDev = Device::cuda(0);

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}

void train(benchmark::State& state, const std::string& name, bool amp) {
  const int warmup = env_int("FER_BENCH_TRAIN_WARMUP", 5);
  cudaEvent_t start{}, stop{};
  try {
    Generator gen(1);
    auto model = models::make_model(name, kClasses, kImage, gen);
    model->to(kDev);
    model->train();
    Tensor images = Tensor::rand({kBatch, kImage, kImage, 3}, DType::f32, gen, -2, 2).to(kDev);
    std::vector<int64_t> y(kBatch);
    for (int64_t i = 0; i < kBatch; ++i) y[size_t(i)] = int64_t(gen.uniform(0, double(kClasses))) % kClasses;
    Tensor labels = Tensor::from_vector(y, {kBatch}).to(kDev);
    optim::AdamW opt(model->parameters());
    auto step = [&] {
      opt.zero_grad();
      Tensor loss;
      {
        AutocastGuard autocast(amp ? DType::bf16 : DType::f32);
        loss = cross_entropy(model->forward(images), labels);
      }
      backward(loss);
      opt.step();
    };
    for (int i = 0; i < warmup; ++i) step();
    cuda::synchronize(0);
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    cudaStream_t s = static_cast<cudaStream_t>(cuda::stream(0));
    for (auto _ : state) {
      check(cudaEventRecord(start, s), "cudaEventRecord");
      step();
      check(cudaEventRecord(stop, s), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      state.SetIterationTime(double(ms) * 1e-3);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  state.counters["images/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!fer::cuda::available()) {
    std::printf("bench_cuda_train: no CUDA device: every benchmark skipped\n");
    return 0;
  }
  benchmark::AddCustomContext("device", fer::cuda::device_name(0));
  const int steps = env_int("FER_BENCH_TRAIN_STEPS", 30);
  for (const char* name : {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "shufflenet_v2_x1_0",
                           "densenet121", "convnext_tiny"})
    for (bool amp : {false, true}) {
      const std::string label = std::string("train ") + name + (amp ? " amp-bf16" : " f32") + " 64x64 b256";
      benchmark::RegisterBenchmark(label.c_str(), train, std::string(name), amp)
          ->UseManualTime()
          ->Iterations(steps)
          ->Unit(benchmark::kMillisecond);
    }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
