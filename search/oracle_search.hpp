#pragma once
// A whole search against a tabular oracle, as `ghnas search --space S --strategy X
// --oracle table:FILE.csv:COLUMN --queries N --seed K` runs it: the command parses flags into
// an OracleSearchConfig, calls run_oracle_search, and prints summary.dump() as its last
// stdout line.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "search/search_loop.hpp"
#include "search/search_strategy.hpp"
#include "search/table_oracle.hpp"

namespace ghnas {

/// The flags of `ghnas search` with a tabular oracle.
struct OracleSearchConfig {
  std::string space = "nasbench201";
  SpaceOptions space_options;
  std::string strategy = "evolution";
  StrategyOptions strategy_options;
  /// "table:FILE.csv:COLUMN[,COLUMN...]".
  std::string oracle;
  /// Objectives, each a column of the oracle; empty: maximise the oracle's first column.
  std::vector<Objective> objectives;
  /// Charged queries (> 0): distinct architectures looked up in the table, or every lookup
  /// with charge_repeats.
  int queries = 0;
  std::uint64_t seed = 0;
  std::optional<double> max_seconds;
  int batch_size = 1;
  /// Propose only architectures the table has (a TableSpace over the full space). With a
  /// table covering part of the space, the alternative wastes proposals on unknown
  /// architectures (uncharged, but a strategy learns nothing from them).
  bool restrict_to_table = true;
  /// Charge every query, repeats of an architecture included (NAS-Bench-201's own accounting,
  /// where each evaluated child costs its training time), instead of one charge per distinct
  /// architecture.
  bool charge_repeats = false;
  /// Progress bar on stderr: -1 when stderr is a terminal, 0 off, 1 on.
  int progress = -1;
  /// A cheap first look (e.g. the GHN's property heads): the strategy proposes screen_factor x
  /// batch_size candidates per batch and only the best batch_size by screen score are queried.
  CandidateScreen* screen = nullptr;
  int screen_factor = 1;
  /// Where the table lookups run when not here: an evaluator whose answers are those of a
  /// TabularOracle over the same table (e.g. MPI workers, each holding a copy). The charges
  /// are still made here, by this process's oracle, so the budget is the same as when it
  /// answers itself. Null: this process's oracle answers.
  SearchEvaluator* lookups = nullptr;
};

/// What run_oracle_search returns: the search itself and the command's output.
struct OracleSearchReport {
  SearchResult result;
  /// Architectures (rows) and distinct architectures in the table.
  std::size_t table_rows = 0;
  std::size_t table_classes = 0;
  /// The search's own record of what it proposed from: the table space's description, or
  /// the full space's.
  std::string space_description;
  /// The command's output: {"best_arch", "best_value", "queries_used", "metric", "strategy",
  /// "seed", "proposals", "distinct_queried", "unknown", "failed", "stop_reason",
  /// "space_size"} and, with two or
  /// more objectives, "pareto_front": [{"arch", "<metric>": value, ...}]. best_arch and
  /// best_value are null when nothing was evaluated successfully.
  nlohmann::json summary;
};

/// Checks the configuration (ConfigError for an unknown space, strategy or option, a budget
/// <= 0, an objective that is not an oracle column, a malformed oracle spec), loads the table
/// (FileError / ArchError for a bad file), and runs the search.
OracleSearchReport run_oracle_search(const OracleSearchConfig& config,
                                     SearchObserver* observer = nullptr);

}  // namespace ghnas
