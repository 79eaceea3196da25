// TensorBoard event files: CRC-32C against its published check value, and byte-for-byte equality with files
// written by TensorBoard's own protobuf classes, summary builders and record writer (tools/make_tensorboard_fixture.py):
// scalars, an image summary, and the hparams plugin's experiment / session start / session end records.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <iterator>

#include "fer/report/tensorboard.hpp"
#include "fer/report/tensorboard_summaries.hpp"

using namespace fer::report;

static std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open ", p.string());
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST_CASE("crc32c check value") {
  // The CRC-32C of "123456789" is 0xE3069283 (the standard check value of the Castagnoli CRC).
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
}

TEST_CASE("event records equal TensorBoard's own bytes") {
  // Keep in step with EVENTS in tools/make_tensorboard_fixture.py.
  struct E {
    double wall_time;
    int64_t step;
    const char* tag;
    float value;
  } events[] = {{1700000000.25, 0, "train/loss", 2.5f},
                {1700000001.5, 1, "train/loss", 1.75f},
                {1700000001.5, 1, "val/macro_f1", 0.4321f},
                {1700000002.0, 2, "val/accuracy", -0.0f},
                {1700000003.0, 300000, "lr", 1e-4f}};
  std::string ours = tf_record(event_file_version(1700000000.0));
  for (const E& e : events) ours += tf_record(event_scalar(e.wall_time, e.step, e.tag, e.value));
  std::string theirs = read_all(std::filesystem::path(FER_TEST_DATA) / "tensorboard" / "scalars.tfevents");
  CHECK(ours.size() == theirs.size());
  CHECK(ours == theirs);
}

TEST_CASE("image and hparams records equal TensorBoard's own bytes") {
  // Keep in step with tools/make_tensorboard_fixture.py.
  const auto dir = std::filesystem::path(FER_TEST_DATA) / "tensorboard";
  std::string png = read_all(dir / "face.png");
  REQUIRE(png.size() > 8);
  const double start = 1700000000.0, end = 1700000100.5;
  std::map<std::string, HParamValue> hp = {{"model", std::string("resnet18")}, {"lr", 0.001}, {"seed", 1.0},
                                           {"real_ratio", 0.0}, {"augment", true}, {"amp", std::string("off")},
                                           {"class_weights", false}};
  std::vector<HParamsMetric> metrics = {{"test/accuracy"}, {"test/macro_f1"}};
  std::string ours = tf_record(event_file_version(start));
  ours += tf_record(event_image(1700000099.0, 12, "test/confusion_matrix", 6, 8, 3, png));
  ours += tf_record(event_hparams_experiment(end, hp, metrics, start));
  ours += tf_record(event_hparams_session_start(end, hp, "resnet18-r0.00-s1", start));
  ours += tf_record(event_hparams_session_end(end, SessionStatus::success, end));
  std::string theirs = read_all(dir / "summaries.tfevents");
  CHECK(ours.size() == theirs.size());
  CHECK(ours == theirs);
}

TEST_CASE("EventWriter appends framed records and flushes each") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_tensorboard";
  std::filesystem::remove_all(dir);
  std::filesystem::path path;
  {
    EventWriter w(dir, 1700000000.0);
    w.scalar("train/loss", 2.5, 0, 1700000000.25);
    path = w.path();
    // Flushed already: the file holds both records before the writer closes.
    CHECK(std::filesystem::file_size(path) ==
          tf_record(event_file_version(1700000000.0)).size() + tf_record(event_scalar(1700000000.25, 0, "train/loss", 2.5f)).size());
  }
  CHECK(path.filename().string().rfind("events.out.tfevents.1700000000.", 0) == 0);
  std::string bytes = read_all(path);
  CHECK(bytes == tf_record(event_file_version(1700000000.0)) + tf_record(event_scalar(1700000000.25, 0, "train/loss", 2.5f)));
  std::filesystem::remove_all(dir);
}

TEST_CASE("EventWriter reports an unwritable directory") {
  CHECK_THROWS_WITH_AS(EventWriter("/proc/fer_cannot_write_here"), doctest::Contains("tensorboard: cannot"), fer::Error);
}

TEST_CASE("PNG helpers of the end-of-run summaries") {
  for (int64_t ch = 1; ch <= 4; ++ch) {
    fer::io::Image img;
    img.height = 5, img.width = 7, img.channels = ch;
    for (int64_t i = 0; i < 5 * 7 * ch; ++i) img.pixels.push_back(uint8_t(i * 37));
    std::string png = encode_png(img);
    PngHeader h = png_header(png, "x.png");
    CHECK(h.width == 7);
    CHECK(h.height == 5);
    CHECK(h.colorspace == ch);  // TensorBoard's colorspace numbers are the channel counts
    fer::io::Image back = fer::io::decode_image(std::vector<uint8_t>(png.begin(), png.end()), "x.png");
    CHECK(back.pixels == img.pixels);
  }
  CHECK_THROWS_WITH_AS(png_header("GIF89a and more bytes than thirty-three", "y.gif"), doctest::Contains("y.gif: not a PNG file"),
                       fer::Error);
}

namespace {
struct FakeConfig {  // the members run_hparams reads from train::TrainConfig
  int64_t epochs = 3, batch_size = 16, warmup_epochs = 0, patience = 2;
  uint64_t seed = 7;
  std::string optimizer = "adamw", schedule = "cosine", amp = "off";
  double lr = 0.01, weight_decay = 1e-4, momentum = 0.9, label_smoothing = 0.1, sam_rho = 0, grad_clip = 1;
  bool class_weights = true, balanced_sampler = false;
  std::filesystem::path out = "runs/x";
};
}  // namespace

TEST_CASE("end-of-run summaries: test scalars, images, faces and hparams") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_tb_summaries";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  fer::data::LabeledImages d;
  d.height = d.width = 4, d.channels = 1, d.class_names = {"happy", "T-shirt/top"};
  uint8_t px[16] = {};
  d.push_back(px, 0, "a"), d.push_back(px, 1, "b");
  fer::data::InMemoryImageSet set(d);
  std::vector<double> probs = {0.2, 0.8, 0.3, 0.7};
  std::vector<int32_t> labels = {0, 1};
  auto report = fer::metrics::classification_report(probs, labels, 2);
  fer::io::Image cm;
  cm.height = 3, cm.width = 2, cm.channels = 3, cm.pixels.assign(18, 200);
  fer::io::write_png(dir / "confusion_matrix.png", cm);
  std::filesystem::path file;
  {
    EventWriter tb(dir / "tb", 1700000000.0);
    write_test_summaries(tb, set, report, 0.5, probs, dir, 4);
    nlohmann::json info = {{"model", "mlp"}, {"real_ratio", 0.3}, {"run", "mlp-r0.30-s7"}, {"history", nlohmann::json::array()}};
    auto hp = run_hparams(FakeConfig{}, info);
    CHECK(std::get<std::string>(hp.at("model")) == "mlp");
    CHECK(std::get<double>(hp.at("real_ratio")) == 0.3);
    CHECK(std::get<double>(hp.at("lr")) == 0.01);
    CHECK(std::get<bool>(hp.at("class_weights")) == true);
    CHECK(hp.count("history") == 0);  // arrays and objects are not hyper-parameters
    write_run_hparams(tb, FakeConfig{}, info);
    file = tb.path();
  }
  std::string bytes = read_all(file);
  for (const char* tag : {"test/accuracy", "test/macro_f1", "test/auroc_macro", "test/loss", "test/confusion_matrix",
                          "test/faces/0_happy_as_T-shirt_top", "test/faces/1_T-shirt_top_as_T-shirt_top",
                          "_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info", "mlp-r0.30-s7"})
    CHECK_MESSAGE(bytes.find(tag) != std::string::npos, tag);
  CHECK(bytes.find("test/reliability") == std::string::npos);  // no reliability.png in dir
  // The confusion matrix record carries the PNG file's bytes.
  std::string png = read_all(dir / "confusion_matrix.png");
  CHECK(bytes.find(png) != std::string::npos);
  std::filesystem::remove_all(dir);
}
