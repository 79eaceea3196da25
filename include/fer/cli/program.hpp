#pragma once
// A program's command line on CLI11. Constructing the CLI::App, parsing, and printing help or usage errors are
// compiled once into the library (kernels/cpu/cli/program.cpp): CLI11 2.1 is header-only and those parts are most
// of its code, which every program would otherwise compile again. Programs still declare their options on the app,
// and include only this header (not <CLI/CLI.hpp>: its help formatter and config-file reader would be generated again
// in each program, about 100 kB of code).
#include <CLI/App.hpp>
#include <CLI/Error.hpp>
#include <memory>
#include <optional>
#include <string>

namespace fer::cli {

// The app of a program; `show_defaults`: --help prints every option's default value.
std::unique_ptr<CLI::App> make_app(const std::string& description, bool show_defaults = false);

// A subcommand of `app` (its App is constructed here, with the help formatter and config reader it carries).
CLI::App* add_subcommand(CLI::App& app, const std::string& name, const std::string& description);

// Parses argv. Returns the code main should return when the program must not run (--help: 0 after the help text;
// a usage error: CLI11's message on stderr and its code), nothing when it should run.
std::optional<int> parse(CLI::App& app, int argc, const char* const* argv);

// What CLI11_PARSE does with a parse error caught by the caller: prints it (or the help) and gives the exit code.
int exit_code(CLI::App& app, const CLI::ParseError& e);

}  // namespace fer::cli
