#pragma once
// Fashion-MNIST: 28x28 gray clothing images in 10 classes (60000 train, 10000 test), read from the IDX files
// Debian's dataset-fashion-mnist installs. Batches come out as float NHWC [B, S, S, C] prepared as the
// torchvision pipeline Resize(S) -> Grayscale(C) -> ToTensor() -> Normalize(mean, std) prepares them,
// value for value: PIL-exact u8 resize, then (u8 / 255 - mean) / std in float.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/rng.hpp"
#include "fer/data/resize.hpp"
#include "fer/io/idx.hpp"

namespace fer::data {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";
inline constexpr std::array<std::string_view, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// Images u8 [N, H, W] with their labels i64 [N] in [0, num_classes).
struct LabeledImages {
  Tensor images;
  Tensor labels;
};

// Reads an IDX image file and its IDX label file and checks that they belong together.
inline LabeledImages read_idx_labeled_images(const std::string& images_path, const std::string& labels_path,
                                             int64_t num_classes) {
  Tensor images = io::read_idx(images_path);
  Tensor raw_labels = io::read_idx(labels_path);
  FER_CHECK(images.dtype() == DType::u8 && images.dim() == 3, "idx: ", images_path,
            ": expected u8 images [N, H, W], got ", dtype_name(images.dtype()), " ", images.shape().str());
  FER_CHECK(raw_labels.dtype() == DType::u8 && raw_labels.dim() == 1, "idx: ", labels_path,
            ": expected u8 labels [N], got ", dtype_name(raw_labels.dtype()), " ", raw_labels.shape().str());
  FER_CHECK(images.size(0) == raw_labels.size(0), "idx: ", images_path, " has ", images.size(0), " images but ",
            labels_path, " has ", raw_labels.size(0), " labels");
  Tensor labels = Tensor::empty({raw_labels.size(0)}, DType::i64);
  const uint8_t* src = raw_labels.data<uint8_t>();
  int64_t* dst = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) {
    FER_CHECK(src[i] < num_classes, "idx: ", labels_path, ": label ", int(src[i]), " at index ", i,
              " is not below the number of classes (", num_classes, ")");
    dst[i] = src[i];
  }
  return {images, labels};
}

// Mean and standard deviation (population) of all pixels of u8 images, scaled to [0, 1].
inline std::pair<double, double> pixel_mean_std(const Tensor& u8_images) {
  FER_CHECK(u8_images.dtype() == DType::u8 && u8_images.is_contiguous(), "pixel_mean_std: expected contiguous u8 images");
  std::array<int64_t, 256> histogram{};
  const uint8_t* p = u8_images.data<uint8_t>();
  for (int64_t i = 0; i < u8_images.numel(); ++i) ++histogram[p[i]];
  double n = double(u8_images.numel()), sum = 0, sum_sq = 0;
  for (int v = 0; v < 256; ++v) {
    double x = v / 255.0;
    sum += x * double(histogram[size_t(v)]);
    sum_sq += x * x * double(histogram[size_t(v)]);
  }
  double mean = sum / n;
  return {mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean))};
}

struct FashionMnistOptions {
  int64_t image_size = 48;  // output height and width
  int64_t channels = 3;     // the gray value repeated, as Grayscale(num_output_channels=3)
  double mean = 0.2860;     // Fashion-MNIST train pixel mean / std (pixel_mean_std gives 0.28604, 0.35302)
  double std = 0.3530;
};

enum class Split { train, test };

class FashionMnist {
 public:
  static constexpr int64_t kNumClasses = 10;

  explicit FashionMnist(Split split, const std::string& root = kFashionMnistRoot, FashionMnistOptions opts = {})
      : opts_(opts) {
    FER_CHECK(opts.image_size > 0 && (opts.channels == 1 || opts.channels == 3),
              "FashionMnist: image_size must be positive and channels 1 or 3");
    FER_CHECK(opts.std > 0, "FashionMnist: std must be positive");
    std::string prefix = root + (split == Split::train ? "/train" : "/t10k");
    data_ = read_idx_labeled_images(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", kNumClasses);
    count_ = data_.images.size(0);
    // ToTensor then Normalize in float, tabulated once for the 256 gray levels.
    float mean = float(opts.mean), stddev = float(opts.std);
    for (int v = 0; v < 256; ++v) lut_[size_t(v)] = (float(v) / 255.0f - mean) / stddev;
  }

  int64_t size() const { return count_; }
  // Keeps only the first n examples (quick runs).
  void truncate(int64_t n) {
    FER_CHECK(n >= 0, "FashionMnist::truncate: negative count ", n);
    count_ = std::min(n, data_.images.size(0));
  }
  const FashionMnistOptions& options() const { return opts_; }
  static constexpr int64_t num_classes() { return kNumClasses; }
  static std::string_view class_name(int64_t c) {
    FER_CHECK(c >= 0 && c < kNumClasses, "FashionMnist::class_name: class ", c, " out of range");
    return kFashionMnistClasses[size_t(c)];
  }
  // The raw u8 images [N, 28, 28] and i64 labels [N] (all of them, ignoring truncate).
  const LabeledImages& raw() const { return data_; }
  int64_t label(int64_t i) const {
    check_index(i);
    return data_.labels.data<int64_t>()[i];
  }

  // Writes the examples `indices` into `images` (f32 [B, S, S, C]) and `labels` (i64 [B]); B = indices.size().
  void fill_batch(std::span<const int64_t> indices, const Tensor& images, const Tensor& labels) const {
    int64_t b = int64_t(indices.size()), s = opts_.image_size, c = opts_.channels;
    FER_CHECK(images.defined() && images.dtype() == DType::f32 && images.is_contiguous() &&
                  images.shape() == Shape({b, s, s, c}),
              "FashionMnist::fill_batch: images must be contiguous f32 ", Shape({b, s, s, c}).str());
    FER_CHECK(labels.defined() && labels.dtype() == DType::i64 && labels.is_contiguous() && labels.shape() == Shape({b}),
              "FashionMnist::fill_batch: labels must be contiguous i64 [", b, "]");
    for (int64_t i : indices) check_index(i);
    int64_t h = data_.images.size(1), w = data_.images.size(2);
    const uint8_t* src = data_.images.data<uint8_t>();
    float* dst = images.data<float>();
    const int64_t* src_labels = data_.labels.data<int64_t>();
    int64_t* lab = labels.data<int64_t>();
    parallel_for(0, b, 4, [&](int64_t lo, int64_t hi) {
      std::vector<uint8_t> resized(size_t(s * s)), scratch;
      for (int64_t k = lo; k < hi; ++k) {
        int64_t i = indices[size_t(k)];
        resize_bilinear_hwc(src + i * h * w, h, w, 1, resized.data(), s, s, true, scratch);
        float* out = dst + k * s * s * c;
        for (int64_t p = 0; p < s * s; ++p)
          for (int64_t ch = 0; ch < c; ++ch) out[p * c + ch] = lut_[resized[size_t(p)]];
        lab[k] = src_labels[i];
      }
    });
  }
  // The same, allocating the batch tensors.
  std::pair<Tensor, Tensor> batch(std::span<const int64_t> indices) const {
    int64_t b = int64_t(indices.size());
    Tensor images = Tensor::empty({b, opts_.image_size, opts_.image_size, opts_.channels});
    Tensor labels = Tensor::empty({b}, DType::i64);
    fill_batch(indices, images, labels);
    return {images, labels};
  }

 private:
  void check_index(int64_t i) const {
    FER_CHECK(i >= 0 && i < count_, "FashionMnist: index ", i, " out of range (", count_, " examples)");
  }
  FashionMnistOptions opts_;
  LabeledImages data_;
  int64_t count_ = 0;
  std::array<float, 256> lut_{};
};

// Index batches over [0, n) for one epoch after another: a fresh permutation per epoch when shuffling
// (Fisher-Yates driven by its own Generator, so a seed fixes the order and a checkpoint can save it).
class BatchSampler {
 public:
  BatchSampler(int64_t n, int64_t batch_size, bool shuffle, bool drop_last, Generator gen = Generator())
      : n_(n), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), gen_(gen) {
    FER_CHECK(n >= 0 && batch_size > 0, "BatchSampler: need n >= 0 and batch_size > 0 (got ", n, ", ", batch_size, ")");
    order_.resize(size_t(n));
    start_epoch();
  }
  // Restarts the pass over the data (reshuffling when shuffle is on).
  void start_epoch() {
    std::iota(order_.begin(), order_.end(), int64_t(0));
    if (shuffle_)
      for (int64_t i = n_ - 1; i > 0; --i) std::swap(order_[size_t(i)], order_[size_t(gen_.below(uint64_t(i) + 1))]);
    pos_ = 0;
  }
  int64_t num_batches() const { return drop_last_ ? n_ / batch_size_ : (n_ + batch_size_ - 1) / batch_size_; }
  // The next batch of indices in this epoch, or an empty span when the epoch is over.
  std::span<const int64_t> next() {
    int64_t left = n_ - pos_;
    if (left <= 0 || (drop_last_ && left < batch_size_)) return {};
    int64_t take = std::min(left, batch_size_);
    std::span<const int64_t> out(order_.data() + pos_, size_t(take));
    pos_ += take;
    return out;
  }
  Generator& generator() { return gen_; }

 private:
  int64_t n_, batch_size_;
  bool shuffle_, drop_last_;
  Generator gen_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

}  // namespace fer::data
