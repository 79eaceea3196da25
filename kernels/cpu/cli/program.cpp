#include "fer/cli/program.hpp"

#include <CLI/CLI.hpp>

namespace fer::cli {

std::unique_ptr<CLI::App> make_app(const std::string& description, bool show_defaults) {
  auto app = std::make_unique<CLI::App>(description);
  if (show_defaults) app->option_defaults()->always_capture_default();
  return app;
}

CLI::App* add_subcommand(CLI::App& app, const std::string& name, const std::string& description) {
  return app.add_subcommand(name, description);
}

std::optional<int> parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return std::nullopt;
}

int exit_code(CLI::App& app, const CLI::ParseError& e) { return app.exit(e); }

}  // namespace fer::cli
