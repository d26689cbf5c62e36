#pragma once
// Loading search-space plugins (shared libraries, see space/plugin_api.hpp for the ABI).

#include <string>
#include <vector>

namespace ghnas {

/// A plugin that was loaded, and what it registered.
struct LoadedPlugin {
  std::string path;    // as given
  std::string name;    // GhnasPluginInfo::name
  std::vector<std::string> spaces;  // names it registered
};

/// Loads the plugin at `path` and registers its spaces (built-in spaces are registered
/// first, so a plugin cannot take their names). Loading the same file twice is a no-op that
/// returns the first load's record. Throws ConfigError naming the file and what was expected
/// when the file cannot be loaded, lacks the `ghnas_plugin_entry` symbol, was built for
/// another plugin API version, ghnas version or C++ ABI, or registers a name already taken.
LoadedPlugin load_plugin(const std::string& path);

/// Every plugin loaded so far, in load order.
std::vector<LoadedPlugin> loaded_plugins();

}  // namespace ghnas
