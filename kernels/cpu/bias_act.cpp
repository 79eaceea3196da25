// Fused bias + activation + gain + clamp: one pass over NHWC rows (bias along the contiguous channel dim).
#include "fer/kernels/bias_act.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "fer/core/parallel.hpp"
#include "kernels/cpu/exp_f32.hpp"

namespace fer {

const char* activation_name(Activation a) {
  static const char* names[] = {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};
  return names[int(a)];
}

namespace kernels {

namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk, at least
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;


// The activation and its derivative are compile-time choices so that each inner loop is branch-free and
// vectorises; PyTorch's values at the kinks (relu'(0) = 0, lrelu'(0) = alpha, elu'(0) = 1).
template <Activation A, class T>
inline T activate(T v, T alpha) {
  if constexpr (A == Activation::linear) return v;
  if constexpr (A == Activation::relu) return std::max(v, T(0));
  // max + alpha * min is exact (one term is zero) and compiles without a data-dependent branch.
  if constexpr (A == Activation::lrelu) return std::max(v, T(0)) + alpha * std::min(v, T(0));
  if constexpr (A == Activation::tanh) return std::tanh(v);
  if constexpr (A == Activation::sigmoid) return sigmoid_of(v);
  if constexpr (A == Activation::elu) return v > T(0) ? v : std::expm1(v);
  if constexpr (A == Activation::selu) return T(kSeluScale) * (v > T(0) ? v : T(kSeluAlpha) * std::expm1(v));
  if constexpr (A == Activation::softplus) return v > T(20) ? v : std::log1p(std::exp(v));
  if constexpr (A == Activation::swish) return v * sigmoid_of(v);
}

template <Activation A, class T>
inline T activate_derivative(T v, T alpha, T one) {
  if constexpr (A == Activation::linear) return T(1);
  if constexpr (A == Activation::relu) return v > T(0) ? one : T(0);
  if constexpr (A == Activation::lrelu) return v > T(0) ? one : alpha;
  if constexpr (A == Activation::tanh) {
    T t = std::tanh(v);
    return T(1) - t * t;
  }
  if constexpr (A == Activation::sigmoid) {
    T sg = sigmoid_of(v);
    return sg * (T(1) - sg);
  }
  if constexpr (A == Activation::elu) return v > T(0) ? T(1) : std::exp(v);
  if constexpr (A == Activation::selu) return T(kSeluScale) * (v > T(0) ? T(1) : T(kSeluAlpha) * std::exp(v));
  if constexpr (A == Activation::softplus) return v > T(20) ? T(1) : sigmoid_of(v);
  if constexpr (A == Activation::swish) {
    T sg = sigmoid_of(v);
    return sg * (T(1) + v * (T(1) - sg));
  }
}

// Calls f(std::integral_constant<Activation, act>{}).
template <class F>
void with_activation(Activation act, F&& f) {
  using A = Activation;
  switch (act) {
    case A::linear:
      return f(std::integral_constant<A, A::linear>{});
    case A::relu:
      return f(std::integral_constant<A, A::relu>{});
    case A::lrelu:
      return f(std::integral_constant<A, A::lrelu>{});
    case A::tanh:
      return f(std::integral_constant<A, A::tanh>{});
    case A::sigmoid:
      return f(std::integral_constant<A, A::sigmoid>{});
    case A::elu:
      return f(std::integral_constant<A, A::elu>{});
    case A::selu:
      return f(std::integral_constant<A, A::selu>{});
    case A::softplus:
      return f(std::integral_constant<A, A::softplus>{});
    case A::swish:
      return f(std::integral_constant<A, A::swish>{});
  }
}

struct Rows {
  int64_t C, rows;
};
Rows rows_of(const TensorRef& x) {
  const int64_t C = x.dim() ? x.size(-1) : 1;
  return {C, C ? x.numel() / C : 0};
}

// No clamp is a clamp to +-infinity: one loop either way.
template <class T>
T clamp_bound(double clamp) {
  return clamp >= 0 ? T(clamp) : std::numeric_limits<T>::infinity();
}

template <Activation A, class T>
void forward_impl(const TensorRef& x, const TensorRef& b, const TensorRef& y, T alpha, T gain, T clamp) {
  const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
  const int64_t C = extent.C, rows = extent.rows;
  const T* px = x.data<T>();
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  T* py = y.data<T>();
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* __restrict xr = px + r * C;
      T* __restrict yr = py + r * C;
      if (pb)
        for (int64_t c = 0; c < C; ++c) yr[c] = std::clamp(activate<A>(xr[c] + pb[c], alpha) * gain, -clamp, clamp);
      else
        for (int64_t c = 0; c < C; ++c) yr[c] = std::clamp(activate<A>(xr[c], alpha) * gain, -clamp, clamp);
    }
  });
}

// One block of a row's gradient d = gy * gain * act'(x + b), zero where the clamp cut the value off (as PyTorch's
// clamp). The optional parts are template flags and every choice is a select of a value already at hand, so the
// loop has no per-element branch and vectorizes: GCC moves a product that one arm of a select does not need into
// that arm, and does not vectorize such a conditional floating-point operation. Hence the clamp selects gy before
// the products, and `one` is 1 passed in, not a literal (g * (v > 0 ? 1 : 0) would become g, or g * 0 where v <= 0).
template <Activation A, bool kBias, bool kClamp, class T>
void gradient_block(const T* __restrict xr, const T* __restrict br, const T* __restrict gr, T* __restrict d,
                    int64_t n, T alpha, T gain, T clamp, T one) {
  for (int64_t c = 0; c < n; ++c) {
    const T v = kBias ? xr[c] + br[c] : xr[c];
    const T slope = activate_derivative<A>(v, alpha, one);
    T gy = gr[c];
    if constexpr (kClamp) {
      // relu(v) and lrelu(v) are v * slope: one select on v, where a second one would split the loop into paths.
      constexpr bool kLinearPieces = A == Activation::relu || A == Activation::lrelu;
      const T out = (kLinearPieces ? v * slope : activate<A>(v, alpha)) * gain;
      gy = std::abs(out) > clamp ? T(0) : gy;  // out < -clamp or out > clamp, in one compare
    }
    d[c] = gy * gain * slope;
  }
}

template <Activation A, class T>
void backward_impl(const TensorRef& x, const TensorRef& b, const TensorRef& gy, const TensorRef& gx,
                   const TensorRef& gb, const TensorRef& partials, T alpha, T gain, T clamp) {
  const Rows extent = rows_of(x);  // plain variables: clang 14 (fuzz build) cannot capture structured bindings
  const int64_t C = extent.C, rows = extent.rows;
  const T* px = x.data<T>();
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  const T* pg = gy.data<T>();
  T* pgx = gx.defined() ? gx.data<T>() : nullptr;
  T* part = gb.defined() ? partials.data<T>() : nullptr;
  const bool clamped = clamp < std::numeric_limits<T>::infinity();
  using Block = void (*)(const T*, const T*, const T*, T*, int64_t, T, T, T, T);
  const Block block = pb ? (clamped ? gradient_block<A, true, true, T> : gradient_block<A, true, false, T>)
                         : (clamped ? gradient_block<A, false, true, T> : gradient_block<A, false, false, T>);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1));
  // Rows go by blocks of channels through a buffer on the stack; then the gradient is added to gx and to the
  // chunk's bias sums in two plain loops.
  constexpr int64_t kBlock = 256;
  auto run = [&](T* __restrict acc, int64_t lo, int64_t hi) {
    T d[kBlock];
    for (int64_t r = lo; r < hi; ++r)
      for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
        const int64_t n = std::min(kBlock, C - c0);
        block(px + r * C + c0, pb ? pb + c0 : nullptr, pg + r * C + c0, d, n, alpha, gain, clamp, T(1));
        if (pgx) {
          T* __restrict gxr = pgx + r * C + c0;
          for (int64_t c = 0; c < n; ++c) gxr[c] += d[c];
        }
        if (acc) {
          T* __restrict accr = acc + c0;
          for (int64_t c = 0; c < n; ++c) accr[c] += d[c];
        }
      }
  };
  if (!part) {
    parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) { run(nullptr, lo, hi); });
    return;
  }
  // Each chunk owns one row of `partials` for its bias sums, so no two threads write the same place.
  const int64_t chunks = std::clamp<int64_t>(rows / grain, 1, partials.size(0));
  std::fill(part, part + chunks * C, T(0));
  parallel_for(0, chunks, 1, [&](int64_t clo, int64_t chi) {
    for (int64_t k = clo; k < chi; ++k) run(part + k * C, rows * k / chunks, rows * (k + 1) / chunks);
  });
  T* pgb = gb.data<T>();
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t c = 0; c < C; ++c) pgb[c] += part[k * C + c];
}

}  // namespace

void bias_act_forward_cpu(const BiasActForwardArgs& args) {
  const TensorRef &x = args.x, &b = args.b, &y = args.y;
  const Activation act = args.act;
  const double alpha = args.alpha, gain = args.gain, clamp = args.clamp;
  dispatch_float(x.dtype(), "bias_act", [&](auto tag) {
    using T = decltype(tag);
    with_activation(
        act, [&](auto a) { forward_impl<decltype(a)::value, T>(x, b, y, T(alpha), T(gain), clamp_bound<T>(clamp)); });
  });
}

void bias_act_backward_cpu(const BiasActBackwardArgs& args) {
  const TensorRef &x = args.x, &b = args.b, &gy = args.gy, &gx = args.gx, &gb = args.gb, &partials = args.partials;
  const Activation act = args.act;
  const double alpha = args.alpha, gain = args.gain, clamp = args.clamp;
  dispatch_float(x.dtype(), "bias_act backward", [&](auto tag) {
    using T = decltype(tag);
    with_activation(act, [&](auto a) {
      backward_impl<decltype(a)::value, T>(x, b, gy, gx, gb, partials, T(alpha), T(gain), clamp_bound<T>(clamp));
    });
  });
}

}  // namespace kernels
}  // namespace fer
