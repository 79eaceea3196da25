#pragma once
// FER2013 as distributed on Kaggle: `fer2013.csv` (emotion,pixels,Usage), its `icml_face_data.csv` variant
// (emotion, Usage, pixels — column names with spaces), the challenge's `train.csv` (emotion,pixels; no Usage)
// and `test.csv` (pixels only), and the FER+ relabelling `fer2013new.csv` (vote counts per emotion, same row
// order as fer2013.csv).
//
// Usage maps Training -> train, PublicTest -> val, PrivateTest -> test. Labels 0-6: angry, disgust, fear, happy,
// sad, surprise, neutral. Every malformed row is reported with the file and line; nothing is silently skipped.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/labeled_images.hpp"

namespace fer::data {

inline const std::vector<std::string>& fer2013_class_names() {
  static const std::vector<std::string> names = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
  return names;
}
// FER+'s eight emotions in the column order of fer2013new.csv.
inline const std::vector<std::string>& ferplus_class_names() {
  static const std::vector<std::string> names = {"neutral", "happiness", "surprise", "sadness",
                                                 "anger",   "disgust",   "fear",     "contempt"};
  return names;
}

struct Fer2013Splits {
  LabeledImages train, val, test;
};

namespace csv_detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

// FER2013 files have no quoted commas, so a plain split is exact; quotes around a field are trimmed.
inline std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    out.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

inline std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

struct LineReader {
  std::ifstream in;
  std::string path;
  int64_t line_no = 0;
  explicit LineReader(const std::filesystem::path& p) : in(p, std::ios::binary), path(p.string()) {
    FER_CHECK(std::filesystem::exists(p), path, ": no such file");
    FER_CHECK(in.good(), path, ": cannot open for reading");
  }
  bool next(std::string& line) {
    if (!std::getline(in, line)) return false;
    // A UTF-8 byte order mark (written by Excel and many Windows tools) is not part of the first column's name.
    if (++line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    return true;
  }
  std::string where() const { return path + ":" + std::to_string(line_no); }
};

// The header's columns: index by (case-insensitive, trimmed) name, and how many fields every row must have. A name
// given twice is an error: which of the two columns holds the data would be a guess.
struct HeaderColumns {
  std::map<std::string, size_t> index;
  size_t count = 0;
  bool has(const std::string& name) const { return index.count(name) != 0; }
  size_t at(const std::string& name) const { return index.at(name); }
};
inline HeaderColumns header_columns(const std::vector<std::string_view>& header, const std::string& where) {
  HeaderColumns cols;
  cols.count = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    auto [it, fresh] = cols.index.emplace(lower(header[i]), i);
    FER_CHECK(fresh, where, ": column '", std::string(header[i]), "' appears twice in the header (columns ", it->second + 1,
              " and ", i + 1, ")");
  }
  return cols;
}

inline int64_t parse_int(std::string_view s, const std::string& where, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  FER_CHECK(ec == std::errc() && p == s.data() + s.size() && !s.empty(), where, ": ", what, " '", std::string(s),
            "' is not an integer");
  return v;
}

}  // namespace csv_detail

// Reads the 48x48 grayscale images of a FER2013-style CSV into train/val/test by Usage (everything is `train`
// when the file has no Usage column; labels are -1 when it has no emotion column).
inline Fer2013Splits read_fer2013_csv(const std::filesystem::path& path) {
  using namespace csv_detail;
  constexpr int64_t side = 48, npix = side * side;
  LineReader r(path);
  std::string line;
  FER_CHECK(r.next(line), path.string(), ": empty file (expected a header such as emotion,pixels,Usage)");
  const HeaderColumns cols = header_columns(split_commas(line), r.where());
  FER_CHECK(cols.has("pixels"), r.where(), ": no 'pixels' column in the header '", line, "'");
  size_t c_pix = cols.at("pixels");
  std::optional<size_t> c_emotion, c_usage;
  if (cols.has("emotion")) c_emotion = cols.at("emotion");
  if (cols.has("usage")) c_usage = cols.at("usage");
  const size_t ncols = cols.count;

  Fer2013Splits s;
  for (LabeledImages* d : {&s.train, &s.val, &s.test}) {
    d->height = d->width = side;
    d->channels = 1;
    d->class_names = fer2013_class_names();
  }
  std::array<uint8_t, npix> img{};
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = split_commas(line);
    FER_CHECK(f.size() == ncols, r.where(), ": ", f.size(), " fields, the header has ", ncols);
    int32_t label = -1;
    if (c_emotion) {
      int64_t e = parse_int(f[*c_emotion], r.where(), "emotion");
      FER_CHECK(e >= 0 && e < 7, r.where(), ": emotion ", e, " is not in 0..6");
      label = int32_t(e);
    }
    std::string_view px = f[c_pix];
    int64_t n = 0;
    size_t pos = 0;
    while (pos < px.size()) {
      while (pos < px.size() && px[pos] == ' ') ++pos;
      if (pos >= px.size()) break;
      size_t end = px.find(' ', pos);
      if (end == std::string_view::npos) end = px.size();
      FER_CHECK(n < npix, r.where(), ": more than ", npix, " pixel values (expected 48x48)");
      int64_t v = parse_int(px.substr(pos, end - pos), r.where(), "pixel value");
      FER_CHECK(v >= 0 && v <= 255, r.where(), ": pixel value ", v, " is not in 0..255");
      img[size_t(n++)] = uint8_t(v);
      pos = end;
    }
    FER_CHECK(n == npix, r.where(), ": ", n, " pixel values, expected ", npix, " (48x48)");
    LabeledImages* dst = &s.train;
    if (c_usage) {
      std::string u = lower(f[*c_usage]);
      if (u == "training") dst = &s.train;
      else if (u == "publictest") dst = &s.val;
      else if (u == "privatetest") dst = &s.test;
      else fail(r.where(), ": Usage '", std::string(f[*c_usage]), "' is not Training, PublicTest or PrivateTest");
    }
    dst->push_back(img.data(), label, path.filename().string() + ":" + std::to_string(r.line_no));
  }
  return s;
}

// FER+ majority-vote labels for the rows of fer2013.csv (same order, same Usage). A row is dropped when its most
// voted column is `unknown` or `NF` (not a face), when the top emotions tie, or when it has no image name (FER+
// leaves those rows out). Returns, per fer2013.csv data row, the FER+ label (0-7, ferplus_class_names()) or -1.
inline std::vector<int32_t> read_ferplus_labels(const std::filesystem::path& path) {
  using namespace csv_detail;
  LineReader r(path);
  std::string line;
  FER_CHECK(r.next(line), path.string(), ": empty file (expected the fer2013new.csv header)");
  const HeaderColumns cols = header_columns(split_commas(line), r.where());
  std::vector<size_t> vote_cols;
  for (const std::string& name : ferplus_class_names()) {
    FER_CHECK(cols.has(name), r.where(), ": no '", name, "' column in the header '", line, "'");
    vote_cols.push_back(cols.at(name));
  }
  for (const char* extra : {"unknown", "nf"}) {
    FER_CHECK(cols.has(extra), r.where(), ": no '", extra, "' column in the header");
    vote_cols.push_back(cols.at(extra));
  }
  FER_CHECK(cols.has("image name"), r.where(), ": no 'Image name' column in the header");
  const size_t c_name = cols.at("image name"), ncols = cols.count;
  std::vector<int32_t> labels;
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = split_commas(line);
    FER_CHECK(f.size() == ncols, r.where(), ": ", f.size(), " fields, the header has ", ncols);
    if (f[c_name].empty()) {
      labels.push_back(-1);
      continue;
    }
    int64_t best = -1, best_votes = -1;
    bool tie = false;
    for (size_t k = 0; k < vote_cols.size(); ++k) {
      int64_t v = parse_int(f[vote_cols[k]], r.where(), "vote count");
      FER_CHECK(v >= 0, r.where(), ": negative vote count ", v);
      if (v > best_votes) best = int64_t(k), best_votes = v, tie = false;
      else if (v == best_votes) tie = true;
    }
    bool emotion = best >= 0 && best < int64_t(ferplus_class_names().size());
    labels.push_back(emotion && !tie && best_votes > 0 ? int32_t(best) : -1);
  }
  return labels;
}

// Applies FER+ labels to the splits read from the matching fer2013.csv: images whose FER+ label is -1 are dropped;
// the class names become FER+'s eight.
inline Fer2013Splits relabel_ferplus(const Fer2013Splits& fer, const std::vector<int32_t>& ferplus,
                                     const std::string& source = "fer2013new.csv") {
  int64_t total = fer.train.count() + fer.val.count() + fer.test.count();
  FER_CHECK(int64_t(ferplus.size()) == total, source, ": ", ferplus.size(), " rows but fer2013.csv has ", total,
            " images (the two files must be the matching pair)");
  // fer2013.csv rows are interleaved by Usage; ids carry "file:line", whose line orders them back.
  struct Ref {
    const LabeledImages* d;
    int64_t i;
    int64_t line;
  };
  std::vector<Ref> rows;
  for (const LabeledImages* d : {&fer.train, &fer.val, &fer.test})
    for (int64_t i = 0; i < d->count(); ++i) {
      const std::string& id = d->ids[size_t(i)];
      rows.push_back({d, i, std::stoll(id.substr(id.rfind(':') + 1))});
    }
  std::sort(rows.begin(), rows.end(), [](const Ref& a, const Ref& b) { return a.line < b.line; });
  Fer2013Splits out;
  const LabeledImages* srcs[3] = {&fer.train, &fer.val, &fer.test};
  LabeledImages* dsts[3] = {&out.train, &out.val, &out.test};
  for (int k = 0; k < 3; ++k) {
    dsts[k]->height = srcs[k]->height, dsts[k]->width = srcs[k]->width, dsts[k]->channels = srcs[k]->channels;
    dsts[k]->class_names = ferplus_class_names();
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    if (ferplus[r] < 0) continue;
    int k = rows[r].d == &fer.train ? 0 : rows[r].d == &fer.val ? 1 : 2;
    dsts[k]->push_back(rows[r].d->image(rows[r].i), ferplus[r], rows[r].d->ids[size_t(rows[r].i)]);
  }
  return out;
}

}  // namespace fer::data
