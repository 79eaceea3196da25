// Tensor-level CUDA convolution: picks the hand-written depthwise kernel or cuDNN, and maps fer's geometry onto
// cuDNN's.
//
// cuDNN pads both sides of a dimension alike; fer allows more (or less) padding at the bottom / right, which only
// shows through ho and wo. So cuDNN gets pad_top / pad_left on both sides; where the output reads rows below
// h + pad_top (bottom padding larger than top) the input is copied into a buffer with that many extra zero rows,
// and where cuDNN's output is larger than ho x wo (bottom padding smaller than top) the extra rows and columns are
// cropped off (and their gradient is zero).
#include "fer/backend/cuda/conv.hpp"

#include <algorithm>

#include "fer/backend/cuda/gemm.hpp"
#include "kernels/cuda/conv_launch.hpp"
#include "kernels/cuda/depthwise_conv_launch.hpp"
#include "kernels/cuda/gemm_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

using cuda::ConvLayout;
using cuda::ConvPass;

DType compute_dtype(DType dt) { return dt == DType::f64 ? DType::f64 : DType::f32; }

Tensor scratch(int64_t elems, DType dt, Device d) { return Tensor::empty({std::max<int64_t>(elems, 1)}, dt, d); }

cuda::DepthwiseConv depthwise_dims(const cpu::ConvGeometry& g) {
  cuda::DepthwiseConv d;
  d.n = g.n, d.h = g.h, d.w = g.w, d.c = g.c, d.kh = g.kh, d.kw = g.kw, d.ho = g.ho, d.wo = g.wo;
  d.stride_h = g.stride_h, d.stride_w = g.stride_w, d.pad_top = g.pad_top, d.pad_left = g.pad_left;
  d.dil_h = g.dil_h, d.dil_w = g.dil_w;
  return d;
}

// fer's convolution as cuDNN runs it (see the top of this file).
struct CudnnPlan {
  cuda::CudnnConv c;
  bool pad_input = false;  // x is copied into [n, c.h, c.w, c] with zero rows / columns at the bottom / right
  bool crop = false;       // cuDNN's output [n, c.ho, c.wo, o] is larger than [n, ho, wo, o]
  ConvLayout layout = ConvLayout::nhwc;
};

CudnnPlan cudnn_plan(const cpu::ConvGeometry& g, DType dt, int dev) {
  CudnnPlan p;
  cuda::CudnnConv& c = p.c;
  c.n = g.n, c.c = g.c, c.o = g.o, c.kh = g.kh, c.kw = g.kw;
  c.stride_h = g.stride_h, c.stride_w = g.stride_w, c.pad_h = g.pad_top, c.pad_w = g.pad_left;
  c.dil_h = g.dil_h, c.dil_w = g.dil_w, c.groups = g.groups;
  const int64_t span_h = (g.kh - 1) * g.dil_h + 1, span_w = (g.kw - 1) * g.dil_w + 1;
  // One past the last input row / column the fer output reads; cuDNN's symmetric padding covers up to h + pad_top.
  const int64_t end_h = (g.ho - 1) * g.stride_h - g.pad_top + span_h;
  const int64_t end_w = (g.wo - 1) * g.stride_w - g.pad_left + span_w;
  c.h = g.h + std::max<int64_t>(0, end_h - (g.h + g.pad_top));
  c.w = g.w + std::max<int64_t>(0, end_w - (g.w + g.pad_left));
  c.ho = (c.h + 2 * c.pad_h - span_h) / c.stride_h + 1;
  c.wo = (c.w + 2 * c.pad_w - span_w) / c.stride_w + 1;
  FER_CHECK(c.ho >= g.ho && c.wo >= g.wo, "conv2d: internal error mapping the padding onto cuDNN");
  p.pad_input = c.h != g.h || c.w != g.w;
  p.crop = c.ho != g.ho || c.wo != g.wo;
  // cuDNN has no NHWC f64 convolutions (PyTorch runs f64 in NCHW too); other dtypes fall back only if needed.
  p.layout = dt == DType::f64 || !cuda::cudnn_conv_nhwc_supported(c, dt, dev) ? ConvLayout::nchw : ConvLayout::nhwc;
  return p;
}

Tensor cudnn_workspace(const CudnnPlan& p, DType dt, ConvPass pass, Device d, size_t* bytes) {
  *bytes = cuda::cudnn_conv_workspace(p.c, dt, p.layout, pass, d.index);
  return *bytes > 0 ? Tensor::empty({int64_t(*bytes)}, DType::u8, d) : Tensor();
}

void* ptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// x, or x copied into cuDNN's taller / wider zero-padded input.
Tensor cudnn_input(const CudnnPlan& p, const cpu::ConvGeometry& g, const Tensor& x) {
  if (!p.pad_input) return x;
  Tensor xe = Tensor::empty({g.n, p.c.h, p.c.w, g.c}, x.dtype(), x.device());
  cuda::window_copy(x.dtype(), x.raw_data(), g.n, g.h, g.w, xe.raw_data(), p.c.h, p.c.w, g.c, false, x.device().index);
  return xe;
}

// gy, or gy placed in cuDNN's larger output with zero gradient on the cropped pixels.
Tensor cudnn_grad_output(const CudnnPlan& p, const cpu::ConvGeometry& g, const Tensor& gy) {
  if (!p.crop) return gy;
  Tensor gyc = Tensor::empty({g.n, p.c.ho, p.c.wo, g.o}, gy.dtype(), gy.device());
  cuda::window_copy(gy.dtype(), gy.raw_data(), g.n, g.ho, g.wo, gyc.raw_data(), p.c.ho, p.c.wo, g.o, false,
                    gy.device().index);
  return gyc;
}

// NHWC [n, hw, c] -> NCHW [n, c, hw] copies for the NCHW layout.
Tensor to_nchw(const Tensor& t, int64_t n, int64_t hw, int64_t c) {
  Tensor r = Tensor::empty({n * c * hw}, t.dtype(), t.device());
  cuda::batched_transpose(t.dtype(), t.raw_data(), n, hw, c, r.raw_data(), false, t.device().index);
  return r;
}

}  // namespace

bool conv2d_uses_depthwise_kernel(const cpu::ConvGeometry& g) {
  return g.groups > 1 && g.groups == g.c && g.o == g.c && g.kh <= 7 && g.kw <= 7;
}

void conv2d_forward(const cpu::ConvPlan& plan, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const Tensor& /*workspace: CPU-only*/) {
  cuda_device_of("conv2d", {&x, &w, &bias, &y}, /*same_dtype=*/true);
  const cpu::ConvGeometry& g = plan.g;
  const DType dt = x.dtype();
  const Device d = x.device();
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = depthwise_dims(g);
    Tensor wt = scratch(g.c * g.kh * g.kw, dt, d);
    cuda::depthwise_transpose_weight(dt, dw, w.raw_data(), wt.raw_data(), d.index);
    cuda::depthwise_forward(dt, dw, x.raw_data(), wt.raw_data(), ptr(bias), y.raw_data(), d.index);
    return;
  }
  const CudnnPlan p = cudnn_plan(g, dt, d.index);
  const cuda::CudnnConv& c = p.c;
  Tensor xin = cudnn_input(p, g, x);
  Tensor yout = p.crop ? Tensor::empty({g.n, c.ho, c.wo, g.o}, dt, d) : y;
  // The bias is written first and the convolution added to it (one rounding for the 16-bit types).
  const bool with_bias = bias.defined();
  if (with_bias) cuda::fill_rows(dt, bias.raw_data(), g.n * c.ho * c.wo, g.o, yout.raw_data(), d.index);
  size_t bytes = 0;
  Tensor ws = cudnn_workspace(p, dt, ConvPass::forward, d, &bytes);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_forward(c, dt, p.layout, xin.raw_data(), w.raw_data(), yout.raw_data(), with_bias, ptr(ws), bytes,
                             d.index);
  } else {
    Tensor xt = to_nchw(xin, g.n, c.h * c.w, g.c);
    Tensor wt = to_nchw(w, g.o, g.kh * g.kw, g.c / g.groups);  // OHWI -> OIHW
    Tensor yt = Tensor::empty({g.n * g.o * c.ho * c.wo}, dt, d);
    cuda::cudnn_conv_forward(c, dt, p.layout, xt.raw_data(), wt.raw_data(), yt.raw_data(), false, ptr(ws), bytes,
                             d.index);
    cuda::batched_transpose(dt, yt.raw_data(), g.n, g.o, c.ho * c.wo, yout.raw_data(), with_bias, d.index);
  }
  if (p.crop)
    cuda::window_copy(dt, yout.raw_data(), g.n, c.ho, c.wo, y.raw_data(), g.ho, g.wo, g.o, false, d.index);
}

void conv2d_backward_input(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& w, const Tensor& gx,
                           const Tensor& /*workspace: CPU-only*/) {
  cuda_device_of("conv2d backward", {&gy, &w, &gx}, /*same_dtype=*/true);
  const cpu::ConvGeometry& g = plan.g;
  const DType dt = gy.dtype();
  const Device d = gy.device();
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = depthwise_dims(g);
    Tensor wt = scratch(g.c * g.kh * g.kw, dt, d);
    cuda::depthwise_transpose_weight(dt, dw, w.raw_data(), wt.raw_data(), d.index);
    cuda::depthwise_backward_input(dt, dw, gy.raw_data(), wt.raw_data(), gx.raw_data(), d.index);
    return;
  }
  const CudnnPlan p = cudnn_plan(g, dt, d.index);
  const cuda::CudnnConv& c = p.c;
  Tensor gyin = cudnn_grad_output(p, g, gy);
  // Into gx directly (beta = 1), or into the padded input's gradient whose inner window is then added to gx.
  Tensor gxout = p.pad_input ? Tensor::empty({g.n, c.h, c.w, g.c}, dt, d) : gx;
  const bool acc = !p.pad_input;
  size_t bytes = 0;
  Tensor ws = cudnn_workspace(p, dt, ConvPass::backward_data, d, &bytes);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_backward_data(c, dt, p.layout, gyin.raw_data(), w.raw_data(), gxout.raw_data(), acc, ptr(ws),
                                   bytes, d.index);
  } else {
    Tensor gyt = to_nchw(gyin, g.n, c.ho * c.wo, g.o);
    Tensor wt = to_nchw(w, g.o, g.kh * g.kw, g.c / g.groups);
    Tensor gxt = Tensor::empty({g.n * g.c * c.h * c.w}, dt, d);
    cuda::cudnn_conv_backward_data(c, dt, p.layout, gyt.raw_data(), wt.raw_data(), gxt.raw_data(), false, ptr(ws),
                                   bytes, d.index);
    cuda::batched_transpose(dt, gxt.raw_data(), g.n, g.c, c.h * c.w, gxout.raw_data(), acc, d.index);
  }
  if (p.pad_input)
    cuda::window_copy(dt, gxout.raw_data(), g.n, c.h, c.w, gx.raw_data(), g.h, g.w, g.c, true, d.index);
}

void conv2d_backward_weight(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& x, const Tensor& gw,
                            const Tensor& /*workspace: CPU-only*/, const Tensor& /*partials: CPU-only*/) {
  cuda_device_of("conv2d backward", {&gy, &x, &gw}, /*same_dtype=*/true);
  const cpu::ConvGeometry& g = plan.g;
  const DType dt = gy.dtype();
  const Device d = gy.device();
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = depthwise_dims(g);
    const int64_t chunks = cuda::depthwise_weight_grad_chunks(dw);
    Tensor partials = chunks > 1 ? scratch(chunks * g.kh * g.kw * g.c, compute_dtype(dt), d) : Tensor();
    cuda::depthwise_backward_weight(dt, dw, gy.raw_data(), x.raw_data(), gw.raw_data(), ptr(partials), d.index);
    return;
  }
  const CudnnPlan p = cudnn_plan(g, dt, d.index);
  const cuda::CudnnConv& c = p.c;
  Tensor xin = cudnn_input(p, g, x);
  Tensor gyin = cudnn_grad_output(p, g, gy);
  size_t bytes = 0;
  Tensor ws = cudnn_workspace(p, dt, ConvPass::backward_filter, d, &bytes);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_backward_filter(c, dt, p.layout, gyin.raw_data(), xin.raw_data(), gw.raw_data(), true, ptr(ws),
                                     bytes, d.index);
  } else {
    const int64_t cg = g.c / g.groups, taps = g.kh * g.kw;
    Tensor gyt = to_nchw(gyin, g.n, c.ho * c.wo, g.o);
    Tensor xt = to_nchw(xin, g.n, c.h * c.w, g.c);
    Tensor gwt = Tensor::empty({g.o * cg * taps}, dt, d);
    cuda::cudnn_conv_backward_filter(c, dt, p.layout, gyt.raw_data(), xt.raw_data(), gwt.raw_data(), false, ptr(ws),
                                     bytes, d.index);
    cuda::batched_transpose(dt, gwt.raw_data(), g.o, cg, taps, gw.raw_data(), true, d.index);  // OIHW -> OHWI, +=
  }
}

void conv2d_backward_bias(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& gb) {
  cuda_device_of("conv2d backward", {&gy, &gb}, /*same_dtype=*/true);
  add_column_sums(gy, plan.g.n * plan.g.ho * plan.g.wo, plan.g.o, gb);
}

}  // namespace fer::gpu
