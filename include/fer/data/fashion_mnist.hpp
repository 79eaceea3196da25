#pragma once
// Fashion-MNIST: 28x28 gray clothing images in 10 classes (60000 train, 10000 test), read from the IDX files
// Debian's dataset-fashion-mnist installs. Batches come out as float NHWC [B, S, S, C] prepared as the
// torchvision pipeline Resize(S) -> Grayscale(C) -> ToTensor() -> Normalize(mean, std) prepares them,
// value for value: PIL-exact u8 resize, then (u8 / 255 - mean) / std in float.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/data/labeled_images.hpp"
#include "fer/data/resize.hpp"
#include "fer/io/idx.hpp"

namespace fer::data {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";
inline constexpr std::array<std::string_view, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// Reads an IDX image file (u8 [N, H, W]) and its IDX label file (u8 [N]) into a LabeledImages set, checking that
// they belong together. Image ids are "<images file>:<index>".
inline LabeledImages read_idx_labeled_images(const std::string& images_path, const std::string& labels_path,
                                             std::vector<std::string> class_names) {
  Tensor images = io::read_idx(images_path);
  Tensor labels = io::read_idx(labels_path);
  FER_CHECK(images.dtype() == DType::u8 && images.dim() == 3, "idx: ", images_path,
            ": expected u8 images [N, H, W], got ", dtype_name(images.dtype()), " ", images.shape().str());
  FER_CHECK(labels.dtype() == DType::u8 && labels.dim() == 1, "idx: ", labels_path,
            ": expected u8 labels [N], got ", dtype_name(labels.dtype()), " ", labels.shape().str());
  FER_CHECK(images.size(0) == labels.size(0), "idx: ", images_path, " has ", images.size(0), " images but ",
            labels_path, " has ", labels.size(0), " labels");
  LabeledImages set;
  set.height = images.size(1), set.width = images.size(2), set.channels = 1;
  set.class_names = std::move(class_names);
  const uint8_t* label = labels.data<uint8_t>();
  const uint8_t* pixels = images.data<uint8_t>();
  set.pixels.assign(pixels, pixels + images.numel());
  set.labels.resize(size_t(labels.numel()));
  set.ids.resize(size_t(labels.numel()));
  for (int64_t i = 0; i < labels.numel(); ++i) {
    FER_CHECK(label[i] < set.class_names.size(), "idx: ", labels_path, ": label ", int(label[i]), " at index ", i,
              " is not below the number of classes (", set.class_names.size(), ")");
    set.labels[size_t(i)] = label[i];
    set.ids[size_t(i)] = images_path + ":" + std::to_string(i);
  }
  return set;
}

// Mean and standard deviation (population) of all pixels of a set, scaled to [0, 1].
inline std::pair<double, double> pixel_mean_std(const LabeledImages& set) {
  FER_CHECK(!set.pixels.empty(), "pixel_mean_std: no pixels");
  std::array<int64_t, 256> histogram{};
  for (uint8_t v : set.pixels) ++histogram[v];
  double n = double(set.pixels.size()), sum = 0, sum_sq = 0;
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

class FashionMnist {
 public:
  static constexpr int64_t kNumClasses = 10;
  enum class Split { train, test };

  explicit FashionMnist(Split split, const std::string& root = kFashionMnistRoot, FashionMnistOptions opts = {})
      : opts_(opts) {
    FER_CHECK(opts.image_size > 0 && (opts.channels == 1 || opts.channels == 3),
              "FashionMnist: image_size must be positive and channels 1 or 3");
    FER_CHECK(opts.std > 0, "FashionMnist: std must be positive");
    std::string prefix = root + (split == Split::train ? "/train" : "/t10k");
    data_ = read_idx_labeled_images(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz",
                                    {kFashionMnistClasses.begin(), kFashionMnistClasses.end()});
    count_ = data_.count();
    // ToTensor then Normalize in float, tabulated once for the 256 gray levels.
    float mean = float(opts.mean), stddev = float(opts.std);
    for (int v = 0; v < 256; ++v) lut_[size_t(v)] = (float(v) / 255.0f - mean) / stddev;
  }

  int64_t size() const { return count_; }
  // Keeps only the first n examples (quick runs).
  void truncate(int64_t n) {
    FER_CHECK(n >= 0, "FashionMnist::truncate: negative count ", n);
    count_ = std::min(n, data_.count());
  }
  const FashionMnistOptions& options() const { return opts_; }
  static constexpr int64_t num_classes() { return kNumClasses; }
  static std::string_view class_name(int64_t c) {
    FER_CHECK(c >= 0 && c < kNumClasses, "FashionMnist::class_name: class ", c, " out of range");
    return kFashionMnistClasses[size_t(c)];
  }
  // The raw 28x28 u8 images and their labels (all of them, ignoring truncate).
  const LabeledImages& raw() const { return data_; }
  int64_t label(int64_t i) const {
    check_index(i);
    return data_.labels[size_t(i)];
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
    int64_t h = data_.height, w = data_.width;
    float* dst = images.data<float>();
    int64_t* lab = labels.data<int64_t>();
    parallel_for(0, b, 4, [&](int64_t lo, int64_t hi) {
      std::vector<uint8_t> resized(size_t(s * s)), scratch;
      for (int64_t k = lo; k < hi; ++k) {
        int64_t i = indices[size_t(k)];
        resize_bilinear_hwc(data_.image(i), h, w, 1, resized.data(), s, s, true, scratch);
        float* out = dst + k * s * s * c;
        for (int64_t p = 0; p < s * s; ++p)
          for (int64_t ch = 0; ch < c; ++ch) out[p * c + ch] = lut_[resized[size_t(p)]];
        lab[k] = data_.labels[size_t(i)];
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

// Consecutive batches of an epoch order (e.g. ShuffleSampler::epoch(e) from fer/data/sampling.hpp); the last
// batch is smaller unless drop_last drops it. The spans view `order`, which must outlive them.
inline std::vector<std::span<const int64_t>> batch_spans(const std::vector<int64_t>& order, int64_t batch_size,
                                                         bool drop_last) {
  FER_CHECK(batch_size > 0, "batch_spans: batch_size must be positive, got ", batch_size);
  std::vector<std::span<const int64_t>> out;
  int64_t n = int64_t(order.size());
  for (int64_t at = 0; at < n; at += batch_size) {
    int64_t take = std::min(batch_size, n - at);
    if (drop_last && take < batch_size) break;
    out.emplace_back(order.data() + at, size_t(take));
  }
  return out;
}

}  // namespace fer::data
