// upfirdn2d on NHWC, one thread per output element (channel fastest, so a warp reads consecutive channels). The
// forward gathers the taps that land on input samples; the backward is the adjoint written as a gather over the
// outputs that read each input sample, so neither pass needs atomics. Same tap order as the CPU kernel.
#include "fer/kernels/upfirdn2d.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"

namespace fer::cuda {

namespace {

struct UpFirDnGeom {
  int64_t n, h, w, c;    // input [n, h, w, c]
  int64_t fh, fw;        // filter [fh, fw]
  int64_t oh, ow;        // output [n, oh, ow, c]
  int64_t up_x, up_y, down_x, down_y, pad_x0, pad_y0;
  bool flip;
  double gain;
};

__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }
__device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// The weight of tap (ky, kx): a true convolution reverses the stored filter; flip uses it as stored.
template <class C, class T>
__device__ __forceinline__ C tap(const T* f, const UpFirDnGeom& g, C gain, int64_t ky, int64_t kx) {
  const int64_t idx = g.flip ? ky * g.fw + kx : (g.fh - 1 - ky) * g.fw + (g.fw - 1 - kx);
  return gain * load(f, idx);
}

template <class T>
__global__ void forward_kernel(UpFirDnGeom g, const T* __restrict__ x, const T* __restrict__ f, T* __restrict__ y) {
  using C = typename Compute<T>::type;
  const C gain = C(g.gain);
  const int64_t uh = g.h * g.up_y, uw = g.w * g.up_x;
  const int64_t total = g.n * g.oh * g.ow * g.c;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % g.c;
    int64_t r = e / g.c;
    const int64_t ox = r % g.ow;
    r /= g.ow;
    const int64_t oy = r % g.oh, n = r / g.oh;
    // Position of tap 0 in the padded upsampled signal; taps k hit an input sample where (b + k) % up == 0.
    const int64_t by = oy * g.down_y - g.pad_y0, bx = ox * g.down_x - g.pad_x0;
    int64_t ky0 = max64(0, -by), kx0 = max64(0, -bx);
    const int64_t ry = (by + ky0) % g.up_y, rx = (bx + kx0) % g.up_x;
    if (ry) ky0 += g.up_y - ry;
    if (rx) kx0 += g.up_x - rx;
    const int64_t ky1 = min64(g.fh, uh - by), kx1 = min64(g.fw, uw - bx);
    const T* xn = x + n * g.h * g.w * g.c + c;
    C acc = C(0);
    for (int64_t ky = ky0; ky < ky1; ky += g.up_y) {
      const T* xr = xn + ((by + ky) / g.up_y) * g.w * g.c;
      for (int64_t kx = kx0; kx < kx1; kx += g.up_x) acc += tap<C>(f, g, gain, ky, kx) * load(xr, ((bx + kx) / g.up_x) * g.c);
    }
    store(y, e, acc);
  }
}

// Input sample (iy, ix) sits at iy*up_y + pad_y0 of the padded signal; output oy reads it through tap
// ky = iy*up_y + pad_y0 - oy*down_y (0 <= ky < fh).
template <class T>
__global__ void backward_kernel(UpFirDnGeom g, const T* __restrict__ f, const T* __restrict__ gy, T* __restrict__ gx) {
  using C = typename Compute<T>::type;
  const C gain = C(g.gain);
  const int64_t total = g.n * g.h * g.w * g.c;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % g.c;
    int64_t r = e / g.c;
    const int64_t ix = r % g.w;
    r /= g.w;
    const int64_t iy = r % g.h, n = r / g.h;
    const int64_t ty = iy * g.up_y + g.pad_y0, tx = ix * g.up_x + g.pad_x0;
    const int64_t oy0 = max64(0, ceil_div(ty - g.fh + 1, g.down_y)), oy1 = min64(g.oh - 1, floor_div(ty, g.down_y));
    const int64_t ox0 = max64(0, ceil_div(tx - g.fw + 1, g.down_x)), ox1 = min64(g.ow - 1, floor_div(tx, g.down_x));
    const T* gyn = gy + n * g.oh * g.ow * g.c + c;
    C acc = load(gx, e);  // accumulate onto the existing gradient in the CPU kernel's order
    for (int64_t oy = oy0; oy <= oy1; ++oy) {
      const T* gyr = gyn + oy * g.ow * g.c;
      for (int64_t ox = ox0; ox <= ox1; ++ox)
        acc += tap<C>(f, g, gain, ty - oy * g.down_y, tx - ox * g.down_x) * load(gyr, ox * g.c);
    }
    store(gx, e, acc);
  }
}

void upfirdn2d_forward_launch(const UpFirDnGeom& g, const void* x, const void* f, void* y, DType dtype, int device) {
  const int64_t total = g.n * g.oh * g.ow * g.c;
  if (total <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "upfirdn2d", {
    forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(f), static_cast<scalar_t*>(y));
  });
  check_launch("upfirdn2d_forward");
}

void upfirdn2d_backward_launch(const UpFirDnGeom& g, const void* f, const void* gy, void* gx, DType dtype, int device) {
  const int64_t total = g.n * g.h * g.w * g.c;
  if (total <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "upfirdn2d backward", {
    backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, current_stream(device)>>>(
        g, static_cast<const scalar_t*>(f), static_cast<const scalar_t*>(gy), static_cast<scalar_t*>(gx));
  });
  check_launch("upfirdn2d_backward");
}

// y = upfirdn2d(x) (overwrites y) and gx += adjoint(gy), from the contract's tensors.
UpFirDnGeom geom(const kernels::TensorRef& x, const kernels::TensorRef& f, const kernels::TensorRef& y,
                 const UpFirDnParams& p) {
  UpFirDnGeom g{};
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c = x.size(3);
  g.fh = f.size(0), g.fw = f.size(1);
  g.oh = y.size(1), g.ow = y.size(2);
  g.up_x = p.up_x, g.up_y = p.up_y, g.down_x = p.down_x, g.down_y = p.down_y;
  g.pad_x0 = p.pad_x0, g.pad_y0 = p.pad_y0;
  g.flip = p.flip_filter;
  g.gain = p.gain;
  return g;
}

int check(const char* op, const kernels::TensorRef& a, const kernels::TensorRef& f, const kernels::TensorRef& b) {
  const int device = cuda_device_of(op, {&a, &f, &b}, true);
  FER_CHECK(a.dim() == 4 && b.dim() == 4 && f.dim() == 2 && a.size(0) == b.size(0) && a.size(3) == b.size(3), op,
            ": shapes ", a.shape().str(), ", ", f.shape().str(), ", ", b.shape().str());
  return device;
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void upfirdn2d_forward_cuda(const UpFirDnForwardArgs& a) {
  const int device = cuda::check("upfirdn2d", a.x, a.f, a.y);
  cuda::upfirdn2d_forward_launch(cuda::geom(a.x, a.f, a.y, a.p), a.x.raw_data(), a.f.raw_data(), a.y.raw_data(),
                                 a.x.dtype(), device);
}

void upfirdn2d_backward_cuda(const UpFirDnBackwardArgs& a) {
  if (!a.gx.defined()) return;
  const int device = cuda::check("upfirdn2d backward", a.gx, a.f, a.gy);
  cuda::upfirdn2d_backward_launch(cuda::geom(a.gx, a.f, a.gy, a.p), a.f.raw_data(), a.gy.raw_data(), a.gx.raw_data(),
                                  a.gx.dtype(), device);
}

}  // namespace fer::kernels
