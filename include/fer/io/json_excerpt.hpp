#pragma once
// A short excerpt of a JSON value for error messages. nlohmann's dump() recurses once per nesting level, so
// dumping a hostile value (100000 nested arrays: 200 KB of a file) overflows the stack; this prints at most a few
// levels and characters, and never throws (invalid UTF-8 is replaced).
#include <nlohmann/json.hpp>

#include <string>

namespace fer::io {

namespace json_excerpt_detail {

template <class Json>
void append(std::string& out, const Json& v, int depth, size_t max_chars) {
  if (out.size() > max_chars) return;
  if (!v.is_structured()) {
    out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  const bool object = v.is_object();
  out += object ? '{' : '[';
  if (depth >= 3 && !v.empty()) {
    out += "...";
  } else {
    bool first = true;
    for (auto it = v.begin(); it != v.end() && out.size() <= max_chars; ++it) {
      if (!first) out += ',';
      first = false;
      if (object) out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace) + ':';
      append(out, *it, depth + 1, max_chars);
    }
  }
  out += object ? '}' : ']';
}

}  // namespace json_excerpt_detail

// `v` as compact JSON when short; otherwise its first `max_chars` characters and "...".
template <class Json>
std::string json_excerpt(const Json& v, size_t max_chars = 60) {
  std::string out;
  json_excerpt_detail::append(out, v, 0, max_chars);
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

}  // namespace fer::io
