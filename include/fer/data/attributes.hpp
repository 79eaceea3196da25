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
inline std::string normalize_key(std::string_view s) {
  std::string k(s);
  for (char& c : k)
    if (c == '\\') c = '/';
  while (k.rfind("./", 0) == 0) k.erase(0, 2);
  return k;
}

// An image id without the mix's source prefix.
inline std::string image_key(const std::string& id) {
  std::string_view v(id);
  for (std::string_view prefix : {std::string_view("real:"), std::string_view("synthetic:")})
    if (v.substr(0, prefix.size()) == prefix) {
      v.remove_prefix(prefix.size());
      break;
    }
  return normalize_key(v);
}

}  // namespace attributes_detail

inline AttributeTable read_attributes_csv(const std::filesystem::path& path) {
  using namespace csv_detail;
  LineReader r(path);
  AttributeTable t;
  t.path = path.string();
  std::string line;
  bool header = false;
  while (!header && r.next(line)) {
    if (r.line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte-order mark
    if (trim(line).empty()) continue;
    auto h = split_commas(line);
    FER_CHECK(lower(h[0]) == "file", r.where(), ": the header must start with the column 'file' (got '",
              std::string(h[0]), "')");
    FER_CHECK(h.size() >= 2, r.where(), ": the header names no attribute column after 'file'");
    for (size_t k = 1; k < h.size(); ++k) {
      std::string name(h[k]);
      FER_CHECK(!name.empty(), r.where(), ": column ", k + 1, " of the header has no name");
      FER_CHECK(std::find(t.columns.begin(), t.columns.end(), name) == t.columns.end() && lower(name) != "file",
                r.where(), ": column '", name, "' appears twice in the header");
      t.columns.push_back(name);
    }
    header = true;
  }
  FER_CHECK(header, t.path, ": empty file (expected a header file,<attribute>,...)");
  std::unordered_map<std::string, int64_t> seen;
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = split_commas(line);
    FER_CHECK(f.size() == t.columns.size() + 1, r.where(), ": ", f.size(), " fields, the header has ", t.columns.size() + 1);
    std::string key = attributes_detail::normalize_key(f[0]);
    FER_CHECK(!key.empty(), r.where(), ": empty file name");
    auto [it, fresh] = seen.emplace(key, r.line_no);
    FER_CHECK(fresh, r.where(), ": file '", key, "' is already listed on line ", it->second);
    t.files.push_back(key);
    t.values.emplace_back();
    for (size_t k = 1; k < f.size(); ++k) t.values.back().emplace_back(f[k]);
    t.lines.push_back(r.line_no);
  }
  FER_CHECK(t.rows() > 0, t.path, ": no rows after the header");
  return t;
}

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
inline AttributeJoin join_attributes(const AttributeTable& t, const std::vector<std::string>& ids) {
  using attributes_detail::image_key;
  std::unordered_map<std::string_view, int64_t> row_by_file;
  for (int64_t r = 0; r < t.rows(); ++r) row_by_file.emplace(t.files[size_t(r)], r);
  AttributeJoin j;
  j.row_of.assign(ids.size(), -1);
  std::vector<std::string> key_of_row(size_t(t.rows()));  // the image key a row matched first
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string key = image_key(ids[i]);
    // The whole key and every part of it after a '/'.
    for (size_t start = 0; start != std::string::npos;) {
      auto it = row_by_file.find(std::string_view(key).substr(start));
      if (it != row_by_file.end()) {
        int64_t row = it->second;
        FER_CHECK(j.row_of[i] < 0, "attributes: image ", ids[i], " matches both ", t.where(j.row_of[i]), " and ",
                  t.where(row), " of ", t.path);
        std::string& first = key_of_row[size_t(row)];
        FER_CHECK(first.empty() || first == key, t.where(row), ": '", t.files[size_t(row)], "' matches both ", first,
                  " and ", key, "; give more of the path");
        first = key;
        j.row_of[i] = row;
      }
      size_t slash = key.find('/', start);
      start = slash == std::string::npos ? slash : slash + 1;
    }
    if (j.row_of[i] < 0) {
      if (j.images_without_row.empty()) j.first_without_row = ids[i];
      j.images_without_row.push_back(int64_t(i));
    }
  }
  for (int64_t r = 0; r < t.rows(); ++r)
    if (key_of_row[size_t(r)].empty()) j.unmatched_rows.push_back(r);
  return j;
}

inline AttributeJoin join_attributes(const AttributeTable& t, const ImageSet& set) {
  std::vector<std::string> ids;
  ids.reserve(size_t(set.size()));
  for (int64_t i = 0; i < set.size(); ++i) ids.push_back(set.id(i));
  return join_attributes(t, ids);
}

// The value of `column` for image i ("" when it has no row or the value is unknown).
inline const std::string& attribute_value(const AttributeTable& t, const AttributeJoin& j, size_t column, int64_t i) {
  static const std::string none;
  int64_t row = j.row_of[size_t(i)];
  return row < 0 ? none : t.values[size_t(row)][column];
}

}  // namespace fer::data
