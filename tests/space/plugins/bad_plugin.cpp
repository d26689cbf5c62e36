// Plugins that the loader must refuse, one per compile definition (tests/space/plugins/
// CMakeLists.txt builds each variant as its own shared library).

#include <memory>

#include "space/plugin_api.hpp"

#if defined(GHNAS_TEST_PLUGIN_WRONG_VERSION)
// Built for a future plugin API: the loader must stop before calling anything in it.
extern "C" __attribute__((visibility("default"))) const GhnasPluginInfo* ghnas_plugin_entry(void) {
  static const GhnasPluginInfo info = [] {
    GhnasPluginInfo i = GHNAS_PLUGIN_INFO("wrong-version", nullptr);
    i.api_version = GHNAS_PLUGIN_API_VERSION + 1;
    return i;
  }();
  return &info;
}
#elif defined(GHNAS_TEST_PLUGIN_TAKEN_NAME)
// Registers a space under a built-in's name.
namespace {
void register_taken(ghnas::PluginHost& host) {
  host.register_space("nasbench201", [](const ghnas::SpaceOptions&) {
    return std::unique_ptr<ghnas::SearchSpace>();
  });
}
}  // namespace
GHNAS_DEFINE_PLUGIN("taken-name", register_taken)
#else
// A shared library that is no ghnas plugin: it lacks the entry symbol.
extern "C" __attribute__((visibility("default"))) int ghnas_not_the_entry(void) { return 1; }
#endif
