#pragma once
// Each command group adds its subcommands to the application; main() runs the one chosen.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "space/search_space.hpp"

namespace ghnas::cli {

/// A subcommand's body, run after parsing. Returns the process exit code.
using Action = std::function<int()>;

using Actions = std::vector<std::pair<CLI::App*, Action>>;

/// `--space-option NAME=VALUE` values as SpaceOptions; ConfigError for one without '='
/// (cli/space_commands.cpp).
SpaceOptions parse_space_options(const std::vector<std::string>& pairs);

/// spaces, sample, describe, graph (cli/space_commands.cpp).
void add_space_commands(CLI::App& app, Actions& actions);
/// query, export (cli/storage_commands.cpp).
void add_storage_commands(CLI::App& app, Actions& actions);
/// train, ground-truth, proxies, latency (cli/evaluators_commands.cpp).
void add_evaluators_commands(CLI::App& app, Actions& actions);
/// import-ghn2, average-ghn, embed, predict-params, train-ghn, eval-ghn (cli/surrogate_commands.cpp).
void add_surrogate_commands(CLI::App& app, Actions& actions);
/// fit-heads, predict (cli/heads_commands.cpp).
void add_heads_commands(CLI::App& app, Actions& actions);
/// search (cli/search_commands.cpp).
void add_search_commands(CLI::App& app, Actions& actions);

}  // namespace ghnas::cli
