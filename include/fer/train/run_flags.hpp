#pragma once
// Command-line flags against a run's config.json: a program given `--run DIR` / `--resume DIR` takes every flag it
// was not given from the config, and a flag given explicitly with another value than the config's is an error naming
// both (never a silent override). Flags and config keys share their names (lr, batch_size, model, data_root, ...).
// Defined in kernels/cpu/train/run_flags.cpp.
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace fer::train {

// The config's value for `key`: top level first, then the `train` and `data` objects; null when absent.
nlohmann::json run_config_value(const nlohmann::json& cfg, const std::string& key);

// Checks the explicitly given options of `app` against `cfg` and returns the arguments that set the others to the
// config's values. Options named in `free` (where, how long, on what device) may differ and are never filled.
std::vector<std::string> config_arguments(const CLI::App& app, const nlohmann::json& cfg, const std::string& origin,
                                          const std::set<std::string>& free);

// Parses argv plus `extra` again (CLI11 resets and re-runs every option).
void reparse_with(CLI::App& app, int argc, char** argv, const std::vector<std::string>& extra);

}  // namespace fer::train
