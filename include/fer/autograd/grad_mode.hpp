#pragma once
// Grad mode: when off (NoGradGuard, evaluation, optimizer steps), ops record nothing on the tape.
namespace fer {

inline bool& grad_mode_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool grad_enabled() { return grad_mode_flag(); }

class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_mode_flag()) { grad_mode_flag() = false; }
  ~NoGradGuard() { grad_mode_flag() = prev_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
// Inference mode is no-grad mode: nothing is recorded and no gradient buffer is touched.
using InferenceGuard = NoGradGuard;

}  // namespace fer
