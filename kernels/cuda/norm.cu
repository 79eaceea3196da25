// Batch norm and layer norm on channels-last [m, c] data. Column reductions (batch statistics, parameter
// gradients) split the rows into the fixed chunks of kernels::norm_row_chunks: one block column tile per chunk sums its
// rows in double with a fixed thread-to-row assignment and a fixed tree, and a second kernel adds the chunks in
// order, so results never depend on scheduling (no atomics). Row reductions (layer norm) use one warp per row with
// a butterfly shuffle in double, which every lane ends with bit-identical.
#include "fer/kernels/norm.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"

namespace fer::cuda {

namespace {

constexpr int kTileX = 32;  // columns per block (one warp, coalesced along c)
constexpr int kTileY = 8;   // rows per block

template <class T> using C = typename Compute<T>::type;

inline unsigned cap_blocks(int64_t n, int64_t cap) { return unsigned(n < 1 ? 1 : (n > cap ? cap : n)); }

// A 2-d grid over [m, c]: x tiles the columns, y the rows; kernels loop over what the grid does not cover.
inline dim3 grid_rows_cols(int64_t m, int64_t c) {
  return dim3(cap_blocks((c + kTileX - 1) / kTileX, 4096), cap_blocks((m + kTileY - 1) / kTileY, 16384));
}

// part[(NOUT * k + o) * c + j] = sum over the rows of chunk k of term output o at column j.
template <int NOUT, class Term>
__global__ void column_partials(int64_t m, int64_t c, int64_t chunks, Term term, double* __restrict__ part) {
  __shared__ double sh[NOUT][kTileY][kTileX + 1];
  const int64_t k = blockIdx.y;
  const int64_t lo = m * k / chunks, hi = m * (k + 1) / chunks;
  for (int64_t j0 = int64_t(blockIdx.x) * kTileX; j0 < c; j0 += int64_t(gridDim.x) * kTileX) {
    const int64_t j = j0 + threadIdx.x;
    double acc[NOUT];
    for (int o = 0; o < NOUT; ++o) acc[o] = 0.0;
    if (j < c)
      for (int64_t i = lo + threadIdx.y; i < hi; i += kTileY) term(i, j, acc);
    for (int o = 0; o < NOUT; ++o) sh[o][threadIdx.y][threadIdx.x] = acc[o];
    __syncthreads();
    if (threadIdx.y == 0 && j < c)
      for (int o = 0; o < NOUT; ++o) {
        double s = 0.0;
        for (int r = 0; r < kTileY; ++r) s += sh[o][r][threadIdx.x];
        part[(NOUT * k + o) * c + j] = s;
      }
    __syncthreads();  // sh is rewritten by the next column tile
  }
}

// Sum over chunks, in chunk order, of part[(nout * k + o) * c + j].
__device__ __forceinline__ double chunk_total(const double* part, int64_t chunks, int nout, int o, int64_t c, int64_t j) {
  double s = 0.0;
  for (int64_t k = 0; k < chunks; ++k) s += part[(nout * k + o) * c + j];
  return s;
}

template <class T> struct SumTerm {
  const T* x;
  int64_t lx;  // row stride of x
  __device__ void operator()(int64_t i, int64_t j, double* a) const { a[0] += double(load(x, i * lx + j)); }
};
template <class T> struct SquaredDeviationTerm {
  const T* x;
  const double* mu;
  int64_t lx;  // row stride of x
  __device__ void operator()(int64_t i, int64_t j, double* a) const {
    double d = double(load(x, i * lx + j)) - mu[j];
    a[0] += d * d;
  }
};
// gy at e, or 0 where the fused ReLU's output is not positive.
template <class T>
__device__ __forceinline__ C<T> masked_grad(const T* g, const T* relu_out, int64_t e) {
  return relu_out && !(load(relu_out, e) > C<T>(0)) ? C<T>(0) : load(g, e);
}
// sum(gy), sum(gy * (x - mean)) per channel (batch norm backward).
template <class T> struct BatchNormGradTerm {
  const T *x, *g, *mean, *relu_out;  // relu_out: null, or a fused ReLU's output (gy passes where it is > 0)
  int64_t c, lx;                     // lx: row stride of x (g and relu_out are contiguous)
  __device__ void operator()(int64_t i, int64_t j, double* a) const {
    double gg = masked_grad(g, relu_out, i * c + j);
    a[0] += gg;
    a[1] += gg * (double(load(x, i * lx + j)) - double(load(mean, j)));
  }
};
// sum(gy * xhat), sum(gy) per channel (layer norm backward; mean/invstd are per row).
template <class T> struct LayerNormGradTerm {
  const T *x, *g, *mean, *invstd;
  int64_t c;
  __device__ void operator()(int64_t i, int64_t j, double* a) const {
    double gg = double(load(g, i * c + j));
    a[0] += gg * double((load(x, i * c + j) - load(mean, i)) * load(invstd, i));
    a[1] += gg;
  }
};

template <class T, int NOUT, class Term>
void run_column_partials(int64_t m, int64_t c, int64_t chunks, Term term, double* part, cudaStream_t s) {
  dim3 grid(cap_blocks((c + kTileX - 1) / kTileX, 4096), unsigned(chunks));
  column_partials<NOUT><<<grid, dim3(kTileX, kTileY), 0, s>>>(m, c, chunks, term, part);
  check_launch("norm column_partials");
}

__global__ void batch_mean_final(const double* __restrict__ part, int64_t chunks, int64_t m, int64_t c,
                                 double* __restrict__ mu) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < c; j += int64_t(gridDim.x) * blockDim.x)
    mu[j] = chunk_total(part, chunks, 1, 0, c, j) / double(m);
}

template <class T>
__global__ void batch_var_final(const double* __restrict__ part, const double* __restrict__ mu, int64_t chunks,
                                int64_t m, int64_t c, double eps, T* mean, T* invstd, T* var) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < c; j += int64_t(gridDim.x) * blockDim.x) {
    double v = chunk_total(part, chunks, 1, 0, c, j) / double(m);
    store(mean, j, C<T>(mu[j]));
    store(invstd, j, C<T>(1.0 / sqrt(v + eps)));
    if (var) store(var, j, C<T>(v));
  }
}

// coef[j] = scale = invstd * weight, coef[c + j] = shift = bias - mean * scale (double).
template <class T>
__global__ void batch_norm_coef(const T* mean, const T* invstd, const T* weight, const T* bias, int64_t c,
                                double* __restrict__ coef) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < c; j += int64_t(gridDim.x) * blockDim.x) {
    double s = double(load(invstd, j)) * (weight ? double(load(weight, j)) : 1.0);
    coef[j] = s;
    coef[c + j] = (bias ? double(load(bias, j)) : 0.0) - double(load(mean, j)) * s;
  }
}

template <class T>
__global__ void batch_norm_apply_kernel(const T* __restrict__ x, int64_t lx, const double* __restrict__ coef, int64_t m,
                                        int64_t c, bool relu, T* __restrict__ y) {
  for (int64_t j = blockIdx.x * int64_t(kTileX) + threadIdx.x; j < c; j += int64_t(gridDim.x) * kTileX) {
    const C<T> scale = C<T>(coef[j]), shift = C<T>(coef[c + j]);
    for (int64_t i = blockIdx.y * int64_t(kTileY) + threadIdx.y; i < m; i += int64_t(gridDim.y) * kTileY) {
      C<T> v = load(x, i * lx + j) * scale + shift;
      if (relu) v = v < C<T>(0) ? C<T>(0) : v;  // NaN stays NaN, as torch.relu
      store(y, i * c + j, v);
    }
  }
}

// Totals of the backward reduction, the parameter gradients, and gx's per-channel coefficients a, b, d (written
// over rows 0..2 of `part`: column j is read and written by its own thread only, reads first).
template <class T>
__global__ void batch_norm_backward_final(double* part, int64_t chunks, int64_t m, int64_t c, bool reduced,
                                          bool batch_stats, const T* invstd, const T* weight, T* gw, T* gb) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < c; j += int64_t(gridDim.x) * blockDim.x) {
    double sg = 0.0, sgd = 0.0;
    if (reduced) sg = chunk_total(part, chunks, 2, 0, c, j), sgd = chunk_total(part, chunks, 2, 1, c, j);
    const double inv = double(load(invstd, j));
    if (gw) store(gw, j, load(gw, j) + C<T>(sgd * inv));
    if (gb) store(gb, j, load(gb, j) + C<T>(sg));
    const double s = inv * (weight ? double(load(weight, j)) : 1.0);
    part[j] = s;
    part[c + j] = batch_stats ? s * inv * inv * sgd / double(m) : 0.0;
    part[2 * c + j] = batch_stats ? s * sg / double(m) : 0.0;
  }
}

// gx += a * gy - b * (x - mean) - d, or = when !accumulate (gx is then never read: it may hold anything)
template <class T>
__global__ void batch_norm_grad_input(const T* __restrict__ x, int64_t lx, const T* __restrict__ g,
                                      const T* __restrict__ mean, const T* __restrict__ relu_out,
                                      const double* __restrict__ coef, int64_t m, int64_t c, T* __restrict__ gx,
                                      int64_t lgx, bool accumulate) {
  for (int64_t j = blockIdx.x * int64_t(kTileX) + threadIdx.x; j < c; j += int64_t(gridDim.x) * kTileX) {
    const C<T> a = C<T>(coef[j]), b = C<T>(coef[c + j]), d = C<T>(coef[2 * c + j]), mu = load(mean, j);
    for (int64_t i = blockIdx.y * int64_t(kTileY) + threadIdx.y; i < m; i += int64_t(gridDim.y) * kTileY) {
      const int64_t e = i * c + j, ex = i * lx + j, egx = i * lgx + j;
      const C<T> v = a * masked_grad(g, relu_out, e) - b * (load(x, ex) - mu) - d;
      store(gx, egx, accumulate ? load(gx, egx) + v : v);
    }
  }
}

// y = max(x * scale + shift + r, 0): BN, the residual add and the ReLU in one pass.
template <class T>
__global__ void batch_norm_add_relu_kernel(const T* __restrict__ x, int64_t lx, const T* __restrict__ r,
                                           const double* __restrict__ coef, int64_t m, int64_t c, T* __restrict__ y) {
  for (int64_t j = blockIdx.x * int64_t(kTileX) + threadIdx.x; j < c; j += int64_t(gridDim.x) * kTileX) {
    const C<T> scale = C<T>(coef[j]), shift = C<T>(coef[c + j]);
    for (int64_t i = blockIdx.y * int64_t(kTileY) + threadIdx.y; i < m; i += int64_t(gridDim.y) * kTileY) {
      const C<T> v = (load(x, i * lx + j) * scale + shift) + load(r, i * c + j);
      store(y, i * c + j, v < C<T>(0) ? C<T>(0) : v);  // NaN stays NaN, as torch.relu
    }
  }
}

// gr += gy where y > 0, 0 elsewhere (the residual's gradient through the ReLU and the add); = when !accumulate.
template <class T>
__global__ void relu_masked_grad(const T* __restrict__ g, const T* __restrict__ y, int64_t n, T* __restrict__ gr,
                                 bool accumulate) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const C<T> v = masked_grad(g, y, e);
    store(gr, e, accumulate ? load(gr, e) + v : v);
  }
}

template <class T>
__global__ void inverse_std_kernel(const T* var, T* invstd, int64_t n, double eps) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    store(invstd, j, C<T>(1.0 / sqrt(double(load(var, j)) + eps)));
}

template <class T>
__global__ void running_update_kernel(T* running, const T* value, int64_t n, double momentum, double scale) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    store(running, j, C<T>((1.0 - momentum) * double(load(running, j)) + momentum * double(load(value, j)) * scale));
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
  return v;  // the same bits in every lane (each butterfly step adds the same two values)
}

constexpr int kWarpsPerBlock = 8;

// One warp per row: two passes for mean and squared deviations, then y.
template <class T>
__global__ void layer_norm_forward_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                          int64_t m, int64_t c, double eps, T* __restrict__ y, T* __restrict__ mean,
                                          T* __restrict__ invstd) {
  const int lane = threadIdx.x & 31;
  for (int64_t i = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); i < m;
       i += int64_t(gridDim.x) * kWarpsPerBlock) {
    const T* xr = x + i * c;
    double s = 0.0;
    for (int64_t j = lane; j < c; j += 32) s += double(load(xr, j));
    const double mu = warp_sum(s) / double(c);
    double ss = 0.0;
    for (int64_t j = lane; j < c; j += 32) {
      double d = double(load(xr, j)) - mu;
      ss += d * d;
    }
    const double inv = 1.0 / sqrt(warp_sum(ss) / double(c) + eps);
    const C<T> mu_c = C<T>(mu), inv_c = C<T>(inv);
    if (lane == 0) store(mean, i, mu_c), store(invstd, i, inv_c);
    T* yr = y + i * c;
    for (int64_t j = lane; j < c; j += 32)
      store(yr, j, (load(xr, j) - mu_c) * inv_c * (w ? load(w, j) : C<T>(1)) + (b ? load(b, j) : C<T>(0)));
  }
}

// gx += inv * (g w - mean(g w) - xhat mean(g w xhat)), one warp per row.
template <class T>
__global__ void layer_norm_grad_input(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ mean,
                                      const T* __restrict__ invstd, const T* __restrict__ g, int64_t m, int64_t c,
                                      T* __restrict__ gx) {
  const int lane = threadIdx.x & 31;
  for (int64_t i = blockIdx.x * int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); i < m;
       i += int64_t(gridDim.x) * kWarpsPerBlock) {
    const T *xr = x + i * c, *gr = g + i * c;
    const C<T> mu = load(mean, i), inv = load(invstd, i);
    double sg = 0.0, sgx = 0.0;
    for (int64_t j = lane; j < c; j += 32) {
      double gw = double(load(gr, j)) * (w ? double(load(w, j)) : 1.0);
      sg += gw;
      sgx += gw * double((load(xr, j) - mu) * inv);
    }
    sg = warp_sum(sg), sgx = warp_sum(sgx);
    const C<T> k0 = inv, k1 = C<T>(double(inv) * sg / double(c)), k2 = C<T>(double(inv) * double(inv) * sgx / double(c));
    T* gxr = gx + i * c;
    for (int64_t j = lane; j < c; j += 32)
      store(gxr, j, load(gxr, j) + (k0 * load(gr, j) * (w ? load(w, j) : C<T>(1)) - k1 - (load(xr, j) - mu) * k2));
  }
}

template <class T>
__global__ void layer_norm_param_final(const double* __restrict__ part, int64_t chunks, int64_t c, T* gw, T* gb) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < c; j += int64_t(gridDim.x) * blockDim.x) {
    if (gw) store(gw, j, load(gw, j) + C<T>(chunk_total(part, chunks, 2, 0, c, j)));
    if (gb) store(gb, j, load(gb, j) + C<T>(chunk_total(part, chunks, 2, 1, c, j)));
  }
}

__global__ void increment_i64_kernel(int64_t* p) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *p += 1;
}

// The launchers take [m, c] data (channels last), contiguous but for batch norm's x and gx (rows lx, lgx apart); `acc` is the f64 workspace of (2 * chunks + 2) * c
// values (NormWorkspace::acc), `chunks` the fixed row partition of the column reductions (norm_row_chunks).
// Gradients accumulate (+=), but for batch norm's gx and the residual's gradient, written (=) when their accumulate
// flag is false; a null gradient pointer is skipped.

void launch_batch_norm_stats(DType dt, const void* x, int64_t lx, int64_t m, int64_t c, int64_t chunks, double* acc,
                             void* mean, void* invstd, void* var, double eps, int device) {
  if (c <= 0) return;
  cudaStream_t s = current_stream(device);
  double* mu = acc + 2 * chunks * c;  // the first total row
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm", {
    const scalar_t* px = static_cast<const scalar_t*>(x);
    // Two passes (mean, then squared deviations) keep the variance accurate for data with a large mean.
    run_column_partials<scalar_t, 1>(m, c, chunks, SumTerm<scalar_t>{px, lx}, acc, s);
    batch_mean_final<<<blocks_for(c), kThreads, 0, s>>>(acc, chunks, m, c, mu);
    check_launch("batch_mean_final");
    run_column_partials<scalar_t, 1>(m, c, chunks, SquaredDeviationTerm<scalar_t>{px, mu, lx}, acc, s);
    batch_var_final<scalar_t><<<blocks_for(c), kThreads, 0, s>>>(acc, mu, chunks, m, c, eps,
                                                                  static_cast<scalar_t*>(mean),
                                                                  static_cast<scalar_t*>(invstd),
                                                                  static_cast<scalar_t*>(var));
    check_launch("batch_var_final");
  });
}

void launch_batch_norm_apply(DType dt, const void* x, int64_t lx, int64_t m, int64_t c, const void* mean, const void* invstd,
                             const void* weight, const void* bias, double* acc, void* y, bool relu, int device) {
  if (c <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm", {
    batch_norm_coef<scalar_t><<<blocks_for(c), kThreads, 0, s>>>(
        static_cast<const scalar_t*>(mean), static_cast<const scalar_t*>(invstd),
        static_cast<const scalar_t*>(weight), static_cast<const scalar_t*>(bias), c, acc);
    check_launch("batch_norm_coef");
    if (m <= 0) return;
    batch_norm_apply_kernel<scalar_t><<<grid_rows_cols(m, c), dim3(kTileX, kTileY), 0, s>>>(
        static_cast<const scalar_t*>(x), lx, acc, m, c, relu, static_cast<scalar_t*>(y));
    check_launch("batch_norm_apply");
  });
}

void launch_batch_norm_backward(DType dt, const void* x, int64_t lx, const void* mean, const void* invstd,
                                const void* weight, const void* gy, int64_t m, int64_t c, int64_t chunks,
                                bool batch_stats, double* acc, void* gx, int64_t lgx, bool accumulate_gx, void* gweight,
                                void* gbias, const void* relu_out, int device) {
  if (c <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm backward", {
    const scalar_t *px = static_cast<const scalar_t*>(x), *pm = static_cast<const scalar_t*>(mean),
                   *pg = static_cast<const scalar_t*>(gy), *pr = static_cast<const scalar_t*>(relu_out);
    const bool reduce = batch_stats || gweight || gbias;
    if (reduce) run_column_partials<scalar_t, 2>(m, c, chunks, BatchNormGradTerm<scalar_t>{px, pg, pm, pr, c, lx}, acc, s);
    batch_norm_backward_final<scalar_t><<<blocks_for(c), kThreads, 0, s>>>(
        acc, chunks, m, c, reduce, batch_stats, static_cast<const scalar_t*>(invstd),
        static_cast<const scalar_t*>(weight), static_cast<scalar_t*>(gweight), static_cast<scalar_t*>(gbias));
    check_launch("batch_norm_backward_final");
    if (!gx || m <= 0) return;
    batch_norm_grad_input<scalar_t><<<grid_rows_cols(m, c), dim3(kTileX, kTileY), 0, s>>>(
        px, lx, pg, pm, pr, acc, m, c, static_cast<scalar_t*>(gx), lgx, accumulate_gx);
    check_launch("batch_norm_grad_input");
  });
}

void launch_batch_norm_add_relu_apply(DType dt, const void* x, int64_t lx, const void* residual, int64_t m, int64_t c,
                                      const void* mean, const void* invstd, const void* weight, const void* bias,
                                      double* acc, void* y, int device) {
  if (c <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm_add_relu", {
    batch_norm_coef<scalar_t><<<blocks_for(c), kThreads, 0, s>>>(
        static_cast<const scalar_t*>(mean), static_cast<const scalar_t*>(invstd),
        static_cast<const scalar_t*>(weight), static_cast<const scalar_t*>(bias), c, acc);
    check_launch("batch_norm_coef");
    if (m <= 0) return;
    batch_norm_add_relu_kernel<scalar_t><<<grid_rows_cols(m, c), dim3(kTileX, kTileY), 0, s>>>(
        static_cast<const scalar_t*>(x), lx, static_cast<const scalar_t*>(residual), acc, m, c,
        static_cast<scalar_t*>(y));
    check_launch("batch_norm_add_relu");
  });
}

void launch_relu_masked_grad(DType dt, const void* gy, const void* y, int64_t n, void* gr, bool accumulate,
                             int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm_add_relu backward", {
    relu_masked_grad<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(gy), static_cast<const scalar_t*>(y), n, static_cast<scalar_t*>(gr), accumulate);
    check_launch("relu_masked_grad");
  });
}

void launch_inverse_std(DType dt, const void* var, void* invstd, int64_t n, double eps, int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm", {
    inverse_std_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(var), static_cast<scalar_t*>(invstd), n, eps);
    check_launch("inverse_std");
  });
}

void launch_running_update(DType dt, void* running, const void* value, int64_t n, double momentum, double scale,
                           int device) {
  if (n <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "batch_norm running statistics", {
    running_update_kernel<scalar_t><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
        static_cast<scalar_t*>(running), static_cast<const scalar_t*>(value), n, momentum, scale);
    check_launch("running_update");
  });
}

void launch_layer_norm_forward(DType dt, const void* x, const void* weight, const void* bias, int64_t m, int64_t c,
                               double eps, void* y, void* mean, void* invstd, int device) {
  if (m <= 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "layer_norm", {
    layer_norm_forward_kernel<scalar_t><<<blocks_for(m, kWarpsPerBlock), kWarpsPerBlock * 32, 0,
                                          current_stream(device)>>>(
        static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(weight), static_cast<const scalar_t*>(bias), m,
        c, eps, static_cast<scalar_t*>(y), static_cast<scalar_t*>(mean), static_cast<scalar_t*>(invstd));
    check_launch("layer_norm_forward");
  });
}

void launch_layer_norm_backward(DType dt, const void* x, const void* weight, const void* mean, const void* invstd,
                                const void* gy, int64_t m, int64_t c, int64_t chunks, double* acc, void* gx,
                                void* gweight, void* gbias, int device) {
  if (m <= 0 || c <= 0) return;
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(dt, "layer_norm backward", {
    const scalar_t *px = static_cast<const scalar_t*>(x), *pw = static_cast<const scalar_t*>(weight),
                   *pm = static_cast<const scalar_t*>(mean), *pi = static_cast<const scalar_t*>(invstd),
                   *pg = static_cast<const scalar_t*>(gy);
    if (gx) {
      layer_norm_grad_input<scalar_t><<<blocks_for(m, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
          px, pw, pm, pi, pg, m, c, static_cast<scalar_t*>(gx));
      check_launch("layer_norm_grad_input");
    }
    if (gweight || gbias) {
      run_column_partials<scalar_t, 2>(m, c, chunks, LayerNormGradTerm<scalar_t>{px, pg, pm, pi, c}, acc, s);
      layer_norm_param_final<scalar_t><<<blocks_for(c), kThreads, 0, s>>>(
          acc, chunks, c, static_cast<scalar_t*>(gweight), static_cast<scalar_t*>(gbias));
      check_launch("layer_norm_param_final");
    }
  });
}

void launch_increment_i64(int64_t* p, int device) {
  increment_i64_kernel<<<1, 1, 0, current_stream(device)>>>(p);
  check_launch("increment_i64");
}

using kernels::NormWorkspace;
using kernels::TensorRef;

struct Rows {
  int64_t m, c;
};
Rows rows_of(const TensorRef& x) {
  int64_t c = x.size(x.dim() - 1);
  return {c ? x.numel() / c : 0, c};
}

const void* cptr(const TensorRef& t) { return t.defined() ? t.raw_data() : nullptr; }
void* ptr(const TensorRef& t) { return t.defined() ? t.raw_data() : nullptr; }

// The workspace's f64 accumulator, checked to hold the (2 * chunks + 2) * c values the kernels use.
double* acc_of(const char* op, const NormWorkspace& ws, int64_t chunks, int64_t c, int device) {
  FER_CHECK(ws.acc.defined() && ws.acc.dtype() == DType::f64 && ws.acc.on_cuda() && ws.acc.device == device &&
                ws.acc.numel() >= (2 * chunks + 2) * c,
            op, ": the workspace must be an f64 accumulator of [2 * chunks + 2, C] on the input's device");
  return ws.acc.data<double>();
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void batch_norm_stats_cuda(const BatchNormStatsArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm", {&a.x, &a.mean, &a.invstd, &a.var});
  const cuda::Rows r = cuda::rows_of(a.x);
  const int64_t chunks = norm_row_chunks(r.m, r.c);
  cuda::launch_batch_norm_stats(a.x.dtype(), a.x.raw_data(), norm_row_stride(a.x), r.m, r.c, chunks,
                                cuda::acc_of("batch_norm", a.ws, chunks, r.c, dev), a.mean.raw_data(),
                                a.invstd.raw_data(), cuda::ptr(a.var), a.eps, dev);
}

void batch_norm_apply_cuda(const BatchNormApplyArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm", {&a.x, &a.mean, &a.invstd, &a.weight, &a.bias, &a.y});
  const cuda::Rows r = cuda::rows_of(a.x);
  cuda::launch_batch_norm_apply(a.x.dtype(), a.x.raw_data(), norm_row_stride(a.x), r.m, r.c, a.mean.raw_data(),
                                a.invstd.raw_data(),
                                cuda::cptr(a.weight), cuda::cptr(a.bias), cuda::acc_of("batch_norm", a.ws, 1, r.c, dev),
                                a.y.raw_data(), a.relu, dev);
}

void batch_norm_backward_cuda(const BatchNormBackwardArgs& a) {
  const int dev = cuda::cuda_device_of(
      "batch_norm backward", {&a.x, &a.mean, &a.invstd, &a.weight, &a.gy, &a.gx, &a.gweight, &a.gbias, &a.relu_out});
  const cuda::Rows r = cuda::rows_of(a.x);
  const int64_t chunks = norm_row_chunks(r.m, r.c);
  cuda::launch_batch_norm_backward(a.x.dtype(), a.x.raw_data(), norm_row_stride(a.x), a.mean.raw_data(),
                                   a.invstd.raw_data(), cuda::cptr(a.weight), a.gy.raw_data(), r.m, r.c, chunks,
                                   a.batch_stats, cuda::acc_of("batch_norm backward", a.ws, chunks, r.c, dev),
                                   cuda::ptr(a.gx), a.gx.defined() ? norm_row_stride(a.gx) : r.c, a.accumulate_gx,
                                   cuda::ptr(a.gweight),
                                   cuda::ptr(a.gbias), cuda::cptr(a.relu_out), dev);
}

void batch_norm_add_relu_apply_cuda(const BatchNormAddReluApplyArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm_add_relu",
                                       {&a.x, &a.residual, &a.mean, &a.invstd, &a.weight, &a.bias, &a.y});
  const cuda::Rows r = cuda::rows_of(a.x);
  cuda::launch_batch_norm_add_relu_apply(a.x.dtype(), a.x.raw_data(), norm_row_stride(a.x), a.residual.raw_data(), r.m, r.c,
                                         a.mean.raw_data(), a.invstd.raw_data(), cuda::cptr(a.weight),
                                         cuda::cptr(a.bias), cuda::acc_of("batch_norm_add_relu", a.ws, 1, r.c, dev),
                                         a.y.raw_data(), dev);
}

void batch_norm_add_relu_backward_cuda(const BatchNormAddReluBackwardArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm_add_relu backward", {&a.x, &a.mean, &a.invstd, &a.weight, &a.gy, &a.y,
                                                                        &a.gx, &a.gweight, &a.gbias, &a.gresidual});
  const cuda::Rows r = cuda::rows_of(a.x);
  const int64_t chunks = norm_row_chunks(r.m, r.c);
  cuda::launch_batch_norm_backward(a.x.dtype(), a.x.raw_data(), norm_row_stride(a.x), a.mean.raw_data(),
                                   a.invstd.raw_data(), cuda::cptr(a.weight), a.gy.raw_data(), r.m, r.c, chunks,
                                   a.batch_stats, cuda::acc_of("batch_norm_add_relu backward", a.ws, chunks, r.c, dev),
                                   cuda::ptr(a.gx), a.gx.defined() ? norm_row_stride(a.gx) : r.c, a.accumulate_gx,
                                   cuda::ptr(a.gweight),
                                   cuda::ptr(a.gbias), a.y.raw_data(), dev);
  if (a.gresidual.defined())
    cuda::launch_relu_masked_grad(a.x.dtype(), a.gy.raw_data(), a.y.raw_data(), r.m * r.c, a.gresidual.raw_data(),
                                  a.accumulate_gresidual, dev);
}

void inverse_std_cuda(const InverseStdArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm", {&a.var, &a.invstd});
  cuda::launch_inverse_std(a.var.dtype(), a.var.raw_data(), a.invstd.raw_data(), a.var.numel(), a.eps, dev);
}

void running_update_cuda(const RunningUpdateArgs& a) {
  const int dev = cuda::cuda_device_of("batch_norm running statistics", {&a.running, &a.value});
  cuda::launch_running_update(a.running.dtype(), a.running.raw_data(), a.value.raw_data(), a.running.numel(),
                              a.momentum, a.scale, dev);
}

void layer_norm_forward_cuda(const LayerNormForwardArgs& a) {
  const int dev = cuda::cuda_device_of("layer_norm", {&a.x, &a.weight, &a.bias, &a.y, &a.mean, &a.invstd});
  const cuda::Rows r = cuda::rows_of(a.x);
  cuda::launch_layer_norm_forward(a.x.dtype(), a.x.raw_data(), cuda::cptr(a.weight), cuda::cptr(a.bias), r.m, r.c,
                                  a.eps, a.y.raw_data(), a.mean.raw_data(), a.invstd.raw_data(), dev);
}

void layer_norm_backward_cuda(const LayerNormBackwardArgs& a) {
  const int dev = cuda::cuda_device_of("layer_norm backward",
                                       {&a.x, &a.weight, &a.mean, &a.invstd, &a.gy, &a.gx, &a.gweight, &a.gbias});
  const cuda::Rows r = cuda::rows_of(a.x);
  const int64_t chunks = norm_row_chunks(r.m, r.c);
  double* acc = a.gweight.defined() || a.gbias.defined()
                    ? cuda::acc_of("layer_norm backward", a.ws, chunks, r.c, dev)
                    : nullptr;
  cuda::launch_layer_norm_backward(a.x.dtype(), a.x.raw_data(), cuda::cptr(a.weight), a.mean.raw_data(),
                                   a.invstd.raw_data(), a.gy.raw_data(), r.m, r.c, chunks, acc, cuda::ptr(a.gx),
                                   cuda::ptr(a.gweight), cuda::ptr(a.gbias), dev);
}

void increment_i64_cuda(const IncrementArgs& a) {
  const int dev = cuda::cuda_device_of("increment_i64", {&a.t});
  FER_CHECK(a.t.dtype() == DType::i64 && a.t.numel() == 1, "increment_i64: needs a one-element i64 tensor, got ",
            dtype_name(a.t.dtype()), " ", a.t.shape().str());
  cuda::launch_increment_i64(a.t.data<int64_t>(), dev);
}

}  // namespace fer::kernels
