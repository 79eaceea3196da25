#pragma once
// Parameter initializers with PyTorch's formulas (torch.nn.init), drawing from a fer::Generator. Fans are
// computed as PyTorch computes them for the external layout, so an OHWI conv weight gets the same fan_in/fan_out
// as its OIHW counterpart. Values are drawn in row-major order of the tensor as stored.
#include <cmath>
#include <cstdint>

#include "fer/core/rng.hpp"
#include "fer/core/tensor.hpp"
#include "fer/nn/module.hpp"

namespace fer::nn::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, conv, sigmoid, tanh, relu, leaky_relu, selu };

struct Fans {
  int64_t fan_in = 0, fan_out = 0;
};

// PyTorch's fans: for an external shape [out, in, k...], fan_in = in * prod(k), fan_out = out * prod(k).
inline Fans compute_fans(const Shape& shape, ParamLayout layout = ParamLayout::plain) {
  FER_CHECK(shape.size() >= 2, "init: fan_in/fan_out need a tensor with at least 2 dims, got ", shape.str());
  Shape ext = external_shape(shape, layout);
  int64_t receptive = 1;
  for (int d = 2; d < ext.size(); ++d) receptive *= ext[d];
  return {ext[1] * receptive, ext[0] * receptive};
}

// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain); `param` is leaky_relu's slope.
inline double calculate_gain(Nonlinearity nl, double param = 0.01) {
  switch (nl) {
    case Nonlinearity::linear:
    case Nonlinearity::conv:
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::selu: return 0.75;
  }
  return 1.0;
}

namespace detail {

// Sets every element of t (any floating dtype and device) to draw(), in row-major order.
template <class Draw>
void fill_with(const Tensor& t, const char* what, Draw&& draw) {
  FER_CHECK(t.defined(), what, ": tensor is undefined");
  FER_CHECK(is_floating(t.dtype()), what, ": needs a floating tensor, got ", dtype_name(t.dtype()));
  if (t.device().is_cpu() && t.is_contiguous() && (t.dtype() == DType::f32 || t.dtype() == DType::f64)) {
    dispatch_float(t.dtype(), what, [&](auto tag) {
      using T = decltype(tag);
      T* p = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(draw());
    });
    return;
  }
  Tensor h = Tensor::empty(t.shape(), DType::f64);
  double* p = h.data<double>();
  for (int64_t i = 0; i < h.numel(); ++i) p[i] = draw();
  t.copy_(h.to(t.dtype()).to(t.device()));
}

}  // namespace detail

inline void uniform_(const Tensor& t, double lo = 0.0, double hi = 1.0, Generator& gen = default_generator()) {
  FER_CHECK(lo <= hi, "uniform_: lo ", lo, " > hi ", hi);
  detail::fill_with(t, "uniform_", [&] { return gen.uniform(lo, hi); });
}
inline void normal_(const Tensor& t, double mean = 0.0, double stddev = 1.0, Generator& gen = default_generator()) {
  FER_CHECK(stddev >= 0, "normal_: negative std ", stddev);
  detail::fill_with(t, "normal_", [&] { return mean + stddev * gen.normal(); });
}
inline void constant_(const Tensor& t, double value) {
  detail::fill_with(t, "constant_", [&] { return value; });
}
inline void zeros_(const Tensor& t) { constant_(t, 0.0); }
inline void ones_(const Tensor& t) { constant_(t, 1.0); }

// N(mean, std) restricted to [a, b] (absolute bounds, as in PyTorch), by rejection: exact, and fast whenever the
// interval holds a reasonable share of the mass (refused below 1e-4 instead of looping for ages).
inline void trunc_normal_(const Tensor& t, double mean = 0.0, double stddev = 1.0, double a = -2.0, double b = 2.0,
                          Generator& gen = default_generator()) {
  FER_CHECK(stddev > 0 && a < b, "trunc_normal_: needs std > 0 and a < b (got std ", stddev, ", [", a, ", ", b, "])");
  auto cdf = [&](double x) { return 0.5 * std::erfc(-(x - mean) / (stddev * std::sqrt(2.0))); };
  double mass = cdf(b) - cdf(a);
  FER_CHECK(mass >= 1e-4, "trunc_normal_: [", a, ", ", b, "] holds only ", mass, " of N(", mean, ", ", stddev,
            "^2); choose bounds nearer the mean");
  detail::fill_with(t, "trunc_normal_", [&] {
    for (;;) {
      double x = mean + stddev * gen.normal();
      if (x >= a && x <= b) return x;
    }
  });
}

// Options shared by the fan-based initializers (C++20 designated initializers read like PyTorch's keywords:
// kaiming_normal_(w, {.mode = FanMode::fan_out, .nonlinearity = Nonlinearity::relu, .layout = ParamLayout::conv_ohwi})).
struct KaimingOptions {
  double a = 0.0;  // negative slope of the rectifier after this layer (leaky_relu only)
  FanMode mode = FanMode::fan_in;
  Nonlinearity nonlinearity = Nonlinearity::leaky_relu;
  ParamLayout layout = ParamLayout::plain;
};

inline double kaiming_std(const Shape& shape, const KaimingOptions& o) {
  Fans f = compute_fans(shape, o.layout);
  int64_t fan = o.mode == FanMode::fan_in ? f.fan_in : f.fan_out;
  FER_CHECK(fan > 0, "kaiming init: zero fan for shape ", shape.str());
  return calculate_gain(o.nonlinearity, o.a) / std::sqrt(double(fan));
}

inline void kaiming_uniform_(const Tensor& t, const KaimingOptions& o = {}, Generator& gen = default_generator()) {
  double bound = std::sqrt(3.0) * kaiming_std(t.shape(), o);
  uniform_(t, -bound, bound, gen);
}
inline void kaiming_normal_(const Tensor& t, const KaimingOptions& o = {}, Generator& gen = default_generator()) {
  normal_(t, 0.0, kaiming_std(t.shape(), o), gen);
}

inline double xavier_std(const Shape& shape, double gain, ParamLayout layout) {
  Fans f = compute_fans(shape, layout);
  FER_CHECK(f.fan_in + f.fan_out > 0, "xavier init: zero fans for shape ", shape.str());
  return gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out));
}
inline void xavier_uniform_(const Tensor& t, double gain = 1.0, ParamLayout layout = ParamLayout::plain,
                            Generator& gen = default_generator()) {
  double bound = std::sqrt(3.0) * xavier_std(t.shape(), gain, layout);
  uniform_(t, -bound, bound, gen);
}
inline void xavier_normal_(const Tensor& t, double gain = 1.0, ParamLayout layout = ParamLayout::plain,
                           Generator& gen = default_generator()) {
  normal_(t, 0.0, xavier_std(t.shape(), gain, layout), gen);
}

// PyTorch's default reset_parameters for Linear/Conv: weight kaiming_uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). `bias` may be undefined.
inline void default_layer_init(const Tensor& weight, const Tensor& bias, ParamLayout layout,
                               Generator& gen = default_generator()) {
  kaiming_uniform_(weight, {.a = std::sqrt(5.0), .layout = layout}, gen);
  if (bias.defined()) {
    int64_t fan_in = compute_fans(weight.shape(), layout).fan_in;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    uniform_(bias, -bound, bound, gen);
  }
}
// Conv weight stored OHWI [out, kh, kw, in/groups].
inline void default_conv_init(const Tensor& weight, const Tensor& bias, Generator& gen = default_generator()) {
  default_layer_init(weight, bias, ParamLayout::conv_ohwi, gen);
}
// Linear weight [out, in].
inline void default_linear_init(const Tensor& weight, const Tensor& bias, Generator& gen = default_generator()) {
  default_layer_init(weight, bias, ParamLayout::plain, gen);
}

}  // namespace fer::nn::init
