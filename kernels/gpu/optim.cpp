// Tensor-level glue of the multi-tensor optimizer kernels: builds the table of device pointers, uploads it when it
// changed (a pageable host source is staged by the driver before the copy call returns), and reads back the one
// number of the reductions.
#include "fer/backend/cuda/optim.hpp"

#include <algorithm>
#include <mutex>

#include "fer/kernels/runtime.hpp"
#include "kernels/cuda/optim_launch.hpp"

namespace fer::gpu {

namespace {

static_assert(sizeof(cuda::TensorRecord) == 6 * sizeof(uint64_t), "TensorRecord is six 8-byte words");

uint64_t address(const Tensor& t) { return t.defined() ? uint64_t(reinterpret_cast<uintptr_t>(t.raw_data())) : 0; }

// The device copy of `records`, re-uploaded only when they differ from the cache's last upload.
const cuda::TensorRecord* upload(TableCache& cache, const std::vector<cuda::TensorRecord>& records, Device device) {
  const size_t words = records.size() * 6;
  std::vector<uint64_t> host(words);
  for (size_t r = 0; r < records.size(); ++r) {
    const cuda::TensorRecord& x = records[r];
    uint64_t* w = host.data() + 6 * r;
    w[0] = x.p, w[1] = x.g, w[2] = x.s0, w[3] = x.s1, w[4] = x.s2, w[5] = uint64_t(x.n);
  }
  const bool fits = cache.device.defined() && cache.device.device() == device && cache.device.numel() >= int64_t(words);
  if (!fits || host != cache.host) {
    if (!fits) cache.device = Tensor::empty({int64_t(std::max<size_t>(words, 6))}, DType::i64, device);
    cuda::copy(cache.device.raw_data(), host.data(), words * sizeof(uint64_t), cuda::CopyKind::host_to_device,
               device.index);
    cache.host = std::move(host);
  }
  return static_cast<const cuda::TensorRecord*>(cache.device.raw_data());
}

void check_item(const char* op, const MultiTensorItem& it, const Tensor& ref) {
  FER_CHECK(it.p.defined() && it.g.defined(), op, ": parameter or gradient undefined");
  for (const Tensor* t : {&it.p, &it.g, &it.s0, &it.s1, &it.s2}) {
    if (!t->defined()) continue;
    FER_CHECK(t->device().is_cuda() && t->device() == ref.device(), op, ": tensors must be on one CUDA device, got ",
              t->str(), " and ", ref.str());
    FER_CHECK(t->dtype() == ref.dtype() && t->is_contiguous() && t->numel() == it.p.numel(), op, ": ", t->str(),
              " does not match parameter ", it.p.str());
  }
}

// Records of the items; max_n gets the largest element count.
std::vector<cuda::TensorRecord> records_of(const char* op, const std::vector<MultiTensorItem>& items, int64_t* max_n) {
  std::vector<cuda::TensorRecord> out;
  out.reserve(items.size());
  *max_n = 0;
  for (const MultiTensorItem& it : items) {
    check_item(op, it, items.front().p);
    out.push_back({address(it.p), address(it.g), address(it.s0), address(it.s1), address(it.s2), it.p.numel()});
    *max_n = std::max(*max_n, it.p.numel());
  }
  return out;
}

// Gradient-only tables: the defined tensors, checked to share one CUDA device and dtype.
struct GradTable {
  std::vector<cuda::TensorRecord> records;
  int64_t max_n = 0;
  Device device = Device::cpu();
  DType dtype = DType::f32;
};
GradTable grad_table(const char* op, const std::vector<Tensor>& ts) {
  GradTable out;
  const Tensor* first = nullptr;
  for (const Tensor& t : ts) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    FER_CHECK(t.device().is_cuda() && t.device() == first->device() && t.dtype() == first->dtype() && t.is_contiguous(),
              op, ": gradients must be contiguous, of one dtype, on one CUDA device; got ", t.str(), " and ",
              first->str());
    FER_CHECK(is_floating(t.dtype()), op, ": gradient of dtype ", dtype_name(t.dtype()));
    if (t.numel() == 0) continue;
    cuda::TensorRecord r;
    r.p = address(t), r.n = t.numel();
    out.records.push_back(r);
    out.max_n = std::max(out.max_n, t.numel());
  }
  if (first) out.device = first->device(), out.dtype = first->dtype();
  return out;
}

// One table slot per device for the gradient reductions (norm, clip and unscale see the same list each step).
TableCache& grad_cache(int device) {
  static std::mutex mu;
  static auto* caches = new std::vector<TableCache*>;  // leaked: outlives static tensors
  std::lock_guard<std::mutex> lock(mu);
  if (caches->size() <= size_t(device)) caches->resize(size_t(device) + 1, nullptr);
  TableCache*& c = (*caches)[size_t(device)];
  if (!c) c = new TableCache;
  return *c;
}
std::mutex& grad_cache_mutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

void sgd_multi_step(TableCache& cache, const std::vector<MultiTensorItem>& items, double lr, double weight_decay,
                    double momentum, double dampening, bool nesterov, bool maximize, bool first) {
  if (items.empty()) return;
  int64_t max_n = 0;
  const std::vector<cuda::TensorRecord> records = records_of("SGD", items, &max_n);
  const Device dev = items.front().p.device();
  const cuda::TensorRecord* table = upload(cache, records, dev);
  const cuda::SgdScalars s{lr, weight_decay, momentum, 1 - dampening, nesterov, maximize, first};
  cuda::sgd_multi_launch(table, int64_t(records.size()), max_n, s, items.front().p.dtype(), dev.index);
}

void adam_multi_step(TableCache& cache, const std::vector<MultiTensorItem>& items, double lr, double weight_decay,
                     double beta1, double beta2, double eps, double step_size, double bias_correction2_sqrt,
                     bool decoupled, bool maximize) {
  if (items.empty()) return;
  int64_t max_n = 0;
  const std::vector<cuda::TensorRecord> records = records_of("Adam", items, &max_n);
  const Device dev = items.front().p.device();
  const cuda::TensorRecord* table = upload(cache, records, dev);
  cuda::AdamScalars s{};
  s.beta1 = beta1, s.beta2 = beta2, s.one_minus_beta1 = 1 - beta1, s.one_minus_beta2 = 1 - beta2;
  s.eps = eps, s.neg_step = -step_size, s.bias_correction2_sqrt = bias_correction2_sqrt;
  s.l2 = decoupled ? 0.0 : weight_decay;
  s.shrink = 1 - lr * weight_decay;
  s.decoupled = decoupled && weight_decay != 0;
  s.maximize = maximize;
  cuda::adam_multi_launch(table, int64_t(records.size()), max_n, s, items.front().p.dtype(), dev.index);
}

double sum_of_squares(const std::vector<Tensor>& ts) {
  const GradTable t = grad_table("grad norm", ts);
  if (t.records.empty()) return 0.0;
  std::lock_guard<std::mutex> lock(grad_cache_mutex());
  const int dev = t.device.index;
  const cuda::TensorRecord* table = upload(grad_cache(dev), t.records, t.device);
  const int64_t count = int64_t(t.records.size());
  Tensor partials = Tensor::empty({count * cuda::kNormBlocksPerTensor + 1}, DType::f64, t.device);
  double* p = partials.data<double>();
  cuda::sum_squares_launch(table, count, t.max_n, p + 1, p, t.dtype, dev);
  double result = 0;
  cuda::copy(&result, p, sizeof(double), cuda::CopyKind::device_to_host, dev);
  return result;
}

void scale_(const std::vector<Tensor>& ts, double coef) {
  const GradTable t = grad_table("grad clip", ts);
  if (t.records.empty()) return;
  std::lock_guard<std::mutex> lock(grad_cache_mutex());
  const cuda::TensorRecord* table = upload(grad_cache(t.device.index), t.records, t.device);
  cuda::scale_launch(table, int64_t(t.records.size()), t.max_n, coef, t.dtype, t.device.index);
}

bool unscale_and_check(const std::vector<Tensor>& ts, double scale) {
  const GradTable t = grad_table("loss scaling", ts);
  if (t.records.empty()) return true;
  std::lock_guard<std::mutex> lock(grad_cache_mutex());
  const int dev = t.device.index;
  const cuda::TensorRecord* table = upload(grad_cache(dev), t.records, t.device);
  Tensor flag = Tensor::zeros({1}, DType::i32, t.device);
  cuda::unscale_launch(table, int64_t(t.records.size()), t.max_n, 1.0 / scale, flag.data<int32_t>(), t.dtype, dev);
  int32_t bad = 0;
  cuda::copy(&bad, flag.raw_data(), sizeof(bad), cuda::CopyKind::device_to_host, dev);
  return bad == 0;
}

}  // namespace fer::gpu
