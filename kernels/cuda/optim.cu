// Multi-tensor optimizer kernels: blockIdx.y picks a tensor of the table, blockIdx.x and the threads stride over
// its elements. The arithmetic is the CPU loop's, in the parameter type. The gradient-norm reduction has a fixed
// decomposition (kNormBlocksPerTensor blocks per tensor, then one block), so its result does not depend on the GPU.
#include <algorithm>
#include <mutex>

#include "fer/kernels/optim.hpp"
#include "kernels/cuda/common.cuh"

namespace fer::cuda {

namespace {

// One tensor of a multi-tensor launch: device addresses (0 = absent) and its element count.
struct TensorRecord {
  uint64_t p = 0;   // parameter (or the gradient, for the gradient-only kernels)
  uint64_t g = 0;   // gradient
  uint64_t s0 = 0;  // SGD: momentum buffer; Adam: exp_avg
  uint64_t s1 = 0;  // Adam: exp_avg_sq
  uint64_t s2 = 0;  // Adam: max_exp_avg_sq (amsgrad)
  int64_t n = 0;
};
static_assert(sizeof(TensorRecord) == 6 * sizeof(uint64_t), "TensorRecord is six 8-byte words");

// The scalars of torch.optim.SGD's update, converted to the parameter type in the kernel.
struct SgdScalars {
  double lr, weight_decay, momentum, keep;  // keep = 1 - dampening
  bool nesterov, maximize, first;           // first: the momentum buffers start as d
};

// The scalars of Adam/AdamW's update (see fer/optim/adam.hpp), each already computed in double as on the CPU.
struct AdamScalars {
  double beta1, beta2, one_minus_beta1, one_minus_beta2, eps, neg_step, bias_correction2_sqrt, l2, shrink;
  bool decoupled, maximize;  // amsgrad: the records carry s2
};

// Sum of squares in double: pass 1 writes count * kNormBlocksPerTensor partials, pass 2 reduces them in a fixed
// order.
constexpr int64_t kNormBlocksPerTensor = 32;

constexpr int64_t kMaxBlocksPerTensor = 128;  // enough to fill the GPU with a few large tensors
constexpr int64_t kMaxTensorsPerLaunch = 65535;  // gridDim.y limit

template <class T>
__device__ __forceinline__ T* at(uint64_t address) {
  return reinterpret_cast<T*>(address);
}

template <class T>
__global__ void sgd_kernel(const TensorRecord* __restrict__ table, SgdScalars s) {
  const TensorRecord r = table[blockIdx.y];
  T* p = at<T>(r.p);
  const T* grad = at<const T>(r.g);
  T* buf = at<T>(r.s0);
  const T lr = T(s.lr), wd = T(s.weight_decay), momentum = T(s.momentum), keep = T(s.keep);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    T d = s.maximize ? -grad[i] : grad[i];
    if (wd != T(0)) d = d + wd * p[i];
    if (buf) {
      const T b = s.first ? d : buf[i] * momentum + keep * d;
      buf[i] = b;
      d = s.nesterov ? d + momentum * b : b;
    }
    p[i] = p[i] + (-lr) * d;
  }
}

template <class T>
__global__ void adam_kernel(const TensorRecord* __restrict__ table, AdamScalars s) {
  const TensorRecord r = table[blockIdx.y];
  T* p = at<T>(r.p);
  const T* grad = at<const T>(r.g);
  T* m = at<T>(r.s0);
  T* v = at<T>(r.s1);
  T* v_max = at<T>(r.s2);
  const T b1 = T(s.beta1), b2 = T(s.beta2), omb1 = T(s.one_minus_beta1), omb2 = T(s.one_minus_beta2);
  const T eps = T(s.eps), neg_step = T(s.neg_step), bc2 = T(s.bias_correction2_sqrt);
  const T l2 = T(s.l2), shrink = T(s.shrink);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    T g = s.maximize ? -grad[i] : grad[i];
    T pi = p[i];
    if (s.decoupled) pi = pi * shrink;
    if (l2 != T(0)) g = g + l2 * pi;
    const T mi = m[i] * b1 + omb1 * g;
    const T vi = v[i] * b2 + omb2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if (v_max) {
      const T old = v_max[i];
      second = old < vi ? vi : old;  // std::max(old, vi)
      v_max[i] = second;
    }
    const T denom = sqrt(second) / bc2 + eps;
    p[i] = pi + neg_step * (mi / denom);
  }
}

// Pass 1: block (x, y) sums the squares of its strided share of tensor y into partials[y * kNormBlocks + x].
template <class T>
__global__ void sum_squares_kernel(const TensorRecord* __restrict__ table, double* __restrict__ partials) {
  __shared__ double red[kThreads];
  const TensorRecord r = table[blockIdx.y];
  const T* d = at<const T>(r.p);
  double acc = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    const double x = double(load(d, i));
    acc += x * x;
  }
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) red[threadIdx.x] += red[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = red[0];
}

// Pass 2: one block reduces the partials in a fixed order.
__global__ void sum_partials_kernel(const double* __restrict__ partials, int64_t count, double* __restrict__ result) {
  __shared__ double red[kThreads];
  double acc = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) red[threadIdx.x] += red[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *result = red[0];
}

template <class T>
__global__ void scale_kernel(const TensorRecord* __restrict__ table, double coef) {
  const TensorRecord r = table[blockIdx.y];
  T* d = at<T>(r.p);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x)
    store(d, i, double(load(d, i)) * coef);
}

template <class T>
__global__ void unscale_kernel(const TensorRecord* __restrict__ table, double inv_d, int* __restrict__ nonfinite) {
  using C = typename Compute<T>::type;
  const TensorRecord r = table[blockIdx.y];
  T* d = at<T>(r.p);
  // The CPU multiplies by T(1 / scale); for the 16-bit types the factor is rounded to T, the product done in f32.
  T inv_t;
  store(&inv_t, 0, C(inv_d));
  const C inv = load(&inv_t, 0);
  bool bad = false;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n; i += int64_t(gridDim.x) * blockDim.x) {
    store(d, i, load(d, i) * inv);
    bad = bad || !isfinite(double(load(d, i)));
  }
  if (bad) *nonfinite = 1;  // every writer stores the same value
}

// Runs launch(table chunk, tensors in chunk) over chunks of at most kMaxTensorsPerLaunch tensors.
template <class F>
void for_chunks(const TensorRecord* table, int64_t count, F&& launch) {
  for (int64_t start = 0; start < count; start += kMaxTensorsPerLaunch) {
    const int64_t k = count - start < kMaxTensorsPerLaunch ? count - start : kMaxTensorsPerLaunch;
    launch(table + start, start, unsigned(k));
  }
}

unsigned blocks_per_tensor(int64_t max_n) {
  const int64_t b = int64_t(blocks_for(max_n));
  return unsigned(b < kMaxBlocksPerTensor ? b : kMaxBlocksPerTensor);
}

template <class F>
void param_switch(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    default: fail(what, ": parameters must be f32 or f64 on CUDA, got ", dtype_name(dtype));
  }
}

// Launchers: `table` is a device array of `count` TensorRecord, `max_n` the largest element count.

void sgd_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const SgdScalars& s, DType dtype,
                      int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  param_switch(dtype, "SGD", [&](auto tag) {
    using T = decltype(tag);
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      sgd_kernel<T><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, s);
      check_launch("sgd_multi_tensor");
    });
  });
}

void adam_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const AdamScalars& s, DType dtype,
                       int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  param_switch(dtype, "Adam", [&](auto tag) {
    using T = decltype(tag);
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      adam_kernel<T><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, s);
      check_launch("adam_multi_tensor");
    });
  });
}

void sum_squares_launch(const TensorRecord* table, int64_t count, int64_t, double* partials, double* result,
                        DType dtype, int device) {
  cudaSetDevice(device);
  cudaStream_t st = current_stream(device);
  if (count > 0) {
    FER_CUDA_FLOAT_SWITCH(dtype, "grad norm", {
      for_chunks(table, count, [&](const TensorRecord* t, int64_t start, unsigned k) {
        sum_squares_kernel<scalar_t><<<dim3(unsigned(kNormBlocksPerTensor), k), kThreads, 0, st>>>(
            t, partials + start * kNormBlocksPerTensor);
        check_launch("grad_sum_squares");
      });
    });
  }
  sum_partials_kernel<<<1, kThreads, 0, st>>>(partials, count * kNormBlocksPerTensor, result);
  check_launch("grad_sum_partials");
}

void scale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double coef, DType dtype, int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "grad clip", {
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      scale_kernel<scalar_t><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(t, coef);
      check_launch("grad_scale");
    });
  });
}

void unscale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double inv, int* nonfinite, DType dtype,
                    int device) {
  if (count <= 0 || max_n <= 0) return;
  cudaSetDevice(device);
  FER_CUDA_FLOAT_SWITCH(dtype, "loss scaling", {
    for_chunks(table, count, [&](const TensorRecord* t, int64_t, unsigned k) {
      unscale_kernel<scalar_t><<<dim3(blocks_per_tensor(max_n), k), kThreads, 0, current_stream(device)>>>(
          t, inv, nonfinite);
      check_launch("grad_unscale");
    });
  });
}

// ---- the tables: built from the contract's items, uploaded when they changed (a pageable host source is staged by
// the driver before the copy call returns)

uint64_t address(const kernels::TensorRef& t) {
  return t.defined() ? uint64_t(reinterpret_cast<uintptr_t>(t.raw_data())) : 0;
}

// Device memory of the caching allocator, given back when the last owner drops it.
std::shared_ptr<void> device_block(size_t bytes, int device) {
  size_t granted = 0;
  void* p = caching_allocator(device).allocate(bytes, &granted);
  return std::shared_ptr<void>(p, [device, granted](void* q) { caching_allocator(device).deallocate(q, granted); });
}

// The device copy of `records`, re-uploaded only when they differ from the cache's last upload.
const TensorRecord* upload(kernels::TableCache& cache, const std::vector<TensorRecord>& records, int device) {
  const size_t words = records.size() * 6;
  std::vector<uint64_t> host(words);
  for (size_t r = 0; r < records.size(); ++r) {
    const TensorRecord& x = records[r];
    uint64_t* w = host.data() + 6 * r;
    w[0] = x.p, w[1] = x.g, w[2] = x.s0, w[3] = x.s1, w[4] = x.s2, w[5] = uint64_t(x.n);
  }
  const bool fits = cache.device && cache.device_index == device && cache.capacity_words >= words;
  if (!fits || host != cache.host) {
    if (!fits) {
      const size_t capacity = std::max<size_t>(words, 6);
      cache.device = device_block(capacity * sizeof(uint64_t), device);
      cache.capacity_words = capacity;
      cache.device_index = device;
    }
    copy(cache.device.get(), host.data(), words * sizeof(uint64_t), CopyKind::host_to_device, device);
    cache.host = std::move(host);
  }
  return static_cast<const TensorRecord*>(cache.device.get());
}

void check_item(const char* op, const kernels::MultiTensorItem& it, const kernels::TensorRef& first) {
  FER_CHECK(it.p.defined() && it.g.defined(), op, ": parameter or gradient undefined");
  for (const kernels::TensorRef* t : {&it.p, &it.g, &it.s0, &it.s1, &it.s2}) {
    if (!t->defined()) continue;
    FER_CHECK(t->on_cuda() && t->device == first.device, op, ": tensors must be on one CUDA device, got devices ",
              t->device, " and ", first.device, " (-1: host memory)");
    FER_CHECK(t->dtype() == first.dtype() && t->is_contiguous() && t->numel() == it.p.numel(), op, ": a tensor of shape ",
              t->shape().str(), " (", dtype_name(t->dtype()), ") does not match the parameter ", it.p.shape().str(),
              " (", dtype_name(it.p.dtype()), ")");
  }
}

// Records of the items; max_n gets the largest element count.
std::vector<TensorRecord> records_of(const char* op, const std::vector<kernels::MultiTensorItem>& items,
                                     int64_t* max_n) {
  std::vector<TensorRecord> out;
  out.reserve(items.size());
  *max_n = 0;
  for (const kernels::MultiTensorItem& it : items) {
    check_item(op, it, items.front().p);
    out.push_back({address(it.p), address(it.g), address(it.s0), address(it.s1), address(it.s2), it.p.numel()});
    *max_n = std::max(*max_n, it.p.numel());
  }
  return out;
}

// Gradient-only tables: the defined tensors, checked to share one CUDA device and dtype.
struct GradTable {
  std::vector<TensorRecord> records;
  int64_t max_n = 0;
  int device = -1;
  DType dtype = DType::f32;
};
GradTable grad_table(const char* op, const std::vector<kernels::TensorRef>& ts) {
  GradTable out;
  const kernels::TensorRef* first = nullptr;
  for (const kernels::TensorRef& t : ts) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    FER_CHECK(t.on_cuda() && t.device == first->device && t.dtype() == first->dtype() && t.is_contiguous(), op,
              ": gradients must be contiguous, of one dtype, on one CUDA device; got ", t.shape().str(), " (",
              dtype_name(t.dtype()), ", device ", t.device, ") and ", first->shape().str(), " (",
              dtype_name(first->dtype()), ", device ", first->device, ")");
    FER_CHECK(is_floating(t.dtype()), op, ": gradient of dtype ", dtype_name(t.dtype()));
    if (t.numel() == 0) continue;
    TensorRecord r;
    r.p = address(t), r.n = t.numel();
    out.records.push_back(r);
    out.max_n = std::max(out.max_n, t.numel());
  }
  if (first) out.device = first->device, out.dtype = first->dtype();
  return out;
}

// One table slot per device for the gradient reductions (norm, clip and unscale see the same list each step).
kernels::TableCache& grad_cache(int device) {
  static std::mutex mu;
  static auto* caches = new std::vector<kernels::TableCache*>;  // leaked: outlives static tensors
  std::lock_guard<std::mutex> lock(mu);
  if (caches->size() <= size_t(device)) caches->resize(size_t(device) + 1, nullptr);
  kernels::TableCache*& c = (*caches)[size_t(device)];
  if (!c) c = new kernels::TableCache;
  return *c;
}
std::mutex& grad_cache_mutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

void sgd_multi_step_cuda(const SgdStepArgs& a) {
  if (a.items.empty()) return;
  FER_CHECK(a.cache, "SGD: no table cache");
  int64_t max_n = 0;
  const std::vector<cuda::TensorRecord> records = cuda::records_of("SGD", a.items, &max_n);
  const int dev = a.items.front().p.device;
  const cuda::TensorRecord* table = cuda::upload(*a.cache, records, dev);
  const cuda::SgdScalars s{a.lr, a.weight_decay, a.momentum, 1 - a.dampening, a.nesterov, a.maximize, a.first};
  cuda::sgd_multi_launch(table, int64_t(records.size()), max_n, s, a.items.front().p.dtype(), dev);
}

void adam_multi_step_cuda(const AdamStepArgs& a) {
  if (a.items.empty()) return;
  FER_CHECK(a.cache, "Adam: no table cache");
  int64_t max_n = 0;
  const std::vector<cuda::TensorRecord> records = cuda::records_of("Adam", a.items, &max_n);
  const int dev = a.items.front().p.device;
  const cuda::TensorRecord* table = cuda::upload(*a.cache, records, dev);
  cuda::AdamScalars s{};
  s.beta1 = a.beta1, s.beta2 = a.beta2, s.one_minus_beta1 = 1 - a.beta1, s.one_minus_beta2 = 1 - a.beta2;
  s.eps = a.eps, s.neg_step = -a.step_size, s.bias_correction2_sqrt = a.bias_correction2_sqrt;
  s.l2 = a.decoupled ? 0.0 : a.weight_decay;
  s.shrink = 1 - a.lr * a.weight_decay;
  s.decoupled = a.decoupled && a.weight_decay != 0;
  s.maximize = a.maximize;
  cuda::adam_multi_launch(table, int64_t(records.size()), max_n, s, a.items.front().p.dtype(), dev);
}

void sum_of_squares_cuda(const GradListArgs& a) {
  const cuda::GradTable t = cuda::grad_table("grad norm", a.grads);
  if (t.records.empty()) return;
  std::lock_guard<std::mutex> lock(cuda::grad_cache_mutex());
  const int dev = t.device;
  const cuda::TensorRecord* table = cuda::upload(cuda::grad_cache(dev), t.records, dev);
  const int64_t count = int64_t(t.records.size());
  const std::shared_ptr<void> block =
      cuda::device_block(size_t(count * cuda::kNormBlocksPerTensor + 1) * sizeof(double), dev);
  double* p = static_cast<double*>(block.get());
  cuda::sum_squares_launch(table, count, t.max_n, p + 1, p, t.dtype, dev);
  double result = 0;
  cuda::copy(&result, p, sizeof(double), cuda::CopyKind::device_to_host, dev);  // waits: the block may go after
  *a.sum += result;
}

void scale_grads_cuda(const GradListArgs& a) {
  const cuda::GradTable t = cuda::grad_table("grad clip", a.grads);
  if (t.records.empty()) return;
  std::lock_guard<std::mutex> lock(cuda::grad_cache_mutex());
  const cuda::TensorRecord* table = cuda::upload(cuda::grad_cache(t.device), t.records, t.device);
  cuda::scale_launch(table, int64_t(t.records.size()), t.max_n, a.factor, t.dtype, t.device);
}

void unscale_and_check_cuda(const GradListArgs& a) {
  const cuda::GradTable t = cuda::grad_table("loss scaling", a.grads);
  if (t.records.empty()) return;
  std::lock_guard<std::mutex> lock(cuda::grad_cache_mutex());
  const int dev = t.device;
  const cuda::TensorRecord* table = cuda::upload(cuda::grad_cache(dev), t.records, dev);
  const std::shared_ptr<void> flag = cuda::device_block(sizeof(int32_t), dev);
  cuda::memset_zero(flag.get(), sizeof(int32_t), dev);
  cuda::unscale_launch(table, int64_t(t.records.size()), t.max_n, 1.0 / a.factor, static_cast<int*>(flag.get()),
                       t.dtype, dev);
  int32_t bad = 0;
  cuda::copy(&bad, flag.get(), sizeof(bad), cuda::CopyKind::device_to_host, dev);
  if (bad != 0) *a.finite = false;
}

}  // namespace fer::kernels
