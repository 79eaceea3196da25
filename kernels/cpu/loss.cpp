// Softmax and fused softmax cross-entropy: one pass for the log-sum-exp per row, another for the loss, all rows in
// parallel. Loss sums accumulate in double.
#include "fer/kernels/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::kernels {

void softmax_forward_cpu(const SoftmaxForwardArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int64_t outer = a.outer, dim = a.dim, inner = a.inner;
  const bool log = a.log;
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(0, outer * inner, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t o = r / inner, in = r % inner;
        const T* xr = px + o * dim * inner + in;
        T* yr = py + o * dim * inner + in;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < dim; ++k) m = std::max(m, double(xr[k * inner]));
        double s = 0;
        for (int64_t k = 0; k < dim; ++k) s += std::exp(double(xr[k * inner]) - m);
        double lse = m + std::log(s);
        for (int64_t k = 0; k < dim; ++k)
          yr[k * inner] = log ? T(double(xr[k * inner]) - lse) : T(std::exp(double(xr[k * inner]) - lse));
      }
    });
  });
}

void softmax_backward_cpu(const SoftmaxBackwardArgs& a) {
  const TensorRef &y = a.y, &gy = a.gy, &gx = a.gx;
  const int64_t outer = a.outer, dim = a.dim, inner = a.inner;
  const bool log = a.log;
  dispatch_float(y.dtype(), "softmax backward", [&](auto tag) {
    using T = decltype(tag);
    const T *py = y.data<T>(), *pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(0, outer * inner, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t base = (r / inner) * dim * inner + r % inner;
        double dot = 0;
        for (int64_t k = 0; k < dim; ++k) {
          int64_t i = base + k * inner;
          dot += log ? double(pg[i]) : double(pg[i]) * double(py[i]);
        }
        for (int64_t k = 0; k < dim; ++k) {
          int64_t i = base + k * inner;
          // log_softmax: g - softmax * sum(g); softmax: y * (g - sum(g * y))
          px[i] += log ? T(double(pg[i]) - std::exp(double(py[i])) * dot) : T(double(py[i]) * (double(pg[i]) - dot));
        }
      }
    });
  });
}

namespace {

// Per-row coefficients q (see the header) written into `q` (length C); returns false for an ignored row.
template <class T>
bool row_coefficients(const TensorRef& target, const CrossEntropySpec& s, const T* w, int64_t i, int64_t c, double* q) {
  double eps = s.label_smoothing;
  if (s.prob_targets) {
    const T* t = target.data<T>() + i * c;
    for (int64_t k = 0; k < c; ++k) q[k] = (w ? double(w[k]) : 1.0) * ((1 - eps) * double(t[k]) + eps / double(c));
    return true;
  }
  int64_t y = target.dtype() == DType::i64 ? target.data<int64_t>()[i] : int64_t(target.data<int32_t>()[i]);
  if (y == s.ignore_index) return false;
  for (int64_t k = 0; k < c; ++k) q[k] = eps / double(c) * (w ? double(w[k]) : 1.0);
  q[y] += (1 - eps) * (w ? double(w[y]) : 1.0);
  return true;
}

}  // namespace

double cross_entropy_forward_cpu(const CrossEntropyForwardArgs& a) {
  const TensorRef &logits = a.logits, &target = a.target, &row_loss = a.row_loss, &lse = a.lse;
  const CrossEntropySpec& spec = a.spec;
  return dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) -> double {
    using T = decltype(tag);
    int64_t n = logits.size(0), c = logits.size(1);
    const T* z = logits.data<T>();
    const T* w = spec.weight.defined() ? spec.weight.data<T>() : nullptr;
    T *pl = row_loss.data<T>(), *plse = lse.data<T>();
    parallel_for(0, n, 16, [&](int64_t lo, int64_t hi) {
      std::vector<double> q(static_cast<size_t>(c));
      for (int64_t i = lo; i < hi; ++i) {
        const T* zr = z + i * c;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < c; ++k) m = std::max(m, double(zr[k]));
        double s = 0;
        for (int64_t k = 0; k < c; ++k) s += std::exp(double(zr[k]) - m);
        double l = m + std::log(s);
        plse[i] = T(l);
        if (!row_coefficients<T>(target, spec, w, i, c, q.data())) {
          pl[i] = T(0);
          continue;
        }
        double loss = 0;
        for (int64_t k = 0; k < c; ++k)
          if (q[size_t(k)] != 0) loss += q[size_t(k)] * (l - double(zr[k]));
        pl[i] = T(loss);
      }
    });
    if (spec.prob_targets) return double(n);
    double total = 0;  // serial, so the sum does not depend on the thread split
    for (int64_t i = 0; i < n; ++i) {
      int64_t y = target.dtype() == DType::i64 ? target.data<int64_t>()[i] : int64_t(target.data<int32_t>()[i]);
      if (y != spec.ignore_index) total += w ? double(w[y]) : 1.0;
    }
    return total;
  });
}

void cross_entropy_backward_cpu(const CrossEntropyBackwardArgs& a) {
  const TensorRef &logits = a.logits, &target = a.target, &lse = a.lse, &row_scale = a.row_scale, &glogits = a.glogits;
  const CrossEntropySpec& spec = a.spec;
  const double scale = a.scale;
  dispatch_float(logits.dtype(), "cross_entropy backward", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = logits.size(0), c = logits.size(1);
    const T *z = logits.data<T>(), *plse = lse.data<T>();
    const T* w = spec.weight.defined() ? spec.weight.data<T>() : nullptr;
    const T* rs = row_scale.defined() ? row_scale.data<T>() : nullptr;
    T* gz = glogits.data<T>();
    parallel_for(0, n, 16, [&](int64_t lo, int64_t hi) {
      std::vector<double> q(static_cast<size_t>(c));
      for (int64_t i = lo; i < hi; ++i) {
        if (!row_coefficients<T>(target, spec, w, i, c, q.data())) continue;
        double g = rs ? double(rs[i]) : scale, qsum = 0;
        for (double v : q) qsum += v;
        for (int64_t k = 0; k < c; ++k) {
          double p = std::exp(double(z[i * c + k]) - double(plse[i]));
          gz[i * c + k] += T(g * (qsum * p - q[size_t(k)]));
        }
      }
    });
  });
}

}  // namespace fer::kernels
