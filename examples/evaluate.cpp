// evaluate: a checkpoint on a split, with the full metric set and the run outputs.
//   evaluate --checkpoint runs/r18/checkpoints/best --model resnet18 --data_root fer2013.csv --split test \
//            --input_size 64 --out runs/r18/eval_test
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "fer/data/sources.hpp"
#include "fer/nn/load_weights.hpp"
#include "fer/train/trainer.hpp"
#include "models/registry.hpp"

using namespace fer;

int main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CLI::App app{"Evaluate a fer checkpoint"};
  std::string checkpoint, model = "custom_cnn", data_root = "fashion-mnist", split = "test", out = "runs/eval", ferplus;
  int64_t input_size = 48, batch_size = 128, max_classes = 0, limit_eval = 0;
  bool imagenet_norm = false;
  std::string weights;
  app.add_option("--checkpoint", checkpoint, "checkpoint directory or model.safetensors");
  app.add_option("--weights", weights, "a weights file instead: safetensors or PyTorch .pt/.pth (loaded strictly)");
  app.add_option("--model", model);
  app.add_option("--data_root", data_root);
  app.add_option("--ferplus", ferplus);
  app.add_option("--split", split, "train, val or test");
  app.add_option("--input_size", input_size);
  app.add_option("--batch_size", batch_size);
  app.add_option("--max_classes", max_classes);
  app.add_option("--limit_eval", limit_eval);
  app.add_flag("--imagenet_norm", imagenet_norm);
  app.add_option("--out", out);
  CLI11_PARSE(app, argc, argv);
  try {
    data::DataOptions dopt;
    dopt.ferplus_csv = ferplus, dopt.max_classes = max_classes, dopt.limit_eval = limit_eval;
    data::Splits s = data::load_splits(data_root, dopt);
    std::shared_ptr<data::ImageSet> set = split == "train" ? s.train : split == "val" ? s.val : split == "test" ? s.test : nullptr;
    FER_CHECK(set, "--split must be train, val or test");
    auto m = models::make_model(model, set->num_classes(), input_size);
    FER_CHECK(checkpoint.empty() != weights.empty(), "give exactly one of --checkpoint and --weights");
    std::filesystem::path ck(weights.empty() ? checkpoint : weights);
    if (std::filesystem::is_directory(ck)) ck = train::find_checkpoint(ck) / "model.safetensors";
    if (weights.empty()) nn::load_safetensors(*m, ck.string());
    else std::printf("weights %s\n", nn::load_weights(*m, ck.string()).summary(ck.string()).c_str());
    data::Preprocess pp = imagenet_norm ? data::Preprocess::imagenet(input_size) : data::Preprocess{};
    pp.size = input_size;
    train::EvalResult r = train::evaluate(*m, *set, pp, batch_size);
    std::filesystem::create_directories(out);
    train::write_eval_outputs(out, *set, r);
    nlohmann::json j = r.report.to_json(set->class_names());
    j["loss"] = r.loss, j["checkpoint"] = ck.string(), j["split"] = split, j["data"] = s.description;
    io::write_file_atomically(std::filesystem::path(out) / "metrics.json", j.dump(2) + "\n");
    std::printf("%s on %s (%lld images): accuracy %.4f  macro-F1 %.4f  AUROC %.4f  ECE %.4f -> %s\n", model.c_str(),
                split.c_str(), (long long)set->size(), r.report.accuracy, r.report.macro_f1, r.report.auroc_macro,
                r.report.ece, out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluate: error: %s\n", e.what());
    return 1;
  }
}
