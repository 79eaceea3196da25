#pragma once
// Kernel contract: conversion between floating dtypes (round to nearest even on narrowing). Defined by
// kernels/cpu/cast.cpp and kernels/cuda/cast.cu; a build without CUDA links kernels/no_cuda/cast.cpp.
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// src and dst: contiguous, same number of elements, floating dtypes, one device.
struct CastArgs {
  TensorRef src, dst;
};

// dst = src converted to dst's dtype.
void cast_forward_cpu(const CastArgs&);
void cast_forward_cuda(const CastArgs&);
inline void cast_forward(const CastArgs& a) { run_on(a.src, cast_forward_cpu, cast_forward_cuda, a); }

// dst += src converted to dst's dtype (the gradient of a cast, back in the source dtype).
void cast_backward_cpu(const CastArgs&);
void cast_backward_cuda(const CastArgs&);
inline void cast_backward(const CastArgs& a) { run_on(a.src, cast_backward_cpu, cast_backward_cuda, a); }

}  // namespace fer::kernels
