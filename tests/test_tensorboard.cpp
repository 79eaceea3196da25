// TensorBoard event files: CRC-32C against its published check value, and byte-for-byte equality with a file
// written by TensorBoard's own protobuf classes and record writer (tools/make_tensorboard_fixture.py).
#include <doctest/doctest.h>

#include <fstream>
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
