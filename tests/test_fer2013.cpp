// FER2013 CSV variants and FER+ majority labels, on small files written by the test; malformed rows are
// reported with file and line.
#include <doctest/doctest.h>

#include <fstream>

#include "fer/data/fer2013.hpp"

using namespace fer::data;

namespace {

std::filesystem::path write_file(const char* name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_fer2013";
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// 2304 space-separated values: pixel i = (i * step + offset) % 256.
std::string pixels(int offset, int step = 7, int count = 2304) {
  std::string s;
  for (int i = 0; i < count; ++i) s += (i ? " " : "") + std::to_string((i * step + offset) % 256);
  return s;
}

}  // namespace

TEST_CASE("fer2013.csv: rows go to train/val/test by Usage with their labels and pixels") {
  auto p = write_file("fer2013.csv", "emotion,pixels,Usage\n"
                                     "0," + pixels(0) + ",Training\n"
                                     "3," + pixels(1) + ",PublicTest\n"
                                     "6," + pixels(2) + ",PrivateTest\r\n"
                                     "5," + pixels(3) + ",Training\n");
  Fer2013Splits s = read_fer2013_csv(p);
  REQUIRE(s.train.count() == 2);
  REQUIRE(s.val.count() == 1);
  REQUIRE(s.test.count() == 1);
  CHECK(s.train.labels == std::vector<int32_t>{0, 5});
  CHECK(s.val.labels[0] == 3);
  CHECK(s.test.labels[0] == 6);
  CHECK(s.train.height == 48);
  CHECK(s.train.channels == 1);
  CHECK(s.train.image(1)[0] == 3);
  CHECK(s.train.image(1)[2303] == (2303 * 7 + 3) % 256);
  CHECK(s.val.image(0)[10] == (70 + 1) % 256);
  CHECK(s.test.ids[0] == "fer2013.csv:4");
  CHECK(s.train.class_names[3] == "happy");
  CHECK(s.train.class_counts() == std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0});
}

TEST_CASE("Kaggle variants: icml_face_data.csv column order and spaces; train.csv; test.csv") {
  auto icml = write_file("icml_face_data.csv", "emotion, Usage, pixels\n2, Training, " + pixels(5) + "\n");
  Fer2013Splits a = read_fer2013_csv(icml);
  REQUIRE(a.train.count() == 1);
  CHECK(a.train.labels[0] == 2);
  CHECK(a.train.image(0)[1] == 12);
  auto train = write_file("train.csv", "emotion,pixels\n4,\"" + pixels(9) + "\"\n");
  Fer2013Splits b = read_fer2013_csv(train);
  REQUIRE(b.train.count() == 1);
  CHECK(b.train.labels[0] == 4);
  CHECK(b.train.image(0)[0] == 9);
  auto test = write_file("test.csv", "pixels\n" + pixels(1) + "\n");
  Fer2013Splits c = read_fer2013_csv(test);
  REQUIRE(c.train.count() == 1);
  CHECK(c.train.labels[0] == -1);
}

TEST_CASE("malformed FER2013 files name the file, the line and the problem") {
  auto check = [](const char* name, const std::string& text, const char* expect) {
    auto p = write_file(name, text);
    CHECK_THROWS_WITH_AS(read_fer2013_csv(p), doctest::Contains(expect), fer::Error);
  };
  check("short.csv", "emotion,pixels,Usage\n0," + pixels(0, 7, 2303) + ",Training\n", "short.csv:2: 2303 pixel values");
  check("long.csv", "emotion,pixels,Usage\n0," + pixels(0, 7, 2305) + ",Training\n", "long.csv:2: more than 2304");
  check("label.csv", "emotion,pixels,Usage\n7," + pixels(0) + ",Training\n", "label.csv:2: emotion 7 is not in 0..6");
  check("nan.csv", "emotion,pixels,Usage\nx," + pixels(0) + ",Training\n", "emotion 'x' is not an integer");
  check("px.csv", "emotion,pixels,Usage\n1," + pixels(0) + " 256,Training\n", "more than 2304");
  check("range.csv", "emotion,pixels,Usage\n1,300" + pixels(0).substr(1) + ",Training\n", "pixel value 300 is not in 0..255");
  check("usage.csv", "emotion,pixels,Usage\n1," + pixels(0) + ",Validation\n", "usage.csv:2: Usage 'Validation'");
  check("fields.csv", "emotion,pixels,Usage\n1," + pixels(0) + "\n", "fields.csv:2: 2 fields, the header has 3");
  check("nopix.csv", "emotion,image,Usage\n", "no 'pixels' column");
  check("empty.csv", "", "empty file");
  CHECK_THROWS_WITH_AS(read_fer2013_csv("/nonexistent/fer2013.csv"), doctest::Contains("no such file"), fer::Error);
}

TEST_CASE("FER+ majority vote: unknown/NF/ties/unnamed rows dropped, eight classes") {
  const std::string header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n";
  auto p = write_file("fer2013new.csv", header +
                                            "Training,fer0000000.png,4,0,0,1,0,0,0,5,0,0\n"   // contempt
                                            "Training,fer0000001.png,0,10,0,0,0,0,0,0,0,0\n"  // happiness
                                            "PublicTest,fer0000002.png,2,0,0,0,0,0,0,0,6,2\n" // unknown -> drop
                                            "PrivateTest,fer0000003.png,0,0,0,0,0,0,0,0,0,10\n"  // NF -> drop
                                            "Training,,0,0,0,0,0,0,0,0,0,0\n"                 // no image -> drop
                                            "Training,fer0000005.png,3,3,0,0,0,0,0,0,0,0\n"); // tie -> drop
  std::vector<int32_t> labels = read_ferplus_labels(p);
  CHECK(labels == std::vector<int32_t>{7, 1, -1, -1, -1, -1});

  auto fer = write_file("pair.csv", "emotion,pixels,Usage\n"
                                    "0," + pixels(0) + ",Training\n"
                                    "3," + pixels(1) + ",Training\n"
                                    "1," + pixels(2) + ",PublicTest\n"
                                    "2," + pixels(3) + ",PrivateTest\n"
                                    "4," + pixels(4) + ",Training\n"
                                    "5," + pixels(5) + ",Training\n");
  Fer2013Splits plus = relabel_ferplus(read_fer2013_csv(fer), labels);
  REQUIRE(plus.train.count() == 2);
  CHECK(plus.val.count() == 0);
  CHECK(plus.test.count() == 0);
  CHECK(plus.train.labels == std::vector<int32_t>{7, 1});
  CHECK(plus.train.image(1)[0] == 1);  // the second fer2013 row's pixels
  CHECK(plus.train.class_names.size() == 8);
  CHECK(plus.train.class_names[7] == "contempt");
  CHECK_THROWS_WITH_AS(relabel_ferplus(read_fer2013_csv(fer), {1, 2}), doctest::Contains("matching pair"), fer::Error);
}

// Issue 15 (9a): a header naming a column twice read past the end of shorter rows (heap-buffer-overflow under ASan):
// rows were checked against the number of distinct names. Now the repeated name is an error naming file and column.
TEST_CASE("a header that repeats a column name is an error naming the file and the column") {
  auto check = [](const char* name, const std::string& text, const char* expect) {
    auto p = write_file(name, text);
    CHECK_THROWS_WITH_AS(read_fer2013_csv(p), doctest::Contains(expect), fer::Error);
  };
  // Three fields per row match the three distinct names; 'emotion' was looked up in column 4, beyond them.
  check("dup_emotion.csv", "emotion,pixels,Usage,emotion\n0," + pixels(0) + ",Training\n",
        "dup_emotion.csv:1: column 'emotion' appears twice in the header (columns 1 and 4)");
  check("dup_pixels.csv", "pixels,pixels,Usage\n" + pixels(0) + ",Training\n",
        "dup_pixels.csv:1: column 'pixels' appears twice in the header (columns 1 and 2)");
  check("dup_case.csv", "emotion,pixels,Emotion\n0," + pixels(0) + ",1\n", "column 'Emotion' appears twice");
  const std::string votes = "Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF";
  auto plus = write_file("dup_ferplus.csv", "NF," + votes + "\n0,x.png,1,0,0,0,0,0,0,0,0\n");
  CHECK_THROWS_WITH_AS(read_ferplus_labels(plus), doctest::Contains("dup_ferplus.csv:1: column 'NF' appears twice"),
                       fer::Error);
}

// Issue 15 (6): Excel and other Windows tools start a UTF-8 CSV with a byte order mark; its first column is still
// 'emotion' (before, the mark made it an unknown column: every label -1, or "no 'pixels' column").
TEST_CASE("a FER2013 CSV that starts with a UTF-8 byte order mark reads like one without") {
  auto p = write_file("bom.csv", "\xEF\xBB\xBF" "emotion,pixels,Usage\n3," + pixels(4) + ",Training\n5," + pixels(6) +
                                     ",PrivateTest\n");
  Fer2013Splits s = read_fer2013_csv(p);
  REQUIRE(s.train.count() == 1);
  REQUIRE(s.test.count() == 1);
  CHECK(s.train.labels[0] == 3);
  CHECK(s.test.labels[0] == 5);
  CHECK(s.train.image(0)[5] == (5 * 7 + 4) % 256);
  auto px_first = write_file("bom_pixels.csv", "\xEF\xBB\xBF" "pixels\n" + pixels(1) + "\n");
  CHECK(read_fer2013_csv(px_first).train.count() == 1);
  const std::string header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n";
  auto plus = write_file("bom_ferplus.csv", "\xEF\xBB\xBF" + header + "Training,a.png,0,9,0,0,0,0,0,0,0,0\n");
  CHECK(read_ferplus_labels(plus) == std::vector<int32_t>{1});
}
