// Batch norm and layer norm on channels-last data: rows of C contiguous values, vectorizable over C (batch norm's x
// and gx rows may lie further apart: norm_row_stride). Reductions over rows use a fixed row partition with double
// accumulators (summed in a fixed order, so results do not depend on the thread count); reductions along a row use
// several independent double lanes so they vectorize too.
#include "fer/kernels/norm.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"
#include "fer/core/region_merging.hpp"

namespace fer::kernels {

namespace {

constexpr int64_t kRowWork = 16384;  // elements per task of the elementwise passes
constexpr int kLanes = 8;

struct Rows {
  int64_t m, c;
};
Rows rows_of(const TensorRef& x) {
  int64_t c = x.size(x.dim() - 1);
  return {c ? x.numel() / c : 0, c};
}
int64_t row_grain(int64_t c) { return std::max<int64_t>(1, kRowWork / std::max<int64_t>(c, 1)); }

// Runs f(chunk, lo, hi) over the fixed row ranges of norm_row_chunks, in parallel.
template <class F>
void for_chunks(int64_t m, int64_t chunks, F&& f) {
  parallel_for(0, chunks, 1, [&](int64_t a, int64_t b) {
    for (int64_t k = a; k < b; ++k) f(k, m * k / chunks, m * (k + 1) / chunks);
  });
}

// total[j] = sum over chunks k of part[k * stride + j], in chunk order.
void sum_chunks(const double* part, int64_t chunks, int64_t stride, int64_t c, double* __restrict total) {
  std::fill(total, total + c, 0.0);
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t j = 0; j < c; ++j) total[j] += part[k * stride + j];
}

// sum of term(j) for j in [0, n) with kLanes independent accumulators (a plain serial sum would not vectorize).
template <class F>
inline double lane_sum(int64_t n, F&& term) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  double s = 0;
  for (; j < n; ++j) s += term(j);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// r > 0 ? g : +0, as a bit mask: GCC leaves the select scalar (with a branch) in a loop that widens to double, and
// vectorizes the mask.
template <class T>
inline T positive_or_zero(T g, T r) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U keep = U(0) - U(r > T(0));
  return std::bit_cast<T>(U(std::bit_cast<U>(g) & keep));
}

template <class T>
const T* ptr_or_null(const TensorRef& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void batch_norm_stats_cpu(const BatchNormStatsArgs& a) {
  const TensorRef &x = a.x, &mean = a.mean, &invstd = a.invstd, &var = a.var;
  const NormWorkspace& ws = a.ws;
  const double eps = a.eps;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
    int64_t m = extent.m, c = extent.c;
    const T* px = x.data<T>();
    const int64_t lx = norm_row_stride(x);
    const int64_t chunks = norm_row_chunks(m, c);
    double* part = ws.acc.data<double>();
    double* mu = part + 2 * chunks * c;
    double* sq = mu + c;
    // Two passes (mean, then squared deviations) keep the variance accurate for data with a large mean.
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* __restrict acc = part + k * c;
      std::fill(acc, acc + c, 0.0);
      for (int64_t i = lo; i < hi; ++i) {
        const T* __restrict xr = px + i * lx;
        for (int64_t j = 0; j < c; ++j) acc[j] += double(xr[j]);
      }
    });
    sum_chunks(part, chunks, c, c, mu);
    for (int64_t j = 0; j < c; ++j) mu[j] /= double(m);
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* __restrict acc = part + k * c;
      std::fill(acc, acc + c, 0.0);
      for (int64_t i = lo; i < hi; ++i) {
        const T* __restrict xr = px + i * lx;
        for (int64_t j = 0; j < c; ++j) {
          double d = double(xr[j]) - mu[j];
          acc[j] += d * d;
        }
      }
    });
    sum_chunks(part, chunks, c, c, sq);
    T *pm = mean.data<T>(), *pi = invstd.data<T>();
    T* pv = var.defined() ? var.data<T>() : nullptr;
    for (int64_t j = 0; j < c; ++j) {
      double v = sq[j] / double(m);
      pm[j] = T(mu[j]);
      pi[j] = T(1.0 / std::sqrt(v + eps));
      if (pv) pv[j] = T(v);
    }
  });
}

namespace {

// Batch norm in eval form per channel: y = x * scale + shift, with scale = invstd * weight and
// shift = bias - mean * scale, computed in double and rounded once.
template <class T>
void fold_scale_shift(const T* mean, const T* invstd, const T* weight, const T* bias, int64_t c, T* scale, T* shift) {
  for (int64_t j = 0; j < c; ++j) {
    double s = double(invstd[j]) * (weight ? double(weight[j]) : 1.0);
    scale[j] = T(s);
    shift[j] = T((bias ? double(bias[j]) : 0.0) - double(mean[j]) * s);
  }
}

}  // namespace

void batch_norm_apply_cpu(const BatchNormApplyArgs& a) {
  const TensorRef &x = a.x, &mean = a.mean, &invstd = a.invstd, &weight = a.weight, &bias = a.bias, &y = a.y;
  const NormWorkspace& ws = a.ws;
  const bool relu = a.relu;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
    int64_t m = extent.m, c = extent.c;
    const T *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>();
    const T *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T* py = y.data<T>();
    const int64_t lx = norm_row_stride(x);
    T* scale = ws.coef.data<T>();
    T* shift = scale + c;
    fold_scale_shift(pm, pi, pw, pb, c, scale, shift);
    parallel_for(0, m, row_grain(c), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T* __restrict xr = px + i * lx;
        T* __restrict yr = py + i * c;
        if (relu)
          for (int64_t j = 0; j < c; ++j) {
            const T v = xr[j] * scale[j] + shift[j];
            yr[j] = v > T(0) ? v : (v == v ? T(0) : v);  // NaN stays NaN, as torch.relu
          }
        else
          for (int64_t j = 0; j < c; ++j) yr[j] = xr[j] * scale[j] + shift[j];
      }
    });
  });
}

namespace {

// batch_norm_backward for element type T; kRelu: the BN's output went through a fused ReLU (pr, its output).
// gres (contiguous rows of C, or null): a residual added before that ReLU, whose gradient is the ReLU's gradient;
// it is written (or added, accumulate_gres) in the same pass over the rows as gx, saving a region.
template <class T, bool kRelu>
void batch_norm_backward_rows(const TensorRef& x, const T* pm, const T* pi, const T* pw, const T* pg, const T* pr,
                              bool batch_stats, const NormWorkspace& ws, const TensorRef& gx, bool accumulate_gx,
                              const TensorRef& gweight, const TensorRef& gbias, T* gres = nullptr,
                              bool accumulate_gres = false) {
  const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
  int64_t m = extent.m, c = extent.c;
  const T* px = x.data<T>();
  const int64_t lx = norm_row_stride(x);
  {
    // The gradient reaching the BN at column j of row (gr, rr): gy, or gy where the fused ReLU's output is positive.
    auto grad = [](const T* __restrict gr, const T* __restrict rr, int64_t j) {
      if constexpr (kRelu) return positive_or_zero(gr[j], rr[j]);
      else return gr[j];
    };
    const int64_t chunks = norm_row_chunks(m, c);
    double* part = ws.acc.data<double>();
    double* sum_g = part + 2 * chunks * c;  // per channel: sum(gy)
    double* sum_gd = sum_g + c;             // per channel: sum(gy * (x - mean))
    if (batch_stats || gweight.defined() || gbias.defined()) {
      for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
        double* __restrict sg = part + 2 * k * c;
        double* __restrict sgd = sg + c;
        std::fill(sg, sg + 2 * c, 0.0);
        for (int64_t i = lo; i < hi; ++i) {
          const T *__restrict xr = px + i * lx, *__restrict gr = pg + i * c, *__restrict rr = kRelu ? pr + i * c : nullptr;
          for (int64_t j = 0; j < c; ++j) {
            double g = double(grad(gr, rr, j));
            sg[j] += g;
            sgd[j] += g * (double(xr[j]) - double(pm[j]));
          }
        }
      });
      sum_chunks(part, chunks, 2 * c, c, sum_g);
      sum_chunks(part + c, chunks, 2 * c, c, sum_gd);
    }
    if (gweight.defined()) {
      T* gw = gweight.data<T>();
      for (int64_t j = 0; j < c; ++j) gw[j] += T(sum_gd[j] * double(pi[j]));
    }
    if (gbias.defined()) {
      T* gb = gbias.data<T>();
      for (int64_t j = 0; j < c; ++j) gb[j] += T(sum_g[j]);
    }
    if (!gx.defined()) return;
    // gx = w invstd (gy - [mean(gy) + xhat mean(gy xhat)] with batch statistics)
    //    = a gy - b (x - mean) - d  with per-channel a, b, d.
    T* a = ws.coef.data<T>();
    T* b = a + c;
    T* d = b + c;
    for (int64_t j = 0; j < c; ++j) {
      double s = double(pi[j]) * (pw ? double(pw[j]) : 1.0);
      a[j] = T(s);
      b[j] = batch_stats ? T(s * double(pi[j]) * double(pi[j]) * sum_gd[j] / double(m)) : T(0);
      d[j] = batch_stats ? T(s * sum_g[j] / double(m)) : T(0);
    }
    T* pgx = gx.data<T>();
    const int64_t lgx = norm_row_stride(gx);
    parallel_for(0, m, row_grain(c), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T *__restrict xr = px + i * lx, *__restrict gr = pg + i * c, *__restrict rr = kRelu ? pr + i * c : nullptr;
        T* __restrict gxr = pgx + i * lgx;
        if (accumulate_gx)
          for (int64_t j = 0; j < c; ++j) gxr[j] += a[j] * grad(gr, rr, j) - b[j] * (xr[j] - pm[j]) - d[j];
        else
          for (int64_t j = 0; j < c; ++j) gxr[j] = a[j] * grad(gr, rr, j) - b[j] * (xr[j] - pm[j]) - d[j];
        if (!gres) continue;
        T* __restrict grr = gres + i * c;
        if (accumulate_gres)
          for (int64_t j = 0; j < c; ++j) grr[j] += grad(gr, rr, j);
        else
          for (int64_t j = 0; j < c; ++j) grr[j] = grad(gr, rr, j);
      }
    });
  }
}

}  // namespace

void batch_norm_backward_cpu(const BatchNormBackwardArgs& a) {
  const TensorRef &x = a.x, &mean = a.mean, &invstd = a.invstd, &weight = a.weight, &gy = a.gy, &gx = a.gx,
                  &gweight = a.gweight, &gbias = a.gbias, &relu_out = a.relu_out;
  const NormWorkspace& ws = a.ws;
  const bool batch_stats = a.batch_stats;
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pm = mean.data<T>(), *pi = invstd.data<T>(), *pg = gy.data<T>();
    const T *pw = ptr_or_null<T>(weight), *pr = ptr_or_null<T>(relu_out);
    if (pr) batch_norm_backward_rows<T, true>(x, pm, pi, pw, pg, pr, batch_stats, ws, gx, a.accumulate_gx, gweight, gbias);
    else batch_norm_backward_rows<T, false>(x, pm, pi, pw, pg, pr, batch_stats, ws, gx, a.accumulate_gx, gweight, gbias);
  });
}

void batch_norm_add_relu_apply_cpu(const BatchNormAddReluApplyArgs& a) {
  const TensorRef &x = a.x, &mean = a.mean, &invstd = a.invstd, &weight = a.weight, &bias = a.bias,
                  &residual = a.residual, &y = a.y;
  const NormWorkspace& ws = a.ws;
  dispatch_float(x.dtype(), "batch_norm_add_relu", [&](auto tag) {
    using T = decltype(tag);
    const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
    int64_t m = extent.m, c = extent.c;
    const T *px = x.data<T>(), *pr = residual.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>();
    const T *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T* py = y.data<T>();
    const int64_t lx = norm_row_stride(x);
    T* scale = ws.coef.data<T>();
    T* shift = scale + c;
    fold_scale_shift(pm, pi, pw, pb, c, scale, shift);
    parallel_for(0, m, row_grain(c), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T *__restrict xr = px + i * lx, *__restrict rr = pr + i * c;
        T* __restrict yr = py + i * c;
        for (int64_t j = 0; j < c; ++j) {
          // BN's output rounded to T first, then the add: the unfused sequence's values exactly.
          const T bn = xr[j] * scale[j] + shift[j];
          const T v = bn + rr[j];
          yr[j] = v > T(0) ? v : (v == v ? T(0) : v);  // NaN stays NaN, as torch.relu
        }
      }
    });
  });
}

void batch_norm_add_relu_backward_cpu(const BatchNormAddReluBackwardArgs& a) {
  dispatch_float(a.x.dtype(), "batch_norm_add_relu backward", [&](auto tag) {
    using T = decltype(tag);
    const T *pm = a.mean.data<T>(), *pi = a.invstd.data<T>(), *pg = a.gy.data<T>(), *py = a.y.data<T>();
    // With gx the residual's gradient is written in gx's pass over the rows; without, in a pass of its own.
    // (Not when the two buffers overlap, as for the same tensor passed as input and residual: gx's rows are written
    // through restrict pointers.)
    bool residual_with_gx = a.gresidual.defined() && a.gx.defined() && region_merging();
    const Rows rows = rows_of(a.x);
    if (residual_with_gx && rows.m > 0) {
      const T *r0 = a.gresidual.data<T>(), *r1 = r0 + rows.m * rows.c;
      const T *x0 = a.gx.data<T>(), *x1 = x0 + (rows.m - 1) * norm_row_stride(a.gx) + rows.c;
      residual_with_gx = r1 <= x0 || x1 <= r0;
    }
    batch_norm_backward_rows<T, true>(a.x, pm, pi, ptr_or_null<T>(a.weight), pg, py, a.batch_stats, a.ws, a.gx,
                                      a.accumulate_gx, a.gweight, a.gbias,
                                      residual_with_gx ? a.gresidual.data<T>() : nullptr, a.accumulate_gresidual);
    if (!a.gresidual.defined() || residual_with_gx) return;
    // The residual's gradient: the add passes the ReLU's gradient through unchanged.
    const Rows extent = rows_of(a.x);
    const int64_t n = extent.m * extent.c;
    T* pgr = a.gresidual.data<T>();
    const bool acc = a.accumulate_gresidual;
    parallel_for(0, n, kRowWork, [&](int64_t lo, int64_t hi) {
      if (acc) for (int64_t e = lo; e < hi; ++e) pgr[e] += positive_or_zero(pg[e], py[e]);
      else for (int64_t e = lo; e < hi; ++e) pgr[e] = positive_or_zero(pg[e], py[e]);
    });
  });
}

void inverse_std_cpu(const InverseStdArgs& a) {
  const TensorRef &var = a.var, &invstd = a.invstd;
  const double eps = a.eps;
  dispatch_float(var.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* v = var.data<T>();
    T* o = invstd.data<T>();
    for (int64_t j = 0; j < var.numel(); ++j) o[j] = T(1.0 / std::sqrt(double(v[j]) + eps));
  });
}

void running_update_cpu(const RunningUpdateArgs& a) {
  const TensorRef &running = a.running, &value = a.value;
  const double momentum = a.momentum, scale = a.scale;
  dispatch_float(running.dtype(), "batch_norm running statistics", [&](auto tag) {
    using T = decltype(tag);
    T* r = running.data<T>();
    const T* v = value.data<T>();
    for (int64_t j = 0; j < running.numel(); ++j)
      r[j] = T((1.0 - momentum) * double(r[j]) + momentum * double(v[j]) * scale);
  });
}

void layer_norm_forward_cpu(const LayerNormForwardArgs& a) {
  const TensorRef &x = a.x, &weight = a.weight, &bias = a.bias, &y = a.y, &mean = a.mean, &invstd = a.invstd;
  const double eps = a.eps;
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
    int64_t m = extent.m, c = extent.c;
    const T *px = x.data<T>(), *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T *py = y.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>();
    parallel_for(0, m, row_grain(c), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T* __restrict xr = px + i * c;
        // Two passes over the (cached) row: the mean, then squared deviations from it.
        double mu = lane_sum(c, [&](int64_t j) { return double(xr[j]); }) / double(c);
        double ss = lane_sum(c, [&](int64_t j) {
          double dev = double(xr[j]) - mu;
          return dev * dev;
        });
        const T mu_t = T(mu), inv = T(1.0 / std::sqrt(ss / double(c) + eps));
        pm[i] = mu_t, pi[i] = inv;
        T* __restrict yr = py + i * c;
        for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - mu_t) * inv * (pw ? pw[j] : T(1)) + (pb ? pb[j] : T(0));
      }
    });
  });
}

void layer_norm_backward_cpu(const LayerNormBackwardArgs& a) {
  const TensorRef &x = a.x, &weight = a.weight, &mean = a.mean, &invstd = a.invstd, &gy = a.gy, &gx = a.gx,
                  &gweight = a.gweight, &gbias = a.gbias;
  const NormWorkspace& ws = a.ws;
  dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
    using T = decltype(tag);
    const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
    int64_t m = extent.m, c = extent.c;
    const T *px = x.data<T>(), *pw = ptr_or_null<T>(weight), *pm = mean.data<T>(), *pi = invstd.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = gx.defined() ? gx.data<T>() : nullptr;
    const int64_t chunks = norm_row_chunks(m, c);
    const bool want_params = gweight.defined() || gbias.defined();
    double* part = ws.acc.data<double>();
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* __restrict sgw = part + 2 * k * c;  // this chunk's sum(gy * xhat) and sum(gy)
      double* __restrict sgb = sgw + c;
      if (want_params) std::fill(sgw, sgw + 2 * c, 0.0);
      for (int64_t i = lo; i < hi; ++i) {
        const T *__restrict xr = px + i * c, *__restrict gr = pg + i * c;
        const T mu = pm[i], inv = pi[i];
        if (want_params)
          for (int64_t j = 0; j < c; ++j) {
            double g = double(gr[j]);
            sgw[j] += g * double((xr[j] - mu) * inv);
            sgb[j] += g;
          }
        if (!pgx) continue;
        // With g = gy * w: gx = inv * (g - mean(g) - xhat * mean(g * xhat)).
        double sg = lane_sum(c, [&](int64_t j) { return double(gr[j]) * (pw ? double(pw[j]) : 1.0); });
        double sgx = lane_sum(c, [&](int64_t j) {
          return double(gr[j]) * (pw ? double(pw[j]) : 1.0) * double((xr[j] - mu) * inv);
        });
        const T k0 = inv, k1 = T(double(inv) * sg / double(c)), k2 = T(double(inv) * double(inv) * sgx / double(c));
        T* __restrict gxr = pgx + i * c;
        for (int64_t j = 0; j < c; ++j) gxr[j] += k0 * gr[j] * (pw ? pw[j] : T(1)) - k1 - (xr[j] - mu) * k2;
      }
    });
    if (!want_params) return;
    double* total = part + 2 * chunks * c;
    if (gweight.defined()) {
      sum_chunks(part, chunks, 2 * c, c, total);
      T* gw = gweight.data<T>();
      for (int64_t j = 0; j < c; ++j) gw[j] += T(total[j]);
    }
    if (gbias.defined()) {
      sum_chunks(part + c, chunks, 2 * c, c, total + c);
      T* gb = gbias.data<T>();
      for (int64_t j = 0; j < c; ++j) gb[j] += T(total[c + j]);
    }
  });
}

void increment_i64_cpu(const IncrementArgs& a) { *a.t.data<int64_t>() += 1; }

}  // namespace fer::kernels
