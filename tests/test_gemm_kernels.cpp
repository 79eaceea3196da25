// The f32 GEMM on each ISA path (forced in turn) against a double-precision reference, and the ISA dispatcher's
// forced, automatic and rejected choices (include/fer/kernels/cpu_isa.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/parallel.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/isa/gemm_f32.hpp"

using fer::kernels::CpuIsa;

namespace {

using Product = std::function<void(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                   float*, int64_t, bool)>;

struct GemmShape {
  int64_t m, n, k;
};

// Edges of every blocking (tiles 6x16 and 12x32, mc 144, kc 256, nc 2048), k = 1, large k, and products large
// enough for cpu::gemm to split C over the threads.
const std::vector<GemmShape> kShapes = {{1, 1, 1},    {1, 1, 9},     {5, 3, 1},     {7, 17, 13},   {6, 16, 256},
                                    {13, 33, 257}, {12, 32, 64},  {25, 70, 600}, {300, 40, 30}, {3, 2100, 9},
                                    {150, 100, 70}, {64, 96, 1100}};

// One product with operands stored as the flags say, leading dimensions `pad` wider than needed, C's padding
// poisoned (must stay untouched) and, without accumulate, C itself NaN (must be overwritten, never read).
// Checks |c - exact| <= (k + 2) 2^-23 (sum_p |a_ip b_pj| + |c0_ij|): twice the worst-case bound of a float dot
// product of length k plus the final additions; an indexing error is of the order of the sum itself.
void check_product(const Product& product, GemmShape s, bool trans_a, bool trans_b, bool accumulate, int64_t pad,
                   std::mt19937& rng) {
  const int64_t a_rows = trans_a ? s.k : s.m, a_cols = trans_a ? s.m : s.k;
  const int64_t b_rows = trans_b ? s.n : s.k, b_cols = trans_b ? s.k : s.n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> a(size_t(a_rows * lda)), b(size_t(b_rows * ldb));
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  const float poison = 1234.5f;
  std::vector<float> c(size_t(s.m * ldc), poison), c0(c.size());
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j)
      c[size_t(i * ldc + j)] = accumulate ? dist(rng) : std::numeric_limits<float>::quiet_NaN();
  c0 = c;
  product(trans_a, trans_b, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate);

  const double tol = double(s.k + 2) * std::ldexp(1.0, -23);
  double worst = 0;
  int64_t bad = 0, poisoned = 0;
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double exact = accumulate ? c0[size_t(i * ldc + j)] : 0.0, scale = accumulate ? std::fabs(exact) : 0.0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double x = trans_a ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)];
        const double y = trans_b ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)];
        exact += x * y;
        scale += std::fabs(x * y);
      }
      const double rel = std::fabs(c[size_t(i * ldc + j)] - exact) / (scale > 0 ? scale : 1.0);
      if (!(rel <= tol)) ++bad;
      if (rel > worst || std::isnan(rel)) worst = rel;
    }
    for (int64_t j = s.n; j < ldc; ++j) poisoned += c[size_t(i * ldc + j)] != poison;
  }
  INFO("m=", s.m, " n=", s.n, " k=", s.k, " trans_a=", trans_a, " trans_b=", trans_b, " accumulate=", accumulate,
       " pad=", pad, ": worst relative error ", worst, " (tolerance ", tol, ")");
  CHECK(bad == 0);
  CHECK(poisoned == 0);
}

void check_all_shapes(const Product& product) {
  std::mt19937 rng(17);
  for (const GemmShape& s : kShapes)
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (bool accumulate : {false, true})
          for (int64_t pad : {0, 3}) check_product(product, s, trans_a, trans_b, accumulate, pad, rng);
}

std::string lower_name(CpuIsa isa) { return fer::kernels::cpu_isa_name(isa); }

// cpu::gemm as the kernels call it: outside a parallel region (split over the threads) and inside one.
void check_gemm_on(CpuIsa isa) {
  if (!fer::kernels::cpu_isa_supported(isa)) {
    MESSAGE("skipped: this CPU cannot run ", fer::kernels::cpu_isa_name(isa));
    return;
  }
  fer::kernels::set_cpu_isa(isa);
  REQUIRE(fer::kernels::cpu_isa() == isa);
  check_all_shapes(fer::cpu::gemm<float>);
  check_all_shapes([](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc, bool acc) {
    fer::parallel_for(0, 2, 1, [&](int64_t lo, int64_t hi) {
      if (lo == 0) fer::cpu::gemm<float>(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, acc);
      (void)hi;
    });
  });
  fer::kernels::set_cpu_isa("auto");
}

}  // namespace

TEST_CASE("f32 GEMM, generic (Eigen) path, against a double reference") { check_gemm_on(CpuIsa::generic); }
TEST_CASE("f32 GEMM, AVX2 micro-kernels, against a double reference") { check_gemm_on(CpuIsa::avx2); }
TEST_CASE("f32 GEMM, AVX-512 micro-kernels, against a double reference") { check_gemm_on(CpuIsa::avx512); }

TEST_CASE("f32 GEMM kernels called directly (every trans case, whatever cpu::gemm routes to Eigen)") {
#ifdef FER_HAVE_ISA_KERNELS
  const std::pair<CpuIsa, fer::cpu::isa::GemmF32Kernel> kernels[] = {{CpuIsa::avx2, fer::cpu::isa::gemm_f32_avx2},
                                                                     {CpuIsa::avx512, fer::cpu::isa::gemm_f32_avx512}};
  for (const auto& [isa, kernel] : kernels) {
    CAPTURE(lower_name(isa));
    if (!fer::kernels::cpu_isa_supported(isa)) {
      MESSAGE("skipped: this CPU cannot run ", lower_name(isa));
      continue;
    }
    check_all_shapes([kernel = kernel](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                       const float* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
      fer::cpu::isa::run_gemm_f32(kernel, {ta, tb, m, n, k, a, lda, b, ldb, c, ldc, acc});
    });
  }
#else
  MESSAGE("skipped: this build has no ISA kernels");
#endif
}

TEST_CASE("f32 GEMM, the AVX-512 kernel's tile and blocking on AVX2 vectors, against a double reference") {
  // Runs the blocking, packing and edge code of the AVX-512 path (12x32 tiles) also where AVX-512 is missing.
#ifdef FER_HAVE_ISA_KERNELS
  if (!fer::kernels::cpu_isa_supported(CpuIsa::avx2)) {
    MESSAGE("skipped: this CPU has no AVX2");
    return;
  }
  check_all_shapes([](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc, bool acc) {
    fer::cpu::isa::run_gemm_f32(fer::cpu::isa::gemm_f32_avx2_wide_tile,
                                {ta, tb, m, n, k, a, lda, b, ldb, c, ldc, acc});
  });
#else
  MESSAGE("skipped: this build has no ISA kernels");
#endif
}

TEST_CASE("f32 GEMM: every ISA path rounds exactly as the generic (Eigen) path") {
  // cpu::gemm keeps f32 results independent of the ISA (see gemm.cpp): the micro-kernels take Eigen's k blocks and
  // the columns Eigen sums in order; GEMV shapes, tiny products and Eigen's edge columns stay on Eigen.
  const std::vector<GemmShape> shapes = {{113, 32, 1152}, {50, 37, 600}, {98, 116, 116}, {2, 24, 96}, {300, 64, 576},
                                     {64, 200, 1500}, {7, 1000, 33}, {1, 40, 300}, {3, 5, 4}};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (const GemmShape& s : shapes)
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (bool accumulate : {false, true}) {
          std::vector<float> a(size_t(s.m * s.k)), b(size_t(s.k * s.n)), c0(size_t(s.m * s.n));
          for (float& v : a) v = dist(rng);
          for (float& v : b) v = dist(rng);
          for (float& v : c0) v = dist(rng);
          auto run = [&](CpuIsa isa) {
            fer::kernels::set_cpu_isa(isa);
            std::vector<float> c = c0;
            fer::cpu::gemm<float>(trans_a, trans_b, s.m, s.n, s.k, a.data(), trans_a ? s.m : s.k, b.data(),
                                  trans_b ? s.k : s.n, c.data(), s.n, accumulate);
            return c;
          };
          const std::vector<float> generic = run(CpuIsa::generic);
          for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
            if (!fer::kernels::cpu_isa_supported(isa)) continue;
            int64_t differ = 0;
            const std::vector<float> c = run(isa);
            for (size_t i = 0; i < c.size(); ++i) differ += c[i] != generic[i];
            INFO(lower_name(isa), " m=", s.m, " n=", s.n, " k=", s.k, " trans_a=", trans_a, " trans_b=", trans_b,
                 " accumulate=", accumulate);
            CHECK(differ == 0);
          }
        }
  fer::kernels::set_cpu_isa("auto");
}

TEST_CASE("f32 GEMM with k = 0 writes zeros, or leaves C as it is when accumulating") {
  for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512}) {
    if (!fer::kernels::cpu_isa_supported(isa)) continue;
    fer::kernels::set_cpu_isa(isa);
    std::vector<float> c(6, 7.f);
    fer::cpu::gemm<float>(false, false, 2, 3, 0, nullptr, 0, nullptr, 3, c.data(), 3, true);
    CHECK(c == std::vector<float>(6, 7.f));
    fer::cpu::gemm<float>(false, false, 2, 3, 0, nullptr, 0, nullptr, 3, c.data(), 3, false);
    CHECK(c == std::vector<float>(6, 0.f));
  }
  fer::kernels::set_cpu_isa("auto");
}

TEST_CASE("the ISA dispatcher honours a forced choice and rejects one the CPU cannot run") {
  for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512}) {
    CAPTURE(lower_name(isa));
    if (fer::kernels::cpu_isa_supported(isa)) {
      fer::kernels::set_cpu_isa(isa);
      CHECK(fer::kernels::cpu_isa() == isa);
      CHECK(fer::kernels::cpu_isa_reason() == "set_cpu_isa: forced " + lower_name(isa));
      fer::kernels::set_cpu_isa(lower_name(isa));  // by name, as FER_CPU_ISA gives it
      CHECK(fer::kernels::cpu_isa() == isa);
    } else {
      fer::kernels::set_cpu_isa(CpuIsa::generic);
      CHECK_THROWS_WITH_AS(fer::kernels::set_cpu_isa(isa),
                           doctest::Contains(("'" + lower_name(isa) + "', which needs").c_str()), fer::Error);
      CHECK_THROWS_WITH_AS(fer::kernels::set_cpu_isa(lower_name(isa)),
                           doctest::Contains("not supported by this CPU (supported here: generic"), fer::Error);
      CHECK(fer::kernels::cpu_isa() == CpuIsa::generic);  // the previous choice stays
    }
  }
  CHECK(fer::kernels::cpu_isa_supported(CpuIsa::generic));
  CHECK_THROWS_WITH_AS(fer::kernels::set_cpu_isa("sse2"),
                       "set_cpu_isa: CPU ISA 'sse2' is unknown: use generic, avx2, avx512 or auto", fer::Error);

  // auto: AVX2 where the CPU has it; AVX-512 only where it has that too (and it timed faster).
  fer::kernels::set_cpu_isa("auto");
  const CpuIsa picked = fer::kernels::cpu_isa();
  MESSAGE("auto picks ", lower_name(picked), ": ", fer::kernels::cpu_isa_reason());
  CHECK(fer::kernels::cpu_isa_reason().rfind("set_cpu_isa auto: ", 0) == 0);
  if (fer::kernels::cpu_isa_supported(CpuIsa::avx512)) CHECK((picked == CpuIsa::avx2 || picked == CpuIsa::avx512));
  else if (fer::kernels::cpu_isa_supported(CpuIsa::avx2)) CHECK(picked == CpuIsa::avx2);
  else CHECK(picked == CpuIsa::generic);
}

// Run by ctest with FER_CPU_ISA set (tests/CMakeLists.txt: avx2, avx512, bogus), and alone, so that the variable
// decides the process's first choice.
TEST_CASE("FER_CPU_ISA decides the start-up choice") {
  const char* env = std::getenv("FER_CPU_ISA");
  if (!env) {
    MESSAGE("FER_CPU_ISA is not set: ctest runs this case with it set");
    return;
  }
  const std::string want = env;
  bool runnable = false;
  for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512})
    if (want == lower_name(isa)) runnable = fer::kernels::cpu_isa_supported(isa);
  if (runnable) {
    CHECK(lower_name(fer::kernels::cpu_isa()) == want);
    CHECK(fer::kernels::cpu_isa_reason() == "FER_CPU_ISA: forced " + want);
  } else {
    // Unknown or unsupported: every use says so (and names the variable), none runs on a guess.
    CHECK_THROWS_WITH_AS(fer::kernels::cpu_isa(), doctest::Contains("FER_CPU_ISA"), fer::Error);
    std::vector<float> c(1, 0.f);
    const float one = 1.f;
    CHECK_THROWS_AS(fer::cpu::gemm<float>(false, false, 1, 1, 1, &one, 1, &one, 1, c.data(), 1, false), fer::Error);
  }
}
