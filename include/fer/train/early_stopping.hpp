#pragma once
// Early stopping on a monitored validation metric: stop after `patience` epochs without an improvement larger than
// `min_delta` (in the metric's direction).
#include <cmath>
#include <cstdint>

namespace fer::train {

class EarlyStopping {
 public:
  EarlyStopping(int64_t patience, bool maximize = true, double min_delta = 0.0)
      : patience_(patience), maximize_(maximize), min_delta_(min_delta) {}
  // Records this epoch's value; returns true when it is a new best.
  bool update(double value) {
    bool better = std::isfinite(value) &&
                  (!has_best_ || (maximize_ ? value > best_ + min_delta_ : value < best_ - min_delta_));
    if (better) {
      best_ = value, has_best_ = true, bad_epochs_ = 0;
    } else {
      ++bad_epochs_;
    }
    return better;
  }
  bool should_stop() const { return patience_ > 0 && bad_epochs_ >= patience_; }
  double best() const { return has_best_ ? best_ : NAN; }
  int64_t bad_epochs() const { return bad_epochs_; }
  // For checkpoints: the state is (best, bad epochs).
  void restore(double best, int64_t bad_epochs) {
    has_best_ = std::isfinite(best), best_ = best, bad_epochs_ = bad_epochs;
  }

 private:
  int64_t patience_;
  bool maximize_;
  double min_delta_;
  double best_ = 0;
  bool has_best_ = false;
  int64_t bad_epochs_ = 0;
};

}  // namespace fer::train
