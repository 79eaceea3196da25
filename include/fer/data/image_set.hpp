#pragma once
// What a training or evaluation loop reads: a labelled set of images (in memory, files decoded on demand with an
// optional decoded cache, or a real/synthetic mix of two sets), turned into normalized float NHWC batches of one
// input size, with train-time augmentation seeded per (seed, epoch, sample) so any thread split gives the same batch.
#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/core/tensor.hpp"
#include "fer/data/augment.hpp"
#include "fer/data/image_folder.hpp"
#include "fer/data/labeled_images.hpp"
#include "fer/data/mixing.hpp"
#include "fer/data/resize.hpp"
#include "fer/io/image.hpp"

namespace fer::data {

class ImageSet {
 public:
  virtual ~ImageSet() = default;
  virtual int64_t size() const = 0;
  virtual int32_t label(int64_t i) const = 0;
  virtual std::string id(int64_t i) const = 0;
  virtual io::Image raw(int64_t i) const = 0;  // u8 HWC, any size and 1/3/4 channels
  virtual const std::vector<std::string>& class_names() const = 0;
  int64_t num_classes() const { return int64_t(class_names().size()); }
  std::vector<int32_t> labels() const {
    std::vector<int32_t> l(static_cast<size_t>(size()));
    for (int64_t i = 0; i < size(); ++i) l[size_t(i)] = label(i);
    return l;
  }
};

class InMemoryImageSet : public ImageSet {
 public:
  explicit InMemoryImageSet(LabeledImages images) : d_(std::move(images)) {}
  int64_t size() const override { return d_.count(); }
  int32_t label(int64_t i) const override { return d_.labels[size_t(i)]; }
  std::string id(int64_t i) const override { return d_.ids.empty() ? std::to_string(i) : d_.ids[size_t(i)]; }
  io::Image raw(int64_t i) const override {
    io::Image img;
    img.height = d_.height, img.width = d_.width, img.channels = d_.channels;
    img.pixels.assign(d_.image(i), d_.image(i) + d_.image_bytes());
    return img;
  }
  const std::vector<std::string>& class_names() const override { return d_.class_names; }
  const LabeledImages& images() const { return d_; }

 private:
  LabeledImages d_;
};

// Image files decoded when first needed; with `cache` the decoded pixels are kept (FER datasets fit in memory).
class FileImageSet : public ImageSet {
 public:
  FileImageSet(std::vector<FileSample> files, std::vector<std::string> class_names, bool cache = true)
      : files_(std::move(files)), names_(std::move(class_names)), cache_(cache), decoded_(files_.size()) {}
  int64_t size() const override { return int64_t(files_.size()); }
  int32_t label(int64_t i) const override { return files_[size_t(i)].label; }
  std::string id(int64_t i) const override { return files_[size_t(i)].path.string(); }
  io::Image raw(int64_t i) const override {
    if (!cache_) return io::read_image(files_[size_t(i)].path);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (decoded_[size_t(i)]) return *decoded_[size_t(i)];
    }
    io::Image img = io::read_image(files_[size_t(i)].path);
    std::lock_guard<std::mutex> lock(mu_);
    decoded_[size_t(i)] = img;
    return img;
  }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  std::vector<FileSample> files_;
  std::vector<std::string> names_;
  bool cache_;
  mutable std::mutex mu_;
  mutable std::vector<std::optional<io::Image>> decoded_;
};

// The training set of a real/synthetic mix (see mixing.hpp): item k is real[index] or synthetic[index].
class MixedImageSet : public ImageSet {
 public:
  MixedImageSet(std::shared_ptr<const ImageSet> real, std::shared_ptr<const ImageSet> synthetic, Mix mix)
      : real_(std::move(real)), synth_(std::move(synthetic)), mix_(std::move(mix)) {
    FER_CHECK(real_->class_names() == synth_->class_names() || synth_->size() == 0 || mix_.synthetic_count() == 0,
              "mix: the real and synthetic sets have different classes");
  }
  int64_t size() const override { return int64_t(mix_.items.size()); }
  int32_t label(int64_t i) const override { return mix_.items[size_t(i)].label; }
  std::string id(int64_t i) const override { return (item(i).synthetic ? "synthetic:" : "real:") + source(i).id(item(i).index); }
  io::Image raw(int64_t i) const override { return source(i).raw(item(i).index); }
  const std::vector<std::string>& class_names() const override { return real_->class_names(); }
  bool is_synthetic(int64_t i) const { return item(i).synthetic; }

 private:
  const MixItem& item(int64_t i) const { return mix_.items[size_t(i)]; }
  const ImageSet& source(int64_t i) const { return item(i).synthetic ? *synth_ : *real_; }
  std::shared_ptr<const ImageSet> real_, synth_;
  Mix mix_;
};

struct Preprocess {
  int64_t size = 48;      // square model input
  int64_t channels = 3;   // gray images are repeated to 3 channels (or RGB reduced to 1 with PIL's luma)
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f}, std{0.5f, 0.5f, 0.5f};
  bool augment = false;   // training only
  AugmentOptions aug;
  static Preprocess imagenet(int64_t size) {
    Preprocess p;
    p.size = size;
    p.mean = {0.485f, 0.456f, 0.406f};
    p.std = {0.229f, 0.224f, 0.225f};
    return p;
  }
};

// One sample as normalized float HWC [size, size, channels]; `gen` drives augmentation (ignored unless p.augment).
inline std::vector<float> load_sample(const ImageSet& set, int64_t i, const Preprocess& p, Generator& gen) {
  io::Image img = set.raw(i);
  FER_CHECK(img.channels >= 1 && img.channels <= 4, set.id(i), ": ", img.channels, " channels");
  // Resize in u8 with PIL's arithmetic (what torchvision does to PIL images).
  if (img.height != p.size || img.width != p.size) {
    io::Image out;
    out.height = out.width = p.size, out.channels = img.channels;
    out.pixels.resize(size_t(p.size * p.size * img.channels));
    std::vector<uint8_t> scratch;
    resize_bilinear_hwc<uint8_t>(img.pixels.data(), img.height, img.width, img.channels, out.pixels.data(), p.size,
                                 p.size, true, scratch);
    img = std::move(out);
  }
  if (p.augment) apply_auto_augment(img, p.aug.policy, gen);  // uint8 policies (none: no draw, no change)
  const int64_t hw = p.size * p.size, c = p.channels;
  std::vector<float> x(size_t(hw * c));
  for (int64_t k = 0; k < hw; ++k) {
    const uint8_t* px = img.pixels.data() + k * img.channels;
    if (c == 1) {
      double l = img.channels >= 3 ? (px[0] * 299 + px[1] * 587 + px[2] * 114) / 1000.0 : px[0];
      x[size_t(k)] = float(l / 255.0);
    } else {
      for (int64_t j = 0; j < 3; ++j) x[size_t(k * 3 + j)] = float(px[img.channels >= 3 ? j : 0]) / 255.f;
    }
  }
  if (p.augment) augment_image(x, p.size, p.size, c, p.aug, gen);
  for (int64_t k = 0; k < hw; ++k)
    for (int64_t j = 0; j < c; ++j) x[size_t(k * c + j)] = (x[size_t(k * c + j)] - p.mean[size_t(j)]) / p.std[size_t(j)];
  if (p.augment) random_erase(x, p.size, p.size, c, p.aug.erasing_p, gen);
  return x;
}

struct Batch {
  Tensor images;                 // f32 [B, size, size, channels]
  Tensor labels;                 // i64 [B]
  std::vector<int64_t> indices;  // into the set
};

// Builds the batch of `indices` (in parallel unless `serial`, as inside a loader thread); sample k's augmentation
// draws from Generator(seed, epoch, index), so the result does not depend on who builds it.
inline Batch make_batch(const ImageSet& set, std::span<const int64_t> indices, const Preprocess& p, uint64_t seed,
                        int64_t epoch, bool serial = false, bool pinned = false) {
  const int64_t b = int64_t(indices.size()), per = p.size * p.size * p.channels;
  Batch out;
  // Pinned (page-locked) buffers when the batch goes to a GPU: the upload is then asynchronous.
  out.images = pinned ? Tensor::empty_pinned({b, p.size, p.size, p.channels}) : Tensor::empty({b, p.size, p.size, p.channels});
  out.labels = pinned ? Tensor::empty_pinned({b}, DType::i64) : Tensor::empty({b}, DType::i64);
  out.indices.assign(indices.begin(), indices.end());
  float* dst = out.images.data<float>();
  int64_t* lab = out.labels.data<int64_t>();
  auto build = [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      int64_t i = indices[size_t(k)];
      Generator g(seed ^ (0x9E3779B97F4A7C15ull * uint64_t(epoch + 1)) ^ (0xD1B54A32D192ED03ull * uint64_t(i + 1)));
      std::vector<float> x = load_sample(set, i, p, g);
      std::copy(x.begin(), x.end(), dst + k * per);
      lab[k] = set.label(i);
    }
  };
  if (serial) build(0, b);
  else parallel_for(0, b, 1, build);
  return out;
}

}  // namespace fer::data
