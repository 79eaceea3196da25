#pragma once
// How the CPU convolution kernels (kernels/cpu/conv.cpp, kernels/cpu/conv_depthwise.cpp) split a pass over their
// plan's workers: each worker takes a contiguous, near-equal share of the items.
#include <cstdint>

#include "fer/core/parallel.hpp"

namespace fer::kernels {

// Worker s's share [lo, hi) of `total` items split `parts` ways.
inline void share(int64_t total, int64_t parts, int64_t s, int64_t& lo, int64_t& hi) {
  lo = total * s / parts;
  hi = total * (s + 1) / parts;
}

// Runs body(s) for s in [0, workers) in parallel (inline when there is one worker).
template <class F>
void run_workers(int64_t workers, F&& body) {
  parallel_for(0, workers, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) body(s);
  });
}

}  // namespace fer::kernels
