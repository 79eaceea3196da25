#pragma once
// What every CUDA definition of a kernel contract does in a build without CUDA (kernels/no_cuda/<family>.cpp).
#include "fer/core/error.hpp"

namespace fer::kernels {
[[noreturn]] inline void no_cuda(const char* kernel) { fail(kernel, ": built without CUDA (no CUDA kernel in this build of fer)"); }
}  // namespace fer::kernels
