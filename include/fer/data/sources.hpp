#pragma once
// Datasets by name or path for the programs: "fashion-mnist" (Debian's dataset-fashion-mnist), a FER2013-style
// CSV (with optional FER+ relabelling), or an image-folder root in any supported layout. Splits without a
// validation part get one carved from train (stratified, seeded). Optional hygiene drops blank and duplicate images.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fer/core/rng.hpp"
#include "fer/data/fashion_mnist.hpp"
#include "fer/data/fer2013.hpp"
#include "fer/data/hygiene.hpp"
#include "fer/data/image_folder.hpp"
#include "fer/data/image_set.hpp"

namespace fer::data {

struct DataOptions {
  double val_fraction = 0.1;     // carved from train when the source has no validation split
  int64_t limit_train = 0;       // > 0: keep this many training images (stratified), for quick runs
  int64_t limit_eval = 0;        // > 0: same for val and test
  int64_t max_classes = 0;       // > 0: keep classes 0..k-1 only (e.g. 7 Fashion-MNIST classes as a FER stand-in)
  std::string ferplus_csv;       // with a fer2013.csv: relabel with FER+ majority votes (8 classes)
  bool clean = false;            // drop blank and duplicate images (in-memory sources), listing them
  uint64_t seed = 0;
  bool quiet = false;
};

struct Splits {
  std::shared_ptr<ImageSet> train, val, test;
  std::string description;
  std::vector<std::string> dropped;  // what --clean removed
};

namespace sources_detail {

// Indices of `labels` kept per class: a seeded, stratified choice of `count` (or `fraction`) of each class.
inline std::vector<int64_t> stratified_pick(const std::vector<int32_t>& labels, size_t num_classes, double fraction,
                                            uint64_t seed, std::vector<int64_t>* rest = nullptr) {
  std::vector<std::vector<int64_t>> by(num_classes);
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0 && size_t(labels[i]) < num_classes) by[size_t(labels[i])].push_back(int64_t(i));
  Generator g(seed);
  std::vector<int64_t> pick;
  for (auto& v : by) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(g.below(i))]);
    size_t k = size_t(std::llround(fraction * double(v.size())));
    pick.insert(pick.end(), v.begin(), v.begin() + std::min(k, v.size()));
    if (rest) rest->insert(rest->end(), v.begin() + std::min(k, v.size()), v.end());
  }
  std::sort(pick.begin(), pick.end());
  if (rest) std::sort(rest->begin(), rest->end());
  return pick;
}

inline LabeledImages keep_classes(const LabeledImages& d, int64_t k) {
  LabeledImages out;
  out.height = d.height, out.width = d.width, out.channels = d.channels;
  out.class_names.assign(d.class_names.begin(), d.class_names.begin() + std::min<int64_t>(k, int64_t(d.class_names.size())));
  for (int64_t i = 0; i < d.count(); ++i)
    if (d.labels[size_t(i)] < k) out.push_back(d.image(i), d.labels[size_t(i)], d.ids.empty() ? std::to_string(i) : d.ids[size_t(i)]);
  return out;
}

inline LabeledImages limit(const LabeledImages& d, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= d.count()) return d;
  return select_images(d, stratified_pick(d.labels, d.class_names.size(), double(n) / double(d.count()), seed));
}

inline std::vector<FileSample> limit_files(const std::vector<FileSample>& f, size_t num_classes, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= int64_t(f.size())) return f;
  std::vector<int32_t> labels;
  for (const auto& s : f) labels.push_back(s.label);
  std::vector<FileSample> out;
  for (int64_t i : stratified_pick(labels, num_classes, double(n) / double(f.size()), seed)) out.push_back(f[size_t(i)]);
  return out;
}

// Hygiene for image files: decodes each once; drops blank images and later copies of an earlier image (same
// decoded pixels: equal 64-bit hashes confirmed by comparing the pixels).
inline std::vector<FileSample> clean_files(const std::vector<FileSample>& files, std::vector<std::string>& dropped,
                                           const HygieneOptions& opt = {}) {
  std::vector<FileSample> keep;
  std::unordered_map<uint64_t, std::vector<size_t>> first_by_hash;  // -> indices into keep
  for (const FileSample& f : files) {
    io::Image img = io::read_image(f.path);
    double sd = pixel_std(img.pixels.data(), img.pixels.size());
    if (sd < opt.min_pixel_std) {
      dropped.push_back(f.path.string() + ": blank (pixel std " + std::to_string(sd) + ")");
      continue;
    }
    uint64_t h = fnv1a64(img.pixels.data(), img.pixels.size()) ^ uint64_t(img.height * 131 + img.width * 7 + img.channels);
    bool duplicate = false;
    for (size_t k : first_by_hash[h]) {
      io::Image other = io::read_image(keep[k].path);
      if (other.height == img.height && other.width == img.width && other.pixels == img.pixels) {
        dropped.push_back(f.path.string() + ": duplicate of " + keep[k].path.string() +
                          (keep[k].label != f.label ? " with a different label" : ""));
        duplicate = true;
        break;
      }
    }
    if (duplicate) continue;
    first_by_hash[h].push_back(keep.size());
    keep.push_back(f);
  }
  return keep;
}

}  // namespace sources_detail

// Builds the three splits from an in-memory train/(val)/test triple.
inline Splits splits_from_memory(LabeledImages train, LabeledImages val, LabeledImages test, const DataOptions& o,
                                 std::string description) {
  using namespace sources_detail;
  Splits s;
  if (o.max_classes > 0) train = keep_classes(train, o.max_classes), val = keep_classes(val, o.max_classes), test = keep_classes(test, o.max_classes);
  if (o.clean) {
    for (LabeledImages* d : {&train, &val, &test}) {
      HygieneReport r = inspect_images(*d);
      for (const auto& x : r.dropped) s.dropped.push_back(x.id + ": " + x.reason);
      *d = select_images(*d, r.keep);
    }
  }
  if (val.count() == 0 && o.val_fraction > 0) {
    std::vector<int64_t> rest;
    auto val_idx = stratified_pick(train.labels, train.class_names.size(), o.val_fraction, o.seed ^ 0x5eed, &rest);
    val = select_images(train, val_idx);
    train = select_images(train, rest);
    description += ", validation carved from train";
  }
  train = limit(train, o.limit_train, o.seed);
  val = limit(val, o.limit_eval, o.seed + 1);
  test = limit(test, o.limit_eval, o.seed + 2);
  s.train = std::make_shared<InMemoryImageSet>(std::move(train));
  s.val = std::make_shared<InMemoryImageSet>(std::move(val));
  s.test = std::make_shared<InMemoryImageSet>(std::move(test));
  s.description = description;
  return s;
}

inline Splits load_splits(const std::string& source, const DataOptions& o) {
  using namespace sources_detail;
  if (source == "fashion-mnist" || source == "fmnist") {
    FashionMnist tr(FashionMnist::Split::train), te(FashionMnist::Split::test);
    LabeledImages empty;
    empty.height = tr.raw().height, empty.width = tr.raw().width, empty.channels = 1, empty.class_names = tr.raw().class_names;
    return splits_from_memory(tr.raw(), empty, te.raw(), o, "Fashion-MNIST (" + std::string(kFashionMnistRoot) + ")");
  }
  std::filesystem::path p(source);
  FER_CHECK(std::filesystem::exists(p), source, ": no such file or directory (expected fashion-mnist, a FER2013 CSV or an "
            "image-folder root)");
  if (std::filesystem::is_regular_file(p)) {
    Fer2013Splits f = read_fer2013_csv(p);
    std::string desc = "FER2013 CSV " + source;
    if (!o.ferplus_csv.empty()) f = relabel_ferplus(f, read_ferplus_labels(o.ferplus_csv), o.ferplus_csv), desc += " + FER+ labels";
    return splits_from_memory(std::move(f.train), std::move(f.val), std::move(f.test), o, desc);
  }
  FolderSplits f = read_image_folder(p);
  std::string desc = "image folders " + source + " (layout " + f.layout + ")";
  std::vector<std::string> dropped;
  if (o.clean)
    for (auto* split : {&f.train, &f.val, &f.test}) *split = clean_files(*split, dropped);
  size_t nc = f.class_names.size();
  if (f.val.empty() && o.val_fraction > 0) {
    std::vector<int32_t> labels;
    for (const auto& s : f.train) labels.push_back(s.label);
    std::vector<int64_t> rest;
    auto vi = stratified_pick(labels, nc, o.val_fraction, o.seed ^ 0x5eed, &rest);
    std::vector<FileSample> tr, va;
    for (int64_t i : rest) tr.push_back(f.train[size_t(i)]);
    for (int64_t i : vi) va.push_back(f.train[size_t(i)]);
    f.train = tr, f.val = va;
    desc += ", validation carved from train";
  }
  Splits s;
  s.train = std::make_shared<FileImageSet>(limit_files(f.train, nc, o.limit_train, o.seed), f.class_names);
  s.val = std::make_shared<FileImageSet>(limit_files(f.val, nc, o.limit_eval, o.seed + 1), f.class_names);
  s.test = std::make_shared<FileImageSet>(limit_files(f.test, nc, o.limit_eval, o.seed + 2), f.class_names);
  s.description = desc;
  s.dropped = dropped;
  return s;
}

// A synthetic image folder (examples/generate's output: <root>/<class>/*.png) with the real set's class names.
inline std::shared_ptr<ImageSet> load_synthetic(const std::string& root, const std::vector<std::string>& class_names) {
  FolderSplits f = read_image_folder(root, class_names);
  std::vector<FileSample> all = f.train;
  all.insert(all.end(), f.val.begin(), f.val.end());
  all.insert(all.end(), f.test.begin(), f.test.end());
  return std::make_shared<FileImageSet>(all, class_names);
}

}  // namespace fer::data
