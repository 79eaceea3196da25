#pragma once
// Optional accounting of fer::parallel_for's OpenMP regions: how many fork/joins ran, their wall time, and the time
// each thread spent inside the work function. From these, the thread-time the threads sat waiting follows:
//   idle in regions = threads x region wall - busy   (waiting at the join, in the fork, or not given a chunk)
//   idle outside     = (threads - 1) x serial wall    (serial = wall since reset - region wall)
// Off by default; when off, parallel_for pays one relaxed atomic load per call. The counters are process-wide and
// meant for one measuring thread (a benchmark or test): enable, reset, run, read.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace fer {

struct ParallelStats {
  int64_t regions = 0;         // OpenMP regions forked by parallel_for
  int64_t inline_calls = 0;    // parallel_for calls that ran inline (range within one grain), outside any region
  int64_t chunk_runs = 0;      // calls of the work function inside regions (one per thread per region)
  double region_s = 0;         // wall time of the regions, fork to join, on the calling thread
  double busy_s = 0;           // thread-time inside the work function, summed over all threads of all regions
  double elapsed_s = 0;        // wall time since the last reset
  double serial_s() const { return elapsed_s - region_s; }
  // Thread-time spent waiting inside regions, counting `threads` threads per region.
  double region_idle_s(int threads) const { return threads * region_s - busy_s; }
};

namespace detail {

struct ParallelCounters {
  std::atomic<bool> on{false};
  std::atomic<int64_t> regions{0}, inline_calls{0}, chunk_runs{0}, region_ns{0}, busy_ns{0};
  std::atomic<int64_t> since_ns{0};
};

inline ParallelCounters& parallel_counters() {
  static ParallelCounters c;
  return c;
}

inline int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace detail

inline bool parallel_stats_enabled() { return detail::parallel_counters().on.load(std::memory_order_relaxed); }

// Zeroes the counters and restarts the elapsed clock.
inline void reset_parallel_stats() {
  auto& c = detail::parallel_counters();
  for (auto* a : {&c.regions, &c.inline_calls, &c.chunk_runs, &c.region_ns, &c.busy_ns})
    a->store(0, std::memory_order_relaxed);
  c.since_ns.store(detail::steady_ns(), std::memory_order_relaxed);
}

// Turns the accounting on (counters reset) or off (counters kept for reading).
inline void enable_parallel_stats(bool on) {
  if (on) reset_parallel_stats();
  detail::parallel_counters().on.store(on, std::memory_order_relaxed);
}

inline ParallelStats parallel_stats() {
  auto& c = detail::parallel_counters();
  ParallelStats s;
  s.regions = c.regions.load(std::memory_order_relaxed);
  s.inline_calls = c.inline_calls.load(std::memory_order_relaxed);
  s.chunk_runs = c.chunk_runs.load(std::memory_order_relaxed);
  s.region_s = 1e-9 * double(c.region_ns.load(std::memory_order_relaxed));
  s.busy_s = 1e-9 * double(c.busy_ns.load(std::memory_order_relaxed));
  s.elapsed_s = 1e-9 * double(detail::steady_ns() - c.since_ns.load(std::memory_order_relaxed));
  return s;
}

}  // namespace fer
