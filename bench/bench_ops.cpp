// Every op of the op table (tests/op_table.hpp) forward and backward, on the CPU and, where a device is present, on
// CUDA, at the table's bench shapes, against this machine's ceilings measured at start-up:
//   CPU   f32 FMA peak of fer's threads (register-resident AVX2 chains, bench/fma_peak.hpp; AVX-512 shown too) and the
//         bandwidth of a parallel copy of 4 MiB, the size of most bench tensors (bytes read + written per second; the
//         256 MiB figure, main memory, is printed too);
//   CUDA  the bandwidth of a device-to-device copy of 256 MiB and the throughput of a 4096^3 matmul in the bench dtype.
// Per row: time per call (best of the repetitions: a shared machine only ever slows a run down), GFLOP/s and its
// fraction of the compute ceiling, GB/s (the minimal traffic: every input and the output once forward; the output
// gradient, the inputs, and each input gradient read and written backward) and its fraction of the bandwidth ceiling.
// Backward counts twice the forward FLOPs and is timed by replaying the recorded backward.
//
//   bench_ops [--long] [--threads N] [--filter TEXT] [--device cpu|cuda|all] [--dtype f32|f64|bf16|f16]
// The default run takes seconds (at least 2 repetitions and 20 ms per measurement); --long measures each for 0.5 s.
// --threads sets fer's CPU threads (default: fer's, i.e. OMP_NUM_THREADS or the cores); --filter keeps the ops whose
// name contains TEXT. A failing op is reported and the program exits 1 after the others ran.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/storage.hpp"
#include "fma_peak.hpp"
#include "op_table.hpp"

namespace bench_ops {

namespace {

using namespace fer;
using Clock = std::chrono::steady_clock;

struct Settings {
  bool long_run = false;
  std::string filter;
  bool cpu = true, cuda = true;
  DType dtype = DType::f32;
};

struct Ceilings {
  double gflops = 0;  // compute
  double gbps = 0;    // memory
};

// Waits until the device has run everything queued (a one-element download is queued behind it); no-op on the CPU.
class Sync {
 public:
  explicit Sync(Device d) : probe_(d.is_cuda() ? Tensor::zeros({1}, DType::f32, d) : Tensor()) {}
  void operator()() const {
    if (probe_.defined()) (void)probe_.host();
  }

 private:
  Tensor probe_;
};

// Seconds per call of fn: one warm-up call, then repetitions until both min_reps and min_seconds are reached; the
// best repetition counts.
double time_call(const std::function<void()>& fn, const Sync& sync, const Settings& s) {
  const int min_reps = s.long_run ? 10 : 2;
  const double min_seconds = s.long_run ? 0.5 : 0.02;
  fn();
  sync();
  double best = 1e300, total = 0;
  for (int rep = 0; rep < min_reps || total < min_seconds; ++rep) {
    const auto t0 = Clock::now();
    fn();
    sync();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, dt), total += dt;
    if (rep > 10000) break;
  }
  return best;
}

// Uniform values in [lo, hi) (f32, CPU), filled directly: the bench tensors hold millions of elements.
Tensor uniform_f32(const Shape& shape, Generator& g, double lo, double hi) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(g.uniform(lo, hi));
  return t;
}

Ceilings cpu_ceilings(const Settings& s) {
  Ceilings c;
  const int threads = num_threads();
  Sync none(Device::cpu());
  // GFLOP/s of the FMA chains of `width` bits on every thread.
  auto fma_peak = [&](int width) {
    float sink = 0;
    const double t = time_call([&] { sink += bench::run_fma_chains(width, threads); }, none, s);
    if (sink == 12345.f) std::printf(" ");  // keeps the chains alive
    return bench::fma_flops_per_call(width) * threads / t * 1e-9;
  };
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) c.gflops = fma_peak(256);
  if (__builtin_cpu_supports("avx512f"))
    std::printf("CPU: AVX-512 FMA peak %.1f GFLOP/s on %d threads (not used by the default x86-64-v3 build)\n",
                fma_peak(512), threads);
  // Bandwidth of a parallel copy: at 4 MiB, the size of most bench tensors (the ceiling the rows are compared with),
  // and at 256 MiB (main memory, for information).
  auto copy_gbps = [&](size_t bytes) {
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    const double t = time_call(
        [&] {
#pragma omp parallel num_threads(threads)
          {
            const size_t per = bytes / size_t(omp_get_num_threads()), at = per * size_t(omp_get_thread_num());
            std::memcpy(dst.data() + at, src.data() + at, per);
          }
        },
        none, s);
    return 2.0 * double(bytes) / t * 1e-9;
  };
  c.gbps = copy_gbps(size_t(4) << 20);
  std::printf("CPU: %d threads; AVX2 FMA peak %.1f GFLOP/s; copy bandwidth (read + write) %.1f GB/s at 4 MiB, "
              "%.1f GB/s at 256 MiB\n", threads, c.gflops, c.gbps, copy_gbps(size_t(256) << 20));
  return c;
}

Ceilings cuda_ceilings(const Settings& s) {
  Ceilings c;
  const Device d = Device::cuda(0);
  Sync sync(d);
  const int64_t n = int64_t(256) << 18;  // f32 elements: 256 MiB
  Tensor a = Tensor::zeros({n}, DType::f32, d), b = Tensor::zeros({n}, DType::f32, d);
  c.gbps = 2.0 * double(a.nbytes()) / time_call([&] { b.copy_(a); }, sync, s) * 1e-9;
  Generator g(1);
  Tensor x = uniform_f32({4096, 4096}, g, -1, 1).to(s.dtype).to(d), y = x;
  NoGradGuard no_grad;
  c.gflops = 2.0 * 4096.0 * 4096.0 * 4096.0 / time_call([&] { (void)matmul(x, y); }, sync, s) * 1e-9;
  std::printf("CUDA: copy bandwidth (read + write) %.1f GB/s; %s matmul 4096^3 %.1f GFLOP/s\n", c.gbps,
              std::string(dtype_name(s.dtype)).c_str(), c.gflops);
  return c;
}

double bytes_of(const std::vector<Tensor>& ts) {
  double b = 0;
  for (const Tensor& t : ts) b += double(t.nbytes());
  return b;
}

void print_row(const std::string& name, const char* dev, const char* pass, double seconds, double flops, double bytes,
               const Ceilings& c) {
  const double gflops = flops / seconds * 1e-9, gbps = bytes / seconds * 1e-9;
  char compute[48] = "        -       -", memory[48] = "       -       -";
  if (flops > 0) std::snprintf(compute, sizeof compute, "%9.1f %6.1f%%", gflops, 100 * gflops / c.gflops);
  if (bytes > 0) std::snprintf(memory, sizeof memory, "%8.1f %6.1f%%", gbps, 100 * gbps / c.gbps);
  std::printf("%-58.58s %-4s %-3s %10.1f %s %s\n", name.c_str(), dev, pass, seconds * 1e6, compute, memory);
}

void bench_op(const op_table::OpEntry& e, Device d, const Ceilings& c, const Settings& s) {
  Generator g(op_table::seed_of(e.name));
  std::vector<Tensor> in;
  std::vector<Shape> shapes;
  for (const op_table::OpInput& spec : e.inputs) {
    const Shape shape = op_table::bench_shape(spec);
    Tensor values = uniform_f32(shape, g, spec.lo, spec.hi);
    in.push_back(op_table::place_input(spec, values, s.dtype, d));
    shapes.push_back(shape);
  }
  const Sync sync(d);
  Tensor y;
  const double fwd = time_call(
      [&] {
        NoGradGuard no_grad;
        y = e.run(in);
      },
      sync, s);
  const double flops = e.flops(shapes, y.shape());
  const char* dev = d.is_cuda() ? "cuda" : "cpu";
  // A view (reshape, flatten of a contiguous tensor) moves nothing forward.
  bool view = false;
  for (const Tensor& t : in) view = view || t.storage() == y.storage();
  print_row(e.name, dev, "fwd", fwd, flops, view ? 0.0 : bytes_of(in) + double(y.nbytes()), c);
  for (Tensor& t : in) t.set_requires_grad(true);
  Tape::current().clear();
  y = e.run(in);
  Tensor up = uniform_f32(y.shape(), g, -1, 1).to(s.dtype).to(d);
  const double bwd = time_call([&] { backward(y, up, /*retain=*/true); }, sync, s);
  Tape::current().clear();
  print_row(e.name, dev, "bwd", bwd, 2 * flops, double(up.nbytes()) + 3 * bytes_of(in), c);
}

bool cpu_supports(DType dt) { return dt == DType::f32 || dt == DType::f64; }

int usage(const char* why) {
  std::fprintf(stderr, "bench_ops: %s\nusage: bench_ops [--long] [--threads N] [--filter TEXT] "
                       "[--device cpu|cuda|all] [--dtype f32|f64|bf16|f16]\n", why);
  return 2;
}

}  // namespace

int program_main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--long") {
      s.long_run = true;
    } else if (a == "--threads") {
      const char* v = value();
      const int n = v ? std::atoi(v) : 0;
      if (n < 1) return usage("--threads needs a positive count");
      set_num_threads(n);
    } else if (a == "--filter") {
      const char* v = value();
      if (!v) return usage("--filter needs a text");
      s.filter = v;
    } else if (a == "--device") {
      const char* v = value();
      const std::string dv = v ? v : "";
      if (dv != "cpu" && dv != "cuda" && dv != "all") return usage("--device must be cpu, cuda or all");
      s.cpu = dv != "cuda", s.cuda = dv != "cpu";
    } else if (a == "--dtype") {
      const char* v = value();
      const std::string dv = v ? v : "";
      if (dv == "f32") s.dtype = DType::f32;
      else if (dv == "f64") s.dtype = DType::f64;
      else if (dv == "bf16") s.dtype = DType::bf16;
      else if (dv == "f16") s.dtype = DType::f16;
      else return usage("--dtype must be f32, f64, bf16 or f16");
    } else {
      return usage(("unknown argument '" + a + "'").c_str());
    }
  }
  try {
    std::vector<std::pair<Device, Ceilings>> devices;
    if (s.cpu && cpu_supports(s.dtype)) devices.push_back({Device::cpu(), cpu_ceilings(s)});
    if (s.cpu && !cpu_supports(s.dtype)) std::printf("CPU: no %s kernels, skipped\n", std::string(dtype_name(s.dtype)).c_str());
    if (s.cuda && cuda_device_available()) devices.push_back({Device::cuda(0), cuda_ceilings(s)});
    if (s.cuda && !cuda_device_available()) std::printf("CUDA: no device (or a build without CUDA), skipped\n");
    if (devices.empty()) return 0;
    std::printf("%-58s %-4s %-3s %10s %9s %7s %8s %7s\n", "op", "dev", "", "us/call", "GFLOP/s", "%peak", "GB/s", "%bw");
    int ran = 0, failed = 0;
    for (const op_table::OpEntry& e : op_table::ops()) {
      if (!s.filter.empty() && e.name.find(s.filter) == std::string::npos) continue;
      for (const auto& [device, ceilings] : devices) {
        if (device.is_cuda() &&
            std::find(e.cuda_dtypes.begin(), e.cuda_dtypes.end(), s.dtype) == e.cuda_dtypes.end())
          continue;
        try {
          bench_op(e, device, ceilings, s);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "bench_ops: %s on %s: %s\n", e.name.c_str(), device.str().c_str(), ex.what());
          ++failed;
        }
        ++ran;
      }
    }
    if (ran == 0) return usage(("no op matches '" + s.filter + "'").c_str());
    if (failed > 0) {
      std::fprintf(stderr, "bench_ops: %d of %d runs failed\n", failed, ran);
      return 1;
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_ops: %s\n", ex.what());
    return 1;
  }
  return 0;
}

}  // namespace bench_ops
