// Atomic whole-file writes: content replaced in one step, a failed write leaves the old file and no debris.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

TEST_CASE("write_file_atomically creates and replaces, leaving no temporary file") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_atomic";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto p = dir / "metrics.json";
  fer::io::write_file_atomically(p, "{\"a\": 1}");
  CHECK(slurp(p) == "{\"a\": 1}");
  std::string big(1 << 20, 'x');
  fer::io::write_file_atomically(p, big);
  CHECK(slurp(p) == big);
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);
}

TEST_CASE("a failed write keeps the previous file") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_atomic_fail";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "target_is_a_dir");
  auto keep = dir / "keep.txt";
  fer::io::write_file_atomically(keep, "old");
  // Renaming a file over a non-empty directory fails: the error names the target, the temp file is removed.
  std::ofstream(dir / "target_is_a_dir" / "x") << "x";
  CHECK_THROWS_WITH_AS(fer::io::write_file_atomically(dir / "target_is_a_dir", "new"),
                       doctest::Contains("target_is_a_dir.tmp."), fer::Error);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  CHECK(entries == 2);  // keep.txt and the directory; no .tmp debris
  CHECK(slurp(keep) == "old");
  CHECK_THROWS_WITH_AS(fer::io::write_file_atomically("/nonexistent_dir/f", "x"), doctest::Contains("atomic write of '/nonexistent_dir/f': cannot create temporary file"),
                       fer::Error);
}
