// Per-image attributes (data/attributes.hpp), compiled once.
#include "fer/data/attributes.hpp"

namespace fer::data {

namespace attributes_detail {

std::string normalize_key(std::string_view s) {
  std::string k(s);
  for (char& c : k)
    if (c == '\\') c = '/';
  while (k.rfind("./", 0) == 0) k.erase(0, 2);
  return k;
}

std::string image_key(const std::string& id) {
  std::string_view v(id);
  for (std::string_view prefix : {std::string_view("real:"), std::string_view("synthetic:")})
    if (v.substr(0, prefix.size()) == prefix) {
      v.remove_prefix(prefix.size());
      break;
    }
  return normalize_key(v);
}

}  // namespace attributes_detail

AttributeTable read_attributes_csv(const std::filesystem::path& path) {
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

AttributeJoin join_attributes(const AttributeTable& t, const std::vector<std::string>& ids) {
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

AttributeJoin join_attributes(const AttributeTable& t, const ImageSet& set) {
  std::vector<std::string> ids;
  ids.reserve(size_t(set.size()));
  for (int64_t i = 0; i < set.size(); ++i) ids.push_back(set.id(i));
  return join_attributes(t, ids);
}

const std::string& attribute_value(const AttributeTable& t, const AttributeJoin& j, size_t column, int64_t i) {
  static const std::string none;
  int64_t row = j.row_of[size_t(i)];
  return row < 0 ? none : t.values[size_t(row)][column];
}

}  // namespace fer::data
