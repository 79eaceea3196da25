// AutoAugment / RandAugment / TrivialAugmentWide operations and policies (fer/data/auto_augment.hpp).
// Compiled with -ffp-contract=off (CMakeLists.txt): every float32 product and sum below is rounded on its own, as
// PyTorch's separate tensor ops round them; a fused multiply-add would move grid coordinates and blends by an ulp.
#include "fer/data/auto_augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "fer/core/error.hpp"

namespace fer::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Python's math.radians / math.degrees multiply by these constants.
constexpr double kDegToRad = kPi / 180.0, kRadToDeg = 180.0 / kPi;

uint8_t fill_value(const std::vector<float>& fill, int64_t channel, int64_t channels) {
  if (fill.empty()) return 0;
  FER_CHECK(fill.size() == 1 || int64_t(fill.size()) == channels, "augment: ", fill.size(), " fill values for ", channels,
            " channels");
  float v = fill.size() == 1 ? fill[0] : fill[size_t(channel)];
  FER_CHECK(v >= 0 && v <= 255, "augment: fill value ", v, " is not in [0, 255]");
  return uint8_t(std::nearbyint(v));  // torch.round (half to even) before the cast to uint8
}

// torchvision's _get_inverse_affine_matrix (F.affine/F.rotate for tensors), in double as Python evaluates it.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x, double shear_y) {
  const double rot = angle * kDegToRad, sx = shear_x * kDegToRad, sy = shear_y * kDegToRad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d, -b, 0.0, -c, a, 0.0};  // scale 1
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// _gen_affine_grid + grid_sample(nearest, zeros, align_corners=False) + the fill mask, all in float32.
void warp_nearest(io::Image& img, const std::array<double, 6>& matrix, const std::vector<float>& fill) {
  const int64_t h = img.height, w = img.width, ch = img.channels;
  float t[6];
  for (int i = 0; i < 6; ++i) t[i] = float(matrix[size_t(i)]);
  const float half_w = float(0.5 * double(w)), half_h = float(0.5 * double(h));
  const float r00 = t[0] / half_w, r10 = t[1] / half_w, r20 = t[2] / half_w;
  const float r01 = t[3] / half_h, r11 = t[4] / half_h, r21 = t[5] / half_h;
  const float scale_x = float(w) / 2.f, scale_y = float(h) / 2.f;
  std::vector<uint8_t> fills(static_cast<size_t>(ch));
  for (int64_t k = 0; k < ch; ++k) fills[size_t(k)] = fill_value(fill, k, ch);
  const std::vector<uint8_t> src = img.pixels;
  for (int64_t y = 0; y < h; ++y) {
    // Base grid: pixel centres relative to the image centre (linspace with step 1: exact in float32).
    const float by = float(-double(h) * 0.5 + 0.5) + float(y);
    for (int64_t x = 0; x < w; ++x) {
      const float bx = float(-double(w) * 0.5 + 0.5) + float(x);
      const float gx = (bx * r00 + by * r10) + r20, gy = (bx * r01 + by * r11) + r21;
      const float ix = (gx + 1.f) * scale_x - 0.5f, iy = (gy + 1.f) * scale_y - 0.5f;
      const float rx = std::nearbyint(ix), ry = std::nearbyint(iy);  // round half to even, as _mm256_round_ps
      uint8_t* out = img.pixels.data() + (y * w + x) * ch;
      if (rx >= 0 && rx < float(w) && ry >= 0 && ry < float(h)) {
        const uint8_t* in = src.data() + (int64_t(ry) * w + int64_t(rx)) * ch;
        std::copy(in, in + ch, out);
      } else {
        std::copy(fills.begin(), fills.end(), out);
      }
    }
  }
}

// _blend(img1, img2, ratio): float32 ratio * img1 + (1 - ratio) * img2, clamped to [0, 255], truncated to uint8.
inline uint8_t blend(uint8_t v1, float v2, float ratio, float one_minus) {
  float r = ratio * float(v1) + one_minus * v2;
  return uint8_t(std::clamp(r, 0.f, 255.f));
}

// rgb_to_grayscale on uint8: float32 weighted sum truncated to uint8.
inline uint8_t luma(const uint8_t* px) {
  return uint8_t((0.2989f * float(px[0]) + 0.587f * float(px[1])) + 0.114f * float(px[2]));
}

void blend_with(io::Image& img, const std::vector<float>& other, bool per_pixel_gray, double factor) {
  // Python: ratio = float(factor); the scalars reach the float32 kernel as float(ratio) and float(1.0 - ratio).
  const float ratio = float(factor), one_minus = float(1.0 - factor);
  const int64_t n = img.height * img.width, ch = img.channels;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < ch; ++k) {
      float v2 = per_pixel_gray ? other[size_t(i)] : other[size_t(i * ch + k)];
      img.pixels[size_t(i * ch + k)] = blend(img.pixels[size_t(i * ch + k)], v2, ratio, one_minus);
    }
}

void adjust_brightness(io::Image& img, double factor) {
  blend_with(img, std::vector<float>(size_t(img.height * img.width), 0.f), true, factor);
}

void adjust_saturation(io::Image& img, double factor) {
  if (img.channels == 1) return;  // torchvision: "Match PIL behaviour"
  std::vector<float> gray(size_t(img.height * img.width));
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = float(luma(img.pixels.data() + i * 3));
  blend_with(img, gray, true, factor);
}

void adjust_contrast(io::Image& img, double factor) {
  const int64_t n = img.height * img.width;
  float sum = 0;  // integers below 2^24: exact in any order
  for (int64_t i = 0; i < n; ++i)
    if (img.channels == 3) sum += float(luma(img.pixels.data() + i * 3));
    else sum += float(img.pixels[size_t(i)]);
  const float mean = sum / float(n);
  blend_with(img, std::vector<float>(size_t(n), mean), true, factor);
}

void adjust_sharpness(io::Image& img, double factor) {
  const int64_t h = img.height, w = img.width, ch = img.channels;
  if (h <= 2 || w <= 2) return;
  // The 3x3 smoothing kernel [1 1 1; 1 5 1; 1 1 1] / 13 on the interior, rounded to uint8; the border is kept.
  // A sum S over 13 can never be within float error of a .5 tie (|S/13 - k - 0.5| >= 1/26), so integer arithmetic
  // rounds exactly as PyTorch's float32 convolution followed by torch.round.
  std::vector<float> blurred(img.pixels.begin(), img.pixels.end());
  for (int64_t y = 1; y < h - 1; ++y)
    for (int64_t x = 1; x < w - 1; ++x)
      for (int64_t k = 0; k < ch; ++k) {
        int64_t s = 4 * int64_t(img.at(y, x, k));
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx) s += img.at(y + dy, x + dx, k);
        blurred[size_t((y * w + x) * ch + k)] = float((2 * s + 13) / 26);  // round(s / 13), never a tie
      }
  blend_with(img, blurred, false, factor);
}

void posterize(io::Image& img, int bits) {
  FER_CHECK(bits >= 0 && bits <= 8, "augment: posterize bits ", bits, " not in 0..8");
  const uint8_t mask = uint8_t((0xFF << (8 - bits)) & 0xFF);
  for (uint8_t& v : img.pixels) v &= mask;
}

void solarize(io::Image& img, double threshold) {
  FER_CHECK(threshold <= 255, "augment: solarize threshold ", threshold, " is above 255");
  const float t = float(threshold);  // uint8 >= python float compares in float32
  for (uint8_t& v : img.pixels)
    if (float(v) >= t) v = uint8_t(255 - v);
}

void autocontrast(io::Image& img) {
  const int64_t n = img.height * img.width, ch = img.channels;
  for (int64_t k = 0; k < ch; ++k) {
    uint8_t lo = 255, hi = 0;
    for (int64_t i = 0; i < n; ++i) lo = std::min(lo, img.pixels[size_t(i * ch + k)]), hi = std::max(hi, img.pixels[size_t(i * ch + k)]);
    if (lo == hi) continue;  // scale is inf: torchvision sets min 0, scale 1 (the channel is unchanged)
    const float mn = float(lo), scale = 255.f / (float(hi) - mn);
    for (int64_t i = 0; i < n; ++i) {
      uint8_t& v = img.pixels[size_t(i * ch + k)];
      v = uint8_t(std::clamp((float(v) - mn) * scale, 0.f, 255.f));
    }
  }
}

void equalize(io::Image& img) {
  const int64_t n = img.height * img.width, ch = img.channels;
  for (int64_t k = 0; k < ch; ++k) {
    std::array<int64_t, 256> hist{};
    for (int64_t i = 0; i < n; ++i) ++hist[img.pixels[size_t(i * ch + k)]];
    // step = (sum of the non-zero bins but the last) // 255
    int64_t last = 255;
    while (last > 0 && hist[size_t(last)] == 0) --last;
    int64_t total = 0;
    for (int64_t b = 0; b < last; ++b) total += hist[size_t(b)];
    const int64_t step = total / 255;
    if (step == 0) continue;
    std::array<uint8_t, 256> lut{};
    int64_t cum = 0;
    for (int64_t b = 0; b < 256; ++b) {
      // lut shifted right by one: entry b uses the cumulative count below b.
      lut[size_t(b)] = uint8_t(std::clamp<int64_t>((cum + step / 2) / step, 0, 255));
      cum += hist[size_t(b)];
    }
    for (int64_t i = 0; i < n; ++i) img.pixels[size_t(i * ch + k)] = lut[img.pixels[size_t(i * ch + k)]];
  }
}

std::vector<float> posterize_bins(int64_t num_bins, double divisor) {
  std::vector<float> out;
  const float d = float(double(num_bins - 1) / divisor);
  for (int64_t i = 0; i < num_bins; ++i) out.push_back(float(8 - int(std::nearbyint(float(i) / d))));
  return out;
}

}  // namespace

const char* aug_op_name(AugOp op) {
  static const char* names[] = {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                                "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert"};
  return names[int(op)];
}

AutoAugmentKind parse_auto_augment(const std::string& name) {
  if (name == "none" || name.empty()) return AutoAugmentKind::none;
  if (name == "autoaugment") return AutoAugmentKind::autoaugment;
  if (name == "randaugment") return AutoAugmentKind::randaugment;
  if (name == "trivialaugment") return AutoAugmentKind::trivialaugment;
  fail("augment policy '", name, "' is not one of autoaugment, randaugment, trivialaugment, none");
}

const char* auto_augment_name(AutoAugmentKind kind) {
  switch (kind) {
    case AutoAugmentKind::autoaugment: return "autoaugment";
    case AutoAugmentKind::randaugment: return "randaugment";
    case AutoAugmentKind::trivialaugment: return "trivialaugment";
    default: return "none";
  }
}

void apply_aug_op(io::Image& img, AugOp op, double magnitude, const std::vector<float>& fill) {
  FER_CHECK(img.channels == 1 || img.channels == 3, "augment: ", aug_op_name(op), " takes 1 or 3 channels, the image has ",
            img.channels);
  FER_CHECK(int64_t(img.pixels.size()) == img.height * img.width * img.channels && img.height > 0 && img.width > 0,
            "augment: image buffer of ", img.pixels.size(), " bytes for ", img.height, "x", img.width, "x", img.channels);
  const double cx_corner = -0.5 * double(img.width), cy_corner = -0.5 * double(img.height);  // center=[0, 0]
  switch (op) {
    case AugOp::Identity: return;
    case AugOp::ShearX:
      return warp_nearest(img, inverse_affine(cx_corner, cy_corner, 0.0, 0.0, 0.0, std::atan(magnitude) * kRadToDeg, 0.0), fill);
    case AugOp::ShearY:
      return warp_nearest(img, inverse_affine(cx_corner, cy_corner, 0.0, 0.0, 0.0, 0.0, std::atan(magnitude) * kRadToDeg), fill);
    case AugOp::TranslateX:
      return warp_nearest(img, inverse_affine(0, 0, 0.0, double(int64_t(magnitude)), 0.0, 0.0, 0.0), fill);
    case AugOp::TranslateY:
      return warp_nearest(img, inverse_affine(0, 0, 0.0, 0.0, double(int64_t(magnitude)), 0.0, 0.0), fill);
    case AugOp::Rotate: return warp_nearest(img, inverse_affine(0, 0, -magnitude, 0.0, 0.0, 0.0, 0.0), fill);
    case AugOp::Brightness: return adjust_brightness(img, 1.0 + magnitude);
    case AugOp::Color: return adjust_saturation(img, 1.0 + magnitude);
    case AugOp::Contrast: return adjust_contrast(img, 1.0 + magnitude);
    case AugOp::Sharpness: return adjust_sharpness(img, 1.0 + magnitude);
    case AugOp::Posterize: return posterize(img, int(magnitude));
    case AugOp::Solarize: return solarize(img, magnitude);
    case AugOp::AutoContrast: return autocontrast(img);
    case AugOp::Equalize: return equalize(img);
    case AugOp::Invert:
      for (uint8_t& v : img.pixels) v = uint8_t(255 - v);
      return;
  }
}

std::vector<float> torch_linspace_f32(double start_d, double end_d, int64_t steps) {
  FER_CHECK(steps >= 1, "linspace: steps must be >= 1");
  if (steps == 1) return {float(start_d)};
  const float start = float(start_d), end = float(end_d);
  const float step = (end - start) / float(steps - 1);
  const int64_t halfway = steps / 2;
  // Scalar path (compiled by PyTorch with FMA contraction).
  auto scalar = [&](int64_t i) {
    return i < halfway ? std::fmaf(step, float(i), start) : std::fmaf(-step, float(steps - i - 1), end);
  };
  std::vector<float> out;
  int64_t i = 0;
  // Vectorized path: pairs of 8-wide vectors, each base + k * step (product and sum rounded separately).
  for (; i + 16 <= steps; i += 8) {
    const float base = scalar(i);
    for (int k = 0; k < 8; ++k) out.push_back(base + step * float(k));
  }
  for (; i < steps; ++i) out.push_back(scalar(i));
  return out;
}

namespace {

std::vector<AugSpaceEntry> common_space(int64_t num_bins, double translate_x, double translate_y, double shear, double rotate,
                                        double enhance, double posterize_divisor) {
  return {{AugOp::ShearX, torch_linspace_f32(0.0, shear, num_bins), true},
          {AugOp::ShearY, torch_linspace_f32(0.0, shear, num_bins), true},
          {AugOp::TranslateX, torch_linspace_f32(0.0, translate_x, num_bins), true},
          {AugOp::TranslateY, torch_linspace_f32(0.0, translate_y, num_bins), true},
          {AugOp::Rotate, torch_linspace_f32(0.0, rotate, num_bins), true},
          {AugOp::Brightness, torch_linspace_f32(0.0, enhance, num_bins), true},
          {AugOp::Color, torch_linspace_f32(0.0, enhance, num_bins), true},
          {AugOp::Contrast, torch_linspace_f32(0.0, enhance, num_bins), true},
          {AugOp::Sharpness, torch_linspace_f32(0.0, enhance, num_bins), true},
          {AugOp::Posterize, posterize_bins(num_bins, posterize_divisor), false},
          {AugOp::Solarize, torch_linspace_f32(255.0, 0.0, num_bins), false},
          {AugOp::AutoContrast, {}, false},
          {AugOp::Equalize, {}, false}};
}

}  // namespace

std::vector<AugSpaceEntry> autoaugment_space(int64_t num_bins, int64_t height, int64_t width) {
  auto s = common_space(num_bins, 150.0 / 331.0 * double(width), 150.0 / 331.0 * double(height), 0.3, 30.0, 0.9, 4);
  s.push_back({AugOp::Invert, {}, false});
  return s;
}

std::vector<AugSpaceEntry> randaugment_space(int64_t num_bins, int64_t height, int64_t width) {
  auto s = common_space(num_bins, 150.0 / 331.0 * double(width), 150.0 / 331.0 * double(height), 0.3, 30.0, 0.9, 4);
  s.insert(s.begin(), AugSpaceEntry{AugOp::Identity, {}, false});
  return s;
}

std::vector<AugSpaceEntry> trivialaugment_space(int64_t num_bins) {
  auto s = common_space(num_bins, 32.0, 32.0, 0.99, 135.0, 0.99, 6);
  s.insert(s.begin(), AugSpaceEntry{AugOp::Identity, {}, false});
  return s;
}

const std::vector<std::vector<SubPolicyStep>>& imagenet_policy() {
  using O = AugOp;
  static const std::vector<std::vector<SubPolicyStep>> p = {
      {{O::Posterize, 0.4, 8}, {O::Rotate, 0.6, 9}},     {{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}},
      {{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}},  {{O::Posterize, 0.6, 7}, {O::Posterize, 0.6, 6}},
      {{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}},   {{O::Equalize, 0.4, -1}, {O::Rotate, 0.8, 8}},
      {{O::Solarize, 0.6, 3}, {O::Equalize, 0.6, -1}},   {{O::Posterize, 0.8, 5}, {O::Equalize, 1.0, -1}},
      {{O::Rotate, 0.2, 3}, {O::Solarize, 0.6, 8}},      {{O::Equalize, 0.6, -1}, {O::Posterize, 0.4, 6}},
      {{O::Rotate, 0.8, 8}, {O::Color, 0.4, 0}},         {{O::Rotate, 0.4, 9}, {O::Equalize, 0.6, -1}},
      {{O::Equalize, 0.0, -1}, {O::Equalize, 0.8, -1}},  {{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}},
      {{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}},       {{O::Rotate, 0.8, 8}, {O::Color, 1.0, 2}},
      {{O::Color, 0.8, 8}, {O::Solarize, 0.8, 7}},       {{O::Sharpness, 0.4, 7}, {O::Invert, 0.6, -1}},
      {{O::ShearX, 0.6, 5}, {O::Equalize, 1.0, -1}},     {{O::Color, 0.4, 0}, {O::Equalize, 0.6, -1}},
      {{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}},   {{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}},
      {{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}},    {{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}},
      {{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}},
  };
  return p;
}

std::vector<PlannedOp> plan_auto_augment(AutoAugmentKind kind, int64_t height, int64_t width, Generator& gen) {
  std::vector<PlannedOp> plan;
  auto magnitude_of = [&](const AugSpaceEntry& e, size_t bin) {
    double m = e.magnitudes.empty() ? 0.0 : double(e.magnitudes[bin]);
    if (e.is_signed && gen.below(2) == 1) m = -m;
    return m;
  };
  switch (kind) {
    case AutoAugmentKind::none: break;
    case AutoAugmentKind::autoaugment: {
      // One of 25 sub-policies; each step applied with its probability, signed magnitudes negated half the time.
      const auto space = autoaugment_space(10, height, width);
      const auto& sub = imagenet_policy()[size_t(gen.below(imagenet_policy().size()))];
      for (const SubPolicyStep& s : sub) {
        const double u = gen.uniform();
        const auto& e = *std::find_if(space.begin(), space.end(), [&](const AugSpaceEntry& x) { return x.op == s.op; });
        const bool sign_negative = gen.below(2) == 1;  // drawn for every step, as torchvision draws both signs up front
        if (u > s.probability) continue;
        double m = s.magnitude_bin < 0 || e.magnitudes.empty() ? 0.0 : double(e.magnitudes[size_t(s.magnitude_bin)]);
        if (e.is_signed && sign_negative) m = -m;
        plan.push_back({s.op, m});
      }
      break;
    }
    case AutoAugmentKind::randaugment: {
      // num_ops = 2 draws of a uniform op at magnitude bin 9 of 31.
      const auto space = randaugment_space(31, height, width);
      for (int k = 0; k < 2; ++k) {
        const auto& e = space[size_t(gen.below(space.size()))];
        plan.push_back({e.op, magnitude_of(e, 9)});
      }
      break;
    }
    case AutoAugmentKind::trivialaugment: {
      // One uniform op at a uniform magnitude bin of 31.
      static const auto space = trivialaugment_space(31);
      const auto& e = space[size_t(gen.below(space.size()))];
      const size_t bin = e.magnitudes.empty() ? 0 : size_t(gen.below(e.magnitudes.size()));
      plan.push_back({e.op, magnitude_of(e, bin)});
      break;
    }
  }
  return plan;
}

void apply_auto_augment(io::Image& img, AutoAugmentKind kind, Generator& gen, const std::vector<float>& fill) {
  if (kind == AutoAugmentKind::none) return;
  if (img.channels == 2 || img.channels == 4) {  // drop alpha
    const int64_t keep = img.channels - 1, n = img.height * img.width;
    std::vector<uint8_t> px(size_t(n * keep));
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(img.pixels.data() + i * img.channels, keep, px.data() + i * keep);
    img.pixels = std::move(px);
    img.channels = keep;
  }
  for (const PlannedOp& op : plan_auto_augment(kind, img.height, img.width, gen)) apply_aug_op(img, op.op, op.magnitude, fill);
}

}  // namespace fer::data
