#include "space/search_space.hpp"

#include "core/error.hpp"
#include "space/json_space.hpp"

namespace ghnas {

std::vector<Architecture> SearchSpace::neighbours(const Architecture&) const { return {}; }

std::optional<Architecture> SearchSpace::at_width(const Architecture&, int) const { return std::nullopt; }

std::optional<int> SearchSpace::width(const Architecture&) const { return std::nullopt; }

namespace {
std::map<std::string, SpaceFactory>& registry() {
  static std::map<std::string, SpaceFactory> spaces;
  return spaces;
}
}  // namespace

void register_space(const std::string& name, SpaceFactory factory) {
  GHNAS_CHECK_AS(ConfigError, !name.empty(), "a search space needs a name");
  GHNAS_CHECK_AS(ConfigError, registry().count(name) == 0,
                 "search space '", name, "' is already registered");
  registry().emplace(name, std::move(factory));
}

std::vector<std::string> list_spaces() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<SearchSpace> make_space(const std::string& name, const SpaceOptions& options) {
  register_builtin_spaces();
  // "json:PATH" names a space declared in a file (space/json_space.hpp), not a registered one.
  if (name.rfind(kJsonSpacePrefix, 0) == 0)
    return make_json_space(name.substr(std::string(kJsonSpacePrefix).size()), options);
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string valid;
    for (const auto& n : list_spaces()) valid += (valid.empty() ? "" : ", ") + n;
    throw ConfigError("unknown search space '" + name + "'; valid spaces: " + valid +
                      " (or json:FILE for a space declared in a JSON file, or a space loaded "
                      "with --plugin)");
  }
  return it->second(options);
}

SpaceOptions resolve_options(const std::string& owner, const std::vector<ParamSpec>& specs,
                             const SpaceOptions& options) {
  SpaceOptions resolved;
  for (const auto& spec : specs) resolved[spec.name] = spec.default_value;
  for (const auto& [key, value] : options) {
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == key) spec = &s;
    if (spec == nullptr) {
      std::string valid;
      for (const auto& s : specs) valid += (valid.empty() ? "" : ", ") + s.name;
      throw ConfigError(owner + ": unknown option '" + key + "'" +
                        (valid.empty() ? std::string(" (it takes none)") : "; valid options: " + valid));
    }
    if (!spec->choices.empty()) {
      bool ok = false;
      std::string valid;
      for (const auto& c : spec->choices) {
        ok |= (c == value);
        valid += (valid.empty() ? "" : ", ") + c;
      }
      GHNAS_CHECK_AS(ConfigError, ok, owner, ": option '", key, "' must be one of ", valid,
                     ", not '", value, "'");
    }
    resolved[key] = value;
  }
  return resolved;
}

}  // namespace ghnas
