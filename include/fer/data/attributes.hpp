#pragma once
// Per-image attributes (gender, age group, ...) from a CSV, joined to any image source.
//
// The file: a header `file,<attr1>,<attr2>,...` and one row per image. Fields are split at commas (no quoted
// commas; surrounding quotes and blanks are trimmed), blank lines are skipped, an empty attribute value means
// "unknown" (such an image matches no condition on that attribute). Every malformed line is an error naming
// `path:line`: a wrong field count, an empty `file`, a `file` listed twice, a header without `file` first or with
// an empty or repeated column name.
//
// The join key is the image's id as fer reports it (predictions.csv, manifest.csv):
//   image folders      the file path, e.g. data/train/happy/0001.png
//   FER2013 CSV rows   <csv file name>:<line>, e.g. fer2013.csv:2 for the first data row (the header is line 1)
//   Fashion-MNIST      <idx file>:<index>
//   real/synthetic mix the id of the underlying image (its "real:"/"synthetic:" prefix is ignored)
// A row matches an image when its `file` equals the id or a trailing part of it that starts after a '/' (so
// `happy/0001.png` or `0001.png` match data/train/happy/0001.png; backslashes count as '/', a leading "./" is
// ignored). A row that would match two different images, or an image matched by two rows, is an error: give more of
// the path. Rows that match no image and images without a row are counted and listed by the join, not errors.
#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/fer2013.hpp"
#include "fer/data/image_set.hpp"

namespace fer::data {

struct AttributeTable {
  std::string path;                               // for messages
  std::vector<std::string> columns;               // attribute names (the header without `file`)
  std::vector<std::string> files;                 // per row: the join key, normalized
  std::vector<std::vector<std::string>> values;   // per row, per column ("" = unknown)
  std::vector<int64_t> lines;                     // per row: its line in the file

  int64_t rows() const { return int64_t(files.size()); }
  // Index of a column; an unknown name is an error listing the columns.
  size_t column(const std::string& name) const {
    for (size_t k = 0; k < columns.size(); ++k)
      if (columns[k] == name) return k;
    std::string all;
    for (const auto& c : columns) all += (all.empty() ? "" : ", ") + c;
    fail(path, ": no attribute '", name, "' (columns: ", all, ")");
  }
  // The distinct non-empty values of a column in order of first appearance.
  std::vector<std::string> distinct_values(size_t col) const {
    std::vector<std::string> out;
    for (const auto& row : values)
      if (!row[col].empty() && std::find(out.begin(), out.end(), row[col]) == out.end()) out.push_back(row[col]);
    return out;
  }
  std::string where(int64_t row) const { return path + ":" + std::to_string(lines[size_t(row)]); }
};

namespace attributes_detail {

// The comparable form of a path-like key: '/' separators, no leading "./".
std::string normalize_key(std::string_view s);

// An image id without the mix's source prefix.
std::string image_key(const std::string& id);

}  // namespace attributes_detail

AttributeTable read_attributes_csv(const std::filesystem::path& path);

// Which row describes each image of one source, and what did not pair up.
struct AttributeJoin {
  std::vector<int64_t> row_of;                // per image: its row, or -1
  std::vector<int64_t> images_without_row;    // image indices
  std::vector<int64_t> unmatched_rows;        // rows that match no image of this source
  std::string first_without_row;              // the id of images_without_row[0] (for messages)
  int64_t matched() const { return int64_t(row_of.size() - images_without_row.size()); }
  // "640 of 700 images have attributes in a.csv; 60 have no row (first: ...); 12 rows match no image (first: a.csv:7 '...')"
  std::string summary(const AttributeTable& t) const {
    std::string s = std::to_string(matched()) + " of " + std::to_string(row_of.size()) + " images have attributes in " + t.path;
    if (!images_without_row.empty())
      s += "; " + std::to_string(images_without_row.size()) + " have no row (first: " + first_without_row + ")";
    if (!unmatched_rows.empty())
      s += "; " + std::to_string(unmatched_rows.size()) + " rows match no image (first: " + t.where(unmatched_rows[0]) +
           " '" + t.files[size_t(unmatched_rows[0])] + "')";
    return s;
  }
};

// Joins rows to images given by their ids (as ImageSet::id or predictions.csv give them).
AttributeJoin join_attributes(const AttributeTable& t, const std::vector<std::string>& ids);

AttributeJoin join_attributes(const AttributeTable& t, const ImageSet& set);

// The value of `column` for image i ("" when it has no row or the value is unknown).
const std::string& attribute_value(const AttributeTable& t, const AttributeJoin& j, size_t column, int64_t i);

}  // namespace fer::data
