// The optimizers' element-wise updates and the gradient reductions on the CPU. Each update is one fused pass per
// parameter whose options are template arguments (no branch per element, so the loops vectorize); all parameters of
// a call run in one parallel region (one fork/join per step, not one per parameter).
#include "fer/kernels/optim.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <type_traits>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::kernels {

namespace {

// The element-wise update of one parameter: run(lo, hi) updates its elements [lo, hi).
struct ElementJob {
  int64_t n;
  std::function<void(int64_t, int64_t)> run;
};

// The concatenation of all parameters is cut into equal ranges, one per thread.
void run_jobs(const std::vector<ElementJob>& jobs) {
  int64_t total = 0;
  for (const ElementJob& j : jobs) total += j.n;
  parallel_for(0, total, 1 << 15, [&](int64_t lo, int64_t hi) {
    int64_t base = 0;
    for (const ElementJob& j : jobs) {
      const int64_t a = std::max(lo, base), b = std::min(hi, base + j.n);
      if (a < b) j.run(a - base, b - base);
      base += j.n;
      if (base >= hi) break;
    }
  });
}

void check_item(const char* op, const MultiTensorItem& it) {
  FER_CHECK(it.p.defined() && it.g.defined(), op, ": parameter or gradient undefined");
  for (const TensorRef* t : {&it.p, &it.g, &it.s0, &it.s1, &it.s2}) {
    if (!t->defined()) continue;
    FER_CHECK(!t->on_cuda() && t->dtype() == it.p.dtype() && t->is_contiguous() && t->numel() == it.p.numel(), op,
              ": a tensor of shape ", t->shape().str(), " (", dtype_name(t->dtype()),
              ") does not match the parameter ", it.p.shape().str(), " (", dtype_name(it.p.dtype()), ")");
  }
}

// ---- SGD
template <class T, bool kDecay, bool kMomentum, bool kNesterov>
void sgd_range(T* p, const T* grad, T* buf, int64_t lo, int64_t hi, T lr, T wd, T momentum, T keep, T sign,
               bool first) {
  for (int64_t i = lo; i < hi; ++i) {
    T d = sign * grad[i];  // sign -1 when maximizing: an exact negation
    if constexpr (kDecay) d = d + wd * p[i];
    if constexpr (kMomentum) {
      const T b = first ? d : buf[i] * momentum + keep * d;
      buf[i] = b;
      d = kNesterov ? d + momentum * b : b;
    }
    p[i] = p[i] + (-lr) * d;
  }
}

template <class T>
std::function<void(int64_t, int64_t)> sgd_update(const SgdStepArgs& a, T* p, const T* grad, T* buf) {
  const T lr = T(a.lr), wd = T(a.weight_decay);
  const T momentum = T(a.momentum), keep = T(1 - a.dampening), sign = a.maximize ? T(-1) : T(1);
  const bool first = a.first;
  auto pick = [&](auto decay, auto with_momentum, auto nesterov) -> std::function<void(int64_t, int64_t)> {
    constexpr bool kD = decltype(decay)::value, kM = decltype(with_momentum)::value, kN = decltype(nesterov)::value;
    return [=](int64_t lo, int64_t hi) {
      sgd_range<T, kD, kM, kN>(p, grad, buf, lo, hi, lr, wd, momentum, keep, sign, first);
    };
  };
  using Y = std::true_type;
  using N = std::false_type;
  const bool decay = wd != 0;
  if (!buf) return decay ? pick(Y{}, N{}, N{}) : pick(N{}, N{}, N{});
  if (a.nesterov) return decay ? pick(Y{}, Y{}, Y{}) : pick(N{}, Y{}, Y{});
  return decay ? pick(Y{}, Y{}, N{}) : pick(N{}, Y{}, N{});
}

// ---- Adam / AdamW
struct AdamScalars {
  double b1, b2, one_minus_b1, one_minus_b2, eps, neg_step, bc2, l2, shrink;
};

// Each scalar enters the tensor arithmetic in the parameter's type, as in PyTorch's kernels.
template <class T, bool kDecoupled, bool kL2, bool kAmsgrad>
void adam_range(T* p, const T* grad, T* m, T* v, T* v_max, int64_t lo, int64_t hi, const AdamScalars& s, T sign) {
  const T b1 = T(s.b1), b2 = T(s.b2), one_minus_b1 = T(s.one_minus_b1), one_minus_b2 = T(s.one_minus_b2);
  const T eps = T(s.eps), neg_step = T(s.neg_step), bc2 = T(s.bc2), l2 = T(s.l2), shrink = T(s.shrink);
  for (int64_t i = lo; i < hi; ++i) {
    T g = sign * grad[i];  // sign -1 when maximizing: an exact negation
    if constexpr (kDecoupled) p[i] = p[i] * shrink;
    if constexpr (kL2) g = g + l2 * p[i];
    const T mi = m[i] * b1 + one_minus_b1 * g;
    const T vi = v[i] * b2 + one_minus_b2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) second = v_max[i] = std::max(v_max[i], vi);
    const T denom = std::sqrt(second) / bc2 + eps;
    p[i] = p[i] + neg_step * (mi / denom);
  }
}

template <class T>
std::function<void(int64_t, int64_t)> adam_update(const AdamStepArgs& a, T* p, const T* grad, T* m, T* v, T* v_max) {
  const double lr = a.lr, wd = a.weight_decay;
  const AdamScalars s{a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, a.eps, -a.step_size,
                      a.bias_correction2_sqrt, a.decoupled ? 0.0 : wd, 1 - lr * wd};
  const T sign = a.maximize ? T(-1) : T(1);
  auto pick = [&](auto decoupled, auto l2, auto amsgrad) -> std::function<void(int64_t, int64_t)> {
    constexpr bool kD = decltype(decoupled)::value, kL = decltype(l2)::value, kA = decltype(amsgrad)::value;
    return [=](int64_t lo, int64_t hi) { adam_range<T, kD, kL, kA>(p, grad, m, v, v_max, lo, hi, s, sign); };
  };
  using Y = std::true_type;
  using N = std::false_type;
  const bool decoupled = a.decoupled && wd != 0, l2 = T(s.l2) != T(0);
  if (v_max) {
    if (decoupled) return l2 ? pick(Y{}, Y{}, Y{}) : pick(Y{}, N{}, Y{});
    return l2 ? pick(N{}, Y{}, Y{}) : pick(N{}, N{}, Y{});
  }
  if (decoupled) return l2 ? pick(Y{}, Y{}, N{}) : pick(Y{}, N{}, N{});
  return l2 ? pick(N{}, Y{}, N{}) : pick(N{}, N{}, N{});
}

template <class T>
T* data_or_null(const TensorRef& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void sgd_multi_step_cpu(const SgdStepArgs& a) {
  std::vector<ElementJob> jobs;
  for (const MultiTensorItem& it : a.items) {
    check_item("SGD", it);
    dispatch_float(it.p.dtype(), "SGD", [&](auto tag) {
      using T = decltype(tag);
      jobs.push_back({it.p.numel(), sgd_update<T>(a, it.p.data<T>(), it.g.data<T>(), data_or_null<T>(it.s0))});
    });
  }
  run_jobs(jobs);
}

void adam_multi_step_cpu(const AdamStepArgs& a) {
  std::vector<ElementJob> jobs;
  for (const MultiTensorItem& it : a.items) {
    check_item(a.decoupled ? "AdamW" : "Adam", it);
    dispatch_float(it.p.dtype(), a.decoupled ? "AdamW" : "Adam", [&](auto tag) {
      using T = decltype(tag);
      jobs.push_back({it.p.numel(), adam_update<T>(a, it.p.data<T>(), it.g.data<T>(), it.s0.data<T>(),
                                                   it.s1.data<T>(), data_or_null<T>(it.s2))});
    });
  }
  run_jobs(jobs);
}

void sum_of_squares_cpu(const GradListArgs& a) {
  double sq = *a.sum;
  for (const TensorRef& g : a.grads) {
    if (!g.defined()) continue;
    dispatch_float(g.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      const T* d = g.data<T>();
      for (int64_t i = 0; i < g.numel(); ++i) sq += double(d[i]) * double(d[i]);
    });
  }
  *a.sum = sq;
}

void scale_grads_cpu(const GradListArgs& a) {
  const double coef = a.factor;
  for (const TensorRef& g : a.grads) {
    if (!g.defined()) continue;
    dispatch_float(g.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      T* d = g.data<T>();
      for (int64_t i = 0; i < g.numel(); ++i) d[i] = T(double(d[i]) * coef);
    });
  }
}

void unscale_and_check_cpu(const GradListArgs& a) {
  bool finite = *a.finite;
  for (const TensorRef& g : a.grads) {
    if (!g.defined()) continue;
    dispatch_float(g.dtype(), "loss scaling", [&](auto tag) {
      using T = decltype(tag);
      T* d = g.data<T>();
      T inv = T(1.0 / a.factor);
      for (int64_t i = 0; i < g.numel(); ++i) {
        d[i] *= inv;
        finite = finite && std::isfinite(double(d[i]));
      }
    });
  }
  *a.finite = finite;
}

}  // namespace fer::kernels
