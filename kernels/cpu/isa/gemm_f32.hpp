#pragma once
// The f32 GEMM kernels of each instruction set (kernels/cpu/isa/gemm_<isa>.cpp, each compiled with its own -march)
// and what the dispatcher needs to call them. Private to the CPU kernels, their tests and bench_gemm.
//
// A kernel is single-threaded and has cpu::gemm's contract (row-major, trans flags, leading dimensions, accumulate;
// m, n, k > 0). It packs panels of A and B into the caller's buffers. Taking a kernel's address is safe on any CPU;
// calling the AVX-512 one is only safe where cpu_isa_supported(CpuIsa::avx512) (kernels/cpu/cpu_isa.cpp checks).
#include <cstdint>

// The kernels are compiled on x86-64 (CMakeLists.txt adds kernels/cpu/isa/ there); elsewhere only the generic path.
#if defined(__x86_64__)
#define FER_HAVE_ISA_KERNELS 1
#endif

namespace fer::cpu::isa {

struct GemmF32 {
  bool trans_a, trans_b;
  int64_t m, n, k;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  bool accumulate;
  int64_t kc = 0;  // k block when several are needed (0: the kernel's own); at most kMaxKc
};

// Register tile (mr x nr) and cache blocks: an mc x kc block of A is packed per pass (L2), a kc x nc block of B
// (L3), and one kc x nr sliver of B stays in L1 while the micro-kernel walks down the A block.
struct Blocking {
  int64_t mr, nr, mc, kc, nc;
};
inline constexpr Blocking kAvx2Blocking{6, 16, 144, 288, 2048};     // 12 ymm accumulators
inline constexpr Blocking kAvx512Blocking{12, 32, 144, 256, 2048};  // 24 zmm accumulators

// Packing buffer sizes (floats) that fit every kernel below with k blocks up to kMaxKc.
inline constexpr int64_t kMaxKc = 512;
inline constexpr int64_t kPackAFloats = 144 * kMaxKc;
inline constexpr int64_t kPackBFloats = kMaxKc * 2048;

using GemmF32Kernel = void (*)(const GemmF32&, float* a_pack, float* b_pack);

void gemm_f32_avx2(const GemmF32&, float* a_pack, float* b_pack);
void gemm_f32_avx512(const GemmF32&, float* a_pack, float* b_pack);
// The AVX-512 kernel's tile and blocking run on AVX2 vectors: its packing, blocking and edge code are shared with
// gemm_f32_avx512 (gemm_blocked.inl), so the tests exercise them on CPUs without AVX-512 too. Slow (spills).
void gemm_f32_avx2_wide_tile(const GemmF32&, float* a_pack, float* b_pack);

// Runs `kernel` with this thread's packing buffers (allocated once per thread; defined in kernels/cpu/gemm.cpp).
void run_gemm_f32(GemmF32Kernel kernel, const GemmF32& g);

}  // namespace fer::cpu::isa
