#pragma once
// Tensor: a view (shape, strides, offset, dtype) of a reference-counted Storage, plus autograd state.
// Copies of a Tensor share one TensorImpl (handle semantics, like torch.Tensor). Activations are NHWC.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/rng.hpp"
#include "fer/core/shape.hpp"
#include "fer/core/storage.hpp"

namespace fer {

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;
  bool is_leaf = true;  // false when produced by a recorded op
  std::shared_ptr<TensorImpl> grad;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu()) {
    for (int i = 0; i < shape.size(); ++i) FER_CHECK(shape[i] >= 0, "negative dimension in shape ", shape.str());
    auto impl = std::make_shared<TensorImpl>();
    size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
    impl->storage = std::make_shared<Storage>(bytes, device);
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->dtype = dtype;
    return Tensor(std::move(impl));
  }
  // A CPU tensor in page-locked memory when a CUDA device is present (its upload with to() runs asynchronously),
  // else an ordinary CPU tensor.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::f32) {
    if (!cuda_device_available()) return empty(shape, dtype);
    for (int i = 0; i < shape.size(); ++i) FER_CHECK(shape[i] >= 0, "negative dimension in shape ", shape.str());
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(size_t(shape.numel()) * dtype_size(dtype), cuda::pinned_host_allocator());
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->dtype = dtype;
    return Tensor(std::move(impl));
  }
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu()) {
    Tensor t = empty(shape, dtype, device);
    zero_bytes(t.raw_data(), device, t.nbytes());
    return t;
  }
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32) {
    Tensor t = empty(shape, dtype);
    t.fill_(value);
    return t;
  }
  static Tensor ones(const Shape& shape, DType dtype = DType::f32) { return full(shape, 1.0, dtype); }
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape) {
    FER_CHECK(int64_t(v.size()) == shape.numel(), "from_vector: ", v.size(), " values for shape ", shape.str());
    Tensor t = empty(shape, dtype_v<T>);
    std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
    return t;
  }
  // Normal(mean, std) / Uniform[lo, hi) values from `gen` (CPU, floating dtypes).
  static Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator& gen = default_generator(),
                      double mean = 0.0, double stddev = 1.0) {
    Tensor t = empty(shape, dtype);
    for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, mean + stddev * gen.normal());
    return t;
  }
  static Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator& gen = default_generator(),
                     double lo = 0.0, double hi = 1.0) {
    Tensor t = empty(shape, dtype);
    for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, gen.uniform(lo, hi));
    return t;
  }
  static Tensor empty_like(const Tensor& o) { return empty(o.shape(), o.dtype(), o.device()); }
  static Tensor zeros_like(const Tensor& o) { return zeros(o.shape(), o.dtype(), o.device()); }

  // ---- metadata
  bool defined() const { return bool(impl_); }
  explicit operator bool() const { return defined(); }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int dim() const { return impl_->shape.size(); }
  // Size of dimension i; negative i counts from the end.
  int64_t size(int i) const { return impl_->shape[i < 0 ? i + dim() : i]; }
  int64_t numel() const { return impl_->shape.numel(); }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  int64_t offset() const { return impl_->offset; }
  bool is_contiguous() const {
    int64_t expect = 1;
    for (int i = dim() - 1; i >= 0; --i) {
      if (shape()[i] != 1 && strides()[i] != expect) return false;
      expect *= shape()[i];
    }
    return true;
  }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  std::string str() const {
    return "Tensor(" + impl_->shape.str() + ", " + std::string(dtype_name(dtype())) + ", " + device().str() + ")";
  }

  // ---- data access (pointer to the first element of this view)
  void* raw_data() const {
    return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(dtype_size(dtype()));
  }
  template <class T>
  T* data() const {
    FER_CHECK(dtype_v<T> == dtype(), "data<", dtype_name(dtype_v<T>), ">() on a tensor of dtype ", dtype_name(dtype()));
    return static_cast<T*>(raw_data());
  }
  // Element access by flat row-major index honoring strides (CPU; slow path for tests and setup code).
  double flat(int64_t i) const { return read_at(element_offset(i)); }
  void set_flat(int64_t i, double v) const { write_at(element_offset(i), v); }
  template <class... I>
  double at(I... idx) const {
    int64_t ids[] = {int64_t(idx)...};
    FER_CHECK(int(sizeof...(I)) == dim(), "at(): ", sizeof...(I), " indices for a ", dim(), "-d tensor");
    int64_t off = 0;
    for (int d = 0; d < dim(); ++d) {
      FER_CHECK(ids[d] >= 0 && ids[d] < shape()[d], "at(): index ", ids[d], " out of range for dim ", d, " of ", shape().str());
      off += ids[d] * strides()[d];
    }
    return read_at(off);
  }
  double item() const {
    FER_CHECK(numel() == 1, "item() on a tensor with ", numel(), " elements");
    return host().flat(0);
  }
  std::vector<double> to_vector() const {
    Tensor h = host();
    std::vector<double> v(size_t(h.numel()));
    for (int64_t i = 0; i < h.numel(); ++i) v[size_t(i)] = h.flat(i);
    return v;
  }

  // ---- in-place helpers (not recorded by autograd)
  const Tensor& fill_(double v) const {
    FER_CHECK(device().is_cpu(), "fill_ on ", device().str(), " is not supported; fill on the CPU and copy");
    for (int64_t i = 0; i < numel(); ++i) set_flat(i, v);
    return *this;
  }
  const Tensor& zero_() const {
    if (is_contiguous()) zero_bytes(raw_data(), device(), nbytes());
    else fill_(0.0);
    return *this;
  }
  // Copies values (same shape; converts dtype on the CPU; copies across devices when contiguous and same dtype).
  const Tensor& copy_(const Tensor& src) const {
    FER_CHECK(src.shape() == shape(), "copy_: shape ", src.shape().str(), " into ", shape().str());
    if (src.dtype() == dtype() && src.is_contiguous() && is_contiguous()) {
      copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
      return *this;
    }
    FER_CHECK(device().is_cpu() && src.device().is_cpu(), "copy_: strided or converting copy needs CPU tensors");
    for (int64_t i = 0; i < numel(); ++i) set_flat(i, src.flat(i));
    return *this;
  }

  // ---- conversions (not recorded; produce new storage)
  Tensor clone() const {
    Tensor t = empty(shape(), dtype(), device());
    t.copy_(*this);
    return t;
  }
  Tensor to(DType t) const {
    if (t == dtype()) return *this;
    Tensor h = host();
    Tensor out = empty(shape(), t);
    out.copy_(h);
    return device().is_cpu() ? out : out.to(device());
  }
  Tensor to(Device d) const {
    if (d == device()) return *this;
    Tensor src = is_contiguous() ? *this : host_contiguous();
    Tensor out = empty(shape(), dtype(), d);
    copy_bytes(out.raw_data(), d, src.raw_data(), src.device(), nbytes());
    return out;
  }
  Tensor host() const { return to(Device::cpu()); }

  // ---- views (share storage; not recorded: use the ops in fer/ops/shape.hpp inside a graph)
  Tensor view_as_shape(const Shape& s) const {
    FER_CHECK(s.numel() == numel(), "view: cannot view ", shape().str(), " as ", s.str());
    FER_CHECK(is_contiguous(), "view: tensor is not contiguous");
    auto impl = std::make_shared<TensorImpl>(*impl_);
    impl->shape = s;
    impl->strides = contiguous_strides(s);
    impl->requires_grad = false;
    impl->is_leaf = true;
    impl->grad.reset();
    return Tensor(std::move(impl));
  }
  // A new handle on the same storage and view, without autograd history (like torch's detach()).
  Tensor detach() const {
    auto impl = std::make_shared<TensorImpl>(*impl_);
    impl->requires_grad = false;
    impl->is_leaf = true;
    impl->grad.reset();
    return Tensor(std::move(impl));
  }

  // ---- autograd state
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  Tensor& set_requires_grad(bool r = true) {
    FER_CHECK(!r || is_floating(dtype()), "requires_grad on a tensor of dtype ", dtype_name(dtype()));
    impl_->requires_grad = r;
    return *this;
  }
  bool is_leaf() const { return impl_->is_leaf; }
  // The accumulated gradient (undefined Tensor when none has been computed).
  Tensor grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
  // The gradient buffer, created zero-filled (contiguous, same dtype/device) on first use. Backward
  // functions accumulate (+=) into it, which is what makes fan-out and gradient accumulation work.
  Tensor grad_buffer() const {
    if (!impl_->grad) impl_->grad = zeros(shape(), dtype(), device()).impl_;
    return Tensor(impl_->grad);
  }
  void zero_grad() const {
    if (impl_->grad) Tensor(impl_->grad).zero_();
  }
  void drop_grad() const { impl_->grad.reset(); }

 private:
  Tensor host_contiguous() const {
    Tensor h = empty(shape(), dtype());
    h.copy_(*this);
    return h;
  }
  int64_t element_offset(int64_t flat) const {
    FER_CHECK(flat >= 0 && flat < numel(), "flat index ", flat, " out of range for ", shape().str());
    int64_t off = 0;
    for (int d = dim() - 1; d >= 0; --d) {
      int64_t n = shape()[d];
      off += (flat % n) * strides()[d];
      flat /= n;
    }
    return off;
  }
  double read_at(int64_t off) const {
    FER_CHECK(device().is_cpu(), "element access on ", device().str(), "; copy to the CPU first");
    const char* base = static_cast<const char*>(raw_data());
    switch (dtype()) {
      case DType::f32: return reinterpret_cast<const float*>(base)[off];
      case DType::f64: return reinterpret_cast<const double*>(base)[off];
      case DType::f16: return from_f16(reinterpret_cast<const f16*>(base)[off]);
      case DType::bf16: return from_bf16(reinterpret_cast<const bf16*>(base)[off]);
      case DType::i32: return reinterpret_cast<const int32_t*>(base)[off];
      case DType::i64: return double(reinterpret_cast<const int64_t*>(base)[off]);
      case DType::u8: return reinterpret_cast<const uint8_t*>(base)[off];
    }
    return 0;
  }
  void write_at(int64_t off, double v) const {
    FER_CHECK(device().is_cpu(), "element access on ", device().str(), "; copy to the CPU first");
    char* base = static_cast<char*>(raw_data());
    switch (dtype()) {
      case DType::f32: reinterpret_cast<float*>(base)[off] = float(v); break;
      case DType::f64: reinterpret_cast<double*>(base)[off] = v; break;
      case DType::f16: reinterpret_cast<f16*>(base)[off] = to_f16(float(v)); break;
      case DType::bf16: reinterpret_cast<bf16*>(base)[off] = to_bf16(float(v)); break;
      case DType::i32: reinterpret_cast<int32_t*>(base)[off] = int32_t(v); break;
      case DType::i64: reinterpret_cast<int64_t*>(base)[off] = int64_t(v); break;
      case DType::u8: reinterpret_cast<uint8_t*>(base)[off] = uint8_t(v); break;
    }
  }

  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace fer
