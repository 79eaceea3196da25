// Batch norm and layer norm on channels-last data: rows of C contiguous values, vectorizable over C; reductions
// over rows are split into one chunk per thread with double accumulators, then summed in a fixed order (the result
// does not depend on scheduling).
#include "fer/backend/cpu/norm.hpp"

#include <cmath>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::cpu {

namespace {

struct RowsView {
  int64_t m, c;
};
RowsView rows_of(const Tensor& x) {
  int64_t c = x.size(x.dim() - 1);
  return {c ? x.numel() / c : 0, c};
}

// Runs f(chunk, lo, hi) over `chunks` fixed row ranges in parallel.
template <class F>
void for_chunks(int64_t m, int64_t chunks, F&& f) {
  parallel_for(0, chunks, 1, [&](int64_t a, int64_t b) {
    for (int64_t k = a; k < b; ++k) f(k, m * k / chunks, m * (k + 1) / chunks);
  });
}

int64_t chunk_count(int64_t m, int64_t c) {
  int64_t t = num_threads();
  return m * c < 32768 ? 1 : std::min<int64_t>(t, m);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_or_null(const Tensor& t) {
  return t.defined() ? const_cast<T*>(t.data<T>()) : nullptr;
}

}  // namespace

void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& var, double eps) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    auto [m, c] = rows_of(x);
    const T* px = x.data<T>();
    int64_t chunks = chunk_count(m, c);
    std::vector<double> part(size_t(chunks * c), 0.0);
    // Two passes (mean, then squared deviations) keep the variance accurate for data with a large mean.
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* acc = part.data() + k * c;
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < c; ++j) acc[j] += double(px[i * c + j]);
    });
    std::vector<double> mu(size_t(c), 0.0);
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t j = 0; j < c; ++j) mu[size_t(j)] += part[size_t(k * c + j)];
    for (double& v : mu) v /= double(m);
    std::fill(part.begin(), part.end(), 0.0);
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* acc = part.data() + k * c;
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < c; ++j) {
          double d = double(px[i * c + j]) - mu[size_t(j)];
          acc[j] += d * d;
        }
    });
    T* pm = mut_or_null<T>(mean);
    T* pi = mut_or_null<T>(invstd);
    T* pv = mut_or_null<T>(var);
    for (int64_t j = 0; j < c; ++j) {
      double s = 0;
      for (int64_t k = 0; k < chunks; ++k) s += part[size_t(k * c + j)];
      double v = s / double(m);
      pm[j] = T(mu[size_t(j)]);
      pi[j] = T(1.0 / std::sqrt(v + eps));
      if (pv) pv[j] = T(v);
    }
  });
}

void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& y) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    auto [m, c] = rows_of(x);
    const T *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>();
    const T *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T* py = mut_or_null<T>(y);
    // Fold into y = x * scale + shift per channel.
    std::vector<T> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
    for (int64_t j = 0; j < c; ++j) {
      T s = pi[j] * (pw ? pw[j] : T(1));
      scale[size_t(j)] = s;
      shift[size_t(j)] = (pb ? pb[j] : T(0)) - pm[j] * s;
    }
    parallel_for(0, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(c, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T* xr = px + i * c;
        T* yr = py + i * c;
        for (int64_t j = 0; j < c; ++j) yr[j] = xr[j] * scale[size_t(j)] + shift[size_t(j)];
      }
    });
  });
}

void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                         const Tensor& gy, bool batch_stats, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto tag) {
    using T = decltype(tag);
    auto [m, c] = rows_of(x);
    const T *px = x.data<T>(), *pm = mean.data<T>(), *pi = invstd.data<T>(), *pg = gy.data<T>();
    const T* pw = ptr_or_null<T>(weight);
    // Per channel: sum(gy) and sum(gy * xhat).
    int64_t chunks = chunk_count(m, c);
    std::vector<double> part(size_t(2 * chunks * c), 0.0);
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* sg = part.data() + 2 * k * c;
      double* sgx = sg + c;
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < c; ++j) {
          double g = double(pg[i * c + j]);
          sg[j] += g;
          sgx[j] += g * (double(px[i * c + j]) - double(pm[j])) * double(pi[j]);
        }
    });
    std::vector<double> sum_g(size_t(c), 0.0), sum_gx(size_t(c), 0.0);
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t j = 0; j < c; ++j) {
        sum_g[size_t(j)] += part[size_t(2 * k * c + j)];
        sum_gx[size_t(j)] += part[size_t(2 * k * c + c + j)];
      }
    if (T* gw = mut_or_null<T>(gweight))
      for (int64_t j = 0; j < c; ++j) gw[j] += T(sum_gx[size_t(j)]);
    if (T* gb = mut_or_null<T>(gbias))
      for (int64_t j = 0; j < c; ++j) gb[j] += T(sum_g[size_t(j)]);
    T* pgx = mut_or_null<T>(gx);
    if (!pgx) return;
    // gx = w * invstd * (gy - [mean(gy) + xhat * mean(gy * xhat)] if batch statistics)
    std::vector<double> a(static_cast<size_t>(c)), b(static_cast<size_t>(c)), k1(static_cast<size_t>(c));
    for (int64_t j = 0; j < c; ++j) {
      double s = double(pi[j]) * (pw ? double(pw[j]) : 1.0);
      k1[size_t(j)] = s;
      a[size_t(j)] = batch_stats ? sum_g[size_t(j)] / double(m) : 0.0;
      b[size_t(j)] = batch_stats ? sum_gx[size_t(j)] / double(m) : 0.0;
    }
    parallel_for(0, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(c, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < c; ++j) {
          double xhat = (double(px[i * c + j]) - double(pm[j])) * double(pi[j]);
          double g = double(pg[i * c + j]) - a[size_t(j)] - xhat * b[size_t(j)];
          pgx[i * c + j] += T(k1[size_t(j)] * g);
        }
    });
  });
}

void inverse_std(const Tensor& var, const Tensor& invstd, double eps) {
  dispatch_float(var.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* v = var.data<T>();
    T* o = mut_or_null<T>(invstd);
    for (int64_t j = 0; j < var.numel(); ++j) o[j] = T(1.0 / std::sqrt(double(v[j]) + eps));
  });
}

void running_update(const Tensor& running, const Tensor& value, double momentum, double scale) {
  dispatch_float(running.dtype(), "batch_norm running statistics", [&](auto tag) {
    using T = decltype(tag);
    T* r = mut_or_null<T>(running);
    dispatch_float(value.dtype(), "batch_norm running statistics", [&](auto vtag) {
      using V = decltype(vtag);
      const V* v = value.data<V>();
      for (int64_t j = 0; j < running.numel(); ++j)
        r[j] = T((1.0 - momentum) * double(r[j]) + momentum * double(v[j]) * scale);
    });
  });
}

void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd) {
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    auto [m, c] = rows_of(x);
    const T *px = x.data<T>(), *pw = ptr_or_null<T>(weight), *pb = ptr_or_null<T>(bias);
    T *py = mut_or_null<T>(y), *pm = mut_or_null<T>(mean), *pi = mut_or_null<T>(invstd);
    parallel_for(0, m, std::max<int64_t>(1, 8192 / std::max<int64_t>(c, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T* xr = px + i * c;
        double s = 0;
        for (int64_t j = 0; j < c; ++j) s += double(xr[j]);
        double mu = s / double(c), ss = 0;
        for (int64_t j = 0; j < c; ++j) ss += (double(xr[j]) - mu) * (double(xr[j]) - mu);
        double inv = 1.0 / std::sqrt(ss / double(c) + eps);
        pm[i] = T(mu), pi[i] = T(inv);
        T* yr = py + i * c;
        for (int64_t j = 0; j < c; ++j) {
          T xhat = T((double(xr[j]) - mu) * inv);
          yr[j] = xhat * (pw ? pw[j] : T(1)) + (pb ? pb[j] : T(0));
        }
      }
    });
  });
}

void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const Tensor& gx, const Tensor& gweight, const Tensor& gbias) {
  dispatch_float(x.dtype(), "layer_norm backward", [&](auto tag) {
    using T = decltype(tag);
    auto [m, c] = rows_of(x);
    const T *px = x.data<T>(), *pw = ptr_or_null<T>(weight), *pm = mean.data<T>(), *pi = invstd.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = mut_or_null<T>(gx);
    int64_t chunks = chunk_count(m, c);
    bool want_params = gweight.defined() || gbias.defined();
    std::vector<double> part(want_params ? size_t(2 * chunks * c) : 0, 0.0);
    for_chunks(m, chunks, [&](int64_t k, int64_t lo, int64_t hi) {
      double* sgw = want_params ? part.data() + 2 * k * c : nullptr;
      double* sgb = want_params ? sgw + c : nullptr;
      for (int64_t i = lo; i < hi; ++i) {
        const T *xr = px + i * c, *gr = pg + i * c;
        double mu = double(pm[i]), inv = double(pi[i]);
        double mg = 0, mgx = 0;  // mean of g and of g * xhat, g = gy * w
        for (int64_t j = 0; j < c; ++j) {
          double xhat = (double(xr[j]) - mu) * inv, g = double(gr[j]) * (pw ? double(pw[j]) : 1.0);
          mg += g, mgx += g * xhat;
          if (sgw) sgw[j] += double(gr[j]) * xhat, sgb[j] += double(gr[j]);
        }
        mg /= double(c), mgx /= double(c);
        if (pgx)
          for (int64_t j = 0; j < c; ++j) {
            double xhat = (double(xr[j]) - mu) * inv, g = double(gr[j]) * (pw ? double(pw[j]) : 1.0);
            pgx[i * c + j] += T(inv * (g - mg - xhat * mgx));
          }
      }
    });
    if (!want_params) return;
    T *gw = mut_or_null<T>(gweight), *gb = mut_or_null<T>(gbias);
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t j = 0; j < c; ++j) {
        if (gw) gw[j] += T(part[size_t(2 * k * c + j)]);
        if (gb) gb[j] += T(part[size_t(2 * k * c + c + j)]);
      }
  });
}

}  // namespace fer::cpu
