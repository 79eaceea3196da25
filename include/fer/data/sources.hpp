#pragma once
// Datasets by name or path for the programs: "fashion-mnist" (Debian's dataset-fashion-mnist), a FER2013-style
// CSV (with optional FER+ relabelling), or an image-folder root in any supported layout. Nothing degrades silently:
// a source without a test split has its validation split used as the test set (validation is then carved from
// train, stratified and seeded) and says so in Splits::notes, or is refused when it has neither; numbered class
// folders need an explicit label space; empty or missing class folders and skipped files are noted. Optional
// hygiene (--clean) drops blank images and exact duplicates within and across splits, listing each (cleaning.csv).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fer/data/hygiene.hpp"
#include "fer/data/image_set.hpp"
#include "fer/data/label_space.hpp"

namespace fer::data {

struct DataOptions {
  double val_fraction = 0.1;     // carved from train when the source has no validation split
  int64_t limit_train = 0;       // > 0: keep this many training images (stratified), for quick runs
  int64_t limit_eval = 0;        // > 0: same for val and test
  int64_t max_classes = 0;       // > 0: keep classes 0..k-1 only (e.g. 7 Fashion-MNIST classes as a FER stand-in)
  std::string ferplus_csv;       // with a fer2013.csv: relabel with FER+ majority votes (8 classes)
  bool clean = false;            // drop blank and duplicate images (within and across splits), listing them
  std::string label_space;       // fer2013, affectnet, ferplus or custom:a,b,... ("" = inferred from folder names)
  uint64_t seed = 0;
  bool quiet = false;
};

struct Splits {
  std::shared_ptr<ImageSet> train, val, test;
  std::string description;
  std::vector<std::string> dropped;     // what --clean removed ("<id>: <reason>")
  std::vector<CleaningEntry> cleaning;  // the same, one row of cleaning.csv each
  // What a reader of the results must know about the data (the log, config.json and the sweep report carry it):
  // the test split is the source's validation split, empty or missing class folders, skipped files, ...
  std::vector<std::string> notes;
  bool test_is_validation = false;      // the source had no test split; its validation split is the test set
  std::string label_space;              // where the class names come from (fer2013, affectnet, ferplus, custom, ...)
};

// The notes as log lines ("note: ...").
std::string notes_text(const Splits& s);

// The label space of an image-folder root: the one the user named, or, for named folders, FER2013's seven classes
// (AffectNet's eight when a folder is 'contempt'). Numbered folders without a named label space are refused.
LabelSpace folder_label_space(const std::filesystem::path& root, const std::string& spec);

// Builds the three splits from an in-memory train/(val)/test triple.
Splits splits_from_memory(LabeledImages train, LabeledImages val, LabeledImages test, const DataOptions& o,
                          std::string description);

// The splits of `source`: "fashion-mnist", a FER2013 CSV or an image-folder root (see the top of this file).
Splits load_splits(const std::string& source, const DataOptions& o);

// A synthetic image folder (examples/generate's output: <root>/<class>/*.png) with the real set's class names.
// Numbered class folders are read as indices into those names only when `numbered_ok` (the user named the label
// space, or fer wrote the folder itself). Empty or missing class folders and skipped files go to `notes`.
std::shared_ptr<ImageSet> load_synthetic(const std::string& root, const std::vector<std::string>& class_names,
                                         bool numbered_ok = false, std::vector<std::string>* notes = nullptr);

}  // namespace fer::data
