#pragma once
// CPU parallelism: OpenMP over both cores. Eigen's GEMM also uses OpenMP and runs single-threaded when
// called inside one of our parallel regions, so the two never oversubscribe the cores.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "fer/core/parallel_stats.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fer {

inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

namespace detail {
// The chunk body of a parallel region as a plain pointer pair, so the OpenMP region (and its accounting of
// parallel_stats.hpp) is compiled once in the library instead of once per lambda: a call per chunk, not per element.
struct ChunkFn {
  void (*call)(void* f, int64_t lo, int64_t hi);
  void* f;
};
// Runs fn over [begin, begin + n) split into `chunks` static chunks on as many threads (kernels/cpu/parallel.cpp).
void run_chunks(int64_t begin, int64_t n, int64_t chunks, ChunkFn fn);
}  // namespace detail

// Runs f(lo, hi) over [begin, end) split into chunks; runs inline when the range is smaller than `grain`.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads > 1 && n > grain) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
    using Fn = std::remove_reference_t<F>;
    detail::run_chunks(begin, n, chunks,
                       {[](void* g, int64_t lo, int64_t hi) { (*static_cast<Fn*>(g))(lo, hi); },
                        const_cast<void*>(static_cast<const void*>(&f))});
    return;
  }
  if (threads > 1 && parallel_stats_enabled())
    detail::parallel_counters().inline_calls.fetch_add(1, std::memory_order_relaxed);
#endif
  f(begin, end);
}

}  // namespace fer
