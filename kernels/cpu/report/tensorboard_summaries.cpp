// The functions declared in report/tensorboard_summaries.hpp: compiled once here rather than in every program that includes the header.
#include "fer/report/tensorboard_summaries.hpp"

namespace fer::report {

PngHeader png_header(const std::string& png, const std::string& name) {
  static const char signature[] = "\x89PNG\r\n\x1a\n";
  FER_CHECK(png.size() >= 33 && png.compare(0, 8, std::string(signature, 8)) == 0 && png.compare(12, 4, "IHDR") == 0,
            name, ": not a PNG file");
  auto be32 = [&](size_t at) {
    return (int64_t(uint8_t(png[at])) << 24) | (int64_t(uint8_t(png[at + 1])) << 16) | (int64_t(uint8_t(png[at + 2])) << 8) |
           int64_t(uint8_t(png[at + 3]));
  };
  PngHeader h;
  h.width = be32(16), h.height = be32(20);
  switch (uint8_t(png[25])) {
    case 0: h.colorspace = 1; break;  // gray
    case 4: h.colorspace = 2; break;  // gray + alpha
    case 2: h.colorspace = 3; break;  // RGB
    case 6: h.colorspace = 4; break;  // RGBA
    default: fail(name, ": PNG color type ", int(uint8_t(png[25])), " (palette) is not one TensorBoard images take");
  }
  return h;
}

void image_summary_from_png_file(EventWriter& tb, const std::string& tag, const std::filesystem::path& path, int64_t step) {
  std::vector<uint8_t> bytes = io::read_bytes(path);
  std::string png(bytes.begin(), bytes.end());
  PngHeader h = png_header(png, path.string());
  tb.image(tag, h.height, h.width, h.colorspace, png, step);
}

std::vector<HParamsMetric> test_metric_tags() {
  return {{"test/accuracy"}, {"test/macro_f1"}, {"test/balanced_accuracy"}, {"test/auroc_macro"}, {"test/ece"}, {"test/loss"}};
}

void write_test_summaries(EventWriter& tb, const data::ImageSet& test_set, const metrics::ClassificationReport& r,
                          double loss, std::span<const double> probs, const std::filesystem::path& dir,
                          int64_t step, int64_t faces) {
  const double values[] = {r.accuracy, r.macro_f1, r.balanced_accuracy, r.auroc_macro, r.ece, loss};
  auto tags = test_metric_tags();
  for (size_t k = 0; k < tags.size(); ++k)
    if (std::isfinite(values[k])) tb.scalar(tags[k].tag, values[k], step);
  for (const char* name : {"confusion_matrix", "reliability"})
    if (std::filesystem::exists(dir / (std::string(name) + ".png")))
      image_summary_from_png_file(tb, std::string("test/") + name, dir / (std::string(name) + ".png"), step);
  const int64_t c = test_set.num_classes();
  for (int64_t i = 0; i < std::min(faces, test_set.size()); ++i) {
    io::Image img = test_set.raw(i);
    int32_t truth = test_set.label(i), pred = metrics::argmax_row(probs.data() + i * c, c);
    auto cls = [&](int32_t k) {  // '/' would nest TensorBoard's tag groups ("T-shirt/top")
      std::string n = k >= 0 && k < c ? test_set.class_names()[size_t(k)] : std::to_string(k);
      for (char& ch : n)
        if (ch == '/' || ch == ' ') ch = '_';
      return n;
    };
    tb.image("test/faces/" + std::to_string(i) + "_" + cls(truth) + "_as_" + cls(pred), img.height, img.width, img.channels,
             encode_png(img), step);
  }
}

}  // namespace fer::report
