// ghnas: neural architecture search ranked by a graph hypernetwork.

#include <cstdio>
#include <exception>
#include <iostream>
#include <list>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "space/plugin.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "ghnas: neural architecture search that ranks candidate networks with a graph "
      "hypernetwork (GHN-2) instead of training each one.\n"
      "Run 'ghnas <command> --help' for the options of a command."};
  app.require_subcommand(1);
  app.set_version_flag("--version", GHNAS_VERSION);
  ghnas::cli::Actions actions;
  ghnas::cli::add_space_commands(app, actions);
#ifdef GHNAS_WITH_EVALUATORS
  ghnas::cli::add_evaluators_commands(app, actions);
#endif
#ifdef GHNAS_WITH_SURROGATE
  ghnas::cli::add_surrogate_commands(app, actions);
#endif
#ifdef GHNAS_WITH_HEADS
  ghnas::cli::add_heads_commands(app, actions);
#endif
#ifdef GHNAS_WITH_SEARCH
  ghnas::cli::add_search_commands(app, actions);
#endif
#ifdef GHNAS_WITH_STORAGE
  ghnas::cli::add_storage_commands(app, actions);
#endif
  // --plugin is accepted by the application and by every command (it matters to those that
  // take --space), and loaded after parsing, before the command runs.
  // Each option fills its own list (the application's first), so none overwrites another.
  std::list<std::vector<std::string>> plugins(1);
  const std::string plugin_help =
      "load search spaces from a plugin shared library (repeatable; see space/plugin_api.hpp)";
  // One file per --plugin, so a following word is never taken for a second file.
  app.add_option("--plugin", plugins.front(), plugin_help)->allow_extra_args(false);
  for (CLI::App* command : app.get_subcommands({}))
    command->add_option("--plugin", plugins.emplace_back(), plugin_help)->allow_extra_args(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto& list : plugins)
      for (const auto& path : list) ghnas::load_plugin(path);
    for (auto& [command, action] : actions)
      if (command->parsed()) return action();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "ghnas: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
