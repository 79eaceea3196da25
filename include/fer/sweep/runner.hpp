#pragma once
// One (model, real ratio, seed) run of the study: the real/synthetic mix (manifest written), the model from the
// registry, training with validation, test metrics of the best checkpoint, all in the run's directory. A run
// directory holding a checkpoint from an interrupted attempt is resumed from it.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/data/image_set.hpp"
#include "fer/data/mixing.hpp"
#include "fer/sweep/plan.hpp"
#include "fer/train/trainer.hpp"
#include "models/registry.hpp"

namespace fer::sweep {

struct StudyData {
  std::shared_ptr<data::ImageSet> real_train, val, test;
  std::shared_ptr<data::ImageSet> synthetic;  // may be empty (then only r = 1 runs are possible)
  std::string description;
};

struct RunSettings {
  train::TrainConfig train;          // out/seed/resume are set per run
  int64_t input_size = 64;
  bool augment = true;
  bool light_augment = false;  // flip + padded crop only
  data::AutoAugmentKind auto_augment = data::AutoAugmentKind::none;  // a torchvision policy + the light recipe
  bool imagenet_norm = false;
  data::MixOptions::Mode mix_mode = data::MixOptions::Mode::fixed_total;
  double synthetic_multiple = 1.0;
  bool allow_repeats = true;
  int64_t hidden_head = 0;  // > 0: the reference's transfer head (classifier -> hidden, ReLU, Dropout, Linear)
  std::string pretrained;  // a safetensors state dict (torchvision/timm names) loaded before training; a head of
                           // another size (1000 ImageNet classes) is skipped, re-initialized, and reported
};

inline train::FitResult run_one(const RunSpec& run, const StudyData& d, const RunSettings& s, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  data::MixOptions mo;
  mo.mode = s.mix_mode;
  mo.real_ratio = run.real_ratio;
  mo.synthetic_multiple = s.synthetic_multiple;
  mo.seed = run.seed;
  mo.allow_repeats = s.allow_repeats;
  std::vector<int32_t> synth_labels = d.synthetic ? d.synthetic->labels() : std::vector<int32_t>{};
  data::Mix mix = data::make_mix(d.real_train->labels(), synth_labels, size_t(d.real_train->num_classes()), mo);
  std::vector<std::string> real_ids, synth_ids;
  for (int64_t i = 0; i < d.real_train->size(); ++i) real_ids.push_back(d.real_train->id(i));
  if (d.synthetic)
    for (int64_t i = 0; i < d.synthetic->size(); ++i) synth_ids.push_back(d.synthetic->id(i));
  data::write_mix_manifest(dir / "manifest.csv", mix, real_ids, synth_ids, d.real_train->class_names());
  std::string repeats = data::repeat_summary(mix, d.real_train->class_names());  // also in manifest.csv's repeat column
  if (!repeats.empty() && !s.train.quiet) std::printf("%s\n", repeats.c_str());
  auto empty = std::make_shared<data::InMemoryImageSet>(data::LabeledImages{});
  data::MixedImageSet train_set(d.real_train, d.synthetic ? d.synthetic : empty, mix);

  data::Preprocess eval_pp = s.imagenet_norm ? data::Preprocess::imagenet(s.input_size) : data::Preprocess{};
  eval_pp.size = s.input_size;
  data::Preprocess train_pp = eval_pp;
  train_pp.augment = s.augment;
  train_pp.aug = s.auto_augment != data::AutoAugmentKind::none ? data::AugmentOptions::named(data::auto_augment_name(s.auto_augment), s.input_size)
                 : s.light_augment                            ? data::AugmentOptions::light(s.input_size)
                                                              : data::AugmentOptions::standard(s.input_size);

  Generator init(run.seed * 7919 + 17);
  manual_seed(run.seed);  // dropout masks
  auto model = models::make_model(run.model, d.real_train->num_classes(), s.input_size, init, s.hidden_head);
  if (!s.pretrained.empty()) {
    nn::LoadOptions lo;
    lo.strict = false;
    nn::LoadReport rep = nn::load_safetensors(*model, s.pretrained, lo);
    if (!s.train.quiet)
      std::printf("pretrained %s: %zu tensors loaded%s%s\n", s.pretrained.c_str(), rep.loaded.size(),
                  rep.complete() ? "" : "; not loaded (kept their initialization): ", rep.complete() ? "" : rep.str().c_str());
  }
  train::TrainConfig cfg = s.train;
  cfg.out = dir;
  cfg.seed = run.seed;
  if (std::filesystem::exists(dir / "checkpoints" / "last" / "trainer.json") ||
      std::filesystem::exists(dir / "checkpoints" / "last.old" / "trainer.json"))
    cfg.resume = dir;
  nlohmann::json info = {{"model", run.model}, {"real_ratio", run.real_ratio}, {"seed", run.seed}, {"run", run.id()},
                         {"input_size", s.input_size}, {"data", d.description},
                         {"train_images", train_set.size()}, {"real_images", mix.real_count()},
                         {"synthetic_images", mix.synthetic_count()}};
  return train::fit(*model, train_set, d.val.get(), d.test.get(), train_pp, eval_pp, cfg, info);
}

}  // namespace fer::sweep
