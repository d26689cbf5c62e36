#pragma once
// Each command group adds its subcommands to the application; main() runs the one chosen.

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace ghnas::cli {

/// A subcommand's body, run after parsing. Returns the process exit code.
using Action = std::function<int()>;

/// spaces, sample, describe, graph.
void add_space_commands(CLI::App& app, std::vector<std::pair<CLI::App*, Action>>& actions);

}  // namespace ghnas::cli
