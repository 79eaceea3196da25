#pragma once
// Helpers shared by the op headers: argument checks and the recorded `contiguous` copy.
#include <initializer_list>

#include "fer/autograd/tape.hpp"
#include "fer/kernels/elementwise.hpp"
#include "fer/kernels/shape.hpp"
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// What a kernel sees of `t` (fer/kernels/tensor_ref.hpp); an undefined tensor gives an undefined ref (an optional
// input, a gradient nobody wants). Op headers call it when the kernel runs, not when the op is recorded: a gradient
// buffer may not exist yet at recording.
inline TensorRef ref(const Tensor& t) {
  TensorRef r;
  if (!t.defined()) return r;
  r.ptr = t.raw_data();
  r.type = t.dtype();
  r.sizes = t.shape();
  r.steps = t.strides();
  r.device = t.device().is_cuda() ? t.device().index : -1;
  r.present = true;
  return r;
}

// The storage around t's first element (fer/kernels/shape.hpp), for kernels that reach it through their own
// strides.
inline StorageSpan span_of(const Tensor& t) {
  const int64_t capacity = int64_t(t.storage()->bytes() / dtype_size(t.dtype()));
  return {t.offset(), capacity - t.offset()};
}

}  // namespace fer::kernels

namespace fer::ops_detail {

// Ops without a CUDA kernel yet say so clearly instead of reading device memory on the host.
inline void require_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t && t->defined()) FER_CHECK(t->device().is_cpu(), op, ": no kernel for device ", t->device().str(), " yet");
}

// All defined tensors on one device (kernels read their inputs where they run).
inline void require_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first) first = t;
    else FER_CHECK(t->device() == first->device(), op, ": tensors on ", first->device().str(), " and ", t->device().str());
  }
}

inline void require_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  FER_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch (", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()), ")");
}

inline void require_rank(const char* op, const Tensor& t, int rank, const char* what) {
  FER_CHECK(t.dim() == rank, op, ": ", what, " must be ", rank, "-d, got ", t.shape().str());
}

}  // namespace fer::ops_detail

namespace fer {

// A contiguous tensor with x's values: x itself when already contiguous, else a recorded copy (on CUDA a strided
// gather through x's own strides: Tensor::copy_ moves only contiguous data there).
inline Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  autograd::apply(
      "contiguous", {x}, {y},
      [x, y] {
        if (x.device().is_cuda())
          return kernels::gather_strided_cuda(
              {kernels::ref(x), 0, x.strides(), kernels::ref(y), false, kernels::span_of(x)});
        y.copy_(x);
      },
      [x, y] {
        // x's gradient buffer is contiguous (shape of x), so the flat accumulation lines up; a view's buffer made
        // strided on purpose (channel_prefix: a slice of a wider gradient) is added to along its own strides.
        if (!x.requires_grad()) return;
        const Tensor gx = x.grad_buffer();
        if (gx.is_contiguous()) kernels::axpy({kernels::ref(y.grad()), kernels::ref(gx), 1.0});
        else kernels::scatter_strided({kernels::ref(y.grad()), kernels::ref(gx), 0, gx.strides(), true, kernels::span_of(gx)});
      });
  return y;
}

}  // namespace fer
