// The functions declared in report/tensorboard.hpp: compiled once here rather than in every program that includes the header.
#include "fer/report/tensorboard.hpp"

namespace fer::report::proto {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

void tag(std::string& out, uint32_t field, uint32_t wire_type) { varint(out, (uint64_t(field) << 3) | wire_type); }

void bytes(std::string& out, uint32_t field, const std::string& s) {
  tag(out, field, 2);
  varint(out, s.size());
  out += s;
}

void varint_field(std::string& out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  tag(out, field, 0);
  varint(out, v);
}

void string_field(std::string& out, uint32_t field, const std::string& s) {  // omitted when empty
  if (!s.empty()) bytes(out, field, s);
}

void double_field(std::string& out, uint32_t field, double v) {
  if (!is_default(v)) tag(out, field, 1), fixed(out, v);
}

}  // namespace fer::report::proto

namespace fer::report {

std::string event_file_version(double wall_time) {
  std::string e;
  proto::double_field(e, 1, wall_time);
  proto::bytes(e, 3, "brain.Event:2");
  return e;
}

std::string event_with_value(double wall_time, int64_t step, const std::string& value) {
  std::string summary;
  proto::bytes(summary, 1, value);
  std::string e;
  proto::double_field(e, 1, wall_time);
  proto::varint_field(e, 2, uint64_t(step));
  proto::bytes(e, 5, summary);
  return e;
}

std::string event_scalar(double wall_time, int64_t step, const std::string& tag_name, float value) {
  std::string v;
  proto::bytes(v, 1, tag_name);
  if (!proto::is_default(value)) proto::tag(v, 2, 5), proto::fixed(v, value);
  return event_with_value(wall_time, step, v);
}

std::string event_image(double wall_time, int64_t step, const std::string& tag_name, int64_t height,
                        int64_t width, int64_t colorspace, const std::string& png) {
  std::string img;
  proto::varint_field(img, 1, uint64_t(height));
  proto::varint_field(img, 2, uint64_t(width));
  proto::varint_field(img, 3, uint64_t(colorspace));
  proto::string_field(img, 4, png);
  std::string v;
  proto::bytes(v, 1, tag_name);
  proto::bytes(v, 4, img);
  return event_with_value(wall_time, step, v);
}

}  // namespace fer::report

namespace fer::report::hparams_detail {

std::string plugin_value(const std::string& tag_name, uint32_t data_field, const std::string& data) {
  std::string plugin_data;  // HParamsPluginData; version 0 is the default, so omitted
  proto::bytes(plugin_data, data_field, data);
  std::string pd;
  proto::bytes(pd, 1, "hparams");
  proto::bytes(pd, 2, plugin_data);
  std::string meta;
  proto::bytes(meta, 1, pd);
  std::string shape;  // TensorShapeProto{dim: [Dim{size: 0}]}; the Dim's fields are all default, so it is empty
  proto::bytes(shape, 2, "");
  std::string tensor;  // TensorProto{dtype: DT_FLOAT (1), tensor_shape}
  proto::varint_field(tensor, 1, 1);
  proto::bytes(tensor, 2, shape);
  std::string v;
  proto::bytes(v, 1, tag_name);
  proto::bytes(v, 8, tensor);
  proto::bytes(v, 9, meta);
  return v;
}

std::string struct_value(const HParamValue& h) {  // google.protobuf.Value
  std::string v;
  if (const double* d = std::get_if<double>(&h)) proto::tag(v, 2, 1), proto::fixed(v, *d);  // set oneof: always written
  else if (const std::string* s = std::get_if<std::string>(&h)) proto::bytes(v, 3, *s);
  else proto::tag(v, 4, 0), proto::varint(v, std::get<bool>(h) ? 1 : 0);
  return v;
}

uint64_t data_type(const HParamValue& h) {
  return std::holds_alternative<std::string>(h) ? 1 : std::holds_alternative<bool>(h) ? 2 : 3;
}

}  // namespace fer::report::hparams_detail

namespace fer::report {

std::string event_hparams_experiment(double wall_time, const std::map<std::string, HParamValue>& hparams,
                                     const std::vector<HParamsMetric>& metrics, double time_created_secs) {
  std::string x;
  proto::double_field(x, 3, time_created_secs);
  for (const auto& [name, value] : hparams) {
    std::string info;
    proto::bytes(info, 1, name);
    proto::varint_field(info, 4, hparams_detail::data_type(value));
    proto::bytes(x, 4, info);
  }
  for (const auto& m : metrics) {
    std::string mn;
    proto::string_field(mn, 2, m.tag);
    std::string info;
    proto::bytes(info, 1, mn);
    proto::bytes(x, 5, info);
  }
  return event_with_value(wall_time, 0, hparams_detail::plugin_value("_hparams_/experiment", 2, x));
}

std::string event_hparams_session_start(double wall_time, const std::map<std::string, HParamValue>& hparams,
                                        const std::string& group_name, double start_time_secs) {
  std::string s;
  for (const auto& [name, value] : hparams) {
    std::string entry;
    proto::bytes(entry, 1, name);
    proto::bytes(entry, 2, hparams_detail::struct_value(value));
    proto::bytes(s, 1, entry);
  }
  proto::string_field(s, 4, group_name);
  proto::double_field(s, 5, start_time_secs);
  return event_with_value(wall_time, 0, hparams_detail::plugin_value("_hparams_/session_start_info", 3, s));
}

std::string event_hparams_session_end(double wall_time, SessionStatus status, double end_time_secs) {
  std::string s;
  proto::varint_field(s, 1, uint64_t(status));
  proto::double_field(s, 2, end_time_secs);
  return event_with_value(wall_time, 0, hparams_detail::plugin_value("_hparams_/session_end_info", 4, s));
}

std::string tf_record(const std::string& payload) {
  std::string r;
  uint64_t n = payload.size();
  proto::fixed(r, n);
  proto::fixed(r, masked_crc32c(r.data(), 8));
  r += payload;
  proto::fixed(r, masked_crc32c(payload.data(), payload.size()));
  return r;
}

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace fer::report
