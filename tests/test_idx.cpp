// IDX reader and the Fashion-MNIST dataset: well-formed and malformed files written here (plain and gzip'd),
// then the real dataset when Debian's dataset-fashion-mnist is installed.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fer/data/fashion_mnist.hpp"

using namespace fer;
namespace fs = std::filesystem;

namespace {

// A per-process scratch directory (tests of several builds may run at once), removed at exit.
fs::path scratch_dir() {
  struct Dir {
    fs::path path = fs::temp_directory_path() / ("fer_test_idx_" + std::to_string(getpid()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  };
  static Dir dir;
  return dir.path;
}

std::vector<uint8_t> header(uint8_t type, std::vector<uint32_t> dims) {
  std::vector<uint8_t> h = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(uint8_t(d >> s));
  return h;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes, bool gzip = false) {
  std::string path = (scratch_dir() / name).string();
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  return path;
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(start + i);
  return v;
}

}  // namespace

TEST_CASE("read_idx: u8 and big-endian i32/f32/f64 files, plain and gzip'd") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    std::string p = write_file("u8.idx", concat(header(0x08, {2, 3, 4}), iota_bytes(24, 10)), gz);
    Tensor t = io::read_idx(p);
    CHECK(t.dtype() == DType::u8);
    CHECK(t.shape() == Shape{2, 3, 4});
    CHECK(t.at(0, 0, 0) == 10);
    CHECK(t.at(1, 2, 3) == 33);

    // i32 -2 = 0xFFFFFFFE, 70000 = 0x00011170; f32 1.5 = 0x3FC00000; f64 -0.25 = 0xBFD0000000000000.
    p = write_file("i32.idx", concat(header(0x0C, {2}), {0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x01, 0x11, 0x70}), gz);
    t = io::read_idx(p);
    CHECK(t.dtype() == DType::i32);
    CHECK(t.flat(0) == -2);
    CHECK(t.flat(1) == 70000);
    p = write_file("f32.idx", concat(header(0x0D, {1}), {0x3F, 0xC0, 0, 0}), gz);
    CHECK(io::read_idx(p).flat(0) == 1.5);
    p = write_file("f64.idx", concat(header(0x0E, {1, 1}), {0xBF, 0xD0, 0, 0, 0, 0, 0, 0}), gz);
    t = io::read_idx(p);
    CHECK(t.dtype() == DType::f64);
    CHECK(t.shape() == Shape{1, 1});
    CHECK(t.flat(0) == -0.25);
  }
}

TEST_CASE("read_idx: malformed files fail with errors naming the file") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    auto expect_error = [&](const std::string& name, const std::vector<uint8_t>& bytes, const char* what) {
      std::string p = write_file(name, bytes, gz);
      CAPTURE(name);
      CHECK_THROWS_WITH_AS(io::read_idx(p), doctest::Contains(p.c_str()), fer::Error);
      CHECK_THROWS_WITH_AS(io::read_idx(p), doctest::Contains(what), fer::Error);
    };
    expect_error("magic.idx", concat({0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1}, {7}), "bad magic");
    expect_error("type.idx", concat(header(0x09, {2}), {1, 2}), "unsupported type code 0x9 (i8)");
    expect_error("ndims.idx", header(0x08, {}), "0 dims");
    expect_error("short_header.idx", {0, 0, 0x08, 3, 0, 0, 0, 2}, "truncated");
    expect_error("truncated.idx", concat(header(0x08, {2, 3, 3}), iota_bytes(10)), "truncated");
    expect_error("truncated_i32.idx", concat(header(0x0C, {3}), iota_bytes(11)), "truncated");
    expect_error("trailing.idx", concat(header(0x08, {2, 2}), iota_bytes(5)), "trailing bytes");
    expect_error("overflow.idx", header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}), "2^40 bytes");
    expect_error("empty.idx", {}, "truncated");
    // Found by fuzzing (issue 15): a zero dim hid the overflow of the others (and of the strides made from them).
    expect_error("zero_dim.idx", header(0x0E, {2, 0, 0x0400007A, 0x41414141, 0x41414141}), "2^40 bytes");
  }
  CHECK_THROWS_WITH_AS(io::read_idx((scratch_dir() / "missing.idx").string()), doctest::Contains("cannot open"), fer::Error);
}

TEST_CASE("read_idx_labeled_images: labels out of range, count and shape mismatches") {
  std::string images = write_file("img.idx", concat(header(0x08, {3, 2, 2}), iota_bytes(12)), true);
  std::string labels = write_file("lab.idx", concat(header(0x08, {3}), {2, 0, 1}), true);
  std::vector<std::string> abc = {"a", "b", "c"};
  data::LabeledImages ok = data::read_idx_labeled_images(images, labels, abc);
  CHECK(ok.labels == std::vector<int32_t>{2, 0, 1});
  CHECK(ok.count() == 3);
  CHECK(ok.height == 2);
  CHECK(ok.width == 2);
  CHECK(ok.channels == 1);
  CHECK(ok.image(2)[3] == 11);
  CHECK(ok.ids[1] == images + ":1");
  CHECK(ok.class_names == abc);

  CHECK_THROWS_WITH_AS(data::read_idx_labeled_images(images, labels, {"a", "b"}), doctest::Contains("label 2 at index 0"),
                       fer::Error);
  std::string few = write_file("few.idx", concat(header(0x08, {2}), {0, 1}), true);
  CHECK_THROWS_WITH_AS(data::read_idx_labeled_images(images, few, abc), doctest::Contains("has 3 images but"), fer::Error);
  std::string flat = write_file("flat.idx", concat(header(0x08, {12}), iota_bytes(12)), true);
  CHECK_THROWS_WITH_AS(data::read_idx_labeled_images(flat, labels, abc), doctest::Contains("expected u8 images [N, H, W]"),
                       fer::Error);
  std::string wide = write_file("wide.idx", concat(header(0x0C, {3}), iota_bytes(12)), true);
  CHECK_THROWS_WITH_AS(data::read_idx_labeled_images(images, wide, abc), doctest::Contains("expected u8 labels [N]"),
                       fer::Error);
}

TEST_CASE("batch_spans: consecutive batches of an epoch order, drop_last") {
  std::vector<int64_t> order = {4, 1, 7, 0, 9, 2, 3, 8, 5, 6};
  auto b = data::batch_spans(order, 4, false);
  REQUIRE(b.size() == 3);
  CHECK(b[0].size() == 4);
  CHECK(b[2].size() == 2);
  CHECK(b[1][0] == 9);
  CHECK(b[2][1] == 6);
  CHECK(data::batch_spans(order, 4, true).size() == 2);
  CHECK(data::batch_spans(order, 10, true).size() == 1);
  CHECK(data::batch_spans({}, 3, false).empty());
  CHECK_THROWS_AS(data::batch_spans(order, 0, false), fer::Error);
}

TEST_CASE("Fashion-MNIST from /usr/share/datasets/fashion-mnist") {
  if (!fs::exists(std::string(data::kFashionMnistRoot) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("SKIPPED: ", data::kFashionMnistRoot, " not found (apt install dataset-fashion-mnist)");
    return;
  }
  using Split = data::FashionMnist::Split;
  data::FashionMnist train(Split::train), test(Split::test);
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  const data::LabeledImages& tr = train.raw();
  const data::LabeledImages& te = test.raw();
  CHECK(tr.height == 28);
  CHECK(tr.width == 28);
  CHECK(te.count() == 10000);
  CHECK(tr.class_counts() == std::vector<int64_t>(10, 6000));
  std::vector<int64_t> hist_train(10), hist_test(10);
  for (int64_t i = 0; i < 60000; ++i) ++hist_train[size_t(train.label(i))];
  for (int64_t i = 0; i < 10000; ++i) ++hist_test[size_t(test.label(i))];
  CHECK(hist_train == std::vector<int64_t>(10, 6000));
  CHECK(hist_test == std::vector<int64_t>(10, 1000));
  CHECK(train.class_name(9) == "Ankle boot");

  // Reference values read with /usr/bin/python3, gzip + numpy.frombuffer on the same files:
  //   train labels[:5] = 9 0 0 3 0, last = 5; test labels[:5] = 9 2 1 1 6
  //   train[0][14][10:18] = 0 0 237 226 217 223 222 219; train[59999][14][10:14] = 34 0 3 3
  //   test[0][15][12:16] = 117 99 111 117; sum(train[0]) = 76247, sum(test[9999]) = 24390
  //   all train pixels / 255: mean 0.2860405969887955, std 0.35302424451492237
  for (int64_t i : {0, 1, 2, 3, 4}) CHECK(train.label(i) == std::vector<int64_t>{9, 0, 0, 3, 0}[size_t(i)]);
  CHECK(train.label(59999) == 5);
  for (int64_t i : {0, 1, 2, 3, 4}) CHECK(test.label(i) == std::vector<int64_t>{9, 2, 1, 1, 6}[size_t(i)]);
  std::vector<double> row = {0, 0, 237, 226, 217, 223, 222, 219};
  for (int64_t x = 0; x < 8; ++x) CHECK(tr.image(0)[14 * 28 + 10 + x] == row[size_t(x)]);
  CHECK(tr.image(59999)[14 * 28 + 10] == 34);
  CHECK(tr.image(59999)[14 * 28 + 12] == 3);
  CHECK(te.image(0)[15 * 28 + 13] == 99);
  double s0 = 0, s1 = 0;
  for (int64_t p = 0; p < 784; ++p) s0 += tr.image(0)[p], s1 += te.image(9999)[p];
  CHECK(s0 == 76247);
  CHECK(s1 == 24390);
  auto [mean, stddev] = data::pixel_mean_std(tr);
  CHECK(mean == doctest::Approx(0.2860405969887955).epsilon(1e-12));
  CHECK(stddev == doctest::Approx(0.35302424451492237).epsilon(1e-9));

  // The batch pipeline against torchvision: Compose([Resize(48), Grayscale(3), ToTensor(),
  // Normalize([0.2860]*3, [0.3530]*3)]) on Image.fromarray(train[0]) gives, at channel 1, row 24, cols 20..23,
  //   0.21185357868671417 1.4227628707885742 1.600511074066162 1.700494408607483   (sum over CHW: 1870.5308413064922)
  std::vector<int64_t> idx = {0, 59999};
  auto [images, labels] = train.batch(idx);
  CHECK(images.shape() == Shape{2, 48, 48, 3});
  CHECK(labels.to_vector() == std::vector<double>{9, 5});
  std::vector<double> expect = {0.21185357868671417, 1.4227628707885742, 1.600511074066162, 1.700494408607483};
  for (int64_t x = 0; x < 4; ++x)
    for (int64_t c = 0; c < 3; ++c) CHECK(images.at(0, 24, 20 + x, c) == doctest::Approx(expect[size_t(x)]).epsilon(1e-7));
  double sum = 0;
  for (int64_t p = 0; p < 48 * 48 * 3; ++p) sum += images.flat(p);
  CHECK(sum == doctest::Approx(1870.5308413064922).epsilon(1e-9));

  CHECK_THROWS_WITH_AS(train.batch(std::vector<int64_t>{60000}), doctest::Contains("out of range"), fer::Error);
  train.truncate(100);
  CHECK(train.size() == 100);
  CHECK_THROWS_AS(train.label(100), fer::Error);
}

// Issue 15 (9, found by fuzzing): the header's dims were allocated before any data was read, so a 20-byte file
// declaring 2^39 bytes was a std::bad_alloc (or, with less, gigabytes for nothing). Memory now follows the bytes the
// file really holds: a clean "truncated" error.
TEST_CASE("read_idx: a tiny file declaring a huge payload is a truncation error, not a huge allocation") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string p = write_file("huge_claim.idx", concat(header(0x08, {65536, 65536, 128}), iota_bytes(8)), gz);
    CHECK_THROWS_WITH_AS(io::read_idx(p), doctest::Contains((p + ": file is truncated").c_str()), fer::Error);
  }
  // A payload over several read chunks (16 MiB each) still reads exactly.
  const size_t n = (size_t(1) << 24) + 4099;
  const std::string big = write_file("big.idx", concat(header(0x08, {uint32_t(n)}), iota_bytes(n, 3)), true);
  const Tensor t = io::read_idx(big);
  REQUIRE(t.numel() == int64_t(n));
  CHECK(t.data<uint8_t>()[0] == 3);
  CHECK(t.data<uint8_t>()[n - 1] == uint8_t(3 + (n - 1)));
}
