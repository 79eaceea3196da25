// Dropout and stochastic depth on CUDA: a mask per group drawn from a counter-based hash, then a scaled copy.
#include "fer/kernels/dropout.hpp"
#include "kernels/cuda/common.cuh"

namespace fer::cuda {

namespace {

// Output `index` of the splitmix64 stream seeded with `key`: a bijective finalizer of key + (index+1) * golden
// gamma, which passes BigCrush as a stream and needs no state, so each element is drawn independently.
__device__ __forceinline__ uint64_t hash_draw(uint64_t key, uint64_t index) {
  uint64_t z = key + (index + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class M>
__global__ void mask_kernel(M* __restrict__ mask, int64_t groups, uint64_t key, double p, double scale) {
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    // As Generator::uniform: 53 bits in [0, 1), compared in double so p keeps its full precision.
    const double u = double(hash_draw(key, uint64_t(g)) >> 11) * 0x1.0p-53;
    store(mask, g, u < p ? 0.0 : scale);
  }
}

template <class T, class M>
__global__ void forward_kernel(const T* __restrict__ x, const M* __restrict__ mask, T* __restrict__ y, int64_t n,
                               int64_t group) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(y, i, load(x, i) * load(mask, i / group));
}

template <class T, class M>
__global__ void backward_kernel(const T* __restrict__ gy, const M* __restrict__ mask, T* __restrict__ gx, int64_t n,
                                int64_t group) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(gx, i, load(gx, i) + load(gy, i) * load(mask, i / group));
}

// The mask is in the compute type (f32 for 16-bit data, f64 for f64): the scale is not rounded to 16 bits.
template <class T> using MaskOf = typename Compute<T>::type;

void check_mask_dtype(DType dt, DType mask_dt) {
  const DType want = dt == DType::f64 ? DType::f64 : DType::f32;
  if (mask_dt != want) fail("dropout: mask dtype ", dtype_name(mask_dt), " for data of dtype ", dtype_name(dt));
}

// Launchers. mask[g] = (u(key, g) < p) ? 0 : scale for g < groups, with u uniform in [0, 1) (53 bits).
void launch_dropout_mask(void* mask, int64_t groups, uint64_t key, double p, double scale, DType dt, int device) {
  if (groups <= 0) return;
  switch (dt) {
    case DType::f32:
      mask_kernel<float><<<blocks_for(groups), kThreads, 0, current_stream(device)>>>(static_cast<float*>(mask), groups,
                                                                                      key, p, scale);
      break;
    case DType::f64:
      mask_kernel<double><<<blocks_for(groups), kThreads, 0, current_stream(device)>>>(static_cast<double*>(mask),
                                                                                       groups, key, p, scale);
      break;
    default: fail("dropout: mask dtype ", dtype_name(dt), " (expected f32 or f64)");
  }
  check_launch("dropout_mask");
}

void launch_masked_scale_forward(const void* x, const void* mask, void* y, int64_t n, int64_t group, DType dt,
                                 DType mask_dt, int device) {
  if (n <= 0) return;
  if (group < 1) fail("dropout: group size ", group);
  check_mask_dtype(dt, mask_dt);
  FER_CUDA_FLOAT_SWITCH(dt, "dropout",
                        forward_kernel<scalar_t, MaskOf<scalar_t>><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(x), static_cast<const MaskOf<scalar_t>*>(mask),
                            static_cast<scalar_t*>(y), n, group));
  check_launch("dropout_forward");
}

void launch_masked_scale_backward(const void* gy, const void* mask, void* gx, int64_t n, int64_t group, DType dt,
                                  DType mask_dt, int device) {
  if (n <= 0) return;
  if (group < 1) fail("dropout backward: group size ", group);
  check_mask_dtype(dt, mask_dt);
  FER_CUDA_FLOAT_SWITCH(dt, "dropout backward",
                        backward_kernel<scalar_t, MaskOf<scalar_t>><<<blocks_for(n), kThreads, 0, current_stream(device)>>>(
                            static_cast<const scalar_t*>(gy), static_cast<const MaskOf<scalar_t>*>(mask),
                            static_cast<scalar_t*>(gx), n, group));
  check_launch("dropout_backward");
}

void check_cuda(const char* what, const kernels::TensorRef& t, int dev) {
  FER_CHECK(t.defined() && t.on_cuda() && t.device == dev, what, ": expected a tensor on cuda:", dev,
            t.defined() ? ", got one on device " + std::to_string(t.device) + " (-1: host memory)"
                        : std::string(", got an undefined one"));
  FER_CHECK(t.is_contiguous(), what, ": the CUDA backend takes contiguous tensors");
}

void check_sizes(const char* what, const kernels::TensorRef& data, const kernels::TensorRef& mask, int64_t group) {
  FER_CHECK(group >= 1 && data.numel() == mask.numel() * group, what, ": ", data.numel(), " elements for ",
            mask.numel(), " mask groups of ", group);
  FER_CHECK(mask.dtype() == kernels::dropout_mask_dtype(data.dtype()), what, ": mask dtype ", dtype_name(mask.dtype()),
            " for data of dtype ", dtype_name(data.dtype()));
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void dropout_mask_cuda(const DropoutMaskArgs& a) {
  const TensorRef& mask = a.mask;
  FER_CHECK(mask.defined() && mask.on_cuda(), "dropout: the mask must be a CUDA tensor");
  cuda::check_cuda("dropout", mask, mask.device);
  cuda::launch_dropout_mask(mask.raw_data(), mask.numel(), a.key, a.p, a.scale, mask.dtype(), mask.device);
}

void masked_scale_forward_cuda(const MaskedScaleArgs& a) {
  const TensorRef &x = a.x, &mask = a.mask, &y = a.y;
  FER_CHECK(x.defined() && x.on_cuda(), "dropout: x must be a CUDA tensor");
  const int dev = x.device;
  cuda::check_cuda("dropout", x, dev);
  cuda::check_cuda("dropout", mask, dev);
  cuda::check_cuda("dropout", y, dev);
  FER_CHECK(y.dtype() == x.dtype() && y.numel() == x.numel(), "dropout: y ", y.shape().str(), " ",
            dtype_name(y.dtype()), " for x ", x.shape().str(), " ", dtype_name(x.dtype()));
  if (x.numel() == 0) return;
  cuda::check_sizes("dropout", x, mask, a.group);
  cuda::launch_masked_scale_forward(x.raw_data(), mask.raw_data(), y.raw_data(), x.numel(), a.group, x.dtype(),
                                    mask.dtype(), dev);
}

void masked_scale_backward_cuda(const MaskedScaleArgs& a) {
  const TensorRef &gy = a.gy, &mask = a.mask, &gx = a.gx;
  if (!gx.defined()) return;
  FER_CHECK(gy.defined() && gy.on_cuda(), "dropout backward: gy must be a CUDA tensor");
  const int dev = gy.device;
  cuda::check_cuda("dropout backward", gy, dev);
  cuda::check_cuda("dropout backward", mask, dev);
  cuda::check_cuda("dropout backward", gx, dev);
  FER_CHECK(gx.dtype() == gy.dtype() && gx.numel() == gy.numel(), "dropout backward: gx ", gx.shape().str(), " ",
            dtype_name(gx.dtype()), " for gy ", gy.shape().str(), " ", dtype_name(gy.dtype()));
  if (gy.numel() == 0) return;
  cuda::check_sizes("dropout backward", gy, mask, a.group);
  cuda::launch_masked_scale_backward(gy.raw_data(), mask.raw_data(), gx.raw_data(), gy.numel(), a.group, gy.dtype(),
                                     mask.dtype(), dev);
}

}  // namespace fer::kernels
