// The runtime ISA dispatcher (contract: include/fer/kernels/cpu_isa.hpp): CPU features, FER_CPU_ISA, the start-up
// timing of the AVX2 and AVX-512 GEMMs, and the forced choice.
#include "fer/kernels/cpu_isa.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fer/core/error.hpp"
#include "kernels/cpu/isa/gemm_f32.hpp"

namespace fer::kernels {

namespace {

// What -march=x86-64-v3 / -march=x86-64-v4 let the compiler use beyond the previous level (GCC's and Clang's
// feature checks include the OS saving the wider registers).
bool has_avx2() {
#if defined(__x86_64__) && defined(FER_HAVE_ISA_KERNELS)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

bool has_avx512() {
#if defined(__x86_64__) && defined(FER_HAVE_ISA_KERNELS)
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
#else
  return false;
#endif
}

#ifdef FER_HAVE_ISA_KERNELS
// Best of `reps` timings (ms) of one single-threaded f32 product on `kernel`.
double best_ms(cpu::isa::GemmF32Kernel kernel, const cpu::isa::GemmF32& g, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    cpu::isa::run_gemm_f32(kernel, g);
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
#endif

// Auto: AVX-512 only where the CPU has it and a product of the size the convolutions make runs clearly (>= 10%)
// faster on it; the two paths alternate so that a burst of load hits both. About 5 ms once per process.
std::pair<CpuIsa, std::string> choose_auto() {
  if (!has_avx2()) return {CpuIsa::generic, "auto: the CPU lacks AVX2/FMA (or this build has no ISA kernels)"};
  if (!has_avx512()) return {CpuIsa::avx2, "auto: the CPU has AVX2+FMA, not AVX-512 F/BW/DQ/VL/CD"};
#ifdef FER_HAVE_ISA_KERNELS
  const int64_t m = 192, n = 256, k = 256;
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  const cpu::isa::GemmF32 g{false, false, m, n, k, a.data(), k, b.data(), n, c.data(), n, false};
  double t2 = 1e30, t512 = 1e30;
  for (int round = 0; round < 4; ++round) {
    t2 = std::min(t2, best_ms(cpu::isa::gemm_f32_avx2, g, 3));
    t512 = std::min(t512, best_ms(cpu::isa::gemm_f32_avx512, g, 3));
  }
  const CpuIsa pick = t512 < 0.9 * t2 ? CpuIsa::avx512 : CpuIsa::avx2;
  char why[200];
  std::snprintf(why, sizeof why, "auto: the CPU has AVX-512; %lldx%lldx%lld f32 GEMM best of 12: avx2 %.3f ms, "
                "avx512 %.3f ms -> %s (avx512 only if >= 10%% faster)", (long long)m, (long long)n, (long long)k,
                t2, t512, cpu_isa_name(pick));
  return {pick, why};
#else
  return {CpuIsa::generic, "auto: this build has no ISA kernels"};
#endif
}

struct State {
  std::mutex mutex;
  std::atomic<int> isa{-1};  // -1: not chosen yet
  std::string reason;
};

State& state() {
  static State s;
  return s;
}

CpuIsa parse(std::string_view name, bool& is_auto, const char* source) {
  is_auto = name == "auto";
  if (name == "generic") return CpuIsa::generic;
  if (name == "avx2") return CpuIsa::avx2;
  if (name == "avx512") return CpuIsa::avx512;
  FER_CHECK(is_auto, source, ": CPU ISA '", name, "' is unknown: use generic, avx2, avx512 or auto");
  return CpuIsa::generic;
}

// Sets the choice (state's mutex held); `source` says who asked.
void apply(std::string_view name, const char* source) {
  State& s = state();
  bool is_auto = false;
  const CpuIsa isa = parse(name, is_auto, source);
  if (is_auto) {
    auto [pick, why] = choose_auto();
    s.reason = std::string(source) + " " + why;
    s.isa.store(int(pick));
    return;
  }
  FER_CHECK(cpu_isa_supported(isa), source, " asks for CPU ISA '", name, "', which ",
            isa == CpuIsa::avx512 ? "needs AVX-512 F/BW/DQ/VL/CD" : "needs AVX2+FMA+BMI2",
            ": not supported by this CPU",
            " (supported here: generic", has_avx2() ? ", avx2" : "", has_avx512() ? ", avx512" : "", ")");
  s.reason = std::string(source) + ": forced " + std::string(name);
  s.isa.store(int(isa));
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::avx512: return "avx512";
    default: return "generic";
  }
}

bool cpu_isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx2: return has_avx2();
    case CpuIsa::avx512: return has_avx512();
    default: return true;
  }
}

CpuIsa cpu_isa() {
  State& s = state();
  int isa = s.isa.load(std::memory_order_acquire);
  if (isa >= 0) return CpuIsa(isa);
  std::lock_guard lock(s.mutex);
  if (s.isa.load() < 0) {
    const char* env = std::getenv("FER_CPU_ISA");
    apply(env && *env ? env : "auto", env && *env ? "FER_CPU_ISA" : "default");
  }
  return CpuIsa(s.isa.load());
}

std::string cpu_isa_reason() {
  cpu_isa();
  std::lock_guard lock(state().mutex);
  return state().reason;
}

void set_cpu_isa(CpuIsa isa) { set_cpu_isa(std::string_view(cpu_isa_name(isa))); }

void set_cpu_isa(std::string_view name) {
  std::lock_guard lock(state().mutex);
  apply(name, "set_cpu_isa");
}

}  // namespace fer::kernels
