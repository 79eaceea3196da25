// The safetensors header parser and writer (fer/io/safetensors.hpp states what a valid file is).
#include "fer/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <ostream>
#include <set>

#include <nlohmann/json.hpp>

#include "fer/io/json_excerpt.hpp"

namespace fer::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

std::string_view safetensors_dtype_code(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  fail("safetensors: no code for dtype ", dtype_name(t));
}

DType dtype_from_safetensors_code(std::string_view code, const std::string& where) {
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8})
    if (code == safetensors_dtype_code(t)) return t;
  static constexpr std::string_view known_unsupported[] = {"BOOL", "I8",      "I16",     "U16", "U32",
                                                           "U64",  "F8_E4M3", "F8_E5M2", "C64"};
  for (std::string_view k : known_unsupported)
    if (code == k) fail(where, ": unsupported dtype \"", code, "\" (fer reads F32, F64, F16, BF16, I64, I32, U8)");
  fail(where, ": unknown dtype \"", code, "\"");
}

namespace {

using Json = nlohmann::ordered_json;  // what the writer emits, in insertion order

// A parsed header and the order of its top-level keys (the tensors' order in the file). Parsing uses the std::map
// JSON type: an ordered object grows a vector that copies its values on reallocation, and copying a value nested
// ~100000 deep recursed past the stack; a map never copies its values.
struct ParsedHeader {
  nlohmann::json json;
  std::vector<std::string> key_order;
};

// Parses JSON, rejecting duplicate keys in any object (the JSON library alone would keep the last one).
ParsedHeader parse_json_rejecting_duplicates(const char* first, const char* last, const std::string& where) {
  using Parsed = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  std::vector<std::string> key_order;
  auto callback = [&](int depth, Parsed::parse_event_t event, Parsed& parsed) {
    switch (event) {
      case Parsed::parse_event_t::object_start: open_objects.emplace_back(); break;
      case Parsed::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Parsed::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        if (depth == 1 && parsed.is_string()) key_order.push_back(parsed.get<std::string>());
        break;
      default: break;
    }
    return true;
  };
  ParsedHeader h;
  try {
    h.json = Parsed::parse(first, last, callback);
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": header is not valid JSON (", e.what(), ")");
  }
  FER_CHECK(duplicate.empty(), where, ": duplicate key \"", duplicate, "\" in the header");
  h.key_order = std::move(key_order);
  return h;
}

uint64_t json_unsigned(const nlohmann::json& v, const std::string& where, const char* what) {
  FER_CHECK(v.is_number(), where, ": ", what, " must be an integer, got ", json_excerpt(v, 200));
  FER_CHECK(!v.is_number_float(), where, ": ", what, " must be an integer, got ", json_excerpt(v, 200),
            " (a fraction, or too large for 64 bits)");
  FER_CHECK(v.is_number_unsigned(), where, ": ", what, " must be non-negative, got ", json_excerpt(v, 200));
  return v.get<uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v, const std::string& file) {
  const std::string where = file + ": tensor \"" + name + "\"";
  FER_CHECK(v.is_object(), where, ": entry must be a JSON object, got ", json_excerpt(v, 200));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    FER_CHECK(v.contains(field), where, ": missing field \"", field, "\"");
  SafetensorsEntry e;
  e.name = name;

  const nlohmann::json& dt = v["dtype"];
  FER_CHECK(dt.is_string(), where, ": \"dtype\" must be a string, got ", json_excerpt(dt, 200));
  e.dtype = dtype_from_safetensors_code(dt.get<std::string>(), where);

  const nlohmann::json& sh = v["shape"];
  FER_CHECK(sh.is_array(), where, ": \"shape\" must be an array, got ", json_excerpt(sh, 200));
  FER_CHECK(sh.size() <= size_t(kMaxDims), where, ": shape has ", sh.size(), " dims (fer supports at most ",
            kMaxDims, ")");
  // The extent counts a zero dim as 1: a tensor with no elements still has strides, the product of the other dims,
  // which must not overflow either.
  uint64_t numel = 1, extent = 1;
  bool overflow = false;
  for (const nlohmann::json& d : sh) {
    uint64_t n = json_unsigned(d, where, "a shape dimension");
    FER_CHECK(n <= uint64_t(INT64_MAX), where, ": shape dimension ", n, " is too large");
    overflow = overflow || __builtin_mul_overflow(numel, n, &numel) ||
               __builtin_mul_overflow(extent, std::max<uint64_t>(n, 1), &extent);
    e.shape.push_back(int64_t(n));
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &nbytes) ||
             numel > uint64_t(INT64_MAX) || extent > uint64_t(INT64_MAX);
  FER_CHECK(!overflow, where, ": shape ", json_excerpt(sh, 200), " has too many elements");

  const nlohmann::json& off = v["data_offsets"];
  FER_CHECK(off.is_array() && off.size() == 2, where, ": \"data_offsets\" must be [begin, end], got ", json_excerpt(off, 200));
  e.begin = json_unsigned(off[0], where, "data_offsets[0]");
  e.end = json_unsigned(off[1], where, "data_offsets[1]");
  FER_CHECK(e.begin <= e.end, where, ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
  FER_CHECK(e.end - e.begin == nbytes, where, ": holds ", e.end - e.begin, " bytes but shape ", e.shape.str(),
            " of ", safetensors_dtype_code(e.dtype), " needs ", nbytes);
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const unsigned char* data, size_t file_size, const std::string& file) {
  FER_CHECK(file_size >= 8, file, ": not a safetensors file: ", file_size, " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  FER_CHECK(n <= file_size - 8, file, ": header length ", n, " exceeds the ", file_size - 8,
            " bytes that follow it (truncated or not a safetensors file)");
  FER_CHECK(n >= 2, file, ": header length ", n, " is too short for a JSON object");

  const char* first = reinterpret_cast<const char*>(data + 8);
  // The JSON library stops at a NUL byte as if the text ended there; a valid header has none.
  if (const void* nul = std::memchr(first, 0, size_t(n)))
    fail(file, ": header contains a NUL byte at offset ", 8 + (static_cast<const char*>(nul) - first));
  ParsedHeader parsed = parse_json_rejecting_duplicates(first, first + n, file);
  const nlohmann::json& j = parsed.json;
  FER_CHECK(j.is_object(), file, ": header must be a JSON object, got a ", j.type_name());

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t buffer_size = file_size - h.data_start;
  for (const std::string& key : parsed.key_order) {
    const nlohmann::json& value = j.at(key);
    if (key == "__metadata__") {
      FER_CHECK(value.is_object(), file, ": \"__metadata__\" must be an object of strings, got ", json_excerpt(value, 200));
      for (const auto& [mk, mv] : value.items()) {
        FER_CHECK(mv.is_string(), file, ": metadata \"", mk, "\" must be a string, got ", json_excerpt(mv, 200));
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e = parse_entry(key, value, file);
    FER_CHECK(e.end <= buffer_size, file, ": tensor \"", key, "\": data_offsets [", e.begin, ", ", e.end,
              "] lie outside the ", buffer_size, "-byte data buffer");
    h.entries.push_back(std::move(e));
  }

  // The tensors must tile the buffer exactly.
  std::stable_sort(h.entries.begin(), h.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& e : h.entries) {
    FER_CHECK(e.begin >= covered, file, ": tensor \"", e.name, "\" (bytes [", e.begin, ", ", e.end,
              ")) overlaps tensor \"", previous ? previous->name : "", "\" (ends at ", covered, ")");
    FER_CHECK(e.begin == covered, file, ": gap of ", e.begin - covered, " unused bytes before tensor \"", e.name,
              "\" (bytes [", covered, ", ", e.begin, ") belong to no tensor)");
    covered = e.end;
    previous = &e;
  }
  FER_CHECK(covered == buffer_size, file, ": ", buffer_size - covered,
            " trailing bytes after the last tensor belong to no tensor");
  return h;
}

void write_safetensors(std::ostream& out, const NamedTensors& tensors, const Metadata& metadata, KeyOrder order,
                       const std::string& what) {
  std::vector<size_t> idx(tensors.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  if (order == KeyOrder::sorted)
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return tensors[a].first < tensors[b].first; });

  std::set<std::string> seen;
  std::vector<Tensor> host(tensors.size());
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (size_t i : idx) {
    const auto& [name, t] = tensors[i];
    FER_CHECK(!name.empty(), what, ": a tensor has an empty name");
    FER_CHECK(name != "__metadata__", what, ": \"__metadata__\" is reserved and cannot name a tensor");
    FER_CHECK(seen.insert(name).second, what, ": duplicate tensor name \"", name, "\"");
    FER_CHECK(t.defined(), what, ": tensor \"", name, "\" is undefined");
    Tensor h = t.host();
    if (!h.is_contiguous()) h = h.clone();
    host[i] = h;
    Json shape = Json::array();
    for (int64_t d : h.shape()) shape.push_back(d);
    Json entry = Json::object();
    entry["dtype"] = safetensors_dtype_code(h.dtype());
    entry["shape"] = std::move(shape);
    entry["data_offsets"] = {offset, offset + h.nbytes()};
    header[name] = std::move(entry);
    offset += h.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (size_t i : idx)
    if (host[i].nbytes()) out.write(static_cast<const char*>(host[i].raw_data()), std::streamsize(host[i].nbytes()));
  FER_CHECK(out.good(), what, ": write failed");
}


}  // namespace fer::io
