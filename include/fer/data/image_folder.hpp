#pragma once
// Image-folder datasets: `root/<split>/<class>/<image>` in the layouts FER datasets are shipped in.
//
//   root/{train,val,test}/<class>/...         the canonical layout (also what examples/generate writes)
//   root/{train,test}/<class>/...             Kaggle's FER2013 images (no validation split)
//   root/images/{train,validation}/<class>/   another Kaggle variant ("validation" = val)
//   root/{train_set,val_set}/<class>/         AffectNet arranged in class folders
//   root/<split>/{0,1,...}/...                numbered class folders, named through an explicit label space
//   root/<class>/...                          a single unsplit folder (everything is train)
// Class folder names are matched case-insensitively against the class list with common synonyms (anger/angry,
// happiness/happy, ...). Files are listed in sorted order so a dataset is the same on every machine.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/fer2013.hpp"

namespace fer::data {

struct FileSample {
  std::filesystem::path path;
  int32_t label = -1;
};

struct FolderSplits {
  std::vector<FileSample> train, val, test;
  std::vector<std::string> class_names;
  std::string layout;               // which layout was recognised
  std::vector<std::string> ignored; // entries that are neither images nor known folders
  bool numbered = false;            // class folders are numbers (indices into class_names)
  std::vector<std::string> notes;   // empty class folders and classes without a folder, per split
};

// AffectNet's eight classes in its own index order (numbered folders 0..7).
inline const std::vector<std::string>& affectnet_class_names() {
  static const std::vector<std::string> names = {"neutral", "happy", "sad",     "surprise",
                                                 "fear",    "disgust", "angry", "contempt"};
  return names;
}

// Images per class of a file list.
inline std::vector<int64_t> count_classes_of(const std::vector<FileSample>& files, size_t num_classes) {
  std::vector<int64_t> n(num_classes, 0);
  for (const FileSample& f : files)
    if (f.label >= 0 && size_t(f.label) < num_classes) ++n[size_t(f.label)];
  return n;
}

inline bool is_image_file(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

namespace folder_detail {

inline std::string canonical_class(std::string name) {
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, std::string> synonyms = {
      {"anger", "angry"},       {"angry", "angry"},       {"disgust", "disgust"}, {"disgusted", "disgust"},
      {"fear", "fear"},         {"fearful", "fear"},      {"happy", "happy"},     {"happiness", "happy"},
      {"sad", "sad"},           {"sadness", "sad"},       {"surprise", "surprise"}, {"surprised", "surprise"},
      {"neutral", "neutral"},   {"contempt", "contempt"}};
  auto it = synonyms.find(name);
  return it == synonyms.end() ? name : it->second;
}

inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> v;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) v.push_back(e.path());
  FER_CHECK(!ec, dir.string(), ": cannot list: ", ec.message());
  std::sort(v.begin(), v.end());
  return v;
}

inline bool all_numeric(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (n.empty() || !std::all_of(n.begin(), n.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
  return !names.empty();
}

// The class sub-folders of a split folder (sorted), anything else goes to `ignored`.
inline std::vector<std::filesystem::path> class_dirs_of(const std::filesystem::path& dir, std::vector<std::string>* ignored) {
  std::vector<std::filesystem::path> class_dirs;
  for (const auto& p : sorted_entries(dir)) {
    if (std::filesystem::is_directory(p)) class_dirs.push_back(p);
    else if (ignored) ignored->push_back(p.string());
  }
  FER_CHECK(!class_dirs.empty(), dir.string(), ": no class folders");
  return class_dirs;
}

// Reads one split folder whose sub-folders are classes; notes empty folders and classes without a folder.
inline void read_split(const std::filesystem::path& dir, const std::vector<std::string>& classes,
                       std::vector<FileSample>& out, FolderSplits& s) {
  std::vector<std::filesystem::path> class_dirs = class_dirs_of(dir, &s.ignored);
  std::vector<std::string> names;
  for (const auto& p : class_dirs) names.push_back(p.filename().string());
  bool numeric = all_numeric(names);
  s.numbered = s.numbered || numeric;
  std::vector<bool> has_folder(classes.size(), false);
  for (size_t k = 0; k < class_dirs.size(); ++k) {
    int32_t label = -1;
    if (numeric) {
      long idx = std::stol(names[k]);
      FER_CHECK(idx >= 0 && size_t(idx) < classes.size(), class_dirs[k].string(), ": class number ", idx,
                " has no name in the class map (", classes.size(), " classes)");
      label = int32_t(idx);
    } else {
      std::string c = canonical_class(names[k]);
      auto it = std::find_if(classes.begin(), classes.end(), [&](const std::string& n) { return canonical_class(n) == c; });
      FER_CHECK(it != classes.end(), class_dirs[k].string(), ": folder '", names[k],
                "' is not one of the dataset's classes");
      label = int32_t(it - classes.begin());
    }
    has_folder[size_t(label)] = true;
    size_t before = out.size();
    for (const auto& f : sorted_entries(class_dirs[k])) {
      if (std::filesystem::is_regular_file(f) && is_image_file(f)) out.push_back({f, label});
      else s.ignored.push_back(f.string());
    }
    if (out.size() == before) s.notes.push_back(class_dirs[k].string() + ": empty class folder (no images of class '" +
                                                classes[size_t(label)] + "')");
  }
  for (size_t c = 0; c < classes.size(); ++c)
    if (!has_folder[c]) s.notes.push_back(dir.string() + ": no folder for class '" + classes[c] + "' (0 images)");
}

// The split folders of `root` in the recognised layout: {layout, train dir, val dirs, test dir}.
struct LayoutDirs {
  std::string layout;
  std::filesystem::path train;
  std::vector<std::filesystem::path> val;
  std::filesystem::path test;  // empty when the layout has none
};

inline LayoutDirs detect_layout(const std::filesystem::path& root) {
  auto is_dir = [](const std::filesystem::path& p) { return std::filesystem::is_directory(p); };
  LayoutDirs d;
  auto add_val = [&](const std::filesystem::path& base, std::initializer_list<const char*> names) {
    for (const char* v : names)
      if (is_dir(base / v)) d.val.push_back(base / v);
  };
  if (is_dir(root / "images") && is_dir(root / "images" / "train")) {
    d.layout = "images/{train,validation}";
    d.train = root / "images" / "train";
    add_val(root / "images", {"validation", "val"});
    if (is_dir(root / "images" / "test")) d.test = root / "images" / "test";
  } else if (is_dir(root / "train_set")) {
    d.layout = "{train_set,val_set}";
    d.train = root / "train_set";
    add_val(root, {"val_set"});
    if (is_dir(root / "test_set")) d.test = root / "test_set";
  } else if (is_dir(root / "train")) {
    d.train = root / "train";
    add_val(root, {"val", "validation", "valid"});
    if (is_dir(root / "test")) d.test = root / "test";
    d.layout = d.val.empty() ? "{train,test}" : "{train,val,test}";
  } else {
    d.layout = "<class>";
    d.train = root;
  }
  return d;
}

}  // namespace folder_detail

// Recognises the layout under `root` and lists its images. `classes` is the label space: numbered folders index
// into it, named folders must be (synonyms of) its names. Which label space a dataset has is the caller's decision
// (load_splits refuses numbered folders unless the user named the label space).
inline FolderSplits read_image_folder(const std::filesystem::path& root,
                                      const std::vector<std::string>& classes = fer2013_class_names()) {
  using namespace folder_detail;
  FER_CHECK(std::filesystem::is_directory(root), root.string(), ": no such directory");
  FolderSplits s;
  s.class_names = classes;
  LayoutDirs d = detect_layout(root);
  s.layout = d.layout;
  read_split(d.train, classes, s.train, s);
  for (const auto& v : d.val) read_split(v, classes, s.val, s);
  if (!d.test.empty()) read_split(d.test, classes, s.test, s);
  FER_CHECK(!s.train.empty(), root.string(), ": no images found (layout ", s.layout, ")");
  return s;
}

// The class-folder names under `root` (all splits of its layout, sorted, without repeats).
inline std::vector<std::string> class_folder_names(const std::filesystem::path& root) {
  using namespace folder_detail;
  FER_CHECK(std::filesystem::is_directory(root), root.string(), ": no such directory");
  LayoutDirs d = detect_layout(root);
  std::vector<std::filesystem::path> splits = d.val;
  splits.push_back(d.train);
  if (!d.test.empty()) splits.push_back(d.test);
  std::vector<std::string> names;
  for (const auto& dir : splits)
    for (const auto& p : class_dirs_of(dir, nullptr)) names.push_back(p.filename().string());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace fer::data
