#pragma once
// TensorBoard event files: `tensorboard --logdir runs` shows fer's training curves, test metrics, images (the
// confusion matrix, sample faces) and the run's hyper-parameters in the HParams dashboard.
//
// An event file is a sequence of TFRecords (u64 length, masked CRC-32C of the length, payload, masked CRC-32C of
// the payload), each payload a serialized `tensorboard.Event` protobuf. We write the fields we need by hand
// (proto3 wire format: zero-valued scalars are omitted, fields in number order) rather than depending on protobuf:
//   Event{1: wall_time double, 2: step int64, 3: file_version string, 5: summary Summary}
//   Summary{1: repeated Value}
//   Value{1: tag string, 2: simple_value float, 4: image Image, 8: tensor TensorProto, 9: metadata SummaryMetadata}
//   Image{1: height int32, 2: width int32, 3: colorspace int32, 4: encoded_image_string bytes}
//   SummaryMetadata{1: plugin_data {1: plugin_name string, 2: content bytes}}
// The hparams plugin's content is a serialized HParamsPluginData{1: version int32 (0), 2: experiment,
// 3: session_start_info, 4: session_end_info} (tensorboard/plugins/hparams/plugin_data.proto, api.proto):
//   Experiment{3: time_created_secs double, 4: repeated HParamInfo{1: name, 4: type enum}, 5: repeated
//              MetricInfo{1: name MetricName{1: group, 2: tag}}}
//   SessionStartInfo{1: map<string, google.protobuf.Value> hparams, 4: group_name, 5: start_time_secs double}
//   SessionEndInfo{1: status enum, 2: end_time_secs double}
//   google.protobuf.Value{2: number_value double, 3: string_value string, 4: bool_value bool}
// each under the tags "_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info" with
// an empty float tensor as the value (as TensorBoard's own hparams summaries write them).
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/report/crc32c.hpp"

namespace fer::report {

namespace proto {
void varint(std::string& out, uint64_t v);
void tag(std::string& out, uint32_t field, uint32_t wire_type);
template <class T>
inline void fixed(std::string& out, T v) {  // little-endian fixed32/fixed64 (this host is little-endian)
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
void bytes(std::string& out, uint32_t field, const std::string& s);
void varint_field(std::string& out, uint32_t field, uint64_t v);
void string_field(std::string& out, uint32_t field, const std::string& s);
// proto3 omits a scalar equal to its default; for floating point "default" means all bits zero (so -0.0 is kept).
template <class T>
inline bool is_default(T v) {
  T zero{};
  return std::memcmp(&v, &zero, sizeof(T)) == 0;
}
void double_field(std::string& out, uint32_t field, double v);
}  // namespace proto

// Serialized Event payloads.
std::string event_file_version(double wall_time);

// An Event holding one Summary.Value (already serialized).
std::string event_with_value(double wall_time, int64_t step, const std::string& value);

std::string event_scalar(double wall_time, int64_t step, const std::string& tag_name, float value);

// An image summary: PNG bytes with their size and colorspace (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
std::string event_image(double wall_time, int64_t step, const std::string& tag_name, int64_t height,
                        int64_t width, int64_t colorspace, const std::string& png);

// --- the hparams plugin ---
using HParamValue = std::variant<double, std::string, bool>;

struct HParamsMetric {
  std::string tag;  // a scalar tag of the run, e.g. "test/accuracy"
};

namespace hparams_detail {

// Summary.Value{tag, tensor: empty float vector, metadata: plugin "hparams" with HParamsPluginData{version 0, <data>}}.
std::string plugin_value(const std::string& tag_name, uint32_t data_field, const std::string& data);

std::string struct_value(const HParamValue& h);

// api.proto's DataType of a value.
uint64_t data_type(const HParamValue& h);

}  // namespace hparams_detail

// The experiment: which hyper-parameters (with their types) and which metric tags the HParams dashboard shows.
std::string event_hparams_experiment(double wall_time, const std::map<std::string, HParamValue>& hparams,
                                     const std::vector<HParamsMetric>& metrics, double time_created_secs);

// One run's hyper-parameter values (map entries in key order), its group (the run's name) and start time.
std::string event_hparams_session_start(double wall_time, const std::map<std::string, HParamValue>& hparams,
                                        const std::string& group_name, double start_time_secs);

enum class SessionStatus : uint64_t { unknown = 0, success = 1, failure = 2, running = 3 };

std::string event_hparams_session_end(double wall_time, SessionStatus status, double end_time_secs);

// One TFRecord around a payload.
std::string tf_record(const std::string& payload);

double wall_time_now();

// Appends scalar events to `<logdir>/events.out.tfevents.<seconds>.<host>`; flushed after every event so a killed
// run keeps its curves up to the last step (TensorBoard reads a file that is still being written).
class EventWriter {
 public:
  explicit EventWriter(const std::filesystem::path& logdir, double start_time = wall_time_now()) : start_time_(start_time) {
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
  void image(const std::string& tag_name, int64_t height, int64_t width, int64_t colorspace, const std::string& png,
             int64_t step, double wall_time = wall_time_now()) {
    write(event_image(wall_time, step, tag_name, height, width, colorspace, png));
  }
  // The hparams plugin's three records: the experiment, this run's values, and its end.
  void hparams(const std::map<std::string, HParamValue>& values, const std::vector<HParamsMetric>& metrics,
               const std::string& group_name, SessionStatus status = SessionStatus::success,
               double wall_time = wall_time_now()) {
    write(event_hparams_experiment(wall_time, values, metrics, start_time_));
    write(event_hparams_session_start(wall_time, values, group_name, start_time_));
    write(event_hparams_session_end(wall_time, status, wall_time));
  }
  double start_time() const { return start_time_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void write(const std::string& payload) {
    std::string rec = tf_record(payload);
    bool ok = std::fwrite(rec.data(), 1, rec.size(), file_) == rec.size() && std::fflush(file_) == 0;
    FER_CHECK(ok, "tensorboard: write to ", path_.string(), " failed");
  }

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  double start_time_ = 0;
};

}  // namespace fer::report
