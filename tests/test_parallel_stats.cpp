// fer::parallel_for's optional accounting (fer/core/parallel_stats.hpp): region, chunk and inline-call counts for a
// known sequence of calls on 2 threads, busy time within threads x region wall, and nothing counted while off.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fer/core/parallel.hpp"
#include "fer/core/parallel_stats.hpp"

using namespace fer;

namespace {

// Restores the thread count and turns the accounting off when a test case ends.
struct StatsThreadsGuard {
  int saved = num_threads();
  explicit StatsThreadsGuard(int n) { set_num_threads(n); }
  ~StatsThreadsGuard() {
    enable_parallel_stats(false);
    set_num_threads(saved);
  }
};

}  // namespace

TEST_CASE("parallel_stats counts regions, chunks and inline calls") {
#ifndef _OPENMP
  MESSAGE("built without OpenMP: no regions to count");
#else
  StatsThreadsGuard guard(2);
  std::atomic<int64_t> covered{0};
  auto count = [&](int64_t lo, int64_t hi) { covered += hi - lo; };

  enable_parallel_stats(true);
  for (int i = 0; i < 5; ++i) parallel_for(0, 1000, 10, count);  // 5 regions of 2 chunks
  parallel_for(0, 15, 10, count);                                  // 2 chunks of one grain: a region
  for (int i = 0; i < 3; ++i) parallel_for(0, 10, 10, count);     // within one grain: inline
  parallel_for(0, 100, 1, [&](int64_t lo, int64_t hi) {
    parallel_for(lo, hi, 1, count);  // nested inside a region: inline, and not counted as a serial call
  });
  ParallelStats s = parallel_stats();
  CHECK(covered.load() == 5 * 1000 + 15 + 3 * 10 + 100);
  CHECK(s.regions == 7);
  CHECK(s.chunk_runs == 14);
  CHECK(s.inline_calls == 3);
  CHECK(s.region_s >= 0);
  CHECK(s.busy_s >= 0);
  CHECK(s.elapsed_s >= s.region_s);

  // Off: the same calls leave the counters as they were.
  enable_parallel_stats(false);
  for (int i = 0; i < 4; ++i) parallel_for(0, 1000, 10, count);
  parallel_for(0, 10, 10, count);
  ParallelStats off = parallel_stats();
  CHECK(off.regions == 7);
  CHECK(off.chunk_runs == 14);
  CHECK(off.inline_calls == 3);

  // Enabling resets.
  enable_parallel_stats(true);
  CHECK(parallel_stats().regions == 0);
  CHECK(parallel_stats().inline_calls == 0);
#endif
}

TEST_CASE("parallel_stats: busy time fits in threads x region wall; an uneven split shows as idle time") {
#ifdef _OPENMP
  StatsThreadsGuard guard(2);
  enable_parallel_stats(true);
  // Chunk 0 sleeps 20 ms, chunk 1 returns at once: the region lasts >= 20 ms, the busy time is ~20 ms, and the
  // other thread's ~20 ms of waiting at the join is idle.
  parallel_for(0, 2, 1, [](int64_t lo, int64_t) {
    if (lo == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  ParallelStats s = parallel_stats();
  CHECK(s.regions == 1);
  CHECK(s.region_s >= 0.020);
  CHECK(s.busy_s >= 0.020);
  CHECK(s.busy_s <= 2 * s.region_s);
  CHECK(s.region_idle_s(2) >= s.region_s - s.busy_s / 2 - 1e-9);  // at least the idle partner's share
  CHECK(s.region_idle_s(2) >= 0.015);  // the partner waited ~20 ms (5 ms slack for clock and scheduling noise)
#endif
}
