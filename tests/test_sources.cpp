// Dataset sources: an image folder with a blank image and a duplicate is cleaned (--clean) with each drop listed;
// validation is carved from train when a layout has none, stratified. Nothing degrades silently: numbered folders
// need a label space, a missing test split is replaced by the validation split (and said) or refused, empty class
// folders and skipped files are noted, and --clean finds duplicates across splits.
#include <doctest/doctest.h>

#include <fstream>

#include "fer/data/sampling.hpp"
#include "fer/data/sources.hpp"

using namespace fer;

TEST_CASE("--clean on image folders drops blank and duplicate images, listing them") {
  auto root = std::filesystem::temp_directory_path() / "fer_test_sources";
  std::filesystem::remove_all(root);
  auto write = [&](const char* cls, const char* name, uint8_t base, bool flat) {
    std::filesystem::create_directories(root / "train" / cls);
    io::Image img;
    img.height = img.width = 8, img.channels = 1;
    for (int k = 0; k < 64; ++k) img.pixels.push_back(flat ? base : uint8_t(base + k * 3));
    io::write_png(root / "train" / cls / name, img);
  };
  for (int i = 0; i < 10; ++i) write("happy", ("h" + std::to_string(i) + ".png").c_str(), uint8_t(i * 20), false);
  for (int i = 0; i < 10; ++i) write("sad", ("s" + std::to_string(i) + ".png").c_str(), uint8_t(i * 20 + 5), false);
  for (const char* cls : {"happy", "sad"}) {  // a test split (a source without one is refused)
    std::filesystem::create_directories(root / "test" / cls);
    io::Image img;
    img.height = img.width = 8, img.channels = 1;
    for (int k = 0; k < 64; ++k) img.pixels.push_back(uint8_t(cls[0] + k * 2));
    io::write_png(root / "test" / cls / "t.png", img);
  }
  write("sad", "zz_blank.png", 90, true);
  write("sad", "zz_copy.png", 0, false);  // the pixels of happy/h0.png, another label
  data::DataOptions o;
  o.clean = true;
  o.val_fraction = 0.2;
  data::Splits s = data::load_splits(root.string(), o);
  REQUIRE(s.dropped.size() == 2);
  CHECK(s.dropped[0].find("zz_blank.png: blank") != std::string::npos);
  CHECK(s.dropped[1].find("zz_copy.png: duplicate of") != std::string::npos);
  CHECK(s.dropped[1].find("with a different label") != std::string::npos);
  CHECK(s.train->size() + s.val->size() == 20);
  CHECK(s.val->size() == 4);  // 20% of each class
  CHECK(data::count_classes(s.val->labels(), 7)[3] == 2);
}

namespace {
// A small grayscale PNG whose pixels are a function of `seed` (distinct seeds give distinct images).
void png(const std::filesystem::path& path, int seed, int side = 8) {
  std::filesystem::create_directories(path.parent_path());
  io::Image img;
  img.height = img.width = side, img.channels = 1;
  for (int k = 0; k < side * side; ++k) img.pixels.push_back(uint8_t((seed * 37 + k * (seed % 7 + 3)) % 251));
  io::write_png(path, img);
}

std::filesystem::path fresh_scratch_dir(const char* name) {
  auto root = std::filesystem::temp_directory_path() / "fer_test_sources_trust" / name;
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  return root;
}

bool has_note(const data::Splits& s, const std::string& text) {
  for (const auto& n : s.notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("AffectNet: numbered folders need --label_space; with it 0..7 are AffectNet's classes; val_set is the test") {
  auto root = fresh_scratch_dir("affectnet");
  int seed = 0;
  for (int c = 0; c < 8; ++c) {
    for (int i = 0; i < 5; ++i) png(root / "train_set" / std::to_string(c) / ("t" + std::to_string(i) + ".png"), ++seed);
    for (int i = 0; i < 2; ++i) png(root / "val_set" / std::to_string(c) / ("v" + std::to_string(i) + ".png"), ++seed);
  }
  data::DataOptions o;
  o.val_fraction = 0.2;
  // Without the flag, numbered folders get no names (FER2013's would make 0 'angry', AffectNet's 0 is 'neutral').
  CHECK_THROWS_WITH_AS(data::load_splits(root.string(), o), doctest::Contains("pass --label_space affectnet (0 neutral, 1 happy"),
                       Error);
  o.label_space = "affectnet";
  data::Splits s = data::load_splits(root.string(), o);
  REQUIRE(s.train->class_names() == std::vector<std::string>{"neutral", "happy", "sad", "surprise", "fear", "disgust",
                                                               "angry", "contempt"});
  CHECK(s.label_space == "affectnet");
  // val_set became the test set (said so), validation was carved from train_set (1 of 5 per class).
  CHECK(s.test_is_validation);
  CHECK(s.test->size() == 16);
  CHECK(s.val->size() == 8);
  CHECK(s.train->size() == 32);
  CHECK(has_note(s, "its validation split is the test set"));
  CHECK(s.description.find("test = the source's validation split") != std::string::npos);
  for (int64_t i = 0; i < s.test->size(); ++i) {
    std::string folder = std::filesystem::path(s.test->id(i)).parent_path().filename().string();
    CHECK(s.test->label(i) == std::stoi(folder));  // folder 7 -> label 7 = contempt
  }
  // FER2013's order only when asked for (and then 7 has no name).
  o.label_space = "fer2013";
  CHECK_THROWS_WITH_AS(data::load_splits(root.string(), o), doctest::Contains("class number 7 has no name"), Error);
  o.label_space = "custom:a,b,c,d,e,f,g,h";
  CHECK(data::load_splits(root.string(), o).train->class_names()[7] == "h");
  CHECK_THROWS_WITH_AS(data::parse_label_space("custom:a"), doctest::Contains("at least 2 classes"), Error);
  CHECK_THROWS_WITH_AS(data::parse_label_space("custom:a,b,a"), doctest::Contains("'a' appears twice"), Error);
  CHECK_THROWS_WITH_AS(data::parse_label_space("emotions"), doctest::Contains("expected fer2013, affectnet, ferplus"), Error);
}

TEST_CASE("named folders with contempt are AffectNet's 8 classes; --max_classes works for folders") {
  auto root = fresh_scratch_dir("contempt");
  int seed = 100;
  for (const char* c : {"neutral", "happy", "contempt", "anger"})
    for (const char* split : {"train", "test"})
      for (int i = 0; i < 3; ++i) png(root / split / c / (std::to_string(i) + ".png"), ++seed);
  data::DataOptions o;
  o.val_fraction = 0;
  data::Splits s = data::load_splits(root.string(), o);
  CHECK(s.train->num_classes() == 8);
  CHECK(s.label_space == "affectnet");
  CHECK(has_note(s, "AffectNet's 8 classes"));
  std::vector<int64_t> counts = data::count_classes(s.train->labels(), 8);
  CHECK(counts == std::vector<int64_t>{3, 3, 0, 0, 0, 0, 3, 3});
  // Classes without a folder are reported, not silently absent.
  CHECK(has_note(s, "no folder for class 'sad'"));
  o.max_classes = 2;  // neutral, happy
  data::Splits k = data::load_splits(root.string(), o);
  CHECK(k.train->class_names() == std::vector<std::string>{"neutral", "happy"});
  CHECK(k.train->size() == 6);
  CHECK(k.test->size() == 6);
  CHECK(has_note(k, "--max_classes 2"));
}

TEST_CASE("a source without a test split uses its validation split, says so, or is refused") {
  // images/{train,validation}: validation becomes the test set.
  auto kaggle = fresh_scratch_dir("images_train_validation");
  int seed = 200;
  for (const char* c : {"happy", "sad"}) {
    for (int i = 0; i < 10; ++i) png(kaggle / "images" / "train" / c / (std::to_string(i) + ".png"), ++seed);
    for (int i = 0; i < 3; ++i) png(kaggle / "images" / "validation" / c / (std::to_string(i) + ".png"), ++seed);
  }
  data::DataOptions o;
  o.val_fraction = 0.2;
  data::Splits s = data::load_splits(kaggle.string(), o);
  CHECK(s.test_is_validation);
  CHECK(s.test->size() == 6);
  CHECK(s.val->size() == 4);
  CHECK(s.train->size() == 16);
  CHECK(has_note(s, "its validation split is the test set"));
  CHECK(data::notes_text(s).rfind("note: no test split in ", 0) == 0);

  // Only a train split: refused (no "no test metrics" with exit 0).
  auto only_train = fresh_scratch_dir("only_train");
  for (int i = 0; i < 4; ++i) png(only_train / "train" / "happy" / (std::to_string(i) + ".png"), ++seed);
  CHECK_THROWS_WITH_AS(data::load_splits(only_train.string(), o), doctest::Contains("has no test split and no validation split"),
                       Error);

  // A CSV without Usage (everything is train): refused.
  auto csv = fresh_scratch_dir("csv") / "train.csv";
  {
    std::ofstream f(csv);
    f << "emotion,pixels\n";
    for (int r = 0; r < 4; ++r) {
      f << r % 2 << ',';
      for (int k = 0; k < 48 * 48; ++k) f << (k ? " " : "") << (r * 31 + k) % 256;
      f << '\n';
    }
  }
  CHECK_THROWS_WITH_AS(data::load_splits(csv.string(), o), doctest::Contains("has no test split and no validation split"), Error);
  // A label space that is not the CSV's is an error, not a relabelling.
  o.label_space = "affectnet";
  CHECK_THROWS_WITH_AS(data::load_splits(csv.string(), o), doctest::Contains("is not the label space of FER2013 CSV"), Error);
}

TEST_CASE("empty class folders and skipped files are reported") {
  auto root = fresh_scratch_dir("skipped");
  int seed = 300;
  for (const char* split : {"train", "test"})
    for (int i = 0; i < 4; ++i) png(root / split / "happy" / (std::to_string(i) + ".png"), ++seed);
  std::filesystem::create_directories(root / "train" / "sad");  // empty
  std::ofstream(root / "train" / "happy" / "face.webp") << "RIFF";
  std::ofstream(root / "train" / "happy" / "anim.gif") << "GIF89a";
  std::ofstream(root / "test" / "happy" / "other.webp") << "RIFF";
  data::DataOptions o;
  o.val_fraction = 0.25;
  data::Splits s = data::load_splits(root.string(), o);
  CHECK(has_note(s, "sad: empty class folder (no images of class 'sad')"));
  CHECK(has_note(s, "skipped 3 files fer does not read as images (.gif 1, .webp 2)"));
  CHECK(s.train->size() == 3);
  // The same for a synthetic folder.
  std::vector<std::string> notes;
  auto synth = data::load_synthetic((root / "train").string(), s.train->class_names(), false, &notes);
  CHECK(synth->size() == 4);
  CHECK(std::find(notes.begin(), notes.end(), "synthetic data: " + (root / "train" / "sad").string() +
                                                  ": empty class folder (no images of class 'sad')") != notes.end());
}

TEST_CASE("--clean finds duplicates across splits (train/test leakage) and lists each with its partner") {
  auto root = fresh_scratch_dir("leakage");
  int seed = 400;
  for (const char* c : {"happy", "sad"}) {
    for (int i = 0; i < 6; ++i) png(root / "train" / c / ("a" + std::to_string(i) + ".png"), ++seed);
    for (int i = 0; i < 3; ++i) png(root / "val" / c / ("b" + std::to_string(i) + ".png"), ++seed);
    for (int i = 0; i < 3; ++i) png(root / "test" / c / ("c" + std::to_string(i) + ".png"), ++seed);
  }
  // A test image also in train (another label), a validation image also in test, a duplicate within train.
  std::filesystem::copy_file(root / "test" / "happy" / "c0.png", root / "train" / "sad" / "leak.png");
  std::filesystem::copy_file(root / "test" / "sad" / "c1.png", root / "val" / "sad" / "leak2.png");
  std::filesystem::copy_file(root / "train" / "happy" / "a0.png", root / "train" / "happy" / "z_copy.png");
  data::DataOptions o;
  o.clean = true;
  data::Splits s = data::load_splits(root.string(), o);
  REQUIRE(s.cleaning.size() == 3);
  // Train first; the evaluation sets keep their images.
  CHECK(s.cleaning[0].split == "train");
  CHECK(s.test->size() == 6);
  CHECK(s.val->size() == 6);
  CHECK(s.train->size() == 12);
  auto find = [&](const std::string& file) -> const data::CleaningEntry* {
    for (const auto& e : s.cleaning)
      if (std::filesystem::path(e.id).filename() == file) return &e;
    return nullptr;
  };
  const data::CleaningEntry* leak = find("leak.png");
  REQUIRE(leak);
  CHECK(leak->split == "train");
  CHECK(leak->reason == "duplicate across splits (a test image) with a different label");
  CHECK(leak->duplicate_of_split == "test");
  CHECK(std::filesystem::path(leak->duplicate_of) == root / "test" / "happy" / "c0.png");
  const data::CleaningEntry* leak2 = find("leak2.png");
  REQUIRE(leak2);
  CHECK(leak2->split == "val");
  CHECK(leak2->duplicate_of_split == "test");
  const data::CleaningEntry* copy = find("z_copy.png");
  REQUIRE(copy);
  CHECK(copy->reason == "duplicate (a train image)");
  CHECK(std::filesystem::path(copy->duplicate_of) == root / "train" / "happy" / "a0.png");

  auto csv_path = root / "out" / "cleaning.csv";
  data::write_cleaning_csv(csv_path, s.cleaning);
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);
  CHECK(line == "split,id,reason,duplicate_of_split,duplicate_of");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  CHECK(rows == 3);
}

TEST_CASE("--clean across the splits of an in-memory source (FER2013 CSV)") {
  auto dir = fresh_scratch_dir("csv_leak");
  auto csv = dir / "fer2013.csv";
  auto row = [](int label, int pattern, const char* usage) {
    std::string r = std::to_string(label) + ",";
    for (int k = 0; k < 48 * 48; ++k) r += (k ? " " : "") + std::to_string((pattern * 29 + k * (pattern % 5 + 1)) % 256);
    return r + "," + usage + "\n";
  };
  {
    std::ofstream f(csv);
    f << "emotion,pixels,Usage\n" << row(3, 1, "Training") << row(4, 2, "Training") << row(3, 3, "Training")
      << row(4, 4, "PublicTest") << row(3, 3, "PrivateTest") << row(4, 5, "PrivateTest");
  }
  data::DataOptions o;
  o.clean = true;
  data::Splits s = data::load_splits(csv.string(), o);
  REQUIRE(s.cleaning.size() == 1);
  CHECK(s.cleaning[0].split == "train");
  CHECK(s.cleaning[0].reason == "duplicate across splits (a test image)");
  CHECK(s.cleaning[0].id.find("fer2013.csv:4") != std::string::npos);
  CHECK(s.cleaning[0].duplicate_of.find("fer2013.csv:6") != std::string::npos);
  CHECK(s.train->size() == 2);
  CHECK(s.test->size() == 2);
}
