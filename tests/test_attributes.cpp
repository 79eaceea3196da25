// Attribute CSVs and their join to image sources (include/fer/data/attributes.hpp), on the fixture of
// tools/make_subgroup_fixtures.py: 120 images, rows keyed by file name or by class/file name, 3 images without a
// row, 2 rows for files that are not in the set, unknown (empty) values.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "attributes_fixture.hpp"
#include "fer/data/attributes.hpp"

using namespace fer;
using namespace fer::data;

namespace {

using attributes_fixture::images_with_ids;

struct TempCsv {
  std::filesystem::path path;
  explicit TempCsv(const std::string& text, const char* name = "fer_attributes_test.csv") {
    path = std::filesystem::temp_directory_path() / name;
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempCsv() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("attributes CSV reads columns, rows and line numbers") {
  AttributeTable t = read_attributes_csv(attributes_fixture::dir() / "faces.csv");
  CHECK(t.columns == std::vector<std::string>{"gender", "age_group"});
  CHECK(t.rows() == 117 + 2);  // 120 images less 3 without a row, plus 2 rows for unknown files
  CHECK(t.files[0] == "face_000.png");
  CHECK(t.files[1] == "angry/face_001.png");
  CHECK(t.values[1] == std::vector<std::string>{"female", "20-39"});
  CHECK(t.lines[0] == 2);
  CHECK(t.files.back() == "missing/face_500.png");  // the leading "./" is dropped
  CHECK(t.distinct_values(t.column("gender")) == std::vector<std::string>{"male", "female", "nonbinary"});
  CHECK_THROWS_WITH_AS(t.column("race"), doctest::Contains("no attribute 'race' (columns: gender, age_group)"), Error);
}

TEST_CASE("joining the fixture: values, images without a row, rows without an image") {
  nlohmann::json e = attributes_fixture::expected();
  auto set = images_with_ids(e["ids"].get<std::vector<std::string>>(), e["labels"].get<std::vector<int32_t>>(),
                             e["classes"].get<std::vector<std::string>>());
  AttributeTable t = read_attributes_csv(attributes_fixture::dir() / "faces.csv");
  AttributeJoin j = join_attributes(t, *set);
  CHECK(j.images_without_row == e["without_row"].get<std::vector<int64_t>>());
  REQUIRE(j.unmatched_rows.size() == 2);
  CHECK(t.files[size_t(j.unmatched_rows[0])] == "happy/face_999.png");
  CHECK(t.files[size_t(j.unmatched_rows[1])] == "missing/face_500.png");
  CHECK(j.matched() == 117);
  for (const char* attr : {"gender", "age_group"}) {
    auto want = e["values"][attr].get<std::vector<std::string>>();
    for (int64_t i = 0; i < set->size(); ++i) CHECK(attribute_value(t, j, t.column(attr), i) == want[size_t(i)]);
  }
  std::string s = j.summary(t);
  CHECK(s.find("117 of 120 images have attributes") != std::string::npos);
  CHECK(s.find("3 have no row (first: data/train/") != std::string::npos);
  CHECK(s.find("2 rows match no image (first: ") != std::string::npos);
}

TEST_CASE("join keys: FER2013 rows, Fashion-MNIST indices, mixed-set prefixes, backslashes") {
  TempCsv csv("file,gender\nfer2013.csv:2,female\n\"train-images-idx3-ubyte.gz:17\",male\ndir\\a.png,male\n");
  auto set = images_with_ids({"fer2013.csv:2", "fer2013.csv:3", "/usr/share/fmnist/train-images-idx3-ubyte.gz:17",
                              "real:/data/dir/a.png", "fer2013.csv:22"},
                             {0, 0, 0, 0, 0}, {"x"});
  AttributeTable t = read_attributes_csv(csv.path);
  AttributeJoin j = join_attributes(t, *set);
  CHECK(j.row_of == std::vector<int64_t>{0, -1, 1, 2, -1});  // "fer2013.csv:2" is not a suffix of "...:22"
  CHECK(j.unmatched_rows.empty());
}

TEST_CASE("ambiguous joins are errors that name the rows") {
  SUBCASE("a row that matches two images") {
    TempCsv csv("file,gender\nimg.png,female\n");
    auto set = images_with_ids({"a/happy/img.png", "a/sad/img.png"}, {0, 0}, {"x"});
    AttributeTable t = read_attributes_csv(csv.path);
    CHECK_THROWS_WITH_AS(join_attributes(t, *set),
                         doctest::Contains(":2: 'img.png' matches both a/happy/img.png and a/sad/img.png; give more of the path"),
                         Error);
  }
  SUBCASE("the same image twice (a mix's repeats) is not ambiguous") {
    TempCsv csv("file,gender\nimg.png,female\n");
    auto set = images_with_ids({"synthetic:a/img.png", "synthetic:a/img.png"}, {0, 0}, {"x"});
    AttributeJoin j = join_attributes(read_attributes_csv(csv.path), *set);
    CHECK(j.row_of == std::vector<int64_t>{0, 0});
  }
  SUBCASE("an image that two rows match") {
    TempCsv csv("file,gender\nhappy/img.png,female\nimg.png,male\n");
    auto set = images_with_ids({"a/happy/img.png"}, {0}, {"x"});
    CHECK_THROWS_WITH_AS(join_attributes(read_attributes_csv(csv.path), *set),
                         doctest::Contains("image a/happy/img.png matches both"), Error);
  }
}

TEST_CASE("malformed attribute CSVs name the file and line") {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"file,gender\na.png,female\nb.png\n", "fer_attributes_test.csv:3: 1 fields, the header has 2"},
      {"file,gender\na.png,female\n\nb.png,male,extra\n", "fer_attributes_test.csv:4: 3 fields, the header has 2"},
      {"file,gender\na.png,female\n./a.png,male\n", "fer_attributes_test.csv:3: file 'a.png' is already listed on line 2"},
      {"image,gender\na.png,female\n", "fer_attributes_test.csv:1: the header must start with the column 'file'"},
      {"file\na.png\n", "fer_attributes_test.csv:1: the header names no attribute column"},
      {"file,gender,gender\na.png,f,f\n", "fer_attributes_test.csv:1: column 'gender' appears twice"},
      {"file,,age\na.png,f,1\n", "fer_attributes_test.csv:1: column 2 of the header has no name"},
      {"file,gender\n,female\n", "fer_attributes_test.csv:2: empty file name"},
      {"", "fer_attributes_test.csv: empty file"},
      {"file,gender\n\n", "fer_attributes_test.csv: no rows after the header"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    TempCsv csv(c.text);
    CHECK_THROWS_WITH_AS(read_attributes_csv(csv.path), doctest::Contains(c.message), Error);
  }
  CHECK_THROWS_WITH_AS(read_attributes_csv("/nonexistent/attrs.csv"), doctest::Contains("/nonexistent/attrs.csv: no such file"),
                       Error);
}

TEST_CASE("a byte-order mark and CRLF line ends are accepted") {
  TempCsv csv("\xEF\xBB\xBF" "file,gender\r\na.png,female\r\n");
  AttributeTable t = read_attributes_csv(csv.path);
  CHECK(t.columns == std::vector<std::string>{"gender"});
  CHECK(t.values[0][0] == "female");
}
