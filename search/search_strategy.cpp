#include "search/search_strategy.hpp"

#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"

namespace ghnas {

const char* direction_name(Direction direction) {
  return direction == Direction::kMaximize ? "max" : "min";
}

std::vector<Objective> parse_objectives(const std::string& text) {
  std::vector<Objective> objectives;
  std::string piece;
  auto flush = [&] {
    GHNAS_CHECK_AS(ConfigError, !piece.empty(), "objectives '", text,
                   "': an empty entry; expected metric[:max|:min] separated by commas");
    Objective objective;
    const auto colon = piece.rfind(':');
    objective.metric = piece.substr(0, colon);
    if (colon != std::string::npos) {
      const std::string direction = piece.substr(colon + 1);
      GHNAS_CHECK_AS(ConfigError, direction == "max" || direction == "min", "objectives '", text,
                     "': direction '", direction, "' of '", objective.metric,
                     "' must be max or min");
      objective.direction = direction == "max" ? Direction::kMaximize : Direction::kMinimize;
    }
    GHNAS_CHECK_AS(ConfigError, !objective.metric.empty(), "objectives '", text,
                   "': an entry names no metric");
    for (const auto& o : objectives)
      GHNAS_CHECK_AS(ConfigError, o.metric != objective.metric, "objectives '", text, "': metric '",
                     objective.metric, "' is listed twice");
    objectives.push_back(objective);
    piece.clear();
  };
  for (char c : text) {
    if (c == ',')
      flush();
    else
      piece += c;
  }
  flush();
  return objectives;
}

double oriented(double value, Direction direction) {
  return direction == Direction::kMaximize ? value : -value;
}

bool better(double a, double b, Direction direction) {
  return oriented(a, direction) > oriented(b, direction);
}

namespace {
std::map<std::string, StrategyInfo>& registry() {
  static std::map<std::string, StrategyInfo> strategies;
  return strategies;
}
}  // namespace

void register_strategy(const std::string& name, StrategyInfo info) {
  GHNAS_CHECK_AS(ConfigError, !name.empty(), "a search strategy needs a name");
  GHNAS_CHECK_AS(ConfigError, static_cast<bool>(info.factory), "search strategy '", name,
                 "' has no factory");
  GHNAS_CHECK_AS(ConfigError, registry().count(name) == 0, "search strategy '", name,
                 "' is already registered");
  registry().emplace(name, std::move(info));
}

std::vector<std::string> list_strategies() {
  std::vector<std::string> names;
  for (const auto& [name, info] : registry()) names.push_back(name);
  return names;
}

const StrategyInfo& strategy_info(const std::string& name) {
  register_builtin_strategies();
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string valid;
    for (const auto& n : list_strategies()) valid += (valid.empty() ? "" : ", ") + n;
    throw ConfigError("unknown search strategy '" + name + "'; valid strategies: " + valid);
  }
  return it->second;
}

StrategyOptions resolve_strategy_options(const std::string& name, const StrategyOptions& options) {
  return resolve_options("strategy '" + name + "'", strategy_info(name).params, options);
}

std::unique_ptr<SearchStrategy> make_strategy(const std::string& name,
                                              const StrategyContext& context,
                                              const StrategyOptions& options) {
  const StrategyInfo& info = strategy_info(name);
  GHNAS_CHECK_AS(ConfigError, context.space != nullptr, "strategy '", name,
                 "' needs a search space");
  return info.factory(context, resolve_strategy_options(name, options));
}

int int_option(const std::string& owner, const StrategyOptions& options, const std::string& key,
               int min, int max) {
  const auto it = options.find(key);
  GHNAS_CHECK_AS(ConfigError, it != options.end(), owner, ": option '", key, "' is missing");
  const std::string& text = it->second;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  GHNAS_CHECK_AS(ConfigError, !text.empty() && end == text.c_str() + text.size() && errno == 0,
                 owner, ": option '", key, "' must be an integer, not '", text, "'");
  GHNAS_CHECK_AS(ConfigError, value >= min && value <= max, owner, ": option '", key,
                 "' must lie in ", min, "..", max, ", not ", value);
  return static_cast<int>(value);
}

}  // namespace ghnas
