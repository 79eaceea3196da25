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
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  // A CPU tensor in page-locked memory when a CUDA device is present (its upload with to() runs asynchronously),
  // else an ordinary CPU tensor.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
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
                      double mean = 0.0, double stddev = 1.0);
  static Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator& gen = default_generator(),
                     double lo = 0.0, double hi = 1.0);
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
  std::string str() const;

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
  double item() const;
  std::vector<double> to_vector() const;

  // ---- in-place helpers (not recorded by autograd)
  const Tensor& fill_(double v) const;
  const Tensor& zero_() const;
  // Copies values (same shape; converts dtype on the CPU; copies across devices when contiguous and same dtype).
  const Tensor& copy_(const Tensor& src) const;

  // ---- conversions (not recorded; produce new storage)
  Tensor clone() const;
  Tensor to(DType t) const;
  Tensor to(Device d) const;
  Tensor host() const { return to(Device::cpu()); }

  // ---- views (share storage; not recorded: use the ops in fer/ops/shape.hpp inside a graph)
  Tensor view_as_shape(const Shape& s) const;
  // A new handle on the same storage and view, without autograd history (like torch's detach()).
  Tensor detach() const;

  // ---- autograd state
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  Tensor& set_requires_grad(bool r = true);
  bool is_leaf() const { return impl_->is_leaf; }
  // The accumulated gradient (undefined Tensor when none has been computed).
  Tensor grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
  // The gradient buffer, created zero-filled (contiguous, same dtype/device) on first use. Backward
  // functions accumulate (+=) into it, which is what makes fan-out and gradient accumulation work.
  Tensor grad_buffer() const;
  void zero_grad() const {
    if (impl_->grad) Tensor(impl_->grad).zero_();
  }
  void drop_grad() const { impl_->grad.reset(); }

 private:
  Tensor host_contiguous() const;
  int64_t element_offset(int64_t flat) const;
  double read_at(int64_t off) const;
  void write_at(int64_t off, double v) const;

  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace fer
