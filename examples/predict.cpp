// predict: classify faces in image files or folders.
//   predict --run runs/r18 photos/ --detect-faces --out predictions.csv --annotate annotated/
//   predict --model tf_efficientnet_b0_ns --weights state.pt --classes anger,contempt,...,surprise --input_size 224 \
//           --imagenet_norm crop1.png crop2.png
// The model and its input (size, channels, normalization, class names) come from the run's config.json (--run), or
// from --model/--weights and the input flags. Without --detect-faces every image is one face (already cropped); with
// it, dlib's frontal-face detector finds the faces in uncropped photos, and each is cut out as a square with a margin.
// Writes one row per face: file, face index, box, detector score, predicted class and every class's probability
// (a photo without a face gets one row with an empty face index). --annotate writes PNG copies with boxes and labels.
// Conv -> BN pairs run folded into one convolution, as evaluate runs them (--no-fold: apart).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "fer/cli/program.hpp"
#include "fer/fer.hpp"
#include "fer/nn/fold_bn.hpp"
#include "fer/nn/load_weights.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/run_eval.hpp"
#include "fer/vision/annotate.hpp"
#include "fer/vision/face_detector.hpp"
#include "models/model_factory.hpp"

namespace predict_program {

using namespace fer;
namespace fs = std::filesystem;

namespace {

// Crops in memory, so that they go through the training pipeline's own preprocessing (data::load_sample).
class CropSet : public data::ImageSet {
 public:
  CropSet(std::vector<io::Image> crops, const std::vector<std::string>& names) : crops_(std::move(crops)), names_(names) {}
  int64_t size() const override { return int64_t(crops_.size()); }
  int32_t label(int64_t) const override { return 0; }
  std::string id(int64_t i) const override { return "face " + std::to_string(i); }
  io::Image raw(int64_t i) const override { return crops_[size_t(i)]; }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  std::vector<io::Image> crops_;
  const std::vector<std::string>& names_;
};

bool is_image(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp";
}

// Files as given; folders expanded to their images (recursively, sorted).
std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<fs::path> out;
  for (const std::string& in : inputs) {
    fs::path p(in);
    if (fs::is_directory(p)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file() && is_image(e.path())) found.push_back(e.path());
      std::sort(found.begin(), found.end());
      FER_CHECK(!found.empty(), in, ": a folder without PNG/JPEG/BMP images");
      out.insert(out.end(), found.begin(), found.end());
    } else {
      FER_CHECK(fs::is_regular_file(p), in, ": no such file or folder");
      out.push_back(p);
    }
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

int program_main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Classify the faces in images (fer)");
  CLI::App& app = *app_owner;
  std::vector<std::string> inputs, classes;
  std::string run, model_name, weights, out = "predictions.csv", annotate;
  int64_t num_classes = 0, input_size = 48, channels = 3, batch_size = 32;
  bool imagenet_norm = false, detect = false, no_fold = false;
  double margin = 0.2;
  int upsample = 1;
  app.add_option("inputs", inputs, "image files or folders")->required();
  app.add_option("--run", run, "a run directory written by train (config.json + checkpoints)");
  app.add_option("--model", model_name, "without --run: the model's registry name");
  app.add_option("--weights", weights, "without --run: its weights (safetensors or PyTorch .pt/.pth)");
  app.add_option("--classes", classes, "without --run: class names, in label order (comma-separated)")->delimiter(',');
  app.add_option("--num_classes", num_classes, "without --run and --classes: the number of classes (named 0..N-1)");
  app.add_option("--input_size", input_size, "without --run: the model's input size");
  app.add_option("--channels", channels, "without --run: 1 or 3");
  app.add_flag("--imagenet_norm", imagenet_norm, "without --run: ImageNet mean/std");
  app.add_flag("--no-fold", no_fold, "run every batch norm apart from its convolution (by default conv -> BN pairs are "
               "folded into one conv: the same probabilities up to rounding)");
  app.add_flag("--detect-faces", detect, "find faces in uncropped photos (dlib's HOG frontal-face detector)");
  app.add_option("--margin", margin, "with --detect-faces: margin around a face, as a fraction of its size on every side");
  app.add_option("--upsample", upsample, "with --detect-faces: times the photo is doubled first (1 finds faces from ~40 px)");
  app.add_option("--batch_size", batch_size);
  app.add_option("--out", out, "the predictions CSV");
  app.add_option("--annotate", annotate, "write copies of the photos with boxes and labels into this folder");
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    if (detect && !vision::face_detector_available())
      fail("--detect-faces: this build of fer has no face detector (dlib was not found at build time: install libdlib-dev "
           "and reconfigure); give cropped faces without --detect-faces instead");
    FER_CHECK(margin >= 0 && margin <= 2, "--margin must be in [0, 2]");
    // ---- the model and its input
    train::RunConfig cfg;
    std::string weights_path;
    if (!run.empty()) {
      FER_CHECK(model_name.empty() && weights.empty() && classes.empty() && num_classes == 0,
                "--run gives the model, weights and classes: do not combine it with --model/--weights/--classes/--num_classes");
      cfg = train::load_run_config(run);
      weights_path = train::run_weights(run).string();  // verified against its manifest
    } else {
      FER_CHECK(!model_name.empty() && !weights.empty(), "give --run DIR, or --model and --weights");
      FER_CHECK(!classes.empty() || num_classes > 0, "without --run, give --classes or --num_classes");
      if (classes.empty())
        for (int64_t i = 0; i < num_classes; ++i) classes.push_back(std::to_string(i));
      FER_CHECK(num_classes == 0 || num_classes == int64_t(classes.size()), "--num_classes ", num_classes, " but ",
                classes.size(), " --classes");
      FER_CHECK(channels == 1 || channels == 3, "--channels must be 1 or 3");
      cfg.model = model_name, cfg.num_classes = int64_t(classes.size()), cfg.class_names = classes;
      cfg.input_size = input_size, cfg.channels = channels, cfg.imagenet_norm = imagenet_norm;
      if (imagenet_norm) cfg.mean = {0.485f, 0.456f, 0.406f}, cfg.std = {0.229f, 0.224f, 0.225f};
      weights_path = weights;
    }
    auto model = train::make_run_model(cfg, models::zoo_factory());
    Generator gen(0);  // load_sample takes one; predict does not augment
    std::printf("%s\n", nn::load_weights(*model, weights_path).summary(weights_path).c_str());
    model->eval();
    // conv -> BN pairs as one conv (as train::evaluate runs them): the same probabilities up to rounding, faster.
    if (!no_fold) std::printf("batch norm: %lld conv -> BN pairs folded into their convolutions\n", (long long)nn::fold_batch_norm(*model));
    const data::Preprocess pp = cfg.preprocess();
    if (detect) std::printf("faces: %s\n", vision::face_detector_name().c_str());

    // ---- every image: faces, crops, probabilities
    std::ostringstream csv;
    csv << "file,face,x,y,width,height,detector_score,predicted";
    for (const auto& c : cfg.class_names) csv << ",p_" << csv_field(c);
    csv << "\n";
    if (!annotate.empty()) fs::create_directories(annotate);
    size_t total_faces = 0;
    for (const fs::path& file : expand_inputs(inputs)) {
      const io::Image photo = io::to_rgb(io::read_image(file));
      std::vector<vision::FaceBox> boxes;
      if (detect) boxes = vision::detect_faces(photo, upsample);
      else boxes.push_back({0, 0, photo.width, photo.height, 0.0});
      std::vector<io::Image> crops;
      std::vector<vision::FaceBox> cut;
      for (const auto& b : boxes) {
        cut.push_back(detect ? vision::square_with_margin(b, margin, photo.height, photo.width) : b);
        crops.push_back(vision::crop(photo, cut.back()));
      }
      CropSet set(std::move(crops), cfg.class_names);
      std::vector<vision::LabelledBox> labels;
      for (int64_t first = 0; first < set.size(); first += batch_size) {
        const int64_t n = std::min(batch_size, set.size() - first);
        std::vector<float> x;
        for (int64_t i = first; i < first + n; ++i) {
          std::vector<float> s = data::load_sample(set, i, pp, gen);
          x.insert(x.end(), s.begin(), s.end());
        }
        Tensor probs;
        {
          InferenceGuard guard;
          probs = softmax(model->forward(Tensor::from_vector<float>(x, {n, pp.size, pp.size, pp.channels})), -1);
        }
        const std::vector<double> p = probs.to_vector();
        for (int64_t i = 0; i < n; ++i) {
          const double* row = p.data() + i * cfg.num_classes;
          const int64_t best = std::max_element(row, row + cfg.num_classes) - row;
          const auto& b = boxes[size_t(first + i)];  // the detector's box (the crop adds the margin)
          csv << csv_field(file.string()) << ',' << first + i << ',' << b.x << ',' << b.y << ',' << b.width << ','
              << b.height << ',' << b.score << ',' << csv_field(cfg.class_names[size_t(best)]);
          char buf[32];
          for (int64_t c = 0; c < cfg.num_classes; ++c) std::snprintf(buf, sizeof buf, ",%.6f", row[c]), csv << buf;
          csv << "\n";
          std::snprintf(buf, sizeof buf, " %.2f", row[best]);
          labels.push_back({b, cfg.class_names[size_t(best)] + buf});
          std::printf("%s face %lld at %lld,%lld %lldx%lld: %s\n", file.string().c_str(), (long long)(first + i),
                      (long long)b.x, (long long)b.y, (long long)b.width, (long long)b.height, labels.back().label.c_str());
        }
      }
      if (boxes.empty()) {
        csv << csv_field(file.string()) << ",,,,,,,";
        for (int64_t c = 0; c < cfg.num_classes; ++c) csv << ',';
        csv << "\n";
        std::printf("%s: no face found\n", file.string().c_str());
      }
      total_faces += boxes.size();
      if (!annotate.empty()) vision::write_annotated_png(fs::path(annotate) / (file.stem().string() + ".png"), photo, labels);
    }
    io::write_file_atomically(out, csv.str());
    std::printf("%zu faces -> %s%s%s\n", total_faces, out.c_str(), annotate.empty() ? "" : ", annotated copies in ",
                annotate.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "predict: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace predict_program
