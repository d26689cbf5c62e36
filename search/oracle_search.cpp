#include "search/oracle_search.hpp"

#include <algorithm>
#include <cassert>
#include <optional>

#include "core/error.hpp"

namespace ghnas {

namespace {

// Table lookups made elsewhere, charged by the local oracle.
class RemoteLookups : public SearchEvaluator {
 public:
  RemoteLookups(SearchEvaluator& lookups, TabularOracle& oracle) : lookups_(lookups), oracle_(oracle) {}
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override {
    std::vector<CandidateEvaluation> answers = lookups_.evaluate(batch);
    oracle_.charge(batch, answers);
    return answers;
  }

 private:
  SearchEvaluator& lookups_;
  TabularOracle& oracle_;
};

}  // namespace

OracleSearchReport run_oracle_search(const OracleSearchConfig& config, SearchObserver* observer) {
  // Cheap checks first, so a typo fails before a large table is read.
  GHNAS_CHECK_AS(ConfigError, config.queries > 0,
                 "search: the query budget must be a positive number of queries, got ",
                 config.queries);
  const StrategyOptions strategy_options =
      resolve_strategy_options(config.strategy, config.strategy_options);
  const TableOracleSpec spec = parse_table_oracle_spec(config.oracle);
  std::shared_ptr<const SearchSpace> full = make_space(config.space, config.space_options);

  std::vector<Objective> objectives = config.objectives;
  if (objectives.empty()) objectives.push_back({spec.columns.front(), Direction::kMaximize});
  for (const auto& objective : objectives) {
    std::string columns;
    for (const auto& c : spec.columns) columns += (columns.empty() ? "" : ", ") + c;
    GHNAS_CHECK_AS(
        ConfigError,
        std::find(spec.columns.begin(), spec.columns.end(), objective.metric) != spec.columns.end(),
        "search: objective '", objective.metric, "' is not a column of oracle '", config.oracle,
        "' (its columns: ", columns, ")");
  }

  TabularOracle oracle(*full, spec.path, spec.columns, config.charge_repeats);
  std::shared_ptr<const SearchSpace> space = full;
  if (config.restrict_to_table)
    space = std::make_shared<TableSpace>(full, oracle.row_archs(), "table '" + spec.path + "'");

  SearchOptions options;
  options.strategy = config.strategy;
  options.strategy_options = strategy_options;
  options.objectives = objectives;
  options.seed = config.seed;
  options.max_evaluations = config.queries;
  options.max_seconds = config.max_seconds;
  options.batch_size = config.batch_size;
  options.progress = config.progress;
  // A repeat answered by the loop would bypass the oracle's charge.
  options.reuse_results = !config.charge_repeats;

  OracleSearchReport report;
  options.screen_factor = config.screen ? config.screen_factor : 1;
  std::optional<RemoteLookups> remote;
  if (config.lookups) remote.emplace(*config.lookups, oracle);
  SearchEvaluator& evaluator = remote ? static_cast<SearchEvaluator&>(*remote) : oracle;
  report.result = run_search(*space, evaluator, options, observer, config.screen);
  report.table_rows = oracle.num_rows();
  report.table_classes = oracle.num_classes();
  report.space_description = space->description();
  const SearchResult& r = report.result;
  // Every charge the loop counted is one the table made.
  assert(static_cast<std::size_t>(r.charged) == oracle.queries_charged());

  nlohmann::json summary;
  const SearchRecord* best = r.best_record();
  summary["best_arch"] = best ? best->candidate.arch.spec : nlohmann::json(nullptr);
  summary["best_value"] = best ? nlohmann::json(best->objectives[0]) : nlohmann::json(nullptr);
  summary["queries_used"] = r.charged;
  summary["metric"] = objectives.front().metric;
  summary["strategy"] = config.strategy;
  summary["seed"] = config.seed;
  summary["proposals"] = r.history.size();
  summary["distinct_queried"] = oracle.distinct_queried();
  summary["unknown"] = r.unknown;
  summary["screened"] = r.screened;
  summary["failed"] = r.failed;
  summary["stop_reason"] = stop_reason_name(r.stop_reason);
  summary["space_size"] =
      config.restrict_to_table ? nlohmann::json(oracle.num_classes()) : nlohmann::json(nullptr);
  if (objectives.size() >= 2) {
    nlohmann::json front = nlohmann::json::array();
    for (std::size_t i : r.pareto_front) {
      const SearchRecord& record = r.history[i];
      nlohmann::json point = {{"arch", record.candidate.arch.spec}};
      for (std::size_t k = 0; k < objectives.size(); ++k)
        point[objectives[k].metric] = record.objectives[k];
      front.push_back(std::move(point));
    }
    summary["pareto_front"] = std::move(front);
  }
  report.summary = std::move(summary);
  return report;
}

}  // namespace ghnas
