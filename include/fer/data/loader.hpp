#pragma once
// Batches of an epoch assembled ahead of use: a background thread builds the next `prefetch` batches (decode,
// resize, augment, normalize into pooled tensors) while the model trains on the current one, so the training step
// waits only if assembly is slower than training. Batches are identical to make_batch's, in order.
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "fer/data/image_set.hpp"

namespace fer::data {

class BatchLoader {
 public:
  BatchLoader(const ImageSet& set, std::vector<int64_t> order, int64_t batch_size, Preprocess pp, uint64_t seed,
              int64_t epoch, int64_t prefetch = 2, bool pinned = false)
      : set_(set), order_(std::move(order)), batch_(batch_size), pp_(std::move(pp)), seed_(seed), epoch_(epoch),
        prefetch_(std::max<int64_t>(1, prefetch)), pinned_(pinned) {
    FER_CHECK(batch_size >= 1, "BatchLoader: batch size must be >= 1");
    count_ = (int64_t(order_.size()) + batch_ - 1) / batch_;
    worker_ = std::thread([this] { run(); });
  }
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  ~BatchLoader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  int64_t num_batches() const { return count_; }
  // Batch b (taken in order 0, 1, ...); rethrows a failure of the loader thread (a corrupt image, ...).
  Batch next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (ready_.empty() && error_) std::rethrow_exception(error_);
    Batch b = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
    return b;
  }

 private:
  void run() {
    try {
      for (int64_t b = 0; b < count_; ++b) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return stop_ || int64_t(ready_.size()) < prefetch_; });
          if (stop_) return;
        }
        int64_t lo = b * batch_, hi = std::min<int64_t>(int64_t(order_.size()), lo + batch_);
        Batch batch = make_batch(set_, std::span<const int64_t>(order_.data() + lo, size_t(hi - lo)), pp_, seed_, epoch_, true, pinned_);
        {
          std::lock_guard<std::mutex> lock(mu_);
          ready_.push_back(std::move(batch));
        }
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
    }
  }

  const ImageSet& set_;
  std::vector<int64_t> order_;
  int64_t batch_;
  Preprocess pp_;
  uint64_t seed_;
  int64_t epoch_, prefetch_, count_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  bool pinned_ = false;
  std::thread worker_;
};

}  // namespace fer::data
