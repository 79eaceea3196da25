// The OpenMP region behind parallel_for (include/fer/core/parallel.hpp), compiled once.
#include "fer/core/parallel.hpp"

namespace fer::detail {

void run_chunks(int64_t begin, int64_t n, int64_t chunks, ChunkFn fn) {
#ifdef _OPENMP
  if (parallel_stats_enabled()) {
    // The same split, with a clock around the region and around each thread's call of the body.
    auto& counters = parallel_counters();
    const int64_t t0 = steady_ns();
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
      if (lo < hi) {
        const int64_t a = steady_ns();
        fn.call(fn.f, lo, hi);
        counters.busy_ns.fetch_add(steady_ns() - a, std::memory_order_relaxed);
        counters.chunk_runs.fetch_add(1, std::memory_order_relaxed);
      }
    }
    counters.region_ns.fetch_add(steady_ns() - t0, std::memory_order_relaxed);
    counters.regions.fetch_add(1, std::memory_order_relaxed);
    return;
  }
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
    if (lo < hi) fn.call(fn.f, lo, hi);
  }
#else
  (void)chunks;
  fn.call(fn.f, begin, begin + n);
#endif
}

}  // namespace fer::detail
