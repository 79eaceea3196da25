#pragma once
// Whether work that used to take several OpenMP regions, or run on one thread between regions, runs in fewer
// regions (see bench/README.md, "OpenMP fork/joins and idle time"). On by default; the old behaviour stays
// selectable so that one binary can measure both, alternating (bench_backbones --unmerged). Both give the same
// values bit for bit.
#include <atomic>

namespace fer {

namespace detail {
inline std::atomic<bool>& region_merging_flag() {
  static std::atomic<bool> on{true};
  return on;
}
}  // namespace detail

inline bool region_merging() { return detail::region_merging_flag().load(std::memory_order_relaxed); }
inline void set_region_merging(bool on) { detail::region_merging_flag().store(on, std::memory_order_relaxed); }

}  // namespace fer
