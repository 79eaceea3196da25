// AutoAugment / RandAugment / TrivialAugmentWide against torchvision 0.14 (tests/data/autoaugment, made by
// tools/make_autoaugment_fixtures.py): the ImageNet policy and the three augmentation spaces (magnitudes bit for bit),
// every operation on uint8 RGB and grayscale images at magnitudes of both signs, with and without fill (bit for bit),
// the distribution of fer's own draws (ops, bins, signs, sub-policies), reproducibility per (seed, epoch, sample),
// and the policy running inside the training preprocessing.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "fixture_json.hpp"
#include "fer/data/augment.hpp"
#include "fer/data/auto_augment.hpp"
#include "fer/data/image_set.hpp"

using namespace fer;
using data::AugOp;

namespace {

const nlohmann::json& fixture() {
  static const nlohmann::json fx = testing::load_json_fixture("autoaugment/ops.json");
  return fx;
}

const std::vector<uint8_t>& outputs() {
  static const std::vector<uint8_t> bytes = [] {
    std::ifstream in(std::string(FER_TEST_DATA) + "/autoaugment/ops.bin", std::ios::binary);
    REQUIRE(in.good());
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }();
  return bytes;
}

AugOp op_named(const std::string& name) {
  for (int k = 0; k <= int(AugOp::Invert); ++k)
    if (name == data::aug_op_name(AugOp(k))) return AugOp(k);
  FAIL("unknown op ", name);
  return AugOp::Identity;
}

io::Image image_named(const std::string& name) {
  const auto& j = fixture()["images"][name];
  io::Image img;
  img.height = j["h"], img.width = j["w"], img.channels = j["c"];
  img.pixels = j["pixels"].get<std::vector<uint8_t>>();
  return img;
}

void check_space(const std::vector<data::AugSpaceEntry>& got, const nlohmann::json& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(want[i]["op"].get<std::string>());
    CHECK(data::aug_op_name(got[i].op) == want[i]["op"].get<std::string>());
    CHECK(got[i].is_signed == want[i]["signed"].get<bool>());
    std::vector<float> mags;
    for (const auto& m : want[i]["magnitudes"]) mags.push_back(float(m.get<double>()));
    CHECK(got[i].magnitudes == mags);  // float32 values exactly
  }
}

// Chi-square statistic of counts against equal expected frequencies.
double chi_square_uniform(const std::vector<int64_t>& counts) {
  double n = 0;
  for (auto c : counts) n += double(c);
  double e = n / double(counts.size()), x2 = 0;
  for (auto c : counts) x2 += (double(c) - e) * (double(c) - e) / e;
  return x2;
}

}  // namespace

TEST_CASE("ImageNet policy and augmentation spaces equal torchvision's tables") {
  const auto& t = fixture()["tables"];
  REQUIRE(fixture()["torchvision"].get<std::string>().rfind("0.14", 0) == 0);
  const auto& policy = data::imagenet_policy();
  REQUIRE(policy.size() == t["imagenet_policy"].size());
  for (size_t s = 0; s < policy.size(); ++s)
    for (size_t k = 0; k < 2; ++k) {
      const auto& w = t["imagenet_policy"][s][k];
      CHECK(data::aug_op_name(policy[s][k].op) == w[0].get<std::string>());
      CHECK(policy[s][k].probability == w[1].get<double>());
      CHECK(policy[s][k].magnitude_bin == (w[2].is_null() ? -1 : w[2].get<int>()));
    }
  for (const auto& sp : t["spaces"]) {
    const int64_t h = sp["h"], w = sp["w"];
    CAPTURE(h);
    CAPTURE(w);
    check_space(data::autoaugment_space(10, h, w), sp["autoaugment"]);
    check_space(data::randaugment_space(31, h, w), sp["randaugment"]);
  }
  check_space(data::trivialaugment_space(31), t["trivialaugment"]);
}

TEST_CASE("every operation equals torchvision's on uint8 images, bit for bit") {
  const auto& bytes = outputs();
  std::map<std::string, int> per_op;
  int64_t cases = 0, differing_pixels = 0;
  for (const auto& c : fixture()["cases"]) {
    const std::string op = c["op"];
    const double magnitude = c["magnitude"];
    io::Image img = image_named(c["image"]);
    std::vector<float> fill;
    if (!c["fill"].is_null())
      for (const auto& v : c["fill"]) fill.push_back(float(v.get<double>()));
    data::apply_aug_op(img, op_named(op), magnitude, fill);
    const size_t off = c["offset"];
    REQUIRE(off + img.pixels.size() <= bytes.size());
    int64_t diff = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) diff += img.pixels[i] != bytes[off + i];
    CAPTURE(op);
    CAPTURE(magnitude);
    CAPTURE(c["image"].get<std::string>());
    CAPTURE(c["fill"].dump());
    CHECK(diff == 0);
    differing_pixels += diff;
    ++per_op[op], ++cases;
  }
  CHECK(cases == 712);
  CHECK(per_op.size() == 15);
  CHECK(differing_pixels == 0);
}

TEST_CASE("the operations change the image (the fixture is not trivially the identity)") {
  // At least the strong magnitudes move pixels: a test that compares identities would pass vacuously.
  io::Image base = image_named("rgb");
  for (auto [op, m] : std::vector<std::pair<AugOp, double>>{{AugOp::ShearX, 0.3}, {AugOp::TranslateY, -4}, {AugOp::Rotate, 30},
                                                            {AugOp::Brightness, 0.9}, {AugOp::Color, -0.9}, {AugOp::Contrast, 0.5},
                                                            {AugOp::Sharpness, 0.9}, {AugOp::Posterize, 4}, {AugOp::Solarize, 128},
                                                            {AugOp::AutoContrast, 0}, {AugOp::Equalize, 0}, {AugOp::Invert, 0}}) {
    // Equalize leaves images under 256 pixels alone (its step, pixels / 255, is 0), as torchvision does.
    io::Image img = op == AugOp::Equalize ? image_named("rgb_square") : base, before = img;
    data::apply_aug_op(img, op, m);
    CAPTURE(std::string(data::aug_op_name(op)));
    CHECK(img.pixels != before.pixels);
  }
  io::Image gray = image_named("gray");
  io::Image same = gray;
  data::apply_aug_op(same, AugOp::Color, 0.9);  // saturation of a 1-channel image is the identity (torchvision, PIL)
  CHECK(same.pixels == gray.pixels);
}

TEST_CASE("torch_linspace_f32 reproduces PyTorch's float32 linspace") {
  // 31 bins of 0..32: PyTorch's values (the vectorized first half differs from start + i * step in places).
  auto t = data::trivialaugment_space(31);
  const auto& want = fixture()["tables"]["trivialaugment"][3];  // TranslateX
  REQUIRE(want["op"] == "TranslateX");
  CHECK(t[3].magnitudes == data::torch_linspace_f32(0.0, 32.0, 31));
  int naive_differs = 0;
  for (int i = 0; i < 31; ++i) naive_differs += float(want["magnitudes"][size_t(i)].get<double>()) != float(i) * (32.f / 30.f);
  CHECK(naive_differs > 0);  // so the emulation is needed
}

TEST_CASE("TrivialAugmentWide draws ops and bins uniformly, signs half and half") {
  Generator g(123);
  const int n = 60000;
  std::vector<int64_t> ops(14, 0), bins(31, 0);
  int64_t signed_draws = 0, negative = 0;
  auto space = data::trivialaugment_space(31);
  for (int i = 0; i < n; ++i) {
    auto plan = data::plan_auto_augment(data::AutoAugmentKind::trivialaugment, 48, 48, g);
    REQUIRE(plan.size() == 1);
    size_t k = 0;
    while (space[k].op != plan[0].op) ++k;
    ++ops[k];
    if (space[k].magnitudes.empty()) {
      REQUIRE(plan[0].magnitude == 0.0);
      continue;
    }
    auto it = std::find(space[k].magnitudes.begin(), space[k].magnitudes.end(), float(std::abs(plan[0].magnitude)));
    REQUIRE(it != space[k].magnitudes.end());
    if (space[k].op == AugOp::Rotate) ++bins[size_t(it - space[k].magnitudes.begin())];  // distinct values per bin
    if (space[k].is_signed) signed_draws += plan[0].magnitude != 0, negative += plan[0].magnitude < 0;
  }
  // Chi-square with 13 and 30 degrees of freedom: 99.9% quantiles 34.5 and 59.7.
  CHECK(chi_square_uniform(ops) < 34.5);
  CHECK(chi_square_uniform(bins) < 59.7);
  CHECK(double(negative) / double(signed_draws) == doctest::Approx(0.5).epsilon(0.03));
}

TEST_CASE("RandAugment: two uniform ops at magnitude bin 9 of 31") {
  Generator g(5);
  auto space = data::randaugment_space(31, 48, 48);
  std::vector<int64_t> ops(space.size(), 0);
  int64_t wrong_magnitude = 0;
  for (int i = 0; i < 30000; ++i) {
    auto plan = data::plan_auto_augment(data::AutoAugmentKind::randaugment, 48, 48, g);
    REQUIRE(plan.size() == 2);
    for (const auto& p : plan) {
      size_t k = 0;
      while (space[k].op != p.op) ++k;
      ++ops[k];
      wrong_magnitude += std::abs(p.magnitude) != (space[k].magnitudes.empty() ? 0.0 : double(space[k].magnitudes[9]));
    }
  }
  CHECK(wrong_magnitude == 0);
  CHECK(ops.size() == 14);
  CHECK(chi_square_uniform(ops) < 34.5);
}

TEST_CASE("AutoAugment applies each op as often as the ImageNet policy's probabilities say") {
  // Expected applications per op name: sum over sub-policies of p / 25 (from the fixture's torchvision table).
  std::map<std::string, double> expected;
  for (const auto& sub : fixture()["tables"]["imagenet_policy"])
    for (const auto& s : sub) expected[s[0].get<std::string>()] += s[1].get<double>() / 25.0;
  Generator g(11);
  const int n = 50000;
  std::map<std::string, int64_t> seen;
  int64_t negative_rotations = 0, rotations = 0;
  for (int i = 0; i < n; ++i)
    for (const auto& p : data::plan_auto_augment(data::AutoAugmentKind::autoaugment, 48, 48, g)) {
      ++seen[data::aug_op_name(p.op)];
      if (p.op == AugOp::Rotate) ++rotations, negative_rotations += p.magnitude < 0;
    }
  for (const auto& [op, e] : expected) {
    CAPTURE(op);
    const double mean = e * n, sd = std::sqrt(mean);  // each op appears at most twice per image: Poisson-like bound
    CHECK(std::abs(double(seen[op]) - mean) < 5 * sd + 1);
  }
  CHECK(seen.size() == expected.size());
  CHECK(double(negative_rotations) / double(rotations) == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("the same (seed, epoch, sample) gives the same augmented image, others differ") {
  io::Image base = image_named("rgb_square");
  for (auto kind : {data::AutoAugmentKind::autoaugment, data::AutoAugmentKind::randaugment, data::AutoAugmentKind::trivialaugment}) {
    CAPTURE(std::string(data::auto_augment_name(kind)));
    int changed = 0, distinct = 0;
    for (uint64_t s = 0; s < 20; ++s) {
      io::Image a = base, b = base, c = base;
      Generator ga(1000 + s), gb(1000 + s), gc(2000 + s);
      data::apply_auto_augment(a, kind, ga);
      data::apply_auto_augment(b, kind, gb);
      data::apply_auto_augment(c, kind, gc);
      CHECK(a.pixels == b.pixels);
      changed += a.pixels != base.pixels;
      distinct += a.pixels != c.pixels;
    }
    CHECK(changed >= 10);
    CHECK(distinct >= 10);
  }
  CHECK(data::parse_auto_augment("randaugment") == data::AutoAugmentKind::randaugment);
  CHECK_THROWS_WITH_AS(data::parse_auto_augment("augmix"), doctest::Contains("not one of autoaugment, randaugment"), Error);
  io::Image rgba;
  rgba.height = rgba.width = 4, rgba.channels = 4;
  rgba.pixels.assign(64, 200);
  Generator g(1);
  data::apply_auto_augment(rgba, data::AutoAugmentKind::trivialaugment, g);
  CHECK(rgba.channels == 3);
  io::Image two = base;
  two.channels = 2;
  two.pixels.resize(size_t(16 * 16 * 2));
  CHECK_THROWS_WITH_AS(data::apply_aug_op(two, AugOp::Invert, 0), doctest::Contains("takes 1 or 3 channels"), Error);
  io::Image gray = image_named("gray");
  CHECK_THROWS_WITH_AS(data::apply_aug_op(gray, AugOp::Rotate, 10, {1, 2, 3}), doctest::Contains("3 fill values for 1 channels"),
                       Error);
}

TEST_CASE("the training preprocessing applies the policy, reproducibly per (seed, epoch, sample)") {
  data::LabeledImages li;
  io::Image img = image_named("rgb_square");
  li.height = img.height, li.width = img.width, li.channels = img.channels;
  for (int i = 0; i < 6; ++i) li.pixels.insert(li.pixels.end(), img.pixels.begin(), img.pixels.end()), li.labels.push_back(i % 2);
  li.class_names = {"a", "b"};
  data::InMemoryImageSet set(li);
  data::Preprocess plain;
  plain.size = 16;
  data::Preprocess pp = plain;
  pp.augment = true;
  pp.aug = data::AugmentOptions::named("trivialaugment", 16);
  CHECK(pp.aug.policy == data::AutoAugmentKind::trivialaugment);
  std::vector<int64_t> idx = {0, 1, 2, 3, 4, 5};
  auto a = data::make_batch(set, idx, pp, 7, 3), b = data::make_batch(set, idx, pp, 7, 3, /*serial=*/true);
  auto other_epoch = data::make_batch(set, idx, pp, 7, 4);
  auto none = data::make_batch(set, idx, plain, 7, 3);
  auto same = [](const Tensor& x, const Tensor& y) {
    return std::equal(x.data<float>(), x.data<float>() + x.numel(), y.data<float>());
  };
  CHECK(same(a.images, b.images));  // any thread split, same batch
  CHECK_FALSE(same(a.images, other_epoch.images));
  CHECK_FALSE(same(a.images, none.images));
  // The named recipes: a policy comes with flip + padded crop (the light recipe); unknown names are refused.
  auto r = data::AugmentOptions::named("autoaugment", 64);
  CHECK(r.policy == data::AutoAugmentKind::autoaugment);
  CHECK(r.hflip);
  CHECK(r.crop_padding == data::AugmentOptions::light(64).crop_padding);
  CHECK(data::AugmentOptions::named("standard", 64).policy == data::AutoAugmentKind::none);
  CHECK_THROWS_WITH_AS(data::AugmentOptions::named("heavy", 64), doctest::Contains("--augment heavy"), Error);
}
