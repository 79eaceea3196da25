// safetensors reading/writing and atomic file replacement: a torch-written file read value by value, the real
// StyleGAN2 fixture checked name by name against keys.txt, our writer's bytes checked and re-read, and every kind
// of malformed file rejected with a clear error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fer/fer.hpp"
#include "fer/io/safetensors.hpp"

using namespace fer;
using namespace fer::io;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed afterwards.
struct SafetensorsTempDir {
  fs::path path;
  SafetensorsTempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("fer_test_safetensors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~SafetensorsTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  size_t count() const { return size_t(std::distance(fs::directory_iterator(path), fs::directory_iterator())); }
};

std::string read_safetensors_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
std::string u64_le(uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}
// A file: header length (the true one unless overridden), header text, `data_bytes` zero bytes of data.
std::string st_bytes(const std::string& header, size_t data_bytes, int64_t length_override = -1) {
  uint64_t n = length_override >= 0 ? uint64_t(length_override) : header.size();
  return u64_le(n) + header + std::string(data_bytes, '\0');
}
// The message of the error opening `path` raises ("" when it opens).
std::string open_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const fer::Error& e) {
    return e.what();
  }
  return "";
}

const std::string kTorchFile = std::string(FER_TEST_DATA) + "/safetensors/torch_written.safetensors";

}  // namespace

TEST_CASE("reads a file written by an independent (torch + json/struct) writer, value by value") {
  // Values from tools/make_safetensors_fixtures.py (torch's own f16/bf16 rounding, printed by the script).
  SafetensorsFile f(kTorchFile);
  std::vector<std::string> expect_order = {"weights.f32", "conv.weight", "half.f16",  "brain.bf16", "double.f64",
                                           "count.i64",   "labels.i32",  "pixels.u8", "scalar.f32", "empty.f32"};
  // Data-offset order; the two zero-byte-adjacent entries (scalar at the end, empty after it) keep file order.
  CHECK(f.names() == expect_order);
  CHECK(f.metadata() == Metadata{{"format", "pt"}, {"writer", "tools/make_safetensors_fixtures.py"}});

  Tensor w = f.load("weights.f32");
  CHECK(w.dtype() == DType::f32);
  CHECK(w.shape() == Shape{2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) CHECK(w.flat(i) == 0.25 * double(i) - 3.0);

  Tensor h = f.load("half.f16");
  CHECK(h.dtype() == DType::f16);
  std::vector<double> half = {0.0999755859375, -2.5, 65504.0, 6.103515625e-05, 1.1920928955078125e-07, 3.140625};
  CHECK(h.to_vector() == half);  // exact: these are the f16 values torch stored

  Tensor b = f.load("brain.bf16");
  CHECK(b.shape() == Shape{2, 3});
  std::vector<double> bf = {0.10009765625, -2.5, 3.00405527047391e+38, 9.98402083170343e-31, 7.0, -0.0};
  for (int i = 0; i < 6; ++i) CHECK(b.flat(i) == doctest::Approx(bf[size_t(i)]).epsilon(1e-14));
  CHECK(std::signbit(b.flat(5)));

  Tensor d = f.load("double.f64");
  CHECK(d.data<double>()[0] == 1.0 / 3.0);
  CHECK(d.data<double>()[1] == -1e300);

  Tensor c = f.load("count.i64");
  CHECK(c.data<int64_t>()[0] == -(int64_t(1) << 62));
  CHECK(c.data<int64_t>()[3] == (int64_t(1) << 40) + 7);
  Tensor l = f.load("labels.i32");
  CHECK(l.data<int32_t>()[2] == 2147483647);
  CHECK(l.data<int32_t>()[3] == -2147483647 - 1);
  Tensor p = f.load("pixels.u8");
  CHECK(p.to_vector() == std::vector<double>{0, 1, 127, 128, 255});

  Tensor s = f.load("scalar.f32");
  CHECK(s.dim() == 0);
  CHECK(s.item() == 2.75);
  Tensor e = f.load("empty.f32");
  CHECK(e.shape() == Shape{0, 3});
  CHECK(e.numel() == 0);

  CHECK(f.entry("conv.weight").begin == 96);
  CHECK(f.entry("conv.weight").end == 192);
  CHECK_THROWS_WITH_AS(f.load("nope"), doctest::Contains("no tensor named \"nope\""), fer::Error);
}

TEST_CASE("borrowed tensors view the mapping, outlive the file object, and never write to the file") {
  SafetensorsTempDir dir;
  std::string path = dir.file("copy.safetensors");
  fs::copy_file(kTorchFile, path);
  const std::string original = read_safetensors_bytes(path);
  Tensor w1, w2, s1, s2;
  {
    SafetensorsFile f(path);
    w1 = f.borrow("weights.f32");
    w2 = f.borrow("weights.f32");
    // scalar.f32 starts at byte 293 of the buffer: misaligned for f32, so it is copied instead.
    s1 = f.borrow("scalar.f32");
    s2 = f.borrow("scalar.f32");
  }
  CHECK(w1.raw_data() == w2.raw_data());  // both point into the one mapping
  CHECK(s1.raw_data() != s2.raw_data());  // two copies
  CHECK(s1.item() == 2.75);
  CHECK(w1.flat(5) == -1.75);             // still readable after the SafetensorsFile is gone
  w1.fill_(42.0);                          // private copy-on-write mapping: allowed, and invisible to the file
  CHECK(w2.flat(0) == 42.0);
  CHECK(read_safetensors_bytes(path) == original);
  CHECK(SafetensorsFile(path).load("weights.f32").flat(0) == -3.0);

  auto all = SafetensorsFile(path).borrow_all();
  CHECK(all.size() == 10);
  CHECK(all[0].first == "weights.f32");
}

TEST_CASE("the real StyleGAN2 fixture: every name and shape of keys.txt, and its metadata") {
  // The shared fixtures sit beside the checkout (../shared); from a worktree under wt/ one level further up.
  std::string shared;
  for (const char* rel : {"/../shared", "/../../shared", "/shared"}) {
    std::string dir = std::string(FER_SOURCE_DIR) + rel + "/fixtures/stylegan2";
    if (fs::exists(dir + "/keys.txt")) {
      shared = dir;
      break;
    }
  }
  if (shared.empty()) {
    MESSAGE("skipped: no shared/fixtures/stylegan2 next to ", FER_SOURCE_DIR);
    return;
  }
  // keys.txt lines: "name [d0, d1, ...]"
  std::vector<std::pair<std::string, Shape>> keys;
  std::ifstream in(shared + "/keys.txt");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    REQUIRE(sp != std::string::npos);
    Shape shape;
    std::string dims = line.substr(sp + 1);
    for (char& ch : dims)
      if (ch == '[' || ch == ']' || ch == ',') ch = ' ';
    std::istringstream ds(dims);
    for (int64_t v; ds >> v;) shape.push_back(v);
    keys.emplace_back(line.substr(0, sp), shape);
  }
  REQUIRE(keys.size() == 77);

  SafetensorsFile f(shared + "/G_small.safetensors");
  CHECK(f.size() == keys.size());
  int64_t total_bytes = 0;
  for (const auto& [name, shape] : keys) {
    CAPTURE(name);
    REQUIRE(f.contains(name));
    CHECK(f.entry(name).shape == shape);
    CHECK(f.entry(name).dtype == DType::f32);
    total_bytes += shape.numel() * 4;
  }
  CHECK(uint64_t(total_bytes) == f.entries().back().end);
  REQUIRE(f.metadata().count("config"));
  CHECK(f.metadata().at("config").find("'z_dim': 64") != std::string::npos);
  Tensor strength = f.borrow("synthesis.b16.conv0.noise_strength");
  CHECK(strength.dim() == 0);
  CHECK(std::isfinite(strength.item()));
  CHECK(strength.item() != 0.0);  // the fixture sets noise_strength non-zero

  SafetensorsFile io(shared + "/G_small.io.safetensors");
  CHECK(io.entry("z").shape == Shape{4, 64});
  // c is one-hot with classes 0, 3, 5, 6.
  Tensor c = io.load("c");
  REQUIRE(c.shape() == Shape{4, 7});
  int classes[] = {0, 3, 5, 6};
  for (int n = 0; n < 4; ++n)
    for (int k = 0; k < 7; ++k) CHECK(c.at(n, k) == (k == classes[n] ? 1.0 : 0.0));
}

TEST_CASE("writer: round trip of every dtype, metadata, key orders, non-contiguous input") {
  SafetensorsTempDir dir;
  Generator gen(3);
  Tensor a = Tensor::randn({3, 5}, DType::f32, gen);
  Tensor b = Tensor::randn({7}, DType::f64, gen);
  Tensor h = Tensor::randn({2, 3}, DType::f32, gen).to(DType::f16);
  Tensor bf = Tensor::randn({5}, DType::f32, gen).to(DType::bf16);
  Tensor i64 = Tensor::from_vector<int64_t>({-5, int64_t(1) << 50, 3}, {3});
  Tensor i32 = Tensor::from_vector<int32_t>({1, -2}, {2, 1});
  Tensor u8 = Tensor::from_vector<uint8_t>({9, 200, 0}, {3});
  Tensor scalar = Tensor::full(Shape{}, 1.5);
  Tensor empty = Tensor::empty({0});
  // A transposed (non-contiguous) view of a [2, 3] tensor.
  Tensor base = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto impl = std::make_shared<TensorImpl>(*base.impl());
  impl->shape = Shape{3, 2};
  impl->strides = Shape{1, 3};
  Tensor transposed(impl);
  REQUIRE_FALSE(transposed.is_contiguous());

  NamedTensors in = {{"z.a", a},     {"b", b},       {"h", h},       {"bf", bf},         {"i64", i64},
                     {"i32", i32},   {"u8", u8},     {"s", scalar},  {"empty", empty},   {"t", transposed}};
  Metadata meta = {{"epoch", "3"}, {"note", "quote \" and \\ and ünïcode"}};
  for (KeyOrder order : {KeyOrder::sorted, KeyOrder::insertion}) {
    std::string path = dir.file(order == KeyOrder::sorted ? "sorted.safetensors" : "insertion.safetensors");
    save_safetensors(path, in, meta, order);
    SafetensorsFile f(path);
    CHECK(f.metadata() == meta);
    std::vector<std::string> names;
    for (auto& [n, t] : in) names.push_back(n);
    if (order == KeyOrder::sorted) std::sort(names.begin(), names.end());
    // With zero-sized tensors sharing an offset the data order is ambiguous only for them; compare as sets there.
    std::vector<std::string> got = f.names();
    CHECK(std::is_permutation(got.begin(), got.end(), names.begin(), names.end()));
    for (auto& [n, t] : in) {
      CAPTURE(n);
      Tensor r = f.load(n);
      CHECK(r.dtype() == t.dtype());
      CHECK(r.shape() == t.shape());
      CHECK(r.to_vector() == t.to_vector());
    }
    CHECK(f.load("i64").data<int64_t>()[1] == int64_t(1) << 50);

    // Byte layout: header length a multiple of 8, padded with spaces, a JSON object whose offsets follow the order.
    std::string bytes = read_safetensors_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    std::string text = bytes.substr(8, n);
    auto j = nlohmann::ordered_json::parse(text);
    REQUIRE(j.is_object());
    CHECK(j.begin().key() == "__metadata__");
    std::string trimmed = j.dump();
    CHECK(text.size() - trimmed.size() < 8);
    CHECK(text.substr(trimmed.size()).find_first_not_of(' ') == std::string::npos);
    uint64_t expect_begin = 0;
    std::vector<std::string> header_order;
    for (auto& [key, v] : j.items()) {
      if (key == "__metadata__") continue;
      header_order.push_back(key);
      CHECK(v["data_offsets"][0].get<uint64_t>() == expect_begin);
      expect_begin = v["data_offsets"][1].get<uint64_t>();
    }
    CHECK(header_order == names);
    CHECK(bytes.size() == 8 + n + expect_begin);
    // The data of "a" sits at its offset, bit for bit.
    uint64_t a_begin = j["z.a"]["data_offsets"][0].get<uint64_t>();
    CHECK(std::memcmp(bytes.data() + 8 + n + a_begin, a.raw_data(), a.nbytes()) == 0);
  }
  CHECK(dir.count() == 2);  // no temporary files left behind

  // In-memory writer: same bytes as the file.
  std::ostringstream mem;
  write_safetensors(mem, in, meta, KeyOrder::sorted);
  CHECK(mem.str() == read_safetensors_bytes(dir.file("sorted.safetensors")));

  // Empty file (no tensors, no metadata) is valid: "{}" padded to 8.
  save_safetensors(dir.file("none.safetensors"), {});
  CHECK(read_safetensors_bytes(dir.file("none.safetensors")) == u64_le(8) + "{}      ");
  CHECK(SafetensorsFile(dir.file("none.safetensors")).size() == 0);

  CHECK_THROWS_WITH_AS(save_safetensors(dir.file("dup.safetensors"), {{"x", a}, {"x", b}}),
                       doctest::Contains("duplicate tensor name \"x\""), fer::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(dir.file("meta.safetensors"), {{"__metadata__", a}}),
                       doctest::Contains("reserved"), fer::Error);
  CHECK_FALSE(fs::exists(dir.file("dup.safetensors")));
  CHECK(dir.count() == 3);
}

TEST_CASE("atomic writes: the old file survives any failure, and no temporary file is left") {
  SafetensorsTempDir dir;
  std::string path = dir.file("result.json");
  write_file_atomically(path, std::string_view("old content"));
  CHECK(read_safetensors_bytes(path) == "old content");

  // The producer throws halfway: the old file is untouched and the temporary is gone.
  CHECK_THROWS_WITH_AS(write_file_atomically(path,
                                             [](std::ostream& out) {
                                               out << "new partial content";
                                               fail("producer gave up");
                                             }),
                       "producer gave up", fer::Error);
  CHECK(read_safetensors_bytes(path) == "old content");
  CHECK(dir.count() == 1);

  // A failing save of tensors over an existing weights file (duplicate names) leaves it as it was.
  std::string weights = dir.file("w.safetensors");
  save_safetensors(weights, {{"x", Tensor::ones({2})}});
  std::string before = read_safetensors_bytes(weights);
  CHECK_THROWS_AS(save_safetensors(weights, {{"y", Tensor::ones({3})}, {"y", Tensor::ones({3})}}), fer::Error);
  CHECK(read_safetensors_bytes(weights) == before);
  CHECK(dir.count() == 2);

  // Success replaces the content; the stream API handles large blocks (bypassing the buffer) and small writes.
  std::string big(300000, 'x');
  write_file_atomically(path, [&](std::ostream& out) { out << "head:" << big << ":tail"; });
  CHECK(read_safetensors_bytes(path) == "head:" + big + ":tail");

  // The class API: a writer destroyed without commit leaves nothing.
  {
    AtomicFileWriter w(dir.file("never.txt"));
    w.write("abc");
    CHECK(fs::exists(w.temporary_path()));
  }
  CHECK_FALSE(fs::exists(dir.file("never.txt")));
  CHECK(dir.count() == 2);

  // The destination is a directory: the rename fails, is reported, and the temporary is removed.
  fs::create_directories(dir.path / "adir" / "inner");
  auto write_x = [](std::ostream& out) { out << 'x'; };
  CHECK_THROWS_WITH_AS(write_file_atomically(dir.file("adir"), write_x),
                       doctest::Contains("rename"), fer::Error);
  CHECK(dir.count() == 3);

  // The whole-buffer overload (atomic_file.hpp) and the streaming one coexist without ambiguity.
  write_file_atomically(dir.file("both.txt").c_str(), "literal");
  write_file_atomically(fs::path(dir.file("both.txt")), [](std::ostream& out) { out << "streamed"; });
  CHECK(read_safetensors_bytes(dir.file("both.txt")) == "streamed");
  CHECK(dir.count() == 4);

  // A directory that does not exist: a clear error naming the path.
  std::string missing_dir = dir.file("no/such/dir/file.txt");
  CHECK_THROWS_WITH_AS(write_file_atomically(missing_dir, write_x),
                       doctest::Contains(missing_dir.c_str()), fer::Error);
}

TEST_CASE("malformed files: each is a clear fer::Error naming the file and the problem") {
  SafetensorsTempDir dir;
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    const char* label;
    std::string bytes;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"too short", "abc", "shorter than the 8-byte header length"},
      {"empty", "", "0 bytes"},
      {"header length beyond the file", st_bytes("{}", 0, 1000), "header length 1000 exceeds"},
      {"header length huge", st_bytes("{}", 0, int64_t(1) << 62), "exceeds"},
      {"header length 2^64-1", u64_le(~uint64_t(0)) + "{}", "exceeds"},
      {"invalid JSON", st_bytes(R"({"a": {"dtype": )", 0), "not valid JSON"},
      {"NUL padding", st_bytes(std::string("{}") + std::string(6, '\0'), 0), "NUL byte at offset 10"},
      {"text after a NUL", st_bytes(std::string("{}") + '\0' + "garbage", 0), "NUL byte"},
      {"header not an object", st_bytes("[1, 2]", 0), "must be a JSON object, got a array"},
      {"entry not an object", st_bytes(R"({"a": 3})", 0), "tensor \"a\": entry must be a JSON object"},
      {"missing dtype", st_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "missing field \"dtype\""},
      {"missing shape", st_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "missing field \"shape\""},
      {"missing offsets", st_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "missing field \"data_offsets\""},
      {"dtype not a string", st_bytes(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8),
       "\"dtype\" must be a string"},
      {"unknown dtype", st_bytes(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8),
       "unknown dtype \"F33\""},
      {"unsupported dtype", st_bytes(R"({"a":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}})", 8),
       "unsupported dtype \"BOOL\""},
      {"shape not an array", st_bytes(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
       "\"shape\" must be an array"},
      {"negative dimension", st_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
       "must be non-negative, got -2"},
      {"fractional dimension", st_bytes(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", 8),
       "must be an integer"},
      {"dimension beyond 64 bits", st_bytes(R"({"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,8]}})", 8),
       "too large for 64 bits"},
      {"dimension beyond int64", st_bytes(R"({"a":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8),
       "is too large"},
      {"element count overflows", st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "too many elements"},
      // Found by fuzzing (issue 15): a zero dim hid the overflow of the others (and of the strides made from them).
      {"zero dim, then dims whose product overflows",
       st_bytes(R"({"a":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})", 0),
       "too many elements"},
      // A value nested 100000 deep (200 KB): quoting it in the message overflowed the stack (nlohmann's dump recurses).
      {"deeply nested shape value",
       st_bytes(R"({"a":{"dtype":"F32","shape":[)" + std::string(100000, '[') + std::string(100000, ']') +
                    R"(],"data_offsets":[0,8]}})", 8),
       "a shape dimension must be an integer, got [[[[...]]]]"},
      {"byte count overflows", st_bytes(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8),
       "too many elements"},
      {"too many dims", st_bytes(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1),
       "9 dims"},
      {"length does not match shape", st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "holds 8 bytes but shape [3] of F32 needs 12"},
      {"offsets not a pair", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
       "\"data_offsets\" must be [begin, end]"},
      {"negative offset", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
       "data_offsets[0] must be non-negative"},
      {"end before begin", st_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "end before they begin"},
      {"offsets beyond the buffer", st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       "lie outside the 8-byte data buffer"},
      {"overlap", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "tensor \"b\" (bytes [4, 12)) overlaps tensor \"a\""},
      {"same bytes twice", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "overlaps"},
      {"gap", st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
       "gap of 4 unused bytes before tensor \"b\""},
      {"not starting at 0", st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
       "gap of 4 unused bytes"},
      {"trailing bytes", st_bytes("{\"a\":" + ok_entry + "}", 12), "4 trailing bytes"},
      {"duplicate names", st_bytes("{\"a\":" + ok_entry + ",\"a\":" + ok_entry + "}", 8), "duplicate key \"a\""},
      {"duplicate field", st_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8),
       "duplicate key \"dtype\""},
      {"metadata not an object", st_bytes(R"({"__metadata__":[1]})", 0), "\"__metadata__\" must be an object"},
      {"metadata value not a string", st_bytes(R"({"__metadata__":{"epoch":3}})", 0),
       "metadata \"epoch\" must be a string"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    CAPTURE(c.label);
    std::string path = dir.file("bad" + std::to_string(i) + ".safetensors");
    write_bytes(path, c.bytes);
    std::string err = open_error(path);
    CAPTURE(err);
    CHECK(err.find(c.expect) != std::string::npos);
    CHECK(err.find(path) != std::string::npos);
  }

  // A missing file, and a directory.
  std::string missing = dir.file("missing.safetensors");
  CHECK(open_error(missing).find("cannot open '" + missing + "'") != std::string::npos);
  CHECK(open_error(dir.path.string()).find("not a regular file") != std::string::npos);

  // Control: the minimal valid files open (so the cases above fail for the stated reason only).
  write_bytes(dir.file("good.safetensors"), st_bytes("{\"a\":" + ok_entry + "}", 8));
  CHECK(open_error(dir.file("good.safetensors")) == "");
  write_bytes(dir.file("zero_sized.safetensors"),
              st_bytes(R"({"e":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},"f":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})", 1));
  CHECK(open_error(dir.file("zero_sized.safetensors")) == "");
  // Extra fields in an entry are ignored (forward compatibility).
  write_bytes(dir.file("extra.safetensors"),
              st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true}})", 1));
  CHECK(open_error(dir.file("extra.safetensors")) == "");
}

TEST_CASE("corrupted copies of a valid file (truncations, byte changes) open cleanly or fail with fer::Error") {
  // Run under -DFER_SANITIZE=address,undefined this also shows that no corruption makes the reader touch bytes
  // outside the file.
  SafetensorsTempDir dir;
  const std::string good = read_safetensors_bytes(kTorchFile);
  Generator gen(99);
  int opened = 0, rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = good;
    switch (trial % 4) {
      case 0: bytes.resize(size_t(gen.below(good.size()))); break;     // truncated anywhere
      case 1: bytes[size_t(gen.below(8))] = char(gen.below(256)); break;  // header length damaged
      case 2: {                                                         // header text damaged
        uint64_t n = 0;
        std::memcpy(&n, good.data(), 8);
        bytes[size_t(8 + gen.below(n))] = "0123456789-,:[]{}\" e.ZF"[gen.below(23)];
        break;
      }
      default: bytes[size_t(gen.below(good.size()))] ^= char(1 + gen.below(255));  // any byte
    }
    std::string path = dir.file("c" + std::to_string(trial));
    write_bytes(path, bytes);
    try {
      SafetensorsFile f(path);
      for (const auto& e : f.entries()) f.load(e.name).to_vector();  // every byte of every tensor readable
      ++opened;
    } catch (const fer::Error& e) {
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      ++rejected;
    }
  }
  CHECK(opened + rejected == 400);
  CHECK(rejected >= 100);  // every truncation at least
  MESSAGE("corruptions: ", opened, " still valid, ", rejected, " rejected");
}
