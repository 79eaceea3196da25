// The CUDA backend's kernels on one GPU (device 0), against the device's measured ceilings:
//  - ceilings: device-to-device copy bandwidth (cudaMemcpyAsync of 1 GiB) and cuBLAS GEMM throughput at 8192^3
//    (f32, TF32, bf16, f16) through fer::kernels::matmul_into_cuda;
//  - one microbenchmark per hand-written kernel family, called through the Tensor-level fer::gpu functions on the
//    NHWC shapes of the backbones at 64x64 and batch 256.
// Counters: "GB/s" counts the minimal traffic of the operation (every input read once, every output written once,
// an accumulated (+=) output read and written), so a kernel that makes two passes shows it as a lower figure;
// "of_copy" is GB/s over the copy ceiling measured at start-up (the roofline fraction: these kernels are
// memory-bound); convolutions and GEMMs also report "GFLOP/s" / "TFLOP/s".
// Timing: CUDA events on the device stream around kReps back-to-back calls (so the host-side glue overlaps the
// previous call's kernels), divided by kReps, given to Google Benchmark as manual time.
// Without a CUDA device the program says so and exits 0 without running anything.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "fer/kernels/bias_act.hpp"
#include "fer/kernels/cast.hpp"
#include "fer/kernels/conv.hpp"
#include "fer/kernels/dropout.hpp"
#include "fer/kernels/elementwise.hpp"
#include "fer/kernels/gemm.hpp"
#include "fer/kernels/loss.hpp"
#include "fer/kernels/modconv.hpp"
#include "fer/ops/norm.hpp"  // the norm kernel contract and make_norm_workspace
#include "fer/kernels/optim.hpp"
#include "fer/kernels/pool.hpp"
#include "fer/kernels/runtime.hpp"
#include "fer/kernels/shape.hpp"
#include "fer/kernels/upfirdn2d.hpp"
#include "fer/core/tensor.hpp"
#include "kernels/cuda/conv_parts.hpp"

namespace bench_cuda_kernels {

namespace {

using namespace fer;

constexpr int kReps = 5;
const Device kDev = Device::cuda(0);
double g_copy_gbps = 0;  // the ceiling: bytes read + written per second by a device-to-device copy

cudaStream_t device_stream() { return static_cast<cudaStream_t>(cuda::stream(0)); }

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}

class Events {
 public:
  Events() {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  // Seconds per call, over `reps` calls queued back to back on the device stream.
  double time(const std::function<void()>& fn, int reps) {
    check(cudaEventRecord(start_, device_stream()), "cudaEventRecord");
    for (int i = 0; i < reps; ++i) fn();
    check(cudaEventRecord(stop_, device_stream()), "cudaEventRecord");
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return double(ms) * 1e-3 / reps;
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

Generator& gen() {
  static Generator g(1);
  return g;
}

// Uniform [lo, hi) values on the device: a 1 Mi-element block drawn on the host (the CPU generator fills one
// element at a time, too slow for 10^8 elements) tiled over the tensor by doubling device copies.
Tensor device_rand(const Shape& shape, DType dt, double lo = -1, double hi = 1) {
  Tensor t = Tensor::empty(shape, dt, kDev);
  const int64_t n = t.numel();
  if (n == 0) return t;
  const int64_t block = std::min<int64_t>(n, int64_t(1) << 20);
  const size_t es = dtype_size(dt);
  Tensor h = Tensor::rand({block}, dt, gen(), lo, hi);
  char* base = static_cast<char*>(t.raw_data());
  cuda::copy(base, h.raw_data(), size_t(block) * es, cuda::CopyKind::host_to_device, 0);
  for (int64_t done = block; done < n;) {
    const int64_t k = std::min(done, n - done);
    cuda::copy(base + size_t(done) * es, base, size_t(k) * es, cuda::CopyKind::device_to_device, 0);
    done += k;
  }
  return t;
}

Tensor device_zeros(const Shape& shape, DType dt) { return Tensor::zeros(shape, dt, kDev); }

// One benchmark: the call to time, and what one call moves and computes.
struct Case {
  Case() = default;
  Case(std::function<void()> f, double b) : fn(std::move(f)), bytes(b) {}
  std::function<void()> fn;
  double bytes = 0;  // minimal traffic of one call (see the top of the file)
  double flops = 0;
  bool tera = false;  // report TFLOP/s instead of GFLOP/s
  std::function<void()> after;  // restores global settings (TF32)
  std::string label;
};

void run_case(benchmark::State& state, const std::function<Case()>& setup) {
  Case c;
  try {
    c = setup();
    c.fn();  // warm-up: allocator, cuBLAS / cuDNN handles and plans
    cuda::synchronize(0);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  Events ev;
  for (auto _ : state) state.SetIterationTime(ev.time(c.fn, kReps));
  using benchmark::Counter;
  if (c.bytes > 0) {
    state.counters["GB/s"] = Counter(c.bytes * 1e-9, Counter::kIsIterationInvariantRate);
    if (g_copy_gbps > 0)
      state.counters["of_copy"] = Counter(c.bytes * 1e-9 / g_copy_gbps, Counter::kIsIterationInvariantRate);
  }
  if (c.flops > 0) {
    if (c.tera) state.counters["TFLOP/s"] = Counter(c.flops * 1e-12, Counter::kIsIterationInvariantRate);
    else state.counters["GFLOP/s"] = Counter(c.flops * 1e-9, Counter::kIsIterationInvariantRate);
  }
  if (!c.label.empty()) state.SetLabel(c.label);
  if (c.after) c.after();
}

void reg(const std::string& name, std::function<Case()> setup) {
  benchmark::RegisterBenchmark(name.c_str(), [setup](benchmark::State& st) { run_case(st, setup); })
      ->UseManualTime()
      ->MinTime(0.1)
      ->Unit(benchmark::kMicrosecond);
}

std::string shape_name(const Shape& s) {
  std::string out;
  for (int i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

double numel(const Shape& s) {
  double n = 1;
  for (int i = 0; i < s.size(); ++i) n *= double(s[i]);
  return n;
}

double es(DType dt) { return double(dtype_size(dt)); }
std::string dn(DType dt) { return std::string(dtype_name(dt)); }

// --------------------------------------------------------------------------------------------- ceilings

// Bytes read + written per second by cudaMemcpyAsync of 1 GiB on the device stream; best of 10.
double measure_copy_ceiling() {
  const size_t bytes = size_t(1) << 30;
  Tensor a = Tensor::empty({int64_t(bytes)}, DType::u8, kDev), b = Tensor::empty({int64_t(bytes)}, DType::u8, kDev);
  auto fn = [&] {
    check(cudaMemcpyAsync(b.raw_data(), a.raw_data(), bytes, cudaMemcpyDeviceToDevice, device_stream()),
          "cudaMemcpyAsync");
  };
  fn();
  cuda::synchronize(0);
  Events ev;
  double best = 1e30;
  for (int i = 0; i < 10; ++i) best = std::min(best, ev.time(fn, 1));
  return 2.0 * double(bytes) / best * 1e-9;
}

void register_ceilings() {
  reg("copy d2d 1GiB", [] {
    const int64_t bytes = int64_t(1) << 30;
    Tensor a = Tensor::empty({bytes}, DType::u8, kDev), b = Tensor::empty({bytes}, DType::u8, kDev);
    Case c;
    c.fn = [a, b, bytes] {
      check(cudaMemcpyAsync(b.raw_data(), a.raw_data(), size_t(bytes), cudaMemcpyDeviceToDevice, device_stream()),
            "cudaMemcpyAsync");
    };
    c.bytes = 2.0 * double(bytes);
    return c;
  });
  struct G {
    const char* name;
    DType dt;
    bool tf32;
  };
  for (G g : {G{"f32", DType::f32, false}, G{"tf32", DType::f32, true}, G{"bf16", DType::bf16, false},
              G{"f16", DType::f16, false}}) {
    reg(std::string("gemm ") + g.name + " 8192x8192x8192", [g] {
      const int64_t n = 8192;
      Tensor a = device_rand({n, n}, g.dt), b = device_rand({n, n}, g.dt), c = Tensor::empty({n, n}, g.dt, kDev);
      const bool before = kernels::allow_tf32();
      Case cs;
      cs.fn = [a, b, c, g] {
        kernels::set_allow_tf32(g.tf32);
        kernels::matmul_into_cuda({kernels::ref(a), false, kernels::ref(b), false, kernels::ref(c), false});
      };
      cs.after = [before] { kernels::set_allow_tf32(before); };
      cs.flops = 2.0 * double(n) * double(n) * double(n);
      cs.tera = true;
      return cs;
    });
  }
}

// --------------------------------------------------------------------------------------------- kernel families

const std::vector<Shape> kActs = {{256, 32, 32, 64}, {256, 16, 16, 256}, {256, 8, 8, 512}};
const std::vector<DType> kMixed = {DType::f32, DType::bf16};

void register_pointwise() {
  struct U {
    const char* name;
    kernels::Unary op;
  };
  for (U u : {U{"relu", kernels::Unary::relu}, U{"gelu", kernels::Unary::gelu}, U{"silu", kernels::Unary::silu}})
    for (DType dt : kMixed)
      for (const Shape& s : kActs) {
        const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s);
        reg(std::string(u.name) + " fwd" + tail, [u, dt, s] {
          Tensor x = device_rand(s, dt), y = Tensor::empty(s, dt, kDev);
          return Case{[u, x, y] { kernels::unary_forward_cuda({u.op, kernels::ref(x), kernels::ref(y)}); },
                      2 * numel(s) * es(dt)};
        });
        reg(std::string(u.name) + " bwd" + tail, [u, dt, s] {
          Tensor x = device_rand(s, dt), y = Tensor::empty(s, dt, kDev), gy = device_rand(s, dt);
          Tensor gx = device_zeros(s, dt);
          kernels::unary_forward_cuda({u.op, kernels::ref(x), kernels::ref(y)});
          // x (or y), gy read; gx read and written
          return Case{[u, x, y, gy, gx] {
                        kernels::unary_backward_cuda(
                            {u.op, kernels::ref(x), kernels::ref(y), kernels::ref(gy), kernels::ref(gx)});
                      },
                      4 * numel(s) * es(dt)};
        });
      }

  // add with broadcast: a bias [1,1,1,C] and a per-sample scale-like operand [N,1,1,C] (squeeze-excitation).
  for (DType dt : kMixed)
    for (const Shape& s : kActs)
      for (bool per_sample : {false, true}) {
        const Shape bs{per_sample ? s[0] : 1, 1, 1, s[3]};
        const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s) + "+" + shape_name(bs);
        reg("add fwd" + tail, [dt, s, bs] {
          Tensor a = device_rand(s, dt), b = device_rand(bs, dt), y = Tensor::empty(s, dt, kDev);
          return Case{[a, b, y] {
                        kernels::binary_forward_cuda(
                            {kernels::Binary::add, kernels::ref(a), kernels::ref(b), kernels::ref(y)});
                      },
                      (2 * numel(s) + numel(bs)) * es(dt)};
        });
        reg("add bwd" + tail, [dt, s, bs] {
          Tensor a = device_rand(s, dt), b = device_rand(bs, dt), gy = device_rand(s, dt);
          Tensor ga = device_zeros(s, dt), gb = device_zeros(bs, dt);
          return Case{[a, b, gy, ga, gb] {
                        kernels::binary_backward_cuda({kernels::Binary::add, kernels::ref(a), kernels::ref(b), {},
                                                       kernels::ref(gy), kernels::ref(ga), kernels::ref(gb)});
                      },
                      (3 * numel(s) + 2 * numel(bs)) * es(dt)};
        });
      }

  // sum_to: the bias-gradient reduction [N,H,W,C] -> [1,1,1,C].
  for (DType dt : kMixed)
    for (const Shape& s : kActs)
      reg(std::string("sum_to ") + dn(dt) + " " + shape_name(s), [dt, s] {
        Tensor x = device_rand(s, dt), y = Tensor::empty({1, 1, 1, s[3]}, dt, kDev);
        return Case{[x, y] { kernels::sum_to_cuda({kernels::ref(x), kernels::ref(y)}); },
                    (numel(s) + double(s[3])) * es(dt)};
      });

  // bias_act as StyleGAN2 runs it: lrelu(x + b) * sqrt(2), clamp 256.
  for (DType dt : kMixed)
    for (const Shape& s : kActs) {
      const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s);
      const double gain = std::sqrt(2.0);
      reg("bias_act lrelu fwd" + tail, [dt, s, gain] {
        Tensor x = device_rand(s, dt), b = device_rand({s[3]}, dt), y = Tensor::empty(s, dt, kDev);
        return Case{[x, b, y, gain] { kernels::bias_act_forward_cuda({kernels::ref(x), kernels::ref(b), kernels::ref(y), Activation::lrelu, 0.2, gain, 256.0}); },
                    2 * numel(s) * es(dt)};
      });
      reg("bias_act lrelu bwd" + tail, [dt, s, gain] {
        Tensor x = device_rand(s, dt), b = device_rand({s[3]}, dt), gy = device_rand(s, dt);
        Tensor gx = device_zeros(s, dt), gb = device_zeros({s[3]}, dt);
        Tensor partials = Tensor::empty({kernels::kBiasActPartialRows, s[3]}, kernels::bias_act_partials_dtype(dt), kDev);
        return Case{[=] { kernels::bias_act_backward_cuda({kernels::ref(x), kernels::ref(b), kernels::ref(gy), kernels::ref(gx), kernels::ref(gb), kernels::ref(partials), Activation::lrelu, 0.2, gain, 256.0}); },
                    4 * numel(s) * es(dt)};
      });
    }

  // dropout: per element (the classifier's) and per sample (stochastic depth), mask drawn in the forward.
  for (DType dt : kMixed)
    for (const Shape& s : kActs)
      for (bool per_sample : {false, true}) {
        const int64_t group = per_sample ? s[1] * s[2] * s[3] : 1;
        const double groups = numel(s) / double(group);
        const double ms = es(kernels::dropout_mask_dtype(dt));
        const std::string tail = std::string(per_sample ? " per-sample " : " ") + dn(dt) + " " + shape_name(s);
        reg("dropout fwd" + tail, [=] {
          Tensor x = device_rand(s, dt), y = Tensor::empty(s, dt, kDev);
          Tensor mask = Tensor::empty({int64_t(groups)}, kernels::dropout_mask_dtype(dt), kDev);
          auto key = std::make_shared<uint64_t>(1);
          // mask written, then read with x; y written
          return Case{[=] {
                        kernels::dropout_mask_cuda({kernels::ref(mask), 0.2, 1.0 / 0.8, nullptr, ++*key});
                        kernels::masked_scale_forward_cuda(
                            {kernels::ref(x), kernels::ref(mask), kernels::ref(y), {}, {}, group});
                      },
                      2 * numel(s) * es(dt) + 2 * groups * ms};
        });
        reg("dropout bwd" + tail, [=] {
          Tensor gy = device_rand(s, dt), gx = device_zeros(s, dt);
          Tensor mask = Tensor::empty({int64_t(groups)}, kernels::dropout_mask_dtype(dt), kDev);
          kernels::dropout_mask_cuda({kernels::ref(mask), 0.2, 1.0 / 0.8, nullptr, 7});
          return Case{[=] {
                        kernels::masked_scale_backward_cuda(
                            {{}, kernels::ref(mask), {}, kernels::ref(gy), kernels::ref(gx), group});
                      },
                      3 * numel(s) * es(dt) + groups * ms};
        });
      }

  // cast f32 -> bf16 (autocast's input casts) and its backward (bf16 gradient accumulated into f32).
  for (const Shape& s : kActs) {
    reg("cast f32->bf16 fwd " + shape_name(s), [s] {
      Tensor x = device_rand(s, DType::f32), y = Tensor::empty(s, DType::bf16, kDev);
      return Case{[x, y] { kernels::cast_forward_cuda({kernels::ref(x), kernels::ref(y)}); }, numel(s) * (4 + 2)};
    });
    reg("cast f32->bf16 bwd " + shape_name(s), [s] {
      Tensor gy = device_rand(s, DType::bf16), gx = device_zeros(s, DType::f32);
      return Case{[gy, gx] { kernels::cast_backward_cuda({kernels::ref(gy), kernels::ref(gx)}); }, numel(s) * (2 + 4 + 4)};
    });
  }
}

void register_norm() {
  for (DType dt : kMixed)
    for (const Shape& s : kActs) {
      const int64_t c = s[3], m = int64_t(numel(s)) / c;
      const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s);
      reg("batch_norm stats" + tail, [=] {
        Tensor x = device_rand(s, dt);
        NormWorkspaceTensors ws = make_norm_workspace(m, c, dt, kDev);
        Tensor mean = Tensor::empty({c}, dt, kDev), invstd = Tensor::empty({c}, dt, kDev),
               var = Tensor::empty({c}, dt, kDev);
        return Case{[=] { kernels::batch_norm_stats_cuda({kernels::ref(x), ws.ref(), kernels::ref(mean), kernels::ref(invstd), kernels::ref(var), 1e-5}); }, numel(s) * es(dt)};
      });
      reg("batch_norm apply" + tail, [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(s, dt, kDev);
        NormWorkspaceTensors ws = make_norm_workspace(m, c, dt, kDev);
        Tensor mean = device_rand({c}, dt), invstd = device_rand({c}, dt, 0.5, 2);
        Tensor weight = device_rand({c}, dt), bias = device_rand({c}, dt);
        return Case{[=] { kernels::batch_norm_apply_cuda({kernels::ref(x), kernels::ref(mean), kernels::ref(invstd), kernels::ref(weight), kernels::ref(bias), ws.ref(), kernels::ref(y)}); }, 2 * numel(s) * es(dt)};
      });
      reg("batch_norm bwd" + tail, [=] {
        Tensor x = device_rand(s, dt), gy = device_rand(s, dt), gx = device_zeros(s, dt);
        NormWorkspaceTensors ws = make_norm_workspace(m, c, dt, kDev);
        Tensor mean = device_rand({c}, dt), invstd = device_rand({c}, dt, 0.5, 2), weight = device_rand({c}, dt);
        Tensor gw = device_zeros({c}, dt), gb = device_zeros({c}, dt);
        return Case{[=] { kernels::batch_norm_backward_cuda({kernels::ref(x), kernels::ref(mean), kernels::ref(invstd), kernels::ref(weight), kernels::ref(gy), true, ws.ref(), kernels::ref(gx), kernels::ref(gw), kernels::ref(gb), {}}); },
                    4 * numel(s) * es(dt)};
      });
    }

  // LayerNorm over channels, ConvNeXt-T's stages at 64x64 (stem /4: 16x16 with 96 channels, then /2 per stage).
  for (DType dt : kMixed)
    for (const Shape& s : {Shape{256, 16, 16, 96}, Shape{256, 8, 8, 192}, Shape{256, 4, 4, 384}}) {
      const int64_t c = s[3], m = int64_t(numel(s)) / c;
      const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s);
      reg("layer_norm fwd" + tail, [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(s, dt, kDev);
        Tensor weight = device_rand({c}, dt), bias = device_rand({c}, dt);
        Tensor mean = Tensor::empty({m}, dt, kDev), invstd = Tensor::empty({m}, dt, kDev);
        return Case{[=] { kernels::layer_norm_forward_cuda({kernels::ref(x), kernels::ref(weight), kernels::ref(bias), 1e-6, kernels::ref(y), kernels::ref(mean), kernels::ref(invstd)}); },
                    (2 * numel(s) + 2 * double(m)) * es(dt)};
      });
      reg("layer_norm bwd" + tail, [=] {
        Tensor x = device_rand(s, dt), gy = device_rand(s, dt), gx = device_zeros(s, dt);
        Tensor weight = device_rand({c}, dt), gw = device_zeros({c}, dt), gb = device_zeros({c}, dt);
        Tensor mean = device_rand({m}, dt), invstd = device_rand({m}, dt, 0.5, 2);
        NormWorkspaceTensors ws = make_norm_workspace(m, c, dt, kDev);
        return Case{[=] { kernels::layer_norm_backward_cuda({kernels::ref(x), kernels::ref(weight), kernels::ref(mean), kernels::ref(invstd), kernels::ref(gy), ws.ref(), kernels::ref(gx), kernels::ref(gw), kernels::ref(gb)}); },
                    (4 * numel(s) + 2 * double(m)) * es(dt)};
      });
    }
}

void register_pool() {
  for (DType dt : kMixed) {
    const std::string d = std::string(" ") + dn(dt) + " ";
    {  // ResNet's stem pool: 3x3 stride 2 pad 1
      const Shape s{256, 32, 32, 64}, so{256, 16, 16, 64};
      kernels::PoolGeometry g{256, 32, 32, 64, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, false};
      reg("max_pool 3x3s2 fwd" + d + shape_name(s), [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(so, dt, kDev), am = Tensor::empty(so, DType::i32, kDev);
        return Case{[=] { kernels::max_pool2d_forward_cuda({g, kernels::ref(x), kernels::ref(y), kernels::ref(am)}); },
                    (numel(s) + numel(so)) * es(dt) + numel(so) * 4};
      });
      reg("max_pool 3x3s2 bwd" + d + shape_name(s), [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(so, dt, kDev), am = Tensor::empty(so, DType::i32, kDev);
        kernels::max_pool2d_forward_cuda({g, kernels::ref(x), kernels::ref(y), kernels::ref(am)});
        Tensor gy = device_rand(so, dt), gx = device_zeros(s, dt);
        return Case{[=] {
                      kernels::max_pool2d_backward_cuda({g, kernels::ref(gy), kernels::ref(am), kernels::ref(gx)});
                    },
                    (numel(so) + 2 * numel(s)) * es(dt) + numel(so) * 4};
      });
    }
    {  // DenseNet's transition pool: 2x2 stride 2
      const Shape s{256, 16, 16, 256}, so{256, 8, 8, 256};
      kernels::PoolGeometry g{256, 16, 16, 256, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1, true};
      reg("avg_pool 2x2s2 fwd" + d + shape_name(s), [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(so, dt, kDev);
        return Case{[=] { kernels::avg_pool2d_forward_cuda({g, kernels::ref(x), kernels::ref(y)}); },
                    (numel(s) + numel(so)) * es(dt)};
      });
      reg("avg_pool 2x2s2 bwd" + d + shape_name(s), [=] {
        Tensor gy = device_rand(so, dt), gx = device_zeros(s, dt);
        return Case{[=] { kernels::avg_pool2d_backward_cuda({g, kernels::ref(gy), kernels::ref(gx)}); },
                    (numel(so) + 2 * numel(s)) * es(dt)};
      });
    }
    {  // the global pool before the classifier
      const Shape s{256, 8, 8, 512}, so{256, 1, 1, 512};
      reg("adaptive_avg_pool 1x1 fwd" + d + shape_name(s), [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(so, dt, kDev);
        return Case{[=] { kernels::adaptive_avg_pool2d_forward_cuda({kernels::ref(x), kernels::ref(y)}); },
                    (numel(s) + numel(so)) * es(dt)};
      });
      reg("adaptive_avg_pool 1x1 bwd" + d + shape_name(s), [=] {
        Tensor gy = device_rand(so, dt), gx = device_zeros(s, dt);
        return Case{[=] { kernels::adaptive_avg_pool2d_backward_cuda({kernels::ref(gy), kernels::ref(gx)}); },
                    (numel(so) + 2 * numel(s)) * es(dt)};
      });
    }
  }
}

void register_loss() {
  // The training logits [256, 7] (launch-bound), and a large [16384, 1000] for bandwidth.
  for (const Shape& s : {Shape{256, 7}, Shape{16384, 1000}}) {
    const int64_t rows = s[0], cls = s[1];
    for (DType dt : kMixed) {
      const std::string tail = std::string(" ") + dn(dt) + " " + shape_name(s);
      reg("softmax fwd" + tail, [=] {
        Tensor x = device_rand(s, dt, -4, 4), y = Tensor::empty(s, dt, kDev);
        return Case{[=] { kernels::softmax_forward_cuda({kernels::ref(x), kernels::ref(y), rows, cls, 1, false}); }, 2 * numel(s) * es(dt)};
      });
      reg("softmax bwd" + tail, [=] {
        Tensor x = device_rand(s, dt, -4, 4), y = Tensor::empty(s, dt, kDev);
        kernels::softmax_forward_cuda({kernels::ref(x), kernels::ref(y), rows, cls, 1, false});
        Tensor gy = device_rand(s, dt), gx = device_zeros(s, dt);
        return Case{[=] { kernels::softmax_backward_cuda({kernels::ref(y), kernels::ref(gy), kernels::ref(gx), rows, cls, 1, false}); }, 4 * numel(s) * es(dt)};
      });
    }
    // Cross-entropy runs in f32 (autocast casts the logits up), class targets, mean reduction.
    const std::string tail = " f32 " + shape_name(s);
    auto targets = [rows, cls] {
      std::vector<int64_t> t(static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) t[size_t(i)] = (i * 7919) % cls;
      return Tensor::from_vector(t, {rows}).to(kDev);
    };
    // The forward returns the mean's divisor to the host: one synchronization per call, included in the time.
    reg("cross_entropy fwd" + tail, [=] {
      Tensor logits = device_rand(s, DType::f32, -4, 4), tgt = targets();
      Tensor rl = Tensor::empty({rows}, DType::f32, kDev), lse = Tensor::empty({rows}, DType::f32, kDev);
      auto weight = std::make_shared<Tensor>();
      return Case{[=] {
                    kernels::cross_entropy_forward_cuda({kernels::ref(logits), kernels::ref(tgt),
                                                         {kernels::ref(*weight), 0.0, -100, false}, kernels::ref(rl),
                                                         kernels::ref(lse)});
                  },
                  numel(s) * 4 + double(rows) * (8 + 4 + 4)};
    });
    reg("cross_entropy bwd" + tail, [=] {
      Tensor logits = device_rand(s, DType::f32, -4, 4), tgt = targets();
      Tensor rl = Tensor::empty({rows}, DType::f32, kDev), lse = Tensor::empty({rows}, DType::f32, kDev);
      auto weight = std::make_shared<Tensor>();
      const kernels::CrossEntropySpec spec{kernels::ref(*weight), 0.0, -100, false};
      kernels::cross_entropy_forward_cuda({kernels::ref(logits), kernels::ref(tgt), spec, kernels::ref(rl), kernels::ref(lse)});
      Tensor grad = Tensor::full(Shape{}, 1.0, DType::f32).to(kDev), gl = device_zeros(s, DType::f32);
      return Case{[=] {
                    kernels::cross_entropy_backward_scalar_cuda(
                        {kernels::ref(logits), kernels::ref(tgt), {kernels::ref(*weight), 0.0, -100, false},
                         kernels::ref(lse), kernels::ref(grad), double(rows), kernels::ref(gl)});
                  },
                  3 * numel(s) * 4 + double(rows) * (8 + 4)};
    });
  }
}

// Depthwise convolutions of the backbones at 64x64 (stride 1, "same" padding): fer's kernel against cuDNN on the
// same tensors (cuDNN's grouped convolution with groups = C, NHWC where cuDNN has an algorithm for it).
void register_depthwise() {
  struct D {
    int64_t k;
    Shape s;
  };
  const std::vector<D> cases = {{3, {256, 32, 32, 64}},
                                {3, {256, 16, 16, 144}},   // EfficientNet-B0 / MobileNetV3 stage 2
                                {5, {256, 8, 8, 240}},     // EfficientNet-B0 stage 4
                                {7, {256, 16, 16, 96}},    // ConvNeXt-T stage 1
                                {7, {256, 8, 8, 192}}};    // ConvNeXt-T stage 2
  enum Pass { fwd, bwd_input, bwd_weight };
  for (DType dt : kMixed)
    for (const D& dc : cases)
      for (Pass pass : {fwd, bwd_input, bwd_weight})
        for (bool cudnn : {false, true}) {
          kernels::ConvGeometry g;
          g.n = dc.s[0], g.h = dc.s[1], g.w = dc.s[2], g.c = dc.s[3];
          g.o = g.c, g.kh = g.kw = dc.k, g.ho = g.h, g.wo = g.w;
          g.pad_top = g.pad_left = dc.k / 2, g.groups = g.c;
          const double nx = numel(dc.s), nw = double(g.c * dc.k * dc.k);
          const double flops = 2.0 * nx * double(dc.k * dc.k);
          const char* pname = pass == fwd ? "fwd" : pass == bwd_input ? "bwd_input" : "bwd_weight";
          // fwd: x, w read, y written; bwd_input: gy, w read, gx read and written; bwd_weight: gy, x read, gw r+w.
          const double bytes = (pass == fwd ? 2 * nx + nw : pass == bwd_input ? 3 * nx + nw : 2 * nx + 2 * nw) * es(dt);
          const std::string name = "dwconv" + std::to_string(dc.k) + "x" + std::to_string(dc.k) + " " + pname + " " +
                                   (cudnn ? "cudnn " : "fer ") + dn(dt) + " " + shape_name(dc.s);
          reg(name, [=] {
            Tensor x = device_rand(dc.s, dt), w = device_rand({g.c, dc.k, dc.k, 1}, dt, -0.2, 0.2);
            Tensor y = device_zeros(dc.s, dt), gy = device_rand(dc.s, dt), gw = device_zeros({g.c, dc.k, dc.k, 1}, dt);
            Case c;
            c.bytes = bytes, c.flops = flops;
            if (!cudnn) {
              using kernels::ref;
              const kernels::ConvPlan plan = kernels::plan_conv2d(g);
              FER_CHECK(kernels::conv2d_uses_depthwise_kernel(g), "expected fer's depthwise kernel for this shape");
              if (pass == fwd) c.fn = [=] { kernels::conv2d_forward_cuda({plan, ref(x), ref(w), {}, ref(y), {}}); };
              else if (pass == bwd_input)
                c.fn = [=] { kernels::conv2d_backward_input_cuda({plan, ref(gy), ref(w), ref(y), {}}); };
              else c.fn = [=] { kernels::conv2d_backward_weight_cuda({plan, ref(gy), ref(x), ref(gw), {}, {}}); };
              return c;
            }
            cuda::CudnnConv cc;
            cc.n = g.n, cc.h = g.h, cc.w = g.w, cc.c = g.c, cc.o = g.o, cc.kh = g.kh, cc.kw = g.kw;
            cc.ho = g.ho, cc.wo = g.wo, cc.pad_h = g.pad_top, cc.pad_w = g.pad_left, cc.groups = g.groups;
            // Where cuDNN has no NHWC algorithm the same buffers are handed over as NCHW (random data: the
            // layout changes nothing but cuDNN's algorithm).
            const cuda::ConvLayout layout =
                cuda::cudnn_conv_nhwc_supported(cc, dt, 0) ? cuda::ConvLayout::nhwc : cuda::ConvLayout::nchw;
            const cuda::ConvPass cp = pass == fwd         ? cuda::ConvPass::forward
                                      : pass == bwd_input ? cuda::ConvPass::backward_data
                                                          : cuda::ConvPass::backward_filter;
            const size_t wsb = cuda::cudnn_conv_workspace(cc, dt, layout, cp, 0);
            Tensor ws = Tensor::empty({int64_t(std::max<size_t>(wsb, 1))}, DType::u8, kDev);
            if (pass == fwd)
              c.fn = [=] {
                cuda::cudnn_conv_forward(cc, dt, layout, x.raw_data(), w.raw_data(), y.raw_data(), false, ws.raw_data(),
                                         wsb, 0);
              };
            else if (pass == bwd_input)
              c.fn = [=] {
                cuda::cudnn_conv_backward_data(cc, dt, layout, gy.raw_data(), w.raw_data(), y.raw_data(), true,
                                               ws.raw_data(), wsb, 0);
              };
            else
              c.fn = [=] {
                cuda::cudnn_conv_backward_filter(cc, dt, layout, gy.raw_data(), x.raw_data(), gw.raw_data(), true,
                                                 ws.raw_data(), wsb, 0);
              };
            c.label = layout == cuda::ConvLayout::nhwc ? "cuDNN NHWC" : "cuDNN NCHW (no NHWC algorithm)";
            return c;
          });
        }
}

// StyleGAN2's ops at the 64x64 generator's 32x32 block (512 channels): upfirdn2d's 2x upsampling with a 4x4 filter,
// weight modulation / demodulation and the per-sample convolution, batch 16, f32.
void register_stylegan2() {
  {
    const Shape s{16, 32, 32, 512}, so{16, 64, 64, 512};
    UpFirDnParams p;
    p.up_x = p.up_y = 2, p.pad_x0 = p.pad_y0 = 2, p.pad_x1 = p.pad_y1 = 1, p.gain = 4.0;
    reg("upfirdn2d up2 fwd f32 " + shape_name(s), [=] {
      Tensor x = device_rand(s, DType::f32), f = device_rand({4, 4}, DType::f32, 0, 0.25);
      Tensor y = Tensor::empty(so, DType::f32, kDev);
      return Case{[=] { kernels::upfirdn2d_forward_cuda({kernels::ref(x), kernels::ref(f), kernels::ref(y), p}); }, (numel(s) + numel(so)) * 4};
    });
    reg("upfirdn2d up2 bwd f32 " + shape_name(s), [=] {
      Tensor gy = device_rand(so, DType::f32), f = device_rand({4, 4}, DType::f32, 0, 0.25);
      Tensor gx = device_zeros(s, DType::f32);
      return Case{[=] { kernels::upfirdn2d_backward_cuda({kernels::ref(f), kernels::ref(gy), kernels::ref(gx), p}); }, (numel(so) + 2 * numel(s)) * 4};
    });
  }
  const int64_t n = 16, ch = 512, k = 3, hw = 32;
  const double nw = double(ch * k * k * ch), ny = double(n) * nw;
  reg("modulate_weights fwd f32 16x512x3x3x512", [=] {
    Tensor w = device_rand({ch, k, k, ch}, DType::f32), s = device_rand({n, ch}, DType::f32, 0.5, 1.5);
    Tensor y = Tensor::empty({n * ch, k, k, ch}, DType::f32, kDev), dcoef = Tensor::empty({n, ch}, DType::f32, kDev);
    return Case{[=] { kernels::modulate_weights_forward_cuda({kernels::ref(w), kernels::ref(s), kernels::ref(y), kernels::ref(dcoef), kernels::ModulatedLayout::per_sample, false, 1e-8}); },
                (nw + ny) * 4};
  });
  reg("modulate_weights bwd f32 16x512x3x3x512", [=] {
    Tensor w = device_rand({ch, k, k, ch}, DType::f32), s = device_rand({n, ch}, DType::f32, 0.5, 1.5);
    Tensor y = Tensor::empty({n * ch, k, k, ch}, DType::f32, kDev), dcoef = Tensor::empty({n, ch}, DType::f32, kDev);
    kernels::modulate_weights_forward_cuda({kernels::ref(w), kernels::ref(s), kernels::ref(y), kernels::ref(dcoef), kernels::ModulatedLayout::per_sample, false, 1e-8});
    Tensor gy = device_rand({n * ch, k, k, ch}, DType::f32), gw = device_zeros({ch, k, k, ch}, DType::f32);
    Tensor gs = device_zeros({n, ch}, DType::f32), dot = Tensor::empty({n, ch}, DType::f32, kDev);
    return Case{[=] {
                  kernels::modulate_weights_backward_cuda({kernels::ref(w), kernels::ref(s), kernels::ref(dcoef), kernels::ref(gy), kernels::ref(gw), kernels::ref(gs), kernels::ref(dot), kernels::ModulatedLayout::per_sample, false});
                },
                (ny + 3 * nw) * 4};
  });
  const double conv_flops = 2.0 * double(n * hw * hw * ch) * double(k * k * ch);
  for (bool backward : {false, true})
    reg(std::string("sample_conv 3x3 ") + (backward ? "bwd" : "fwd") + " f32 16x32x32x512", [=] {
      const kernels::SampleConv sc = kernels::plan_sample_conv(n, hw, hw, ch, ch, k, k, false, 1, 1, 1);
      Tensor x = device_rand({n, hw, hw, ch}, DType::f32), w = device_rand({n * ch, k, k, ch}, DType::f32, -0.05, 0.05);
      Tensor y = Tensor::empty({n, hw, hw, ch}, DType::f32, kDev);
      const size_t wsb = kernels::sample_conv_workspace_bytes_cuda(sc, DType::f32, kDev.index);
      Tensor ws = wsb > 0 ? Tensor::empty({int64_t(wsb)}, DType::u8, kDev) : Tensor();
      Case c;
      if (!backward) {
        c.fn = [=] { kernels::sample_conv_forward_cuda({sc, kernels::ref(x), kernels::ref(w), kernels::ref(y), kernels::ref(ws)}); };
        c.flops = conv_flops;
      } else {
        Tensor gy = device_rand({n, hw, hw, ch}, DType::f32), gx = device_zeros({n, hw, hw, ch}, DType::f32);
        Tensor gw = device_zeros({n * ch, k, k, ch}, DType::f32);
        c.fn = [=] { kernels::sample_conv_backward_cuda({sc, kernels::ref(x), kernels::ref(w), kernels::ref(gy), kernels::ref(gx), kernels::ref(gw), kernels::ref(ws), {}}); };
        c.flops = 2 * conv_flops;
      }
      return c;
    });
}

// ResNet-50's parameter shapes (OHWI convolutions, 7 classes): 161 tensors, 23.5 M values.
std::vector<Shape> resnet50_parameter_shapes() {
  std::vector<Shape> out = {{64, 7, 7, 3}, {64}, {64}};
  int64_t in = 64;
  const int64_t planes[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3};
  for (int st = 0; st < 4; ++st)
    for (int64_t b = 0; b < blocks[st]; ++b) {
      const int64_t p = planes[st];
      for (const Shape& s : {Shape{p, 1, 1, in}, Shape{p}, Shape{p}, Shape{p, 3, 3, p}, Shape{p}, Shape{p},
                             Shape{4 * p, 1, 1, p}, Shape{4 * p}, Shape{4 * p}})
        out.push_back(s);
      if (b == 0)
        for (const Shape& s : {Shape{4 * p, 1, 1, in}, Shape{4 * p}, Shape{4 * p}}) out.push_back(s);
      in = 4 * p;
    }
  out.push_back({7, 2048});
  out.push_back({7});
  return out;
}

void register_optim_and_shape() {
  for (bool adam : {false, true})
    reg(std::string(adam ? "adamw" : "sgd momentum") + " multi-tensor step f32 resnet50", [adam] {
      auto tensors = std::make_shared<std::vector<Tensor>>();  // keeps the items' memory alive
      auto items = std::make_shared<std::vector<kernels::MultiTensorItem>>();
      double values = 0;
      for (const Shape& s : resnet50_parameter_shapes()) {
        const Tensor p = device_rand(s, DType::f32), g = device_rand(s, DType::f32, -1e-2, 1e-2);
        const Tensor s0 = device_zeros(s, DType::f32), s1 = adam ? device_zeros(s, DType::f32) : Tensor();
        tensors->insert(tensors->end(), {p, g, s0, s1});
        items->push_back({kernels::ref(p), kernels::ref(g), kernels::ref(s0), kernels::ref(s1), {}});
        values += numel(s);
      }
      auto cache = std::make_shared<kernels::TableCache>();
      // The argument structs are built once: a timed call copies nothing on the host.
      auto adam_args = std::make_shared<kernels::AdamStepArgs>(kernels::AdamStepArgs{
          cache.get(), *items, 1e-3, 1e-2, 0.9, 0.999, 1e-8, 1e-3 / (1 - 0.9), std::sqrt(1 - 0.999), true, false});
      auto sgd_args = std::make_shared<kernels::SgdStepArgs>(
          kernels::SgdStepArgs{cache.get(), *items, 0.1, 5e-5, 0.9, 0.0, false, false, false});
      Case c;
      if (adam)  // p, g, m, v read; p, m, v written
        c.fn = [=] {
          kernels::adam_multi_step_cuda(*adam_args);
          (void)tensors, (void)cache;
        };
      else  // p, g, buf read; p, buf written
        c.fn = [=] {
          kernels::sgd_multi_step_cuda(*sgd_args);
          (void)tensors, (void)cache;
        };
      c.bytes = values * 4 * (adam ? 7 : 5);
      return c;
    });

  for (DType dt : kMixed) {
    const std::string d = std::string(" ") + dn(dt) + " ";
    {  // ShuffleNet's channel split: the second half of [256,16,16,232]
      const Shape src{256, 16, 16, 232}, dst{256, 16, 16, 116};
      reg("gather_strided channel-half" + d + shape_name(src), [=] {
        Tensor x = device_rand(src, dt), y = Tensor::empty(dst, dt, kDev);
        const Shape strides{16 * 16 * 232, 16 * 232, 232, 1};
        return Case{[=] {
                      kernels::gather_strided_cuda(
                          {kernels::ref(x), 116, strides, kernels::ref(y), false, kernels::span_of(x)});
                    },
                    2 * numel(dst) * es(dt)};
      });
    }
    {  // NHWC -> NCHW permutation
      const Shape src{256, 32, 32, 64}, dst{256, 64, 32, 32};
      reg("gather_strided nhwc->nchw" + d + shape_name(src), [=] {
        Tensor x = device_rand(src, dt), y = Tensor::empty(dst, dt, kDev);
        const Shape strides{32 * 32 * 64, 1, 32 * 64, 64};
        return Case{[=] {
                      kernels::gather_strided_cuda(
                          {kernels::ref(x), 0, strides, kernels::ref(y), false, kernels::span_of(x)});
                    },
                    2 * numel(dst) * es(dt)};
      });
    }
    {
      const Shape s{256, 32, 32, 64}, sp{256, 34, 34, 64};
      reg("pad2d 1 fwd" + d + shape_name(s), [=] {
        Tensor x = device_rand(s, dt), y = Tensor::empty(sp, dt, kDev);
        return Case{[=] { kernels::pad2d_forward_cuda({kernels::ref(x), kernels::ref(y), {}, {}, 1, 1, 0.0}); },
                    (numel(s) + numel(sp)) * es(dt)};
      });
      reg("pad2d 1 bwd" + d + shape_name(s), [=] {
        Tensor gy = device_rand(sp, dt), gx = device_zeros(s, dt);
        return Case{[=] { kernels::pad2d_backward_cuda({{}, {}, kernels::ref(gy), kernels::ref(gx), 1, 1}); },
                    3 * numel(s) * es(dt)};
      });
    }
  }
}

}  // namespace

int program_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!fer::cuda::available()) {
    std::printf("bench_cuda_kernels: no CUDA device: every benchmark skipped\n");
    return 0;
  }
  try {
    g_copy_gbps = measure_copy_ceiling();
  } catch (const std::exception& e) {
    std::printf("bench_cuda_kernels: CUDA device present but unusable (%s): every benchmark skipped\n", e.what());
    return 0;
  }
  std::printf("device: %s; copy ceiling (read + write): %.1f GB/s\n", fer::cuda::device_name(0).c_str(), g_copy_gbps);
  benchmark::AddCustomContext("device", fer::cuda::device_name(0));
  benchmark::AddCustomContext("copy_ceiling_GBps", std::to_string(g_copy_gbps));
  register_ceilings();
  register_pointwise();
  register_norm();
  register_pool();
  register_loss();
  register_depthwise();
  register_stylegan2();
  register_optim_and_shape();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench_cuda_kernels
