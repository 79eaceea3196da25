// Tensor-level glue of the CUDA per-sample convolution: checks, sizes, the grouped-convolution geometry of a
// SampleConv, and the cuDNN workspace (the op's, or one from the caching allocator).
#include "fer/backend/cuda/modconv.hpp"

#include <algorithm>

#include "kernels/cuda/modconv_launch.hpp"

namespace fer::gpu {

namespace {

void check_on(const char* op, const Tensor& ref, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    FER_CHECK(t->device().is_cuda() && t->device() == ref.device(), op, ": tensors must be on one CUDA device, got ",
              t->str(), " and ", ref.str());
    FER_CHECK(t->is_contiguous() && t->dtype() == ref.dtype(), op, ": contiguous tensors of one dtype expected, got ",
              t->str(), " beside ", ref.str());
  }
}

// The convolution A of a SampleConv: sc.plan.g is one sample's convolution (for `transposed`, the one y -> x), and
// the batch becomes the groups.
cuda::GroupConvGeom conv_geom(const cpu::SampleConv& sc) {
  const kernels::ConvGeometry& g = sc.plan.g;
  FER_CHECK(g.stride_h == g.stride_w && g.dil_h == 1 && g.dil_w == 1 && g.groups == 1,
            "sample_conv: unexpected plan (strides ", g.stride_h, ", ", g.stride_w, ")");
  return {sc.samples, g.h, g.w, g.c, g.o, g.kh, g.kw, g.ho, g.wo, g.stride_h, g.pad_top, g.pad_left};
}

// A workspace of at least `bytes`: the op's when it is large enough, else a fresh one (caching allocator).
struct Workspace {
  Tensor owned;
  void* ptr = nullptr;
  size_t bytes = 0;
};
Workspace workspace_for(size_t bytes, const Tensor& ws, Device device) {
  Workspace out;
  if (bytes == 0) return out;
  if (ws.defined() && ws.device() == device && ws.is_contiguous() && ws.nbytes() >= bytes) {
    out.ptr = ws.raw_data(), out.bytes = ws.nbytes();
    return out;
  }
  out.owned = Tensor::empty({int64_t(bytes)}, DType::u8, device);
  out.ptr = out.owned.raw_data(), out.bytes = bytes;
  return out;
}

// x, w and y hold the element counts of the geometry (y-space and x-space swap for the transposed convolution).
void check_sizes(const char* op, const cpu::SampleConv& sc, const cuda::GroupConvGeom& g, const Tensor& x,
                 const Tensor& w, const Tensor& y) {
  const int64_t in = g.groups * g.h * g.w * g.c, out = g.groups * g.ho * g.wo * g.o;
  FER_CHECK(x.numel() == (sc.transposed ? out : in) && y.numel() == (sc.transposed ? in : out) &&
                w.numel() == g.groups * g.o * g.kh * g.kw * g.c,
            op, ": x ", x.shape().str(), ", w ", w.shape().str(), ", y ", y.shape().str(), " do not match the plan");
}

void run(const cuda::GroupConvGeom& g, cuda::ConvPass pass, const Tensor& a, const Tensor& b, const Tensor& out,
         double beta, const Tensor& ws) {
  const int dev = out.device().index;
  const Workspace w = workspace_for(cuda::group_conv_workspace(g, pass, out.dtype(), dev), ws, out.device());
  cuda::group_conv_launch(g, pass, a.raw_data(), b.raw_data(), out.raw_data(), beta, w.ptr, w.bytes, out.dtype(), dev);
}

}  // namespace

size_t sample_conv_workspace_bytes(const cpu::SampleConv& sc, DType dtype, Device device) {
  FER_CHECK(device.is_cuda(), "sample_conv_workspace_bytes: ", device.str(), " is not a CUDA device");
  const cuda::GroupConvGeom g = conv_geom(sc);
  size_t bytes = 0;
  for (cuda::ConvPass pass : {cuda::ConvPass::forward, cuda::ConvPass::backward_data, cuda::ConvPass::backward_filter})
    bytes = std::max(bytes, cuda::group_conv_workspace(g, pass, dtype, device.index));
  return bytes;
}

void sample_conv_forward(const cpu::SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& y,
                         const Tensor& ws) {
  check_on("sample_conv", x, {&x, &w, &y});
  const cuda::GroupConvGeom g = conv_geom(sc);
  check_sizes("sample_conv", sc, g, x, w, y);
  // Plain: y = A(x). Transposed: A maps y-space to x-space, so y = A^T(x).
  run(g, sc.transposed ? cuda::ConvPass::backward_data : cuda::ConvPass::forward, x, w, y, 0.0, ws);
}

void sample_conv_backward(const cpu::SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& gy,
                          const Tensor& gx, const Tensor& gw, const Tensor& ws, const Tensor& /*gx_scratch*/) {
  check_on("sample_conv backward", x, {&x, &w, &gy, &gx, &gw});
  const cuda::GroupConvGeom g = conv_geom(sc);
  check_sizes("sample_conv backward", sc, g, x, w, gy);
  if (sc.transposed) {  // y = A^T x: dx = A gy, dw from (input gy, output-gradient x)
    if (gx.defined()) run(g, cuda::ConvPass::forward, gy, w, gx, 1.0, ws);
    if (gw.defined()) run(g, cuda::ConvPass::backward_filter, gy, x, gw, 1.0, ws);
  } else {
    if (gx.defined()) run(g, cuda::ConvPass::backward_data, gy, w, gx, 1.0, ws);
    if (gw.defined()) run(g, cuda::ConvPass::backward_filter, x, gy, gw, 1.0, ws);
  }
}

}  // namespace fer::gpu
