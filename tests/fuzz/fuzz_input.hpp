#pragma once
// What the fuzz targets share: a per-process scratch directory for parsers that read files, the splitting of one
// input into several files, and the rule of every target: a parser may accept the input or refuse it with a
// fer::Error; any other exception escapes and libFuzzer reports it (as it does crashes, leaks, timeouts and
// memory beyond -rss_limit_mb).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::fuzz {

// Removed when the process exits normally (a crashing input leaves it, beside the finding).
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("fer_fuzz_" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Writes the input to scratch_dir()/name and returns the path.
inline std::filesystem::path input_file(const uint8_t* data, size_t size, const std::string& name) {
  const auto path = scratch_dir() / name;
  write_bytes(path, {reinterpret_cast<const char*>(data), size});
  return path;
}

// One input holding several files: their contents joined by this line (seeds are made with cat and printf).
inline constexpr std::string_view kFileSeparator = "\n--fer-fuzz-next-file--\n";
inline std::vector<std::string_view> split_files(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (size_t at; (at = all.find(kFileSeparator)) != std::string_view::npos;) {
    parts.push_back(all.substr(0, at));
    all.remove_prefix(at + kFileSeparator.size());
  }
  parts.push_back(all);
  return parts;
}

// Runs a parser on one input: accepted or refused with fer::Error are both fine.
template <class Parse>
int accept_or_refuse(Parse&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace fer::fuzz
