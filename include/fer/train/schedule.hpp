#pragma once
// Learning-rate schedules as closed forms of a step index (epoch or iteration, as the loop chooses), equal to
// torch.optim.lr_scheduler's: StepLR, linear warmup followed by cosine annealing (SequentialLR of LinearLR and
// CosineAnnealingLR), and OneCycleLR with cosine annealing and momentum cycling.
#include <cmath>
#include <cstdint>
#include <string>

#include "fer/core/error.hpp"

namespace fer::train {

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double lr(int64_t step) const = 0;
  // The momentum (SGD) or beta1 (Adam) the schedule prescribes at `step`; NaN when it leaves momentum alone.
  virtual double momentum(int64_t) const { return NAN; }
};

class ConstantSchedule : public Schedule {
 public:
  explicit ConstantSchedule(double base) : base_(base) {}
  double lr(int64_t) const override { return base_; }

 private:
  double base_;
};

class StepSchedule : public Schedule {
 public:
  StepSchedule(double base, int64_t step_size, double gamma) : base_(base), size_(step_size), gamma_(gamma) {
    FER_CHECK(step_size >= 1, "step schedule: step_size must be >= 1, got ", step_size);
  }
  double lr(int64_t step) const override { return base_ * std::pow(gamma_, double(step / size_)); }

 private:
  double base_;
  int64_t size_;
  double gamma_;
};

// Linear warmup from start_factor * base to base over `warmup` steps, then cosine annealing from base to eta_min
// over the remaining total - warmup steps (and eta_min after).
class WarmupCosineSchedule : public Schedule {
 public:
  WarmupCosineSchedule(double base, int64_t total, int64_t warmup = 0, double eta_min = 0, double start_factor = 0.01)
      : base_(base), total_(total), warmup_(warmup), eta_min_(eta_min), start_factor_(start_factor) {
    FER_CHECK(total >= 1 && warmup >= 0 && warmup < total, "cosine schedule: need 0 <= warmup (", warmup, ") < total (", total, ")");
  }
  double lr(int64_t step) const override {
    if (step < warmup_) return base_ * (start_factor_ + (1 - start_factor_) * double(step) / double(warmup_));
    int64_t t = std::min(step - warmup_, total_ - warmup_);
    return eta_min_ + (base_ - eta_min_) * (1 + std::cos(M_PI * double(t) / double(total_ - warmup_))) / 2;
  }

 private:
  double base_;
  int64_t total_, warmup_;
  double eta_min_, start_factor_;
};

// OneCycleLR (two phases, cosine): from max_lr/div_factor up to max_lr over the first pct_start of the steps, then
// down to max_lr/(div_factor*final_div_factor); momentum moves the opposite way between base and max momentum.
class OneCycleSchedule : public Schedule {
 public:
  OneCycleSchedule(double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25,
                   double final_div_factor = 1e4, double base_momentum = 0.85, double max_momentum = 0.95)
      : max_lr_(max_lr), total_(total_steps), initial_(max_lr / div_factor),
        min_(max_lr / div_factor / final_div_factor), base_m_(base_momentum), max_m_(max_momentum) {
    FER_CHECK(total_steps >= 2, "one-cycle schedule: total_steps must be >= 2, got ", total_steps);
    FER_CHECK(pct_start > 0 && pct_start < 1, "one-cycle schedule: pct_start must be in (0, 1), got ", pct_start);
    peak_ = pct_start * double(total_steps) - 1;
  }
  double lr(int64_t step) const override { return interpolate(step, initial_, max_lr_, min_); }
  double momentum(int64_t step) const override { return interpolate(step, max_m_, base_m_, max_m_); }

 private:
  static double cosine(double start, double end, double pct) { return end + (start - end) / 2 * (1 + std::cos(M_PI * pct)); }
  double interpolate(int64_t step, double start, double mid, double end) const {
    double s = double(std::min(step, total_ - 1));
    if (s <= peak_) return cosine(start, mid, s / peak_);
    return cosine(mid, end, (s - peak_) / (double(total_ - 1) - peak_));
  }
  double max_lr_;
  int64_t total_;
  double initial_, min_, base_m_, max_m_, peak_;
};

}  // namespace fer::train
