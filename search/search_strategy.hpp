#pragma once
// The SearchStrategy interface and its registry. A strategy works ask/tell style: the search
// loop asks it to propose candidates, evaluates them, and tells it the results. Strategies see
// only a SearchSpace (sample, mutate, canonical_hash, neighbours) and the objective values the
// loop hands back, never an evaluator, so the same strategy runs against a tabular benchmark,
// the GHN surrogate or real training.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "search/evaluation.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// Whether an objective is to be made large (accuracy) or small (latency, parameters).
enum class Direction { kMaximize, kMinimize };

/// "max" or "min".
const char* direction_name(Direction direction);

/// One quantity a search optimises: the name of a metric the evaluator returns
/// (e.g. "c10_test_nats") and which way is better.
struct Objective {
  std::string metric;
  Direction direction = Direction::kMaximize;
};

/// Parses "metric[:max|:min],metric[:max|:min]" (direction defaults to max), e.g.
/// "c10_test_nats:max,params_M:min". Throws ConfigError naming the bad piece.
std::vector<Objective> parse_objectives(const std::string& text);

/// `value` turned so that larger is better: itself for kMaximize, its negation for kMinimize.
double oriented(double value, Direction direction);

/// Whether oriented value `a` is strictly better than `b` under `direction`.
bool better(double a, double b, Direction direction);

/// What the search loop tells a strategy about one proposal: the candidate, how its evaluation
/// went, and (when `evaluation.status` is kOk) the objective values in the order of the
/// strategy's objectives, raw (not oriented).
struct SearchRecord {
  Candidate candidate;
  CandidateEvaluation evaluation;
  /// True when the loop answered from an earlier evaluation of the same canonical hash.
  bool reused = false;
  /// Score a CandidateScreen gave the candidate, when one screened its batch.
  double screen_score = 0;
  bool screened = false;
  std::vector<double> objectives;
};

/// Option values of a strategy: name -> value, as typed on the command line.
using StrategyOptions = std::map<std::string, std::string>;

/// What every strategy is built with.
struct StrategyContext {
  /// The space to propose from; must outlive the strategy.
  const SearchSpace* space = nullptr;
  /// What the search optimises, in priority order (random ignores them, evolution uses
  /// exactly one, pareto exactly two).
  std::vector<Objective> objectives;
  /// Seeds the strategy's own random engine: equal seeds give equal proposals.
  std::uint64_t seed = 0;
};

/// A search strategy, ask/tell style (see the top of this file).
class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;

  virtual std::string name() const = 0;

  /// Up to `n` new candidates (n >= 1). Fewer, or none, when the strategy has nothing more to
  /// propose now (a random search that exhausted its space, an evolution that waits for the
  /// rest of its generation); an empty answer ends the search.
  virtual std::vector<Architecture> propose(std::size_t n) = 0;

  /// The results of the last proposals, in proposal order. Only records with status kOk carry
  /// objective values; the others (failed, unknown to an oracle, invalid, screened out) are
  /// for the strategy to ignore or count.
  virtual void observe(const std::vector<SearchRecord>& records) = 0;
};

using StrategyFactory =
    std::function<std::unique_ptr<SearchStrategy>(const StrategyContext&, const StrategyOptions&)>;

/// A registered strategy: its factory, the parameters it takes (printed by --help and checked
/// before a run) and a one-line description.
struct StrategyInfo {
  StrategyFactory factory;
  std::vector<ParamSpec> params;
  std::string description;
};

/// Registers a strategy under `name`. Throws ConfigError if the name is taken or empty.
void register_strategy(const std::string& name, StrategyInfo info);

/// Registers the built-in strategies (random, evolution, pareto). Idempotent.
void register_builtin_strategies();

/// Names of all registered strategies, sorted.
std::vector<std::string> list_strategies();

/// The registration of `name`. Throws ConfigError listing the valid names for an unknown one.
const StrategyInfo& strategy_info(const std::string& name);

/// `options` checked against the strategy's ParamSpecs (unknown names, values outside their
/// choices) with defaults filled in. Throws ConfigError.
StrategyOptions resolve_strategy_options(const std::string& name, const StrategyOptions& options);

/// Creates a registered strategy. Throws ConfigError for an unknown name, a bad option, a
/// missing space, or a number of objectives the strategy cannot work with.
std::unique_ptr<SearchStrategy> make_strategy(const std::string& name,
                                              const StrategyContext& context,
                                              const StrategyOptions& options = {});

/// The integer value of option `key` in resolved `options`, which must lie in [min, max].
/// Throws ConfigError naming `owner`, the option and the problem.
int int_option(const std::string& owner, const StrategyOptions& options, const std::string& key,
               int min, int max);

}  // namespace ghnas
