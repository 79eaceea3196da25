// The conv contract's CUDA side: picks the hand-written depthwise kernel (depthwise_conv.cu) or cuDNN (conv.cpp),
// maps fer's geometry onto cuDNN's, and runs the layout kernels around it: windowed copies (explicit bottom/right
// padding, output crops and their adjoints) and batched transposes (NHWC <-> NCHW for the layouts cuDNN only runs
// in NCHW).
//
// cuDNN pads both sides of a dimension alike; fer allows more (or less) padding at the bottom / right, which only
// shows through ho and wo. So cuDNN gets pad_top / pad_left on both sides; where the output reads rows below
// h + pad_top (bottom padding larger than top) the input is copied into a buffer with that many extra zero rows,
// and where cuDNN's output is larger than ho x wo (bottom padding smaller than top) the extra rows and columns are
// cropped off (and their gradient is zero).
#include <algorithm>

#include "fer/kernels/conv.hpp"
#include "fer/kernels/gemm.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv_parts.hpp"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/written_grad.hpp"
#include "kernels/cuda/scratch.hpp"

namespace fer::cuda {

namespace {

// One thread per destination element (channels fastest, so reads and writes are coalesced).
template <class T>
__global__ void window_copy_kernel(const T* src, int64_t n, int64_t hs, int64_t ws, T* dst, int64_t hd, int64_t wd,
                                   int64_t c, bool accumulate) {
  using C = typename Compute<T>::type;
  const int64_t total = n * hd * wd * c;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % c, r = i / c, x = r % wd, r2 = r / wd, y = r2 % hd, b = r2 / hd;
    C v = 0;
    if (y < hs && x < ws) v = load(src, ((b * hs + y) * ws + x) * c + ch);
    if (accumulate) store(dst, i, load(dst, i) + v);
    else store(dst, i, v);
  }
}

// dst[b, j, i] (+)= src[b, i, j] through a 32x33 shared tile (both sides coalesced, no bank conflicts).
constexpr int kTile = 32;
template <class T>
__global__ void transpose_kernel(const T* src, int64_t batch, int64_t rows, int64_t cols, T* dst, bool accumulate) {
  using C = typename Compute<T>::type;
  __shared__ C tile[kTile][kTile + 1];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  const int64_t total = batch * tiles_r * tiles_c;
  for (int64_t t = blockIdx.x; t < total; t += gridDim.x) {
    const int64_t tc = t % tiles_c, rest = t / tiles_c, tr = rest % tiles_r, b = rest / tiles_r;
    const int64_t r0 = tr * kTile, c0 = tc * kTile;
    const T* s = src + b * rows * cols;
    T* d = dst + b * rows * cols;
    // Read rows r0.. of src, 8 rows per pass of the 32x8 block.
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
      const int64_t r = r0 + k, cc = c0 + threadIdx.x;
      tile[k][threadIdx.x] = (r < rows && cc < cols) ? load(s, r * cols + cc) : C(0);
    }
    __syncthreads();
    // Write columns c0.. of src as rows of dst.
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
      const int64_t cc = c0 + k, r = r0 + threadIdx.x;
      if (cc < cols && r < rows) {
        const int64_t o = cc * rows + r;
        const C v = tile[threadIdx.x][k];
        if (accumulate) store(d, o, load(d, o) + v);
        else store(d, o, v);
      }
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
}

// dst[n, hd, wd, c] (+)= src[n, hs, ws, c] where the pixel is inside both, 0 elsewhere (pads, crops, and their
// adjoints).
void window_copy(DType dt, const void* src, int64_t n, int64_t hs, int64_t ws, void* dst, int64_t hd, int64_t wd,
                 int64_t c, bool accumulate, int device) {
  const int64_t total = n * hd * wd * c;
  if (total == 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "window_copy", {
    window_copy_kernel<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(src), n, hs, ws, static_cast<scalar_t*>(dst), hd, wd, c, accumulate);
  });
  check_launch("window_copy");
}

// dst[b, cols, rows] (+)= src[b, rows, cols] transposed (NHWC <-> NCHW, OHWI <-> OIHW).
void batched_transpose(DType dt, const void* src, int64_t batch, int64_t rows, int64_t cols, void* dst, bool accumulate,
                       int device) {
  if (batch == 0 || rows == 0 || cols == 0) return;
  const int64_t tiles = batch * ((rows + kTile - 1) / kTile) * ((cols + kTile - 1) / kTile);
  const unsigned blocks = unsigned(tiles < 65535 * 8 ? tiles : 65535 * 8);
  FER_CUDA_FLOAT_SWITCH(dt, "batched_transpose", {
    transpose_kernel<scalar_t><<<blocks, dim3(kTile, 8), 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(src), batch, rows, cols, static_cast<scalar_t*>(dst), accumulate);
  });
  check_launch("batched_transpose");
}

using kernels::ConvGeometry;
using kernels::TensorRef;

size_t compute_bytes(DType dt) { return dt == DType::f64 ? sizeof(double) : sizeof(float); }

// A contiguous 1-d view of device memory, to hand scratch buffers to other contracts' kernels.
TensorRef flat_ref(void* p, DType dt, int64_t elems, int dev) {
  TensorRef r;
  r.ptr = p, r.type = dt, r.sizes = Shape({elems}), r.steps = Shape({int64_t(1)}), r.device = dev, r.present = true;
  return r;
}

DeviceScratch scratch(int64_t elems, DType dt, int dev) { return DeviceScratch(size_t(elems) * dtype_size(dt), dev); }

DepthwiseConv depthwise_dims(const ConvGeometry& g) {
  DepthwiseConv d;
  d.n = g.n, d.h = g.h, d.w = g.w, d.c = g.c, d.kh = g.kh, d.kw = g.kw, d.ho = g.ho, d.wo = g.wo;
  d.stride_h = g.stride_h, d.stride_w = g.stride_w, d.pad_top = g.pad_top, d.pad_left = g.pad_left;
  d.dil_h = g.dil_h, d.dil_w = g.dil_w;
  return d;
}

// The depthwise weight [c, kh, kw, 1] with its taps outermost, as the depthwise kernels read it.
DeviceScratch depthwise_weight(const DepthwiseConv& dw, const TensorRef& w, int dev) {
  DeviceScratch wt = scratch(dw.c * dw.kh * dw.kw, w.dtype(), dev);
  depthwise_transpose_weight(w.dtype(), dw, w.raw_data(), wt.get(), dev);
  return wt;
}

// fer's convolution as cuDNN runs it (see the top of this file).
struct CudnnPlan {
  CudnnConv c;
  bool pad_input = false;  // x is copied into [n, c.h, c.w, c] with zero rows / columns at the bottom / right
  bool crop = false;       // cuDNN's output [n, c.ho, c.wo, o] is larger than [n, ho, wo, o]
  ConvLayout layout = ConvLayout::nhwc;
};

CudnnPlan cudnn_plan(const ConvGeometry& g, DType dt, int dev) {
  CudnnPlan p;
  CudnnConv& c = p.c;
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
  p.layout = dt == DType::f64 || !cudnn_conv_nhwc_supported(c, dt, dev) ? ConvLayout::nchw : ConvLayout::nhwc;
  return p;
}

// cuDNN's workspace for one pass (none when it needs no bytes).
struct CudnnWorkspace {
  DeviceScratch mem;
  size_t bytes = 0;
  void* ptr() const { return bytes > 0 ? mem.get() : nullptr; }
};
CudnnWorkspace cudnn_workspace(const CudnnPlan& p, DType dt, ConvPass pass, int dev) {
  CudnnWorkspace w;
  w.bytes = cudnn_conv_workspace(p.c, dt, p.layout, pass, dev);
  if (w.bytes > 0) w.mem = DeviceScratch(w.bytes, dev);
  return w;
}

// x, or x copied into cuDNN's taller / wider zero-padded input (held by `keep`).
const void* cudnn_input(const CudnnPlan& p, const ConvGeometry& g, const TensorRef& x, int dev, DeviceScratch& keep) {
  if (!p.pad_input) return x.raw_data();
  keep = scratch(g.n * p.c.h * p.c.w * g.c, x.dtype(), dev);
  window_copy(x.dtype(), x.raw_data(), g.n, g.h, g.w, keep.get(), p.c.h, p.c.w, g.c, false, dev);
  return keep.get();
}

// gy, or gy placed in cuDNN's larger output with zero gradient on the cropped pixels (held by `keep`).
const void* cudnn_grad_output(const CudnnPlan& p, const ConvGeometry& g, const TensorRef& gy, int dev,
                              DeviceScratch& keep) {
  if (!p.crop) return gy.raw_data();
  keep = scratch(g.n * p.c.ho * p.c.wo * g.o, gy.dtype(), dev);
  window_copy(gy.dtype(), gy.raw_data(), g.n, g.ho, g.wo, keep.get(), p.c.ho, p.c.wo, g.o, false, dev);
  return keep.get();
}

// NHWC [n, hw, c] -> NCHW [n, c, hw] copies for the NCHW layout.
DeviceScratch to_nchw(DType dt, const void* t, int64_t n, int64_t hw, int64_t c, int dev) {
  DeviceScratch r = scratch(n * c * hw, dt, dev);
  batched_transpose(dt, t, n, hw, c, r.get(), false, dev);
  return r;
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

using cuda::ConvLayout;
using cuda::ConvPass;
using cuda::cuda_device_of;
using cuda::DeviceScratch;

void conv2d_forward_cuda(const Conv2dForwardArgs& a) {
  const TensorRef &x = a.x, &w = a.w, &bias = a.bias, &y = a.y;  // a.workspace: CPU-only
  const int dev = cuda_device_of("conv2d", {&x, &w, &bias, &y}, /*same_dtype=*/true);
  const ConvGeometry& g = a.plan.g;
  const DType dt = x.dtype();
  const void* bias_ptr = bias.defined() ? bias.raw_data() : nullptr;
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = cuda::depthwise_dims(g);
    const DeviceScratch wt = cuda::depthwise_weight(dw, w, dev);
    cuda::depthwise_forward(dt, dw, x.raw_data(), wt.get(), bias_ptr, y.raw_data(), dev);
    return;
  }
  const cuda::CudnnPlan p = cuda::cudnn_plan(g, dt, dev);
  const cuda::CudnnConv& c = p.c;
  DeviceScratch x_padded, y_uncropped;
  const void* xin = cuda::cudnn_input(p, g, x, dev, x_padded);
  if (p.crop) y_uncropped = cuda::scratch(g.n * c.ho * c.wo * g.o, dt, dev);
  void* yout = p.crop ? y_uncropped.get() : y.raw_data();
  // The bias is written first and the convolution added to it (one rounding for the 16-bit types).
  const bool with_bias = bias.defined();
  const int64_t out_rows = g.n * c.ho * c.wo;
  if (with_bias) fill_rows_cuda({bias, cuda::flat_ref(yout, dt, out_rows * g.o, dev), out_rows, g.o});
  const cuda::CudnnWorkspace ws = cuda::cudnn_workspace(p, dt, ConvPass::forward, dev);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_forward(c, dt, p.layout, xin, w.raw_data(), yout, with_bias, ws.ptr(), ws.bytes, dev);
  } else {
    DeviceScratch xt = cuda::to_nchw(dt, xin, g.n, c.h * c.w, g.c, dev);
    DeviceScratch wt = cuda::to_nchw(dt, w.raw_data(), g.o, g.kh * g.kw, g.c / g.groups, dev);  // OHWI -> OIHW
    DeviceScratch yt = cuda::scratch(g.n * g.o * c.ho * c.wo, dt, dev);
    cuda::cudnn_conv_forward(c, dt, p.layout, xt.get(), wt.get(), yt.get(), false, ws.ptr(), ws.bytes, dev);
    cuda::batched_transpose(dt, yt.get(), g.n, g.o, c.ho * c.wo, yout, with_bias, dev);
  }
  if (p.crop) cuda::window_copy(dt, yout, g.n, c.ho, c.wo, y.raw_data(), g.ho, g.wo, g.o, false, dev);
}

void conv2d_backward_input_cuda(const Conv2dBackwardInputArgs& a) {
  const TensorRef &gy = a.gy, &w = a.w, &gx = a.gx;  // a.workspace: CPU-only
  const int dev = cuda_device_of("conv2d backward", {&gy, &w, &gx}, /*same_dtype=*/true);
  const ConvGeometry& g = a.plan.g;
  const DType dt = gy.dtype();
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = cuda::depthwise_dims(g);
    const DeviceScratch wt = cuda::depthwise_weight(dw, w, dev);
    cuda::zero_if_written(gx, a.accumulate, dev);  // the depthwise kernel adds
    cuda::depthwise_backward_input(dt, dw, gy.raw_data(), wt.get(), gx.raw_data(), dev);
    return;
  }
  const cuda::CudnnPlan p = cuda::cudnn_plan(g, dt, dev);
  const cuda::CudnnConv& c = p.c;
  DeviceScratch gy_placed, gx_padded;
  const void* gyin = cuda::cudnn_grad_output(p, g, gy, dev, gy_placed);
  // Into gx directly (beta = 1 when accumulating), or into the padded input's gradient whose inner window is then
  // added to (or written into) gx.
  if (p.pad_input) gx_padded = cuda::scratch(g.n * c.h * c.w * g.c, dt, dev);
  void* gxout = p.pad_input ? gx_padded.get() : gx.raw_data();
  const bool acc = !p.pad_input && a.accumulate;
  const cuda::CudnnWorkspace ws = cuda::cudnn_workspace(p, dt, ConvPass::backward_data, dev);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_backward_data(c, dt, p.layout, gyin, w.raw_data(), gxout, acc, ws.ptr(), ws.bytes, dev);
  } else {
    DeviceScratch gyt = cuda::to_nchw(dt, gyin, g.n, c.ho * c.wo, g.o, dev);
    DeviceScratch wt = cuda::to_nchw(dt, w.raw_data(), g.o, g.kh * g.kw, g.c / g.groups, dev);
    DeviceScratch gxt = cuda::scratch(g.n * g.c * c.h * c.w, dt, dev);
    cuda::cudnn_conv_backward_data(c, dt, p.layout, gyt.get(), wt.get(), gxt.get(), false, ws.ptr(), ws.bytes, dev);
    cuda::batched_transpose(dt, gxt.get(), g.n, g.c, c.h * c.w, gxout, acc, dev);
  }
  if (p.pad_input) cuda::window_copy(dt, gxout, g.n, c.h, c.w, gx.raw_data(), g.h, g.w, g.c, a.accumulate, dev);
}

void conv2d_backward_weight_cuda(const Conv2dBackwardWeightArgs& a) {
  const TensorRef &gy = a.gy, &x = a.x, &gw = a.gw;  // a.workspace, a.partials: CPU-only
  const int dev = cuda_device_of("conv2d backward", {&gy, &x, &gw}, /*same_dtype=*/true);
  const ConvGeometry& g = a.plan.g;
  const DType dt = gy.dtype();
  if (conv2d_uses_depthwise_kernel(g)) {
    const cuda::DepthwiseConv dw = cuda::depthwise_dims(g);
    const int64_t chunks = cuda::depthwise_weight_grad_chunks(dw);
    DeviceScratch partials =
        chunks > 1 ? DeviceScratch(size_t(chunks * g.kh * g.kw * g.c) * cuda::compute_bytes(dt), dev) : DeviceScratch();
    cuda::depthwise_backward_weight(dt, dw, gy.raw_data(), x.raw_data(), gw.raw_data(), partials.get(), dev);
    return;
  }
  const cuda::CudnnPlan p = cuda::cudnn_plan(g, dt, dev);
  const cuda::CudnnConv& c = p.c;
  DeviceScratch x_padded, gy_placed;
  const void* xin = cuda::cudnn_input(p, g, x, dev, x_padded);
  const void* gyin = cuda::cudnn_grad_output(p, g, gy, dev, gy_placed);
  const cuda::CudnnWorkspace ws = cuda::cudnn_workspace(p, dt, ConvPass::backward_filter, dev);
  if (p.layout == ConvLayout::nhwc) {
    cuda::cudnn_conv_backward_filter(c, dt, p.layout, gyin, xin, gw.raw_data(), true, ws.ptr(), ws.bytes, dev);
  } else {
    const int64_t cg = g.c / g.groups, taps = g.kh * g.kw;
    DeviceScratch gyt = cuda::to_nchw(dt, gyin, g.n, c.ho * c.wo, g.o, dev);
    DeviceScratch xt = cuda::to_nchw(dt, xin, g.n, c.h * c.w, g.c, dev);
    DeviceScratch gwt = cuda::scratch(g.o * cg * taps, dt, dev);
    cuda::cudnn_conv_backward_filter(c, dt, p.layout, gyt.get(), xt.get(), gwt.get(), false, ws.ptr(), ws.bytes, dev);
    cuda::batched_transpose(dt, gwt.get(), g.o, cg, taps, gw.raw_data(), true, dev);  // OIHW -> OHWI, +=
  }
}

void conv2d_backward_bias_cuda(const Conv2dBackwardBiasArgs& a) {
  const ConvGeometry& g = a.plan.g;
  add_column_sums_cuda({a.gy, a.gb, g.n * g.ho * g.wo, g.o});
}

}  // namespace fer::kernels
