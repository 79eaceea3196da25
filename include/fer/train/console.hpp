#pragma once
// What training shows on a terminal while it runs: a progress line per batch, rewritten in place ("\r"), with the
// throughput and the epoch's ETA. Nothing is shown when quiet or when stdout is not a terminal (a log file).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace fer::train {

inline bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) != 0; }

// "1h05m" or "3m07s".
inline std::string format_duration(double s) {
  char b[32];
  if (s >= 3600) std::snprintf(b, sizeof(b), "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else std::snprintf(b, sizeof(b), "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  return b;
}

class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : live_(!quiet && stdout_is_terminal()) {}

  // After batch `b` (0-based) of `batches`: `seen` images in `seconds` at a mean loss of `mean_loss`.
  void batch(int64_t epoch, int64_t epochs, int64_t b, int64_t batches, int64_t batch_size, double mean_loss,
             int64_t seen, double seconds) const {
    if (!live_) return;
    const double ips = double(seen) / std::max(seconds, 1e-9);
    std::printf("\repoch %lld/%lld  %lld/%lld  loss %.4f  %.0f img/s  ETA %s   ", (long long)epoch + 1, (long long)epochs,
                (long long)b + 1, (long long)batches, mean_loss, ips,
                format_duration(double(batches - b - 1) * double(batch_size) / ips).c_str());
    std::fflush(stdout);
  }
  // The epoch's lines that follow start at the line's beginning.
  void end_epoch() const {
    if (live_) std::printf("\r");
  }
  void interrupted() const {
    if (live_) std::printf("\n");
  }

 private:
  bool live_;
};

}  // namespace fer::train
