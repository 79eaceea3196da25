#pragma once
// What a kernel sees of a tensor: its data pointer, dtype, sizes, strides and device, as plain data. The kernel
// contracts (fer/kernels/<family>.hpp) pass these in their argument structs, so nvcc compiles the contracts and
// the CUDA files never see fer::Tensor; the accessors mirror Tensor's, so CPU kernel bodies read the same.
// Op headers make them with fer::kernels::ref(tensor) (fer/ops/common.hpp).
#include <cstdint>

#include "fer/core/dtype.hpp"
#include "fer/core/error.hpp"
#include "fer/core/shape.hpp"

namespace fer::kernels {

struct TensorRef {
  void* ptr = nullptr;
  DType type = DType::f32;
  Shape sizes, steps;  // sizes and strides in elements
  int device = -1;     // -1: host memory; k >= 0: CUDA device k
  bool present = false;

  bool defined() const { return present; }
  DType dtype() const { return type; }
  const Shape& shape() const { return sizes; }
  const Shape& strides() const { return steps; }
  int dim() const { return sizes.nd; }
  // Size of dimension i; negative i counts from the end.
  int64_t size(int i) const { return sizes[i < 0 ? i + sizes.nd : i]; }
  int64_t numel() const { return sizes.numel(); }
  bool on_cuda() const { return device >= 0; }
  void* raw_data() const { return ptr; }
  template <class T>
  T* data() const {
    FER_CHECK(dtype_v<T> == type, "data<", dtype_name(dtype_v<T>), ">() on a tensor of dtype ", dtype_name(type));
    return static_cast<T*>(ptr);
  }
  bool is_contiguous() const {
    int64_t expect = 1;
    for (int i = sizes.nd - 1; i >= 0; --i) {
      if (sizes[i] != 1 && steps[i] != expect) return false;
      expect *= sizes[i];
    }
    return true;
  }
};

// Runs a kernel's CPU or CUDA definition, by where `where` lives (every contract's dispatching function uses it).
template <class Args>
inline void run_on(const TensorRef& where, void (*cpu)(const Args&), void (*cuda)(const Args&), const Args& args) {
  if (where.on_cuda()) cuda(args);
  else cpu(args);
}

}  // namespace fer::kernels
