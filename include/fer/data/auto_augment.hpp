#pragma once
// AutoAugment (ImageNet policy), RandAugment (2 ops, magnitude 9 of 31 bins) and TrivialAugmentWide (31 bins) on
// uint8 HWC images with 1 or 3 channels, with torchvision 0.14's policies, magnitudes and operations.
//
// Each operation equals torchvision.transforms.functional on uint8 tensors (nearest interpolation, fill) bit for bit
// (tests/test_auto_augment.cpp against tools/make_autoaugment_fixtures.py): the affine ops rebuild torchvision's
// float32 sampling grid with the same operation order, the colour ops its float32 blend and truncation, Equalize
// its integer histogram arithmetic. (Contrast's mean is exact while the image's channel sum stays below 2^24, i.e.
// up to 65,793 pixels.) The magnitude tables reproduce torch.linspace's float32 values as PyTorch 1.13 computes them
// on an AVX2 CPU (fused multiply-add in its scalar path, 8-wide vectors for the first 16 of 31 bins).
//
// The random choices (which sub-policy/op, probabilities, magnitude bin, sign) come from fer's Generator, not
// torch's: the same (seed, epoch, sample) generator gives the same image; the distribution follows torchvision's.
#include <cstdint>
#include <string>
#include <vector>

#include "fer/core/rng.hpp"
#include "fer/io/image.hpp"

namespace fer::data {

enum class AugOp { Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness,
                   Posterize, Solarize, AutoContrast, Equalize, Invert };

enum class AutoAugmentKind { none, autoaugment, randaugment, trivialaugment };

const char* aug_op_name(AugOp op);
// "autoaugment", "randaugment", "trivialaugment" (or "none"); anything else is an error listing the choices.
AutoAugmentKind parse_auto_augment(const std::string& name);
const char* auto_augment_name(AutoAugmentKind kind);

// torchvision's _apply_op: one operation with a signed magnitude (shear factor, pixels, degrees, factor - 1, bits,
// threshold). `fill` is the value of pixels mapped from outside the image by the geometric ops: empty (0), one value
// for all channels, or one per channel (each in [0, 255]).
void apply_aug_op(io::Image& img, AugOp op, double magnitude, const std::vector<float>& fill = {});

// One entry of an augmentation space: the op, its magnitudes by bin (empty: the op takes none), signed or not.
struct AugSpaceEntry {
  AugOp op;
  std::vector<float> magnitudes;
  bool is_signed;
};
// The spaces in torchvision's order (the op index a policy draws refers to it).
std::vector<AugSpaceEntry> autoaugment_space(int64_t num_bins, int64_t height, int64_t width);
std::vector<AugSpaceEntry> randaugment_space(int64_t num_bins, int64_t height, int64_t width);
std::vector<AugSpaceEntry> trivialaugment_space(int64_t num_bins);

// AutoAugment's ImageNet policy: 25 sub-policies of two (op, probability, magnitude bin or -1).
struct SubPolicyStep {
  AugOp op;
  double probability;
  int magnitude_bin;
};
const std::vector<std::vector<SubPolicyStep>>& imagenet_policy();

// torch.linspace(start, end, steps) in float32 as PyTorch 1.13 computes it on an AVX2 CPU.
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);

struct PlannedOp {
  AugOp op;
  double magnitude;
};

// The ops a policy applies to an image of this size, drawn from `gen` (torchvision's distribution).
std::vector<PlannedOp> plan_auto_augment(AutoAugmentKind kind, int64_t height, int64_t width, Generator& gen);

// Draws a plan and applies it. Images with an alpha channel (2 or 4 channels) lose it first (fer's preprocessing
// ignores alpha), as torchvision's policies take 1 or 3 channels.
void apply_auto_augment(io::Image& img, AutoAugmentKind kind, Generator& gen, const std::vector<float>& fill = {});

}  // namespace fer::data
