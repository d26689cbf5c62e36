// ghnas: neural architecture search ranked by a graph hypernetwork.

#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.hpp"

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
#ifdef GHNAS_WITH_SEARCH
  ghnas::cli::add_search_commands(app, actions);
#endif
#ifdef GHNAS_WITH_STORAGE
  ghnas::cli::add_storage_commands(app, actions);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [command, action] : actions)
      if (command->parsed()) return action();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "ghnas: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
