// The Tensor members that are more than an accessor (fer/core/tensor.hpp): compiled once instead of in every unit
// that creates, copies or prints a tensor.
#include "fer/core/tensor.hpp"

namespace fer {

namespace {

size_t checked_bytes(const Shape& shape, DType dtype) {
  for (int i = 0; i < shape.size(); ++i) FER_CHECK(shape[i] >= 0, "negative dimension in shape ", shape.str());
  return size_t(shape.numel()) * dtype_size(dtype);
}

// A contiguous tensor of `shape` over the whole of `storage`.
Tensor contiguous_over(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return contiguous_over(std::make_shared<Storage>(checked_bytes(shape, dtype), device), shape, dtype);
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  if (!cuda_device_available()) return empty(shape, dtype);
  return contiguous_over(std::make_shared<Storage>(checked_bytes(shape, dtype), cuda::pinned_host_allocator()), shape,
                         dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  zero_bytes(t.raw_data(), device, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::randn(const Shape& shape, DType dtype, Generator& gen, double mean, double stddev) {
  Tensor t = empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, mean + stddev * gen.normal());
  return t;
}

Tensor Tensor::rand(const Shape& shape, DType dtype, Generator& gen, double lo, double hi) {
  Tensor t = empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, gen.uniform(lo, hi));
  return t;
}

std::string Tensor::str() const {
  return "Tensor(" + impl_->shape.str() + ", " + std::string(dtype_name(dtype())) + ", " + device().str() + ")";
}

double Tensor::item() const {
  FER_CHECK(numel() == 1, "item() on a tensor with ", numel(), " elements");
  return host().flat(0);
}

std::vector<double> Tensor::to_vector() const {
  Tensor h = host();
  std::vector<double> v(size_t(h.numel()));
  for (int64_t i = 0; i < h.numel(); ++i) v[size_t(i)] = h.flat(i);
  return v;
}

const Tensor& Tensor::fill_(double v) const {
  FER_CHECK(device().is_cpu(), "fill_ on ", device().str(), " is not supported; fill on the CPU and copy");
  for (int64_t i = 0; i < numel(); ++i) set_flat(i, v);
  return *this;
}

const Tensor& Tensor::zero_() const {
  if (is_contiguous()) zero_bytes(raw_data(), device(), nbytes());
  else fill_(0.0);
  return *this;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  FER_CHECK(src.shape() == shape(), "copy_: shape ", src.shape().str(), " into ", shape().str());
  if (src.dtype() == dtype() && src.is_contiguous() && is_contiguous()) {
    copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
    return *this;
  }
  FER_CHECK(device().is_cpu() && src.device().is_cpu(), "copy_: strided or converting copy needs CPU tensors");
  for (int64_t i = 0; i < numel(); ++i) set_flat(i, src.flat(i));
  return *this;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor h = host();
  Tensor out = empty(shape(), t);
  out.copy_(h);
  return device().is_cpu() ? out : out.to(device());
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor src = is_contiguous() ? *this : host_contiguous();
  Tensor out = empty(shape(), dtype(), d);
  copy_bytes(out.raw_data(), d, src.raw_data(), src.device(), nbytes());
  return out;
}

Tensor Tensor::view_as_shape(const Shape& s) const {
  FER_CHECK(s.numel() == numel(), "view: cannot view ", shape().str(), " as ", s.str());
  FER_CHECK(is_contiguous(), "view: tensor is not contiguous");
  Tensor view = detach();
  view.impl_->shape = s;
  view.impl_->strides = contiguous_strides(s);
  return view;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->requires_grad = false;
  impl->is_leaf = true;
  impl->grad.reset();
  return Tensor(std::move(impl));
}

Tensor& Tensor::set_requires_grad(bool r) {
  FER_CHECK(!r || is_floating(dtype()), "requires_grad on a tensor of dtype ", dtype_name(dtype()));
  impl_->requires_grad = r;
  return *this;
}

Tensor Tensor::grad_buffer() const {
  if (!impl_->grad) impl_->grad = zeros(shape(), dtype(), device()).impl_;
  return Tensor(impl_->grad);
}

Tensor Tensor::host_contiguous() const {
  Tensor h = empty(shape(), dtype());
  h.copy_(*this);
  return h;
}

int64_t Tensor::element_offset(int64_t flat) const {
  FER_CHECK(flat >= 0 && flat < numel(), "flat index ", flat, " out of range for ", shape().str());
  int64_t off = 0;
  for (int d = dim() - 1; d >= 0; --d) {
    int64_t n = shape()[d];
    off += (flat % n) * strides()[d];
    flat /= n;
  }
  return off;
}

double Tensor::read_at(int64_t off) const {
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

void Tensor::write_at(int64_t off, double v) const {
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

}  // namespace fer
