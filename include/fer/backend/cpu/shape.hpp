#pragma once
// CPU kernels that move elements between layouts (kernels/cpu/shape.cpp).
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// dst (contiguous, shape `shape`) = or += src's elements at src_offset + sum_d index_d * src_strides[d].
// Copies work for every dtype; accumulation needs f32/f64. src is addressed from its storage start + its offset.
void gather_strided(const Tensor& src, int64_t src_offset, const Shape& src_strides, const Tensor& dst, bool accumulate);
// dst's elements at dst_offset + sum_d index_d * dst_strides[d] = or += src (contiguous; its shape is iterated).
void scatter_strided(const Tensor& src, const Tensor& dst, int64_t dst_offset, const Shape& dst_strides, bool accumulate);

// Constant padding / cropping of NHWC images: y[n, h + top, w + left, c] = x[n, h, w, c], `value` elsewhere.
void pad2d_forward(const Tensor& x, const Tensor& y, int64_t top, int64_t left, double value);
// gx[n, h, w, c] += gy[n, h + top, w + left, c] where that lies inside gy.
void pad2d_backward(const Tensor& gy, const Tensor& gx, int64_t top, int64_t left);

}  // namespace fer::cpu
