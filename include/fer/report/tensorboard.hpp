#pragma once
// TensorBoard event files: `tensorboard --logdir runs` shows fer's training curves.
//
// An event file is a sequence of TFRecords (u64 length, masked CRC-32C of the length, payload, masked CRC-32C of
// the payload), each payload a serialized `tensorflow.Event` protobuf. We write the few fields scalars need by
// hand (proto3 wire format: zero-valued scalars are omitted, fields in number order) rather than depending on
// protobuf: Event{1: wall_time double, 2: step int64, 3: file_version string, 5: summary Summary},
// Summary{1: repeated Value}, Value{1: tag string, 2: simple_value float}.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "fer/core/error.hpp"
#include "fer/report/crc32c.hpp"

namespace fer::report {

namespace proto {
inline void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
inline void tag(std::string& out, uint32_t field, uint32_t wire_type) { varint(out, (uint64_t(field) << 3) | wire_type); }
template <class T>
inline void fixed(std::string& out, T v) {  // little-endian fixed32/fixed64 (this host is little-endian)
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
inline void bytes(std::string& out, uint32_t field, const std::string& s) {
  tag(out, field, 2);
  varint(out, s.size());
  out += s;
}
// proto3 omits a scalar equal to its default; for floating point "default" means all bits zero (so -0.0 is kept).
template <class T>
inline bool is_default(T v) {
  T zero{};
  return std::memcmp(&v, &zero, sizeof(T)) == 0;
}
}  // namespace proto

// Serialized Event payloads.
inline std::string event_file_version(double wall_time) {
  std::string e;
  if (!proto::is_default(wall_time)) proto::tag(e, 1, 1), proto::fixed(e, wall_time);
  proto::bytes(e, 3, "brain.Event:2");
  return e;
}

inline std::string event_scalar(double wall_time, int64_t step, const std::string& tag_name, float value) {
  std::string v;
  proto::bytes(v, 1, tag_name);
  if (!proto::is_default(value)) proto::tag(v, 2, 5), proto::fixed(v, value);
  std::string summary;
  proto::bytes(summary, 1, v);
  std::string e;
  if (!proto::is_default(wall_time)) proto::tag(e, 1, 1), proto::fixed(e, wall_time);
  if (step != 0) proto::tag(e, 2, 0), proto::varint(e, uint64_t(step));
  proto::bytes(e, 5, summary);
  return e;
}

// One TFRecord around a payload.
inline std::string tf_record(const std::string& payload) {
  std::string r;
  uint64_t n = payload.size();
  proto::fixed(r, n);
  proto::fixed(r, masked_crc32c(r.data(), 8));
  r += payload;
  proto::fixed(r, masked_crc32c(payload.data(), payload.size()));
  return r;
}

inline double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Appends scalar events to `<logdir>/events.out.tfevents.<seconds>.<host>`; flushed after every event so a killed
// run keeps its curves up to the last step (TensorBoard reads a file that is still being written).
class EventWriter {
 public:
  explicit EventWriter(const std::filesystem::path& logdir, double start_time = wall_time_now()) {
    std::error_code ec;
    std::filesystem::create_directories(logdir, ec);
    FER_CHECK(!ec, "tensorboard: cannot create ", logdir.string(), ": ", ec.message());
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    path_ = logdir / ("events.out.tfevents." + std::to_string(int64_t(start_time)) + "." + host);
    file_ = std::fopen(path_.c_str(), "ab");
    FER_CHECK(file_ != nullptr, "tensorboard: cannot open ", path_.string(), " for writing");
    write(event_file_version(start_time));
  }
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  ~EventWriter() {
    if (file_) std::fclose(file_);
  }

  void scalar(const std::string& tag_name, double value, int64_t step, double wall_time = wall_time_now()) {
    write(event_scalar(wall_time, step, tag_name, float(value)));
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  void write(const std::string& payload) {
    std::string rec = tf_record(payload);
    bool ok = std::fwrite(rec.data(), 1, rec.size(), file_) == rec.size() && std::fflush(file_) == 0;
    FER_CHECK(ok, "tensorboard: write to ", path_.string(), " failed");
  }

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace fer::report
