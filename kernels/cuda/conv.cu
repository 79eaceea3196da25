// Layout kernels around the cuDNN convolution: windowed copies (explicit bottom/right padding, output crops and
// their adjoints) and batched transposes (NHWC <-> NCHW for the layouts cuDNN only runs in NCHW).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv_launch.hpp"

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

}  // namespace

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

}  // namespace fer::cuda
