#pragma once
// What every CUDA definition of a kernel contract, and the runtime, do in a build without CUDA (kernels/no_cuda/).
#include "fer/core/error.hpp"

namespace fer::kernels {
[[noreturn]] inline void no_cuda(const char* what) { fail(what, ": built without CUDA (this build of fer has no CUDA backend)"); }
}  // namespace fer::kernels
