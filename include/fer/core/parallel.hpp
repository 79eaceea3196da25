#pragma once
// CPU parallelism: OpenMP over both cores. Eigen's GEMM also uses OpenMP and runs single-threaded when
// called inside one of our parallel regions, so the two never oversubscribe the cores.
#include <algorithm>
#include <cstdint>

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

#ifdef _OPENMP
namespace detail {
// parallel_for's region with the accounting of parallel_stats.hpp: the same split, with a clock around the region
// and around each thread's call of f.
template <class F>
void counted_region(int64_t begin, int64_t n, int64_t chunks, F& f) {
  auto& counters = parallel_counters();
  const int64_t t0 = steady_ns();
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
    if (lo < hi) {
      const int64_t a = steady_ns();
      f(lo, hi);
      counters.busy_ns.fetch_add(steady_ns() - a, std::memory_order_relaxed);
      counters.chunk_runs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  counters.region_ns.fetch_add(steady_ns() - t0, std::memory_order_relaxed);
  counters.regions.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail
#endif

// Runs f(lo, hi) over [begin, end) split into chunks; runs inline when the range is smaller than `grain`.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads > 1 && n > grain) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (parallel_stats_enabled()) return detail::counted_region(begin, n, chunks, f);
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
      if (lo < hi) f(lo, hi);
    }
    return;
  }
  if (threads > 1 && parallel_stats_enabled())
    detail::parallel_counters().inline_calls.fetch_add(1, std::memory_order_relaxed);
#endif
  f(begin, end);
}

}  // namespace fer
