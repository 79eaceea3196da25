// TensorBoard event files: CRC-32C against its published check value, and byte-for-byte equality with files
// written by TensorBoard's own protobuf classes, summary builders and record writer (tools/make_tensorboard_fixture.py):
// scalars, an image summary, and the hparams plugin's experiment / session start / session end records.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <iterator>

#include "fer/report/tensorboard.hpp"

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
