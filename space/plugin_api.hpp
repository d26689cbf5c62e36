#pragma once
// The ABI between ghnas and a search-space plugin (a shared library loaded with --plugin).
// A plugin includes this header, defines its SearchSpace subclasses, and exports one C symbol,
// `ghnas_plugin_entry`, most simply with GHNAS_DEFINE_PLUGIN:
//
//   #include "space/plugin_api.hpp"
//
//   void register_my_spaces(ghnas::PluginHost& host) {
//     host.register_space("tiny", [](const ghnas::SpaceOptions& o) {
//       return std::make_unique<TinySpace>(o);
//     });
//   }
//   GHNAS_DEFINE_PLUGIN("tiny-space", register_my_spaces)
//
// Compatibility rule. A plugin is C++ that shares ghnas's own types (SearchSpace, ArchGraph,
// std::string, nlohmann::json) with the host, so it must be built with the same compiler ABI
// (same standard library, same _GLIBCXX_USE_CXX11_ABI) against the headers of the same ghnas
// version as the `ghnas` executable that loads it. The loader enforces what it can check
// before running any plugin C++ code: the plugin API version, the ghnas version, the
// standard-library ABI flag, and the sizes of the shared types (a cheap guard against
// headers from another version). A mismatch is refused with an error naming the file.
//
// Symbols. The plugin does not link the ghnas libraries; the undefined ghnas functions it
// calls (ArchGraph::add, SearchSpace's vtable, read_json_file, ...) resolve against the
// executable that loads it, which exports its symbols (CMake ENABLE_EXPORTS). Spaces are
// registered through PluginHost, so they land in the host's registry whatever the linking.
// Plugins stay loaded for the life of the process (their code backs the registered factories).

#include <cstddef>
#include <cstdint>
#include <string>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"

/// The plugin API version. Bump it whenever a type a plugin sees (SearchSpace, ArchGraph,
/// OpNode, Architecture, ParamSpec, PluginHost, GhnasPluginInfo) changes. 2: SearchSpace gained
/// width() and at_width().
#define GHNAS_PLUGIN_API_VERSION 2

// GHNAS_VERSION, the version of the ghnas headers the plugin is compiled against, is defined
// by the build: ghnas's own targets get it from ghnas_core, a plugin from its CMakeLists
// (examples/custom_space/CMakeLists.txt reads it from ghnas's project(VERSION)).
#ifndef GHNAS_VERSION
#error "define GHNAS_VERSION to the version of the ghnas these headers belong to, e.g. -DGHNAS_VERSION=\"0.1.0\" (see examples/custom_space/CMakeLists.txt)"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define GHNAS_PLUGIN_CXX11_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define GHNAS_PLUGIN_CXX11_ABI -1
#endif

namespace ghnas {

/// What the host offers a plugin while it registers its spaces.
class PluginHost {
 public:
  virtual ~PluginHost() = default;
  /// Registers a space under `name` in the host's registry (see ghnas::register_space).
  /// Throws ConfigError when the name is taken.
  virtual void register_space(const std::string& name, SpaceFactory factory) = 0;
};

}  // namespace ghnas

extern "C" {

/// What `ghnas_plugin_entry` returns: plain C data, readable whatever the C++ ABI, so the
/// loader can check compatibility before it calls any C++ code of the plugin.
struct GhnasPluginInfo {
  /// GHNAS_PLUGIN_API_VERSION as the plugin saw it; checked first.
  std::uint32_t api_version;
  /// GHNAS_VERSION of the headers the plugin was built against.
  const char* ghnas_version;
  /// The plugin's own name, for messages ("tiny-space").
  const char* name;
  /// _GLIBCXX_USE_CXX11_ABI of the plugin (std::string layout), -1 where not libstdc++.
  int cxx11_abi;
  /// sizeof of the types shared with the host, in the plugin's compilation.
  std::uint32_t sizeof_arch_graph, sizeof_op_node, sizeof_architecture, sizeof_param_spec;
  /// Registers the plugin's spaces; called once, after every check has passed.
  void (*register_spaces)(ghnas::PluginHost* host);
};

/// The one symbol the loader looks up. Returns a pointer to static data of the plugin.
typedef const GhnasPluginInfo* (*GhnasPluginEntryFn)(void);

}  // extern "C"

/// Name of the entry symbol, for the loader and for messages.
#define GHNAS_PLUGIN_ENTRY_SYMBOL "ghnas_plugin_entry"

/// Fills a GhnasPluginInfo for this compilation: the version and layout values the loader
/// compares with its own.
#define GHNAS_PLUGIN_INFO(plugin_name, register_fn)                                        \
  GhnasPluginInfo {                                                                        \
    GHNAS_PLUGIN_API_VERSION, GHNAS_VERSION, plugin_name, GHNAS_PLUGIN_CXX11_ABI,          \
        static_cast<std::uint32_t>(sizeof(::ghnas::ArchGraph)),                            \
        static_cast<std::uint32_t>(sizeof(::ghnas::OpNode)),                               \
        static_cast<std::uint32_t>(sizeof(::ghnas::Architecture)),                         \
        static_cast<std::uint32_t>(sizeof(::ghnas::ParamSpec)), register_fn                \
  }

/// Defines the exported entry point of a plugin named `plugin_name` whose spaces are
/// registered by `register_fn`, a function `void(ghnas::PluginHost&)`.
#define GHNAS_DEFINE_PLUGIN(plugin_name, register_fn)                                      \
  namespace {                                                                              \
  void ghnas_plugin_register_thunk(::ghnas::PluginHost* host) { register_fn(*host); }      \
  }                                                                                        \
  extern "C" __attribute__((visibility("default"))) const GhnasPluginInfo*                 \
  ghnas_plugin_entry(void) {                                                               \
    static const GhnasPluginInfo info =                                                    \
        GHNAS_PLUGIN_INFO(plugin_name, &ghnas_plugin_register_thunk);                      \
    return &info;                                                                          \
  }
