// Datasets by name or path (data/sources.hpp), compiled once: the readers of every source format (FER2013 CSV, image
// folders, Fashion-MNIST) and the hygiene pass are generated here, not in each program that loads data.
#include "fer/data/sources.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

#include "fer/core/rng.hpp"
#include "fer/data/fashion_mnist.hpp"
#include "fer/data/fer2013.hpp"
#include "fer/data/image_folder.hpp"

namespace fer::data {

std::string notes_text(const Splits& s) {
  std::string out;
  for (const auto& n : s.notes) out += "note: " + n + "\n";
  return out;
}

namespace sources_detail {

// Indices of `labels` kept per class: a seeded, stratified choice of `count` (or `fraction`) of each class.
std::vector<int64_t> stratified_pick(const std::vector<int32_t>& labels, size_t num_classes, double fraction,
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

LabeledImages keep_classes(const LabeledImages& d, int64_t k) {
  LabeledImages out;
  out.height = d.height, out.width = d.width, out.channels = d.channels;
  out.class_names.assign(d.class_names.begin(), d.class_names.begin() + std::min<int64_t>(k, int64_t(d.class_names.size())));
  for (int64_t i = 0; i < d.count(); ++i)
    if (d.labels[size_t(i)] < k) out.push_back(d.image(i), d.labels[size_t(i)], d.ids.empty() ? std::to_string(i) : d.ids[size_t(i)]);
  return out;
}

LabeledImages limit(const LabeledImages& d, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= d.count()) return d;
  return select_images(d, stratified_pick(d.labels, d.class_names.size(), double(n) / double(d.count()), seed));
}

std::vector<FileSample> limit_files(const std::vector<FileSample>& f, size_t num_classes, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= int64_t(f.size())) return f;
  std::vector<int32_t> labels;
  for (const auto& s : f) labels.push_back(s.label);
  std::vector<FileSample> out;
  for (int64_t i : stratified_pick(labels, num_classes, double(n) / double(f.size()), seed)) out.push_back(f[size_t(i)]);
  return out;
}

const char* split_name(size_t g) {
  static const char* names[] = {"train", "val", "test"};
  return names[g];
}

// --clean over the three splits: blank images and exact duplicates, looked for in the order test, val, train so
// that the evaluation sets stay whole and a training image that is also a test image (leakage) is the one dropped.
// `count(g)`, `pixels(g, i)` (an io::Image) and `label(g, i)`, `id(g, i)` describe split g; returns the kept indices.
template <class Count, class Pixels, class Label, class Id>
std::array<std::vector<int64_t>, 3> clean_splits(Count count, Pixels pixels, Label label, Id id, Splits& s,
                                                 const HygieneOptions& opt = {}) {
  std::array<std::vector<int64_t>, 3> keep;
  std::array<std::vector<CleaningEntry>, 3> entries;
  std::array<std::vector<std::string>, 3> dropped;
  DuplicateIndex seen;
  for (size_t g : {size_t(2), size_t(1), size_t(0)}) {
    for (int64_t i = 0; i < count(g); ++i) {
      io::Image img = pixels(g, i);
      double sd = pixel_std(img.pixels.data(), img.pixels.size());
      if (sd < opt.min_pixel_std) {
        entries[g].push_back({split_name(g), id(g, i), blank_reason(sd), "", ""});
        dropped[g].push_back(id(g, i) + ": " + blank_reason(sd));
        continue;
      }
      auto original = seen.find_or_add(img.pixels.data(), img.pixels.size(), img.height, img.width, img.channels,
                                       {g, i}, [&](DuplicateIndex::Ref r) {
                                         io::Image other = pixels(r.group, r.index);
                                         return other.height == img.height && other.width == img.width &&
                                                other.channels == img.channels && other.pixels == img.pixels;
                                       });
      if (!original) {
        keep[g].push_back(i);
        continue;
      }
      bool across = original->group != g, conflict = label(original->group, original->index) != label(g, i);
      std::string reason = std::string(across ? "duplicate across splits (a " : "duplicate (a ") + split_name(original->group) +
                           " image)" + (conflict ? " with a different label" : "");
      std::string partner = id(original->group, original->index);
      entries[g].push_back({split_name(g), id(g, i), reason, split_name(original->group), partner});
      dropped[g].push_back(id(g, i) + ": duplicate of " + partner + (across ? std::string(" in ") + split_name(original->group) : "") +
                          (conflict ? " with a different label" : ""));
    }
    std::sort(keep[g].begin(), keep[g].end());
  }
  for (size_t g = 0; g < 3; ++g) {  // train first, as the splits are listed everywhere else
    s.cleaning.insert(s.cleaning.end(), entries[g].begin(), entries[g].end());
    s.dropped.insert(s.dropped.end(), dropped[g].begin(), dropped[g].end());
  }
  return keep;
}

// "skipped 3 files fer does not read as images (.gif 1, .webp 2), e.g. <path>"
std::string skipped_note(const std::vector<std::string>& ignored) {
  std::map<std::string, int64_t> by_ext;
  for (const auto& p : ignored) {
    std::string ext = std::filesystem::path(p).extension().string();
    ++by_ext[ext.empty() ? "(no extension)" : ext];
  }
  std::string s = "skipped " + std::to_string(ignored.size()) + " files fer does not read as images (";
  bool first = true;
  for (const auto& [ext, n] : by_ext) s += (first ? "" : ", ") + ext + " " + std::to_string(n), first = false;
  return s + "), e.g. " + ignored.front();
}

// A source without a test split: its validation split becomes the test set, or, without either, it is refused.
void use_validation_as_test(bool has_test, bool has_val, const std::string& source, Splits& s) {
  if (has_test) return;
  FER_CHECK(has_val, source, ": the source has no test split and no validation split to use as one (", s.description,
            "); give it a test split (e.g. a test/ folder, or a CSV Usage column with PrivateTest rows)");
  s.test_is_validation = true;
  s.notes.insert(s.notes.begin(), "no test split in " + source +
                    ": its validation split is the test set (test metrics are validation metrics); validation is carved "
                    "from train");
}

}  // namespace sources_detail

LabelSpace folder_label_space(const std::filesystem::path& root, const std::string& spec) {
  if (!spec.empty()) return parse_label_space(spec);
  std::vector<std::string> names = class_folder_names(root);
  for (const auto& n : names)
    FER_CHECK(n.empty() || !std::all_of(n.begin(), n.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }),
              root.string(), ": class folders are numbered ('", n, "'), and numbers name no class: pass --label_space "
              "affectnet (", describe_classes(affectnet_class_names()), "), fer2013 (", describe_classes(fer2013_class_names()),
              "), ferplus or custom:a,b,... to say which class each number is");
  auto within = [&](const std::vector<std::string>& space) {
    for (const auto& n : names) {
      std::string c = folder_detail::canonical_class(n);
      if (std::none_of(space.begin(), space.end(), [&](const std::string& k) { return folder_detail::canonical_class(k) == c; }))
        return false;
    }
    return true;
  };
  if (within(fer2013_class_names())) return {"fer2013", fer2013_class_names()};
  if (within(affectnet_class_names())) return {"affectnet", affectnet_class_names()};
  for (const auto& n : names) {
    std::string c = folder_detail::canonical_class(n);
    const auto& a = affectnet_class_names();
    FER_CHECK(std::any_of(a.begin(), a.end(), [&](const std::string& k) { return k == c; }), root.string(),
              ": class folder '", n, "' is neither a FER2013 nor an AffectNet class: pass --label_space custom:a,b,... "
              "with the dataset's class names");
  }
  return {"affectnet", affectnet_class_names()};
}


Splits splits_from_memory(LabeledImages train, LabeledImages val, LabeledImages test, const DataOptions& o,
                                 std::string description) {
  using namespace sources_detail;
  Splits s;
  s.description = description;
  s.label_space = train.class_names == fer2013_class_names() ? "fer2013" : train.class_names == ferplus_class_names() ? "ferplus" : "the source's";
  if (!o.label_space.empty()) {
    LabelSpace ls = parse_label_space(o.label_space);
    FER_CHECK(ls.classes == train.class_names, "--label_space ", o.label_space, " (", describe_classes(ls.classes),
              ") is not the label space of ", description, " (", describe_classes(train.class_names), ")");
    s.label_space = ls.name;
  }
  if (o.max_classes > 0) train = keep_classes(train, o.max_classes), val = keep_classes(val, o.max_classes), test = keep_classes(test, o.max_classes);
  use_validation_as_test(test.count() > 0, val.count() > 0, description, s);
  if (s.test_is_validation) test = std::move(val), val = select_images(test, {});
  if (o.clean) {
    std::array<LabeledImages*, 3> d = {&train, &val, &test};
    auto keep = clean_splits([&](size_t g) { return d[g]->count(); },
                             [&](size_t g, int64_t i) {
                               io::Image img;
                               img.height = d[g]->height, img.width = d[g]->width, img.channels = d[g]->channels;
                               img.pixels.assign(d[g]->image(i), d[g]->image(i) + d[g]->image_bytes());
                               return img;
                             },
                             [&](size_t g, int64_t i) { return d[g]->labels[size_t(i)]; },
                             [&](size_t g, int64_t i) { return d[g]->ids.empty() ? std::to_string(i) : d[g]->ids[size_t(i)]; }, s);
    for (size_t g = 0; g < 3; ++g) *d[g] = select_images(*d[g], keep[g]);
  }
  if (val.count() == 0 && o.val_fraction > 0) {
    std::vector<int64_t> rest;
    auto val_idx = stratified_pick(train.labels, train.class_names.size(), o.val_fraction, o.seed ^ 0x5eed, &rest);
    val = select_images(train, val_idx);
    train = select_images(train, rest);
    s.description += ", validation carved from train";
  }
  if (s.test_is_validation) s.description += ", test = the source's validation split";
  train = limit(train, o.limit_train, o.seed);
  val = limit(val, o.limit_eval, o.seed + 1);
  test = limit(test, o.limit_eval, o.seed + 2);
  s.train = std::make_shared<InMemoryImageSet>(std::move(train));
  s.val = std::make_shared<InMemoryImageSet>(std::move(val));
  s.test = std::make_shared<InMemoryImageSet>(std::move(test));
  return s;
}

Splits load_splits(const std::string& source, const DataOptions& o) {
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
  LabelSpace space = folder_label_space(p, o.label_space);
  FolderSplits f = read_image_folder(p, space.classes);
  Splits s;
  s.description = "image folders " + source + " (layout " + f.layout + ", label space " + space.name + ")";
  s.label_space = space.name;
  if (o.label_space.empty() && space.name == "affectnet")
    s.notes.push_back("label space: AffectNet's 8 classes (a 'contempt' folder); pass --label_space to choose another");
  s.notes.insert(s.notes.end(), f.notes.begin(), f.notes.end());
  if (!f.ignored.empty()) s.notes.push_back(skipped_note(f.ignored));
  std::vector<std::string> class_names = f.class_names;
  if (o.max_classes > 0 && o.max_classes < int64_t(class_names.size())) {
    class_names.resize(size_t(o.max_classes));
    for (auto* split : {&f.train, &f.val, &f.test})
      split->erase(std::remove_if(split->begin(), split->end(), [&](const FileSample& x) { return x.label >= o.max_classes; }),
                   split->end());
    s.notes.push_back("--max_classes " + std::to_string(o.max_classes) + ": only classes " + describe_classes(class_names) + " are used");
    FER_CHECK(!f.train.empty(), source, ": no training images left in classes 0..", o.max_classes - 1);
  }
  use_validation_as_test(!f.test.empty(), !f.val.empty(), source, s);
  if (s.test_is_validation) f.test = std::move(f.val), f.val.clear();
  if (o.clean) {
    std::array<std::vector<FileSample>*, 3> d = {&f.train, &f.val, &f.test};
    auto keep = clean_splits([&](size_t g) { return int64_t(d[g]->size()); },
                             [&](size_t g, int64_t i) { return io::read_image((*d[g])[size_t(i)].path); },
                             [&](size_t g, int64_t i) { return (*d[g])[size_t(i)].label; },
                             [&](size_t g, int64_t i) { return (*d[g])[size_t(i)].path.string(); }, s);
    for (size_t g = 0; g < 3; ++g) {
      std::vector<FileSample> kept;
      for (int64_t i : keep[g]) kept.push_back((*d[g])[size_t(i)]);
      *d[g] = std::move(kept);
    }
  }
  size_t nc = class_names.size();
  if (f.val.empty() && o.val_fraction > 0) {
    std::vector<int32_t> labels;
    for (const auto& x : f.train) labels.push_back(x.label);
    std::vector<int64_t> rest;
    auto vi = stratified_pick(labels, nc, o.val_fraction, o.seed ^ 0x5eed, &rest);
    std::vector<FileSample> tr, va;
    for (int64_t i : rest) tr.push_back(f.train[size_t(i)]);
    for (int64_t i : vi) va.push_back(f.train[size_t(i)]);
    f.train = tr, f.val = va;
    s.description += ", validation carved from train";
  }
  if (s.test_is_validation) s.description += ", test = the source's validation split";
  s.train = std::make_shared<FileImageSet>(limit_files(f.train, nc, o.limit_train, o.seed), class_names);
  s.val = std::make_shared<FileImageSet>(limit_files(f.val, nc, o.limit_eval, o.seed + 1), class_names);
  s.test = std::make_shared<FileImageSet>(limit_files(f.test, nc, o.limit_eval, o.seed + 2), class_names);
  return s;
}

std::shared_ptr<ImageSet> load_synthetic(const std::string& root, const std::vector<std::string>& class_names,
                                                bool numbered_ok, std::vector<std::string>* notes) {
  FolderSplits f = read_image_folder(root, class_names);
  FER_CHECK(numbered_ok || !f.numbered, root, ": synthetic class folders are numbered; pass --label_space to say which "
            "class each number is (the real data's classes are ", describe_classes(class_names), ")");
  if (notes) {
    for (const auto& n : f.notes) notes->push_back("synthetic data: " + n);
    if (!f.ignored.empty()) notes->push_back("synthetic data: " + sources_detail::skipped_note(f.ignored));
  }
  std::vector<FileSample> all = f.train;
  all.insert(all.end(), f.val.begin(), f.val.end());
  all.insert(all.end(), f.test.begin(), f.test.end());
  return std::make_shared<FileImageSet>(all, class_names);
}

}  // namespace fer::data
