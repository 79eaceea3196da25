#include "fer/io/json_text.hpp"

#include <istream>
#include <nlohmann/json.hpp>

namespace fer::io {

nlohmann::json parse_json(std::string_view text) { return nlohmann::json::parse(text); }
nlohmann::json parse_json(std::istream& in) { return nlohmann::json::parse(in); }
nlohmann::json parse_json(std::istream&& in) { return nlohmann::json::parse(in); }

std::string dump_json(const nlohmann::json& j, int indent) { return j.dump(indent); }

}  // namespace fer::io
