// Bilinear resize against PIL (u8 and float 'F' images) and torch.nn.functional.interpolate (f64), using the
// fixtures written by tools/make_resize_fixtures.py (see there for the input formula and the references).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "fer/data/resize.hpp"

using namespace fer;

namespace {

std::string data_path(const std::string& name) { return std::string(FER_TEST_DATA) + "/resize/" + name; }

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open ", path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The fixture input: u8 value of flat index i, as in tools/make_resize_fixtures.py.
uint8_t input_value(int64_t i) { return uint8_t(((uint64_t(i) * 2654435761ull + 12345ull) % (1ull << 32)) >> 24); }

Tensor make_input(int64_t h, int64_t w, int64_t c, DType dtype) {
  Tensor t = Tensor::empty({h, w, c}, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint8_t v = input_value(i);
    if (dtype == DType::u8) t.set_flat(i, v);
    else if (dtype == DType::f32) t.set_flat(i, double(float(v) / 255.0f));  // as numpy: f32 / f32
    else t.set_flat(i, v / 255.0);
  }
  return t;
}

template <class T>
std::vector<double> as_doubles(const std::vector<char>& bytes) {
  std::vector<double> v(bytes.size() / sizeof(T));
  for (size_t i = 0; i < v.size(); ++i) {
    T x;
    std::memcpy(&x, bytes.data() + i * sizeof(T), sizeof(T));
    v[i] = double(x);
  }
  return v;
}

}  // namespace

TEST_CASE("resize_bilinear matches PIL and torch interpolate on the fixtures") {
  std::ifstream f(data_path("cases.json"));
  REQUIRE(f.good());
  nlohmann::json cases = nlohmann::json::parse(f);
  REQUIRE(cases.size() == 10);
  for (const auto& c : cases) {
    std::string name = c["name"], dtype_s = c["dtype"];
    CAPTURE(name);
    DType dtype = dtype_s == "u8" ? DType::u8 : dtype_s == "f32" ? DType::f32 : DType::f64;
    Tensor x = make_input(c["h"], c["w"], c["c"], dtype);
    Tensor y = data::resize_bilinear(x, c["out_h"], c["out_w"], c["antialias"].get<bool>());
    REQUIRE(y.shape() == Shape{c["out_h"].get<int64_t>(), c["out_w"].get<int64_t>(), c["c"].get<int64_t>()});
    REQUIRE(y.dtype() == dtype);
    std::vector<char> bytes = read_bytes(data_path(name + ".bin"));
    std::vector<double> expect = dtype == DType::u8    ? as_doubles<uint8_t>(bytes)
                                 : dtype == DType::f32 ? as_doubles<float>(bytes)
                                                       : as_doubles<double>(bytes);
    REQUIRE(int64_t(expect.size()) == y.numel());
    // Tolerances: u8 at most 1 level per pixel (in practice PIL's fixed-point arithmetic is reproduced exactly,
    // checked by the zero-mismatch count below); f32 vs PIL 'F' 1e-6 (float storage of the intermediate);
    // f64 vs torch 1e-12.
    double tol = dtype == DType::u8 ? 1.0 : dtype == DType::f32 ? 1e-6 : 1e-12;
    double worst = 0;
    int64_t mismatches = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      double d = std::abs(y.flat(i) - expect[size_t(i)]);
      worst = std::max(worst, d);
      mismatches += d != 0.0;
    }
    CAPTURE(worst);
    CHECK(worst <= tol);
    if (dtype == DType::u8) CHECK(mismatches == 0);
  }
}

TEST_CASE("resize_bilinear: batched input equals per-image resizing; identity size copies") {
  Tensor batch = Tensor::empty({3, 28, 28, 1}, DType::u8);
  for (int64_t i = 0; i < batch.numel(); ++i) batch.set_flat(i, input_value(i * 7 + 1));
  Tensor y = data::resize_bilinear(batch, 48, 48);
  REQUIRE(y.shape() == Shape{3, 48, 48, 1});
  for (int64_t n = 0; n < 3; ++n) {
    Tensor one = Tensor::empty({28, 28, 1}, DType::u8);
    for (int64_t i = 0; i < one.numel(); ++i) one.set_flat(i, batch.flat(n * 784 + i));
    Tensor ref = data::resize_bilinear(one, 48, 48);
    for (int64_t i = 0; i < ref.numel(); ++i) REQUIRE(y.flat(n * 2304 + i) == ref.flat(i));
  }
  Tensor same = data::resize_bilinear(batch, 28, 28);
  for (int64_t i = 0; i < batch.numel(); ++i) REQUIRE(same.flat(i) == batch.flat(i));
}

TEST_CASE("resize_bilinear: constant images stay constant, shrinking averages") {
  Tensor c = Tensor::full({17, 23, 3}, 0.625, DType::f64);
  Tensor y = data::resize_bilinear(c, 5, 40);
  for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.flat(i) == doctest::Approx(0.625).epsilon(1e-14));
  // A 2x shrink of a 2x2 checker gives the mean in every pixel: the antialiased triangle covers 4 taps with
  // weights 1/8, 3/8, 3/8, 1/8 per axis, and alternating values average to 0.5.
  Tensor checker = Tensor::empty({8, 8, 1}, DType::f64);
  for (int64_t yy = 0; yy < 8; ++yy)
    for (int64_t xx = 0; xx < 8; ++xx) checker.set_flat(yy * 8 + xx, double((yy + xx) % 2));
  Tensor half = data::resize_bilinear(checker, 4, 4);
  CHECK(half.flat(5) == doctest::Approx(0.5).epsilon(1e-14));  // interior pixel (1, 1)
  // Without antialias, a 2x shrink samples halfway between two pixels: also 0.5 here, but only 2 taps.
  Tensor plain = data::resize_bilinear(checker, 4, 4, false);
  CHECK(plain.flat(5) == doctest::Approx(0.5).epsilon(1e-14));
}

TEST_CASE("resize_bilinear: bad inputs are rejected with clear errors") {
  CHECK_THROWS_WITH_AS(data::resize_bilinear(Tensor::zeros({4, 4}), 2, 2), doctest::Contains("[H, W, C]"), fer::Error);
  CHECK_THROWS_WITH_AS(data::resize_bilinear(Tensor::zeros({4, 4, 1}), 0, 2), doctest::Contains("positive"), fer::Error);
  CHECK_THROWS_WITH_AS(data::resize_bilinear(Tensor::zeros({4, 4, 1}, DType::i32), 2, 2),
                       doctest::Contains("not supported"), fer::Error);
}
