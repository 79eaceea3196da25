#pragma once
// Image-folder datasets: `root/<split>/<class>/<image>` in the layouts FER datasets are shipped in.
//
//   root/{train,val,test}/<class>/...         the canonical layout (also what examples/generate writes)
//   root/{train,test}/<class>/...             Kaggle's FER2013 images (no validation split)
//   root/images/{train,validation}/<class>/   another Kaggle variant ("validation" = val)
//   root/<split>/{0,1,...}/...                numbered class folders, named through a class map
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
};

// AffectNet's eight classes in its own index order (numbered folders 0..7).
inline const std::vector<std::string>& affectnet_class_names() {
  static const std::vector<std::string> names = {"neutral", "happy", "sad",     "surprise",
                                                 "fear",    "disgust", "angry", "contempt"};
  return names;
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

// Reads one split folder whose sub-folders are classes.
inline void read_split(const std::filesystem::path& dir, const std::vector<std::string>& classes,
                       std::vector<FileSample>& out, std::vector<std::string>& ignored) {
  std::vector<std::filesystem::path> class_dirs;
  std::vector<std::string> names;
  for (const auto& p : sorted_entries(dir)) {
    if (std::filesystem::is_directory(p)) class_dirs.push_back(p), names.push_back(p.filename().string());
    else ignored.push_back(p.string());
  }
  FER_CHECK(!class_dirs.empty(), dir.string(), ": no class folders");
  bool numeric = all_numeric(names);
  for (size_t k = 0; k < class_dirs.size(); ++k) {
    int32_t label = -1;
    if (numeric) {
      long idx = std::stol(names[k]);
      FER_CHECK(idx >= 0 && size_t(idx) < classes.size(), class_dirs[k].string(), ": class number ", idx,
                " has no name in the class map (", classes.size(), " classes)");
      label = int32_t(idx);
    } else {
      std::string c = canonical_class(names[k]);
      auto it = std::find(classes.begin(), classes.end(), c);
      FER_CHECK(it != classes.end(), class_dirs[k].string(), ": folder '", names[k],
                "' is not one of the dataset's classes");
      label = int32_t(it - classes.begin());
    }
    for (const auto& f : sorted_entries(class_dirs[k])) {
      if (std::filesystem::is_regular_file(f) && is_image_file(f)) out.push_back({f, label});
      else ignored.push_back(f.string());
    }
  }
}

}  // namespace folder_detail

// Recognises the layout under `root` and lists its images. `classes` is the label space (default: FER2013's seven;
// a folder named "contempt" then is an error: pass affectnet_class_names() or ferplus-style lists for 8 classes).
inline FolderSplits read_image_folder(const std::filesystem::path& root,
                                      const std::vector<std::string>& classes = fer2013_class_names()) {
  using namespace folder_detail;
  FER_CHECK(std::filesystem::is_directory(root), root.string(), ": no such directory");
  FolderSplits s;
  s.class_names = classes;
  auto sub = [&](const char* name) { return root / name; };
  auto is_dir = [](const std::filesystem::path& p) { return std::filesystem::is_directory(p); };
  if (is_dir(sub("images")) && is_dir(sub("images") / "train")) {
    s.layout = "images/{train,validation}";
    read_split(root / "images" / "train", classes, s.train, s.ignored);
    for (const char* v : {"validation", "val"})
      if (is_dir(root / "images" / v)) read_split(root / "images" / v, classes, s.val, s.ignored);
    if (is_dir(root / "images" / "test")) read_split(root / "images" / "test", classes, s.test, s.ignored);
  } else if (is_dir(sub("train"))) {
    read_split(sub("train"), classes, s.train, s.ignored);
    for (const char* v : {"val", "validation", "valid"})
      if (is_dir(sub(v))) read_split(sub(v), classes, s.val, s.ignored);
    if (is_dir(sub("test"))) read_split(sub("test"), classes, s.test, s.ignored);
    s.layout = s.val.empty() ? "{train,test}" : "{train,val,test}";
  } else {
    s.layout = "<class>";
    read_split(root, classes, s.train, s.ignored);
  }
  FER_CHECK(!s.train.empty(), root.string(), ": no images found (layout ", s.layout, ")");
  return s;
}

}  // namespace fer::data
