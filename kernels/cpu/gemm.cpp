// Matrix products: the row-major GEMM every dense op uses (f32 on the micro-kernels of the ISA that
// kernels::cpu_isa() chose, kernels/cpu/isa/; f64 and the generic choice on Eigen), and the linear / matmul kernels.
#include "kernels/cpu/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <new>
#include <type_traits>

#include "fer/core/parallel.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "fer/kernels/gemm.hpp"
#include "kernels/cpu/isa/conv_gemm_f32.hpp"
#include "kernels/cpu/isa/gemm_f32.hpp"

namespace fer::cpu {

namespace {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstView = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using View = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class C, class A, class B>
void product(C& c, const A& a, const B& b, bool accumulate) {
  if (accumulate) c.noalias() += a * b;
  else c.noalias() = a * b;
}

// Eigen computes a row-major C as the column-major C^T, so its register blocks run along our n: whole blocks of
// 3 packets and one of 2 use one accumulator per element (summing k in order); the rest uses other kernels.
int64_t eigen_main_columns(int64_t n) {
  using Traits = Eigen::internal::gebp_traits<float, float>;
  constexpr int64_t mr = Traits::mr, two = 2 * Traits::LhsProgress;
  static_assert(mr == 3 * Traits::LhsProgress, "Eigen's f32 kernel is 3 packets high");
  return n / mr * mr + (n % mr >= two ? two : 0);
}

// Eigen's k block for a product of depth k (its heuristic from the L1 size; k itself when one block does). It
// depends on k alone once a block is needed (the sizes passed for m and n only matter below 48, where kc = k).
int64_t eigen_kc(int64_t k) {
  Eigen::Index kc = k, rows = 48, cols = 48;
  Eigen::internal::computeProductBlockingSizes<float, float, 1>(kc, rows, cols, Eigen::Index(1));
  return kc;
}

// The f32 kernel of the chosen ISA; null for the generic (Eigen) path.
isa::GemmF32Kernel f32_kernel() {
#ifdef FER_HAVE_ISA_KERNELS
  switch (kernels::cpu_isa()) {
    case kernels::CpuIsa::avx2: return isa::gemm_f32_avx2;
    case kernels::CpuIsa::avx512: return isa::gemm_f32_avx512;
    default: return nullptr;
  }
#else
  return nullptr;
#endif
}

}  // namespace

namespace isa {

namespace {

// One pair of packing buffers per thread, kept for the thread's life (2.2 MB): no allocation per product.
struct PackingBuffers {
  struct Aligned {
    void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  using Buffer = std::unique_ptr<float[], Aligned>;
  static Buffer make(int64_t n) {
    return Buffer(static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(64))));
  }
  Buffer a = make(kPackAFloats), b = make(kPackBFloats);
};

PackingBuffers& packing_buffers() {
  thread_local PackingBuffers buffers;
  return buffers;
}

}  // namespace

void run_gemm_f32(GemmF32Kernel kernel, const GemmF32& g) {
  PackingBuffers& p = packing_buffers();
  kernel(g, p.a.get(), p.b.get());
}

void run_conv_gemm_f32(ConvGemmF32Kernel kernel, const ConvGemmF32& g) {
  PackingBuffers& p = packing_buffers();
  kernel(g, p.a.get(), p.b.get());
}

void run_conv_wgrad_f32(ConvWgradF32Kernel kernel, const ConvWgradF32& g) {
  PackingBuffers& p = packing_buffers();
  kernel(g, p.a.get(), p.b.get());
}

}  // namespace isa

namespace {

// One single-threaded product: on `kernel` (f32 on an ISA's micro-kernels) or Eigen (which runs single-threaded for
// small products and inside parallel regions).
template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                 int64_t ldb, T* c, int64_t ldc, bool accumulate, isa::GemmF32Kernel kernel) {
  View<T> cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (!accumulate) cm.setZero();
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    // Matrix-vector products (m or n = 1) stay on Eigen's GEMV (memory-bound). Otherwise the micro-kernels take
    // the columns that Eigen's own kernel sums one k at a time into one accumulator, as they do, with Eigen's k
    // blocks: each of those elements rounds exactly as on the generic path. Eigen's narrow edge kernels (8 and
    // fewer trailing columns, which sum in another order) keep them, so f32 results do not depend on the ISA
    // (test_model_equality's tf_efficientnet_b0_ns sits at 0.8 of its tolerance; any other rounding fails it).
    // Tiny products (m + n + k < 20) Eigen computes coefficient-wise: they stay there too.
    // Weight-gradient products (A^T B, long k) ran at 0.7-0.9 of Eigen's speed on the AVX2 kernel on the
    // development machine (bench/README.md), so there the generic path keeps them.
    if (kernel == isa::gemm_f32_avx2 && trans_a && !trans_b) kernel = nullptr;
    const int64_t cols = kernel && m > 1 && n > 1 ? eigen_main_columns(n) : 0;
    if (cols > 0 && m + k + (cols == n ? n : std::min(cols, n - cols)) >= 20) {
      isa::run_gemm_f32(kernel, {trans_a, trans_b, m, cols, k, a, lda, b, ldb, c, ldc, accumulate, eigen_kc(k)});
      if (cols == n) return;
      const T* b_rest = trans_b ? b + cols * ldb : b + cols;
      gemm_serial<T>(trans_a, trans_b, m, n - cols, k, a, lda, b_rest, ldb, c + cols, ldc, accumulate, nullptr);
      return;
    }
  }
  // Stored shapes: A is [m, k] or [k, m]; B is [k, n] or [n, k]. Eigen multiplies transposed views in place.
  ConstView<T> am(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  ConstView<T> bm(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) product(cm, am, bm, accumulate);
  else if (!trans_a && trans_b) product(cm, am, bm.transpose(), accumulate);
  else if (trans_a && !trans_b) product(cm, am.transpose(), bm, accumulate);
  else product(cm, am.transpose(), bm.transpose(), accumulate);
}

// Eigen's own threaded GEMM is avoided: its threads share packed panels and spin-wait on each other many
// times per product, which collapses when another process holds a core (measured: a 32x1000x512 product
// took 20 ms instead of 0.2 ms on this shared machine). Instead C is cut into one slab per thread, each
// computed independently by a single-threaded Eigen product: one join per call.
// Below this many multiply-adds a product runs on the calling thread (Eigen's heuristic then keeps it
// single-threaded too: it needs 50000 per thread).
constexpr int64_t kParallelProduct = 100000;

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  // Chosen before any thread starts (the first call may time the ISAs, or throw for a bad FER_CPU_ISA).
  const isa::GemmF32Kernel kernel = std::is_same_v<T, float> ? f32_kernel() : nullptr;
  const int64_t parts = num_threads();
  if (parts < 2 || m * n * k < kParallelProduct || in_parallel_region()) {
    gemm_serial(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate, kernel);
    return;
  }
  // Split the longer side of C in slabs of whole 8-wide vectors.
  const bool split_rows = m >= n;
  const int64_t len = split_rows ? m : n, units = (len + 7) / 8;
  parallel_for(0, parts, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t part = lo; part < hi; ++part) {
      const int64_t s0 = std::min(len, units * part / parts * 8), s1 = std::min(len, units * (part + 1) / parts * 8);
      if (s0 >= s1) continue;
      if (split_rows) {
        const T* a_part = trans_a ? a + s0 : a + s0 * lda;
        gemm_serial(trans_a, trans_b, s1 - s0, n, k, a_part, lda, b, ldb, c + s0 * ldc, ldc, accumulate, kernel);
      } else {
        const T* b_part = trans_b ? b + s0 * ldb : b + s0;
        gemm_serial(trans_a, trans_b, m, s1 - s0, k, a, lda, b_part, ldb, c + s0, ldc, accumulate, kernel);
      }
    }
  });
}

int64_t f32_k_block(int64_t k) { return eigen_kc(k); }

template <class T>
void add_column_sums(const T* a, int64_t rows, int64_t cols, T* out) {
  // Threads split the columns, so each owns its slice of `out` (no reduction step, no race).
  int64_t grain = std::max<int64_t>(64, 32768 / std::max<int64_t>(rows, 1));
  parallel_for(0, cols, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = a + r * cols;
      for (int64_t j = c0; j < c1; ++j) out[j] += row[j];
    }
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                          float*, int64_t, bool);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                           double*, int64_t, bool);
template void add_column_sums<float>(const float*, int64_t, int64_t, float*);
template void add_column_sums<double>(const double*, int64_t, int64_t, double*);

}  // namespace fer::cpu

namespace fer::kernels {

using cpu::gemm;

namespace {
// Below this many multiply-adds a batched product runs its items in parallel, each single-threaded; above
// it each item is split over the threads by gemm itself.
constexpr int64_t kSmallProduct = int64_t(1) << 21;
}  // namespace

void linear_forward_cpu(const LinearArgs& args) {
  const TensorRef &x = args.x, &w = args.w, &bias = args.bias, &y = args.y;
  int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    T* yp = y.data<T>();
    if (bias.defined()) {
      const T* bp = bias.data<T>();
      for (int64_t r = 0; r < m; ++r) std::copy(bp, bp + out, yp + r * out);
    }
    // One product over all rows: gemm splits it over the threads when it is large enough.
    gemm<T>(false, true, m, out, in, x.data<T>(), in, w.data<T>(), in, yp, out, bias.defined());
  });
}

void linear_backward_cpu(const LinearBackwardArgs& args) {
  const TensorRef &x = args.x, &w = args.w, &gy = args.gy, &gx = args.gx, &gw = args.gw, &gb = args.gb;
  int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  dispatch_float(x.dtype(), "linear backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = gy.data<T>();
    if (gx.defined()) gemm<T>(false, false, m, in, out, g, out, w.data<T>(), in, gx.data<T>(), in, args.accumulate_gx);
    if (gw.defined()) gemm<T>(true, false, out, in, m, g, out, x.data<T>(), in, gw.data<T>(), in, true);
    if (gb.defined()) cpu::add_column_sums<T>(g, m, out, gb.data<T>());
  });
}

void matmul_into_cpu(const MatmulArgs& args) {
  const TensorRef &a = args.a, &b = args.b, &c = args.c;
  const bool trans_a = args.trans_a, trans_b = args.trans_b, accumulate = args.accumulate;
  bool batched = a.dim() == 3;
  int64_t batch = batched ? a.size(0) : 1;
  int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  int64_t m = trans_a ? ac : ar, k = trans_a ? ar : ac, n = trans_b ? br : bc;
  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const T* ap = a.data<T>();
    const T* bp = b.data<T>();
    T* cp = c.data<T>();
    auto item = [&](int64_t i) {
      gemm<T>(trans_a, trans_b, m, n, k, ap + i * ar * ac, ac, bp + i * br * bc, bc, cp + i * m * n, n, accumulate);
    };
    if (batch > 1 && m * n * k < kSmallProduct) {
      parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) item(i);
      });
    } else {
      for (int64_t i = 0; i < batch; ++i) item(i);
    }
  });
}

void add_column_sums_cpu(const ColumnSumArgs& args) {
  FER_CHECK(args.a.numel() == args.rows * args.cols && args.out.numel() == args.cols, "column sums: ",
            args.a.shape().str(), " as [", args.rows, ", ", args.cols, "] into ", args.out.shape().str());
  dispatch_float(args.a.dtype(), "column sums", [&](auto tag) {
    using T = decltype(tag);
    cpu::add_column_sums<T>(args.a.data<T>(), args.rows, args.cols, args.out.data<T>());
  });
}

void fill_rows_cpu(const FillRowsArgs& args) {
  FER_CHECK(args.row.numel() == args.cols && args.out.numel() == args.rows * args.cols, "fill_rows: ",
            args.row.shape().str(), " into ", args.out.shape().str(), " as [", args.rows, ", ", args.cols, "]");
  dispatch_float(args.out.dtype(), "fill_rows", [&](auto tag) {
    using T = decltype(tag);
    const T* r = args.row.data<T>();
    T* o = args.out.data<T>();
    for (int64_t i = 0; i < args.rows; ++i) std::copy(r, r + args.cols, o + i * args.cols);
  });
}

}  // namespace fer::kernels
