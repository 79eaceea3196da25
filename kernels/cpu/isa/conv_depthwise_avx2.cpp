// The depthwise convolution kernels on AVX2 (8-lane ymm registers). Compiled with -march=x86-64-v3 whatever the
// library's -march (CMakeLists.txt).
#include <cstdint>

#include "kernels/cpu/isa/conv_depthwise_f32.hpp"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "conv_depthwise_avx2.cpp must be compiled with -march=x86-64-v3 (AVX2 + FMA)"
#endif

namespace {

#include "kernels/cpu/isa/conv_depthwise.inl"

constexpr int kLanes = 8;
constexpr int kAccumulators = 12;  // of 16 ymm: the rest hold gy and the x operands

}  // namespace

namespace fer::cpu::isa {

const DepthwiseF32Kernels kDepthwiseF32Avx2{depthwise_forward_rows<float, kLanes>,
                                            depthwise_backward_input_rows<float, kLanes>,
                                            depthwise_backward_weight_rows<float, kLanes, kAccumulators>};

}  // namespace fer::cpu::isa
