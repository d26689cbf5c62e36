#pragma once
// ResultsReader: read-only queries of a results database (`ghnas query`, `ghnas export`).
// It opens its own read-only connection, so it works while a search writes the same file,
// and sees each committed batch whole or not at all.
//
//   ResultsReader reader("ghnas.db");
//   ResultTable best;
//   reader.top({/*run=*/1, "clean_acc", /*k=*/10}, best);

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "storage/result_table.hpp"
#include "storage/vocabulary.hpp"

namespace ghnas {

/// The best k evaluations of one metric in one run.
struct TopQuery {
  std::int64_t run = 0;
  std::string metric;
  std::size_t k = 10;
  std::optional<Fidelity> fidelity;  ///< only this fidelity; all when unset
  bool descending = true;            ///< highest first (accuracy); false for lowest (latency)
};

/// The architectures of a run that no other architecture of the run beats on both metrics.
/// By default x is minimised and y maximised (x = params, y = clean_acc: smallest networks
/// for their accuracy). `params` and `flops` name the architecture's columns; any other name
/// is an evaluation metric. When an architecture has several ok evaluations of a metric in the
/// run, the most faithful one is used: table, then sgd, predicted-parameters, heads, proxy,
/// and the latest among equals.
struct ParetoQuery {
  std::int64_t run = 0;
  std::string x = "params";
  std::string y = "clean_acc";
  bool maximize_x = false;
  bool maximize_y = true;
  std::optional<Fidelity> fidelity;  ///< only evaluations of this fidelity
};

/// A read-only connection and the queries people and scripts run. Each call writes its
/// result into a RowSink (a ResultTable, or a FormattedOutput for the command line). Bad
/// input (an unknown run, metric or hash) throws ConfigError naming what is known instead.
/// Use from one thread (open one reader per thread).
class ResultsReader {
 public:
  /// Opens `path` read-only. Throws StorageError when it does not exist, is not a ghnas
  /// database, is empty, or has a schema newer than this build.
  explicit ResultsReader(const std::string& path);
  ~ResultsReader();
  ResultsReader(ResultsReader&&) noexcept;
  ResultsReader& operator=(ResultsReader&&) noexcept;

  const std::string& path() const;

  /// Every run with its number of evaluations, oldest first.
  void runs(RowSink& out);
  /// `query.k` rows ranked by the metric's value (ok evaluations only). Ties are ordered by
  /// architecture id, then evaluation id, in the same direction (descending: highest id first).
  /// Columns: rank, arch_id, hash, <metric>, fidelity, evaluator, params, flops, seconds,
  /// evaluation_id.
  void top(const TopQuery& query, RowSink& out);
  /// The non-dominated set, sorted by x ascending. Columns: arch_id, hash, <x>, <y>, then
  /// <x>_fidelity / <y>_fidelity for evaluation metrics, then params/flops when not x or y.
  void pareto(const ParetoQuery& query, RowSink& out);
  /// The architecture(s) with this hash (a unique prefix also works) and all their
  /// evaluations across runs: one row per evaluation, or one row with empty evaluation columns.
  void architecture(const std::string& hash, RowSink& out);
  /// Runs one read-only SQL statement. Statements that would change the database are
  /// refused (StorageError, is_read_only()) before they run.
  void sql(const std::string& statement, RowSink& out);
  /// Every evaluation of run `run` with its architecture (space, hash, params, flops, spec),
  /// in the order recorded; streams, so a million rows need no memory.
  void export_run(std::int64_t run, RowSink& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghnas
