#pragma once
// StyleGAN2's modulated convolution (NVIDIA's `modulated_conv2d`, fused form) on NHWC activations and OHWI
// weights: per-sample weights W' = W * styles (optionally demodulated) applied as the grouped convolution with
// one group per sample (run as one convolution per sample, on the conv kernels); the 2x up-sampling variant is
// a stride-2 transposed convolution followed by the resampling filter, as NVIDIA's conv2d_resample. Plus noise
// injection.
#include <optional>

#include "fer/kernels/modconv.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/upfirdn2d.hpp"

namespace fer {

namespace ops_detail {

inline void check_modulation(const char* op, const Tensor& w, const Tensor& styles) {
  require_same_device(op, {&w, &styles});
  FER_CHECK(w.defined() && styles.defined(), op, ": weight and styles must be defined");
  require_rank(op, w, 4, "weight [O, kh, kw, I]");
  require_rank(op, styles, 2, "styles [N, I]");
  require_same_dtype(op, w, styles);
  dispatch_float(w.dtype(), op, [](auto) {});
  FER_CHECK(styles.size(1) == w.size(3), op, ": styles ", styles.shape().str(), " do not match the weight's ",
            w.size(3), " input channels (weight ", w.shape().str(), ")");
  FER_CHECK(w.numel() > 0 && styles.size(0) > 0, op, ": empty weight ", w.shape().str(), " or styles ",
            styles.shape().str());
}

// The modulated (and, with `demodulate`, demodulated) weights in `layout`, kernel rotated by 180 degrees when
// `flip`, as a tensor of `out_shape`. Differentiable in w and styles.
inline Tensor modulate(const char* op, const Tensor& w_in, const Tensor& s_in, bool demodulate, double eps,
                       kernels::ModulatedLayout layout, bool flip, const Shape& out_shape) {
  check_modulation(op, w_in, s_in);
  FER_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  Tensor w = contiguous(w_in), s = contiguous(s_in);
  const int64_t n = s.size(0), o = w.size(0);
  Tensor y = Tensor::empty(out_shape, w.dtype(), w.device());
  Tensor dcoef = demodulate ? Tensor::empty({n, o}, w.dtype(), w.device()) : Tensor();
  Tensor dot = demodulate ? Tensor::empty({n, o}, w.dtype(), w.device()) : Tensor();  // backward scratch
  autograd::apply(
      op, {w, s}, {y},
      [=] {
        using kernels::ref;
        kernels::modulate_weights_forward({ref(w), ref(s), ref(y), ref(dcoef), layout, flip, eps});
      },
      [=] {
        using kernels::ref;
        kernels::modulate_weights_backward({ref(w), ref(s), ref(dcoef), ref(y.grad()),
                                            ref(w.requires_grad() ? w.grad_buffer() : Tensor()),
                                            ref(s.requires_grad() ? s.grad_buffer() : Tensor()), ref(dot), layout,
                                            flip});
      });
  return y;
}

// y[n] = conv(x[n], w[n]) for every sample n with its own weight (see kernels::SampleConv): plain with w
// [N*Cout, kh, kw, Cin], or transposed (PyTorch's conv_transpose2d) with w [N*Cin, kh, kw, Cout]. Recorded;
// differentiable in x and w.
inline Tensor sample_conv2d(const char* op, const Tensor& x_in, const Tensor& w_in, bool transposed, int64_t stride,
                            int64_t pad_y, int64_t pad_x) {
  const int64_t n = x_in.size(0), cin = x_in.size(3);
  const int64_t wrows = w_in.size(0) / n, cout = transposed ? w_in.size(3) : wrows;
  FER_CHECK(w_in.size(0) == n * wrows && (transposed ? wrows == cin : w_in.size(3) == cin), op, ": per-sample weights ",
            w_in.shape().str(), " do not match x ", x_in.shape().str());
  const kernels::SampleConv sc = kernels::plan_sample_conv(n, x_in.size(1), x_in.size(2), cin, cout, w_in.size(1),
                                                           w_in.size(2), transposed, stride, pad_y, pad_x);
  FER_CHECK(sc.out_h >= 1 && sc.out_w >= 1 && sc.plan.g.kh > 0, op, ": the ", w_in.size(1), "x", w_in.size(2),
            " kernel does not fit input ", x_in.shape().str(), " with padding (", pad_y, ", ", pad_x, ")");
  require_same_device(op, {&x_in, &w_in});
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor y = Tensor::empty({n, sc.out_h, sc.out_w, cout}, x.dtype(), x.device());
  // Scratch lives as long as the recorded node, so neither a replay nor backward allocates. On CUDA: the cuDNN
  // workspace of the geometry (bytes), and no gx scratch (the transposed backward accumulates in place).
  Tensor ws, gx_scratch;
  if (x.device().is_cpu()) {
    ws = sc.workspace > 0 ? Tensor::empty({sc.workspace}, x.dtype()) : Tensor();
    gx_scratch = transposed && grad_enabled() && x.requires_grad() ? Tensor::empty_like(x) : Tensor();
  } else {
    const size_t bytes = kernels::sample_conv_workspace_bytes_cuda(sc, x.dtype(), x.device().index);
    if (bytes > 0) ws = Tensor::empty({int64_t(bytes)}, DType::u8, x.device());
  }
  autograd::apply(
      op, {x, w}, {y},
      [=] {
        using kernels::ref;
        kernels::sample_conv_forward({sc, ref(x), ref(w), ref(y), ref(ws)});
      },
      [=] {
        using kernels::ref;
        kernels::sample_conv_backward({sc, ref(x), ref(w), ref(y.grad()),
                                       ref(x.requires_grad() ? x.grad_buffer() : Tensor()),
                                       ref(w.requires_grad() ? w.grad_buffer() : Tensor()), ref(ws), ref(gx_scratch)});
      });
  return y;
}

}  // namespace ops_detail

// Modulated weights W'[n, o, ky, kx, i] = w[o, ky, kx, i] * styles[n, i]; with `demodulate` each (n, o) slice is
// then scaled by 1 / sqrt(sum of its squares + eps). w [O, kh, kw, I] (OHWI), styles [N, I] -> [N, O, kh, kw, I].
// Differentiable in w and styles.
inline Tensor modulate_weights(const Tensor& w, const Tensor& styles, bool demodulate = true, double eps = 1e-8) {
  FER_CHECK(w.defined() && w.dim() == 4 && styles.defined(), "modulate_weights: weight must be 4-d [O, kh, kw, I]");
  return ops_detail::modulate("modulate_weights", w, styles, demodulate, eps, kernels::ModulatedLayout::per_sample,
                              false, {styles.size(0), w.size(0), w.size(1), w.size(2), w.size(3)});
}

struct ModConvParams {
  bool demodulate = true;
  int64_t padding = 0;     // zeros on every side (the synthesis layers use kernel_size / 2)
  int64_t up = 1;          // 1, or an up-sampling factor (2 in the generator): output (H*up, W*up) for padding k/2
  Tensor resample_filter;  // [fh, fw] for up > 1; undefined = setup_filter({1, 3, 3, 1})
  // NVIDIA's flip_weight: true = the weight is used as a correlation kernel (torch's conv2d), false = rotated by
  // 180 degrees. For up > 1 the meaning inverts (NVIDIA hands `not flip_weight` to the transposed convolution).
  // Unset = the synthesis layers' choice, flip_weight = (up == 1), which is what NVIDIA's generator computes.
  std::optional<bool> flip_weight;
  double eps = 1e-8;  // demodulation epsilon
};

// StyleGAN2's modulated convolution (NVIDIA's modulated_conv2d, fused_modconv form; down-sampling is not
// supported). x [N, H, W, I], w [O, kh, kw, I] (OHWI, unscaled), styles [N, I] (x's dtype).
//   up == 1: y = conv2d(x, W'_n) with `padding` on every side;
//   up  > 1: y = upfirdn2d(conv_transpose2d(x, W'_n, stride up), filter, gain up^2) with NVIDIA's padding.
// Output [N, H*up + 2p - kh + 1, W*up + 2p - kw + 1, O] (for up > 1: with an even filter and factor), so the
// generator's 3x3 kernels with p = 1 give exactly [N, H*up, W*up, O].
// `noise` (optional, [N or 1, OH, OW, 1], already scaled by its strength) is added to every output channel.
// Differentiable in x, w, styles and noise.
inline Tensor modulated_conv2d(const Tensor& x, const Tensor& w, const Tensor& styles, const ModConvParams& p = {},
                               const Tensor& noise = Tensor()) {
  const char* op = "modulated_conv2d";
  ops_detail::check_modulation(op, w, styles);
  ops_detail::require_same_device(op, {&x, &w, &styles, &noise});
  FER_CHECK(x.defined(), op, ": x is undefined");
  ops_detail::require_rank(op, x, 4, "x [N, H, W, I]");
  ops_detail::require_same_dtype(op, x, w);
  FER_CHECK(x.size(0) == styles.size(0) && x.size(3) == w.size(3), op, ": x ", x.shape().str(),
            " does not match styles ", styles.shape().str(), " and weight ", w.shape().str());
  FER_CHECK(p.up >= 1 && p.padding >= 0, op, ": up must be >= 1 and padding >= 0, got up ", p.up, ", padding ",
            p.padding);
  const int64_t n = x.size(0), o = w.size(0), kh = w.size(1), kw = w.size(2), in = w.size(3);
  const bool flip_weight = p.flip_weight.value_or(p.up == 1);
  Tensor y;
  if (p.up == 1) {
    // conv2d correlates: the kernel is rotated when NVIDIA asks for a true convolution (flip_weight false).
    Tensor wm = ops_detail::modulate(op, w, styles, p.demodulate, p.eps, kernels::ModulatedLayout::per_sample,
                                     !flip_weight, {n * o, kh, kw, in});
    y = ops_detail::sample_conv2d(op, x, wm, false, 1, p.padding, p.padding);
  } else {
    Tensor f = p.resample_filter.defined() ? p.resample_filter : setup_filter({1, 3, 3, 1}, true, x.dtype());
    FER_CHECK(f.dim() == 2, op, ": the resample filter must be 2-d [fh, fw], got ", f.shape().str());
    // NVIDIA's conv2d_resample: the filter's up-sampling pads, less what the transposed convolution already
    // spans; a crop both sides share moves into the transposed convolution's own padding.
    const UpFirDnParams up = upsample2d_params(f.size(0), f.size(1), p.up, p.padding);
    const int64_t px0 = up.pad_x0 - (kw - 1), px1 = up.pad_x1 - (kw - p.up);
    const int64_t py0 = up.pad_y0 - (kh - 1), py1 = up.pad_y1 - (kh - p.up);
    const int64_t pxt = std::max<int64_t>(std::min(-px0, -px1), 0), pyt = std::max<int64_t>(std::min(-py0, -py1), 0);
    // The transposed convolution uses the kernel rotated exactly when flip_weight is set.
    Tensor wt = ops_detail::modulate(op, w, styles, p.demodulate, p.eps, kernels::ModulatedLayout::transposed,
                                     flip_weight, {n * in, kh, kw, o});
    Tensor t = ops_detail::sample_conv2d(op, x, wt, true, p.up, pyt, pxt);
    UpFirDnParams fir;
    fir.pad_x0 = px0 + pxt, fir.pad_x1 = px1 + pxt, fir.pad_y0 = py0 + pyt, fir.pad_y1 = py1 + pyt;
    fir.gain = double(p.up * p.up);
    y = upfirdn2d(t, f, fir);
  }
  if (!noise.defined()) return y;
  ops_detail::require_same_dtype(op, x, noise);
  FER_CHECK(noise.dim() == 4 && (noise.size(0) == n || noise.size(0) == 1) && noise.size(1) == y.size(1) &&
                noise.size(2) == y.size(2) && noise.size(3) == 1,
            op, ": noise must be [", n, " or 1, ", y.size(1), ", ", y.size(2), ", 1], got ", noise.shape().str());
  return add(y, noise);
}

// Noise injection: x + noise * strength, noise [N or 1, H, W, 1] broadcast over x's channels, strength a 0-d
// or [1] tensor (a learnable scalar). Differentiable in all three.
inline Tensor add_noise(const Tensor& x, const Tensor& noise, const Tensor& strength) {
  FER_CHECK(x.defined() && noise.defined() && strength.defined(), "add_noise: undefined operand");
  ops_detail::require_rank("add_noise", x, 4, "x [N, H, W, C]");
  FER_CHECK(noise.dim() == 4 && (noise.size(0) == x.size(0) || noise.size(0) == 1) && noise.size(1) == x.size(1) &&
                noise.size(2) == x.size(2) && noise.size(3) == 1,
            "add_noise: noise must be [", x.size(0), " or 1, ", x.size(1), ", ", x.size(2), ", 1], got ",
            noise.shape().str());
  FER_CHECK(strength.numel() == 1 && strength.dim() <= 1, "add_noise: strength must be a 0-d or [1] tensor, got ",
            strength.shape().str());
  return add(x, mul(noise, strength));
}

}  // namespace fer
