#pragma once
// JSON documents to and from text, compiled once (kernels/cpu/io/json_text.cpp): nlohmann's parser, lexer and
// serializer are the largest code a translation unit would otherwise generate for itself (about 3 CPU-s each time).
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace fer::io {

// A whole JSON document; malformed text throws nlohmann::json::parse_error, as nlohmann::json::parse does.
nlohmann::json parse_json(std::string_view text);
nlohmann::json parse_json(std::istream& in);
nlohmann::json parse_json(std::istream&& in);

// nlohmann's dump: indent -1 is one line; invalid UTF-8 in a string throws nlohmann::json::type_error.
std::string dump_json(const nlohmann::json& j, int indent = -1);

}  // namespace fer::io
