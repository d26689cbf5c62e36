#pragma once
// The multi-fidelity cascade (DESIGN.md, "The cascade"): a search ranks many candidates with a
// cheap evaluator (the GHN's property heads), the best of them are scored again by a costlier
// one (accuracy with GHN-predicted parameters), and the best of those are trained with SGD.
// Every number keeps the name of the stage that produced it, so a results database can tell a
// prediction from a measurement.
//
//   CascadeStage heads{"ghn-heads", "heads", &heads_eval, /*keep=*/0, {"clean_acc"}};
//   CascadeStage ghn{"ghn-params", "predicted-parameters", &ghn_eval, /*keep=*/48, {"clean_acc"}};
//   CascadeStage sgd{"sgd-1ep", "sgd", &sgd_eval, /*keep=*/3, {"clean_acc"}};
//   CascadeResult r = run_cascade(space, options, {heads, ghn, sgd}, &observer);

#include <cstddef>
#include <string>
#include <vector>

#include "search/search_loop.hpp"

namespace ghnas {

/// One fidelity of a cascade.
struct CascadeStage {
  /// Who produced the numbers, as stored (e.g. "ghn-heads", "sgd-1ep").
  std::string evaluator;
  /// The fidelity's name in the results database: "heads", "predicted-parameters", "sgd".
  std::string fidelity;
  SearchEvaluator* evaluation = nullptr;
  /// Candidates this stage scores: the best `keep` distinct architectures of the previous
  /// stage by its objective (ignored for the first stage, whose budget is the search's).
  std::size_t keep = 0;
  /// What this stage's results are ranked by, for the next stage and for the final order.
  Objective objective;
};

/// A candidate's result at one stage after the first.
struct StageRecord {
  Candidate candidate;
  CandidateEvaluation evaluation;
  /// The previous stage's value of its objective (what got the candidate here).
  double previous = 0;
};

/// Everything a cascade leaves.
struct CascadeResult {
  /// The first stage: the search itself, one record per proposal.
  SearchResult search;
  /// Stages 2.. in order: their records, best first by the stage's objective (failed ones last).
  std::vector<std::vector<StageRecord>> stages;
  double seconds = 0;
};

/// Sees what later stages produce (the first stage's records go to SearchObserver::on_record,
/// which the same object may implement).
class CascadeObserver : public SearchObserver {
 public:
  /// Called before stage `stage` (1-based index into the stage list; 1 is the second stage)
  /// scores its candidates.
  virtual void on_stage_start(std::size_t /*stage*/, const CascadeStage& /*info*/,
                              std::size_t /*candidates*/) {}
  virtual void on_stage_record(std::size_t /*stage*/, const CascadeStage& /*info*/,
                               const StageRecord& /*record*/) {}
};

/// Runs the search with stages[0] as its evaluator (options.objectives defaults to
/// stages[0].objective), then each later stage on the best `keep` distinct candidates of the
/// stage before. Later stages evaluate `batch_size` candidates per call. ConfigError when
/// there is no stage, a stage has no evaluator, or a later stage keeps 0.
CascadeResult run_cascade(const SearchSpace& space, SearchOptions options,
                          const std::vector<CascadeStage>& stages, CascadeObserver* observer = nullptr,
                          std::size_t batch_size = 8);

}  // namespace ghnas
