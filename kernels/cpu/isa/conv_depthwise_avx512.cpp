// The depthwise convolution kernels on AVX-512 (16-lane zmm registers). Compiled with -march=x86-64-v4 whatever the
// library's -march (CMakeLists.txt), and only called where the CPU has AVX-512 (kernels/cpu/cpu_isa.cpp checks).
#include <cstdint>

#include "kernels/cpu/isa/conv_depthwise_f32.hpp"

#if !defined(__AVX512F__)
#error "conv_depthwise_avx512.cpp must be compiled with -march=x86-64-v4 (AVX-512)"
#endif

namespace {

#include "kernels/cpu/isa/conv_depthwise.inl"

constexpr int kLanes = 16;
constexpr int kAccumulators = 28;  // of 32 zmm: a 5x5 kernel's 25 taps in one pass

}  // namespace

namespace fer::cpu::isa {

const DepthwiseF32Kernels kDepthwiseF32Avx512{depthwise_forward_rows<float, kLanes>,
                                              depthwise_backward_input_rows<float, kLanes>,
                                              depthwise_backward_weight_rows<float, kLanes, kAccumulators>};

}  // namespace fer::cpu::isa
