// FER2013 CSVs (fer2013.csv, icml_face_data.csv, train.csv, test.csv) and FER+'s fer2013new.csv: the same input is
// read as both, and relabelled when both read (the pair's row counts must then match).
// seeds: tests/fuzz/seeds/fer2013
#include <optional>

#include "fer/data/fer2013.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fer::fuzz::input_file(data, size, "input.csv");
  std::optional<fer::data::Fer2013Splits> splits;
  std::optional<std::vector<int32_t>> votes;
  fer::fuzz::accept_or_refuse([&] { splits = fer::data::read_fer2013_csv(path); });
  fer::fuzz::accept_or_refuse([&] { votes = fer::data::read_ferplus_labels(path); });
  if (splits && votes) fer::fuzz::accept_or_refuse([&] { (void)fer::data::relabel_ferplus(*splits, *votes, path.string()); });
  return 0;
}
