#pragma once
// The search loop: a strategy proposes, the loop checks and de-duplicates the proposals,
// optionally screens them with a cheap scorer, has the evaluator score them, and tells the
// strategy. Budgets: charged evaluations and wall time. Every proposal ends in exactly one
// SearchRecord, which an observer sees as it happens (a results database records them there).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "search/evaluation.hpp"
#include "search/search_strategy.hpp"

namespace ghnas {

/// A cheap first look at candidates (e.g. the GHN's property heads) before the evaluator
/// spends budget on them: a score per candidate, larger meaning more promising.
class CandidateScreen {
 public:
  virtual ~CandidateScreen() = default;
  /// One score per candidate, in order. A non-finite score ranks last.
  virtual std::vector<double> score(const std::vector<Candidate>& batch) = 0;
};

/// How a search runs: which strategy, what it optimises, its budgets and batching.
struct SearchOptions {
  /// Registered strategy name and its options (used by the run_search overload that builds
  /// the strategy; the other overload reports them to the observer only).
  std::string strategy = "random";
  StrategyOptions strategy_options;
  /// What is optimised; the first objective defines "best". At least one.
  std::vector<Objective> objectives;
  /// Seeds the strategy: equal seeds and options give equal runs (for deterministic
  /// evaluators).
  std::uint64_t seed = 0;
  /// Budget: charged evaluations (> 0). The loop never asks for more than what is left.
  int max_evaluations = 0;
  /// Budget: wall-clock seconds (> 0 when set), checked before each batch.
  std::optional<double> max_seconds;
  /// Candidates evaluated per batch (>= 1); the evaluator may run a batch in parallel.
  int batch_size = 1;
  /// With a screen: the strategy proposes screen_factor x batch candidates and only the best
  /// batch of them by screen score are evaluated (>= 1; 1 means no screening).
  int screen_factor = 1;
  /// The search stops ("stalled") after this many proposals in a row that charged nothing
  /// (all unknown to an oracle, say), instead of spinning forever (>= 1).
  int max_idle_proposals = 100000;
  /// Reuse an earlier evaluation for a repeated canonical hash instead of evaluating it
  /// again (then uncharged); sound for deterministic evaluators such as tables and the GHN.
  /// Earlier batches lend their kOk and kUnknown answers (a failure may be transient, so it
  /// is retried); a repeat within one batch shares its first occurrence's answer, whatever it
  /// is.
  bool reuse_results = true;
  /// Progress bar on stderr: -1 when stderr is a terminal, 0 off, 1 on.
  int progress = -1;
};

/// Why a search ended.
enum class StopReason {
  kBudget,     // max_evaluations charged
  kTime,       // max_seconds elapsed
  kExhausted,  // the strategy proposed nothing more
  kStalled,    // max_idle_proposals proposals in a row charged nothing
};

/// "budget", "time", "exhausted", "stalled".
const char* stop_reason_name(StopReason reason);

/// Everything an observer may want to store about a run before it starts.
struct SearchRunInfo {
  std::string space;
  std::string strategy;
  StrategyOptions strategy_options;
  std::vector<Objective> objectives;
  std::uint64_t seed = 0;
  int max_evaluations = 0;
  std::optional<double> max_seconds;
  int batch_size = 1;
};

/// Everything a finished search leaves: every record, the best, the front, the counts.
struct SearchResult {
  /// One record per proposal, in proposal order (record i has candidate.id == i).
  std::vector<SearchRecord> history;
  /// Index into history of the best kOk record by the first objective (earliest on ties).
  std::optional<std::size_t> best;
  /// With two or more objectives: indices into history of the non-dominated kOk records
  /// (one per canonical hash), in proposal order.
  std::vector<std::size_t> pareto_front;
  int charged = 0;
  int ok = 0;
  /// kDiverged, kFailed and kOom records.
  int failed = 0;
  int unknown = 0;
  int invalid = 0;
  int screened = 0;
  int reused = 0;
  StopReason stop_reason = StopReason::kBudget;
  double seconds = 0;

  const SearchRecord* best_record() const { return best ? &history[*best] : nullptr; }
};

/// Hooks called by the loop on its own thread, in this order: on_start once; per batch
/// on_proposals then one on_record per proposal; on_finish once. The storage library records
/// runs, proposals and results here. An exception thrown by an observer stops the search.
class SearchObserver {
 public:
  virtual ~SearchObserver() = default;
  virtual void on_start(const SearchRunInfo& /*info*/) {}
  virtual void on_proposals(const std::vector<Candidate>& /*batch*/) {}
  virtual void on_record(const SearchRecord& /*record*/) {}
  virtual void on_finish(const SearchResult& /*result*/) {}
};

/// Runs a search with a strategy built from options.strategy / strategy_options / objectives /
/// seed through the registry. Options are checked before anything runs: ConfigError for an
/// unknown strategy, a bad option, a budget <= 0, a batch size < 1, no objective.
SearchResult run_search(const SearchSpace& space, SearchEvaluator& evaluator,
                        const SearchOptions& options, SearchObserver* observer = nullptr,
                        CandidateScreen* screen = nullptr);

/// The same loop with a strategy the caller built (options.strategy is only reported).
SearchResult run_search(const SearchSpace& space, SearchStrategy& strategy,
                        SearchEvaluator& evaluator, const SearchOptions& options,
                        SearchObserver* observer = nullptr, CandidateScreen* screen = nullptr);

}  // namespace ghnas
