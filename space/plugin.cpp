#include "space/plugin.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "space/plugin_api.hpp"
#include "space/search_space.hpp"

namespace ghnas {

namespace {

struct PluginState {
  std::mutex mutex;
  std::vector<LoadedPlugin> loaded;
  std::map<std::string, std::size_t> by_real_path;  // realpath -> index in `loaded`
};

PluginState& state() {
  static PluginState s;
  return s;
}

// Registers into the host's registry and remembers the names, so that `ghnas spaces` can
// say where a space came from.
class RegisteringHost : public PluginHost {
 public:
  explicit RegisteringHost(std::string path) : path_(std::move(path)) {}
  void register_space(const std::string& name, SpaceFactory factory) override {
    try {
      ghnas::register_space(name, std::move(factory));
    } catch (const ConfigError& e) {
      throw ConfigError("plugin '" + path_ + "': " + e.what());
    }
    names.push_back(name);
  }
  std::vector<std::string> names;

 private:
  std::string path_;
};

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

}  // namespace

LoadedPlugin load_plugin(const std::string& path) {
  register_builtin_spaces();
  PluginState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);

  struct stat st {};
  GHNAS_CHECK_AS(ConfigError, ::stat(path.c_str(), &st) == 0, "plugin '", path,
                 "': no such file (expected a shared library such as libmy_space.so)");
  GHNAS_CHECK_AS(ConfigError, S_ISREG(st.st_mode), "plugin '", path,
                 "': not a regular file (expected a shared library)");
  char real[PATH_MAX];
  const std::string key = ::realpath(path.c_str(), real) ? std::string(real) : path;
  if (auto it = s.by_real_path.find(key); it != s.by_real_path.end()) return s.loaded[it->second];

  // dlopen searches the library path for names without a '/'; a user means the file.
  const std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
  // RTLD_NOW: an unresolved symbol (a plugin built against other headers) fails here, with
  // the symbol named, rather than in the middle of a search.
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const std::string why = dl_error();
    throw ConfigError(
        "plugin '" + path + "': cannot be loaded as a shared library: " + why +
        (why.find("undefined symbol") != std::string::npos
             ? " (the plugin calls a function this ghnas does not have: it was built against "
               "the headers of another ghnas version or with other compiler settings)"
             : ""));
  }
  // From here on the handle is never closed: the factories it registers point into it.
  dlerror();
  void* symbol = dlsym(handle, GHNAS_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    dlclose(handle);
    throw ConfigError("plugin '" + path + "': no symbol '" GHNAS_PLUGIN_ENTRY_SYMBOL
                      "' (a ghnas plugin exports it with GHNAS_DEFINE_PLUGIN from "
                      "space/plugin_api.hpp)");
  }
  const auto entry = reinterpret_cast<GhnasPluginEntryFn>(symbol);
  const GhnasPluginInfo* info = entry();
  auto refuse = [&](const std::string& why) {
    dlclose(handle);
    throw ConfigError("plugin '" + path + "': " + why);
  };
  if (info == nullptr) refuse(GHNAS_PLUGIN_ENTRY_SYMBOL "() returned null");
  // The API version first: with another version, nothing else in the struct can be trusted.
  if (info->api_version != GHNAS_PLUGIN_API_VERSION)
    refuse(detail::str_cat("built for plugin API version ", info->api_version,
                           ", this ghnas expects version ", GHNAS_PLUGIN_API_VERSION,
                           "; rebuild the plugin against the headers of this ghnas (",
                           GHNAS_VERSION, ")"));
  const std::string plugin_version = info->ghnas_version ? info->ghnas_version : "(none)";
  if (plugin_version != GHNAS_VERSION)
    refuse(detail::str_cat("built against the headers of ghnas ", plugin_version,
                           ", this is ghnas ", GHNAS_VERSION, "; rebuild the plugin"));
  if (info->cxx11_abi != GHNAS_PLUGIN_CXX11_ABI)
    refuse(detail::str_cat("built with _GLIBCXX_USE_CXX11_ABI=", info->cxx11_abi,
                           ", this ghnas uses ", GHNAS_PLUGIN_CXX11_ABI,
                           "; build it with the same compiler settings"));
  if (info->sizeof_arch_graph != sizeof(ArchGraph) || info->sizeof_op_node != sizeof(OpNode) ||
      info->sizeof_architecture != sizeof(Architecture) ||
      info->sizeof_param_spec != sizeof(ParamSpec))
    refuse(detail::str_cat("its ghnas types have other sizes than this ghnas's (ArchGraph ",
                           info->sizeof_arch_graph, " vs ", sizeof(ArchGraph), ", OpNode ",
                           info->sizeof_op_node, " vs ", sizeof(OpNode),
                           "): it was built against other headers or compiler settings"));
  if (info->register_spaces == nullptr) refuse("it has no register_spaces function");

  RegisteringHost host(path);
  info->register_spaces(&host);
  LoadedPlugin record{path, info->name ? info->name : "", host.names};
  s.by_real_path[key] = s.loaded.size();
  s.loaded.push_back(record);
  return record;
}

std::vector<LoadedPlugin> loaded_plugins() {
  PluginState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.loaded;
}

}  // namespace ghnas
