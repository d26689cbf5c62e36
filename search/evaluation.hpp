#pragma once
// What the search loop needs from an evaluator: a batch of candidates in, one
// CandidateEvaluation per candidate out. An evaluation that goes wrong in an expected way (a
// network that diverges, an architecture a tabular oracle has no row for) is a status on that
// candidate, not an exception, and the search goes on. The evaluators/ and surrogate/ libraries
// plug in through adapters implementing SearchEvaluator, so search/ depends on neither.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"
#include "space/task.hpp"

namespace ghnas {

/// One proposal of a search run.
struct Candidate {
  /// 0-based position among all proposals of the run (the key a results database stores).
  std::size_t id = 0;
  Architecture arch;
  /// SearchSpace::canonical_hash of `arch`; empty when the architecture is invalid.
  std::string hash;
};

/// How the evaluation of one candidate ended. The first five are the results database's
/// evaluation statuses (storage/vocabulary.hpp); kUnknown and kScreened exist only in a search.
enum class CandidateStatus {
  kOk,        // metrics hold the measured or predicted values
  kDiverged,  // training diverged (loss not finite)
  kFailed,    // the evaluator tried and could not produce values (threw, bad output, ...)
  kOom,       // out of memory
  kInvalid,   // the architecture is not a member of the space; never sent to the evaluator
  kUnknown,   // the evaluator has no value for this architecture (a tabular oracle's miss)
  kScreened,  // a CandidateScreen ranked it out of its batch; never sent to the evaluator
};

/// "ok", "diverged", "failed", "oom", "invalid", "unknown", "screened".
const char* candidate_status_name(CandidateStatus status);

/// Whether the evaluator tried and produced no values: kDiverged, kFailed or kOom.
bool is_failure(CandidateStatus status);

/// The evaluator's answer for one candidate.
struct CandidateEvaluation {
  CandidateStatus status = CandidateStatus::kOk;
  /// Metric name -> value; accuracies in percent (0-100).
  std::map<std::string, double> metrics;
  /// Why a candidate failed, was unknown or invalid; empty for kOk.
  std::string message;
  /// Whether this evaluation consumed one unit of the search's evaluation budget. Real
  /// evaluators charge every attempt, failed ones included (they cost compute); a tabular
  /// oracle charges the first query of each distinct architecture and nothing for misses.
  bool charged = true;

  static CandidateEvaluation ok(std::map<std::string, double> metrics, bool charged = true);
  static CandidateEvaluation failed(std::string message, bool charged = true);
  static CandidateEvaluation unknown(std::string message);
};

/// Scores batches of candidates for the search loop.
class SearchEvaluator {
 public:
  virtual ~SearchEvaluator() = default;

  /// One CandidateEvaluation per candidate, in the same order. May throw; the search loop
  /// then retries the candidates one by one and records the ones that still throw as kFailed
  /// (charged), so a bad candidate never sinks its batch or the search.
  virtual std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) = 0;
};

/// A SearchEvaluator from a per-candidate function, run over the batch in parallel with TBB.
/// The function must be safe to call concurrently. An exception escaping it for one candidate
/// becomes that candidate's kFailed evaluation (charged), with the exception's message.
class ParallelEvaluator : public SearchEvaluator {
 public:
  using Function = std::function<CandidateEvaluation(const Candidate&)>;
  explicit ParallelEvaluator(Function function);
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override;

 private:
  Function function_;
};

/// The network of a candidate, or why it could not be built.
struct CandidateGraph {
  std::optional<ArchGraph> graph;
  std::string error;
};

/// Builds the ArchGraph of every candidate for `task` in parallel (TBB), for evaluators that
/// read graphs (the GHN surrogate, the executor). A candidate whose graph cannot be built gets
/// the error message instead; nothing throws for a bad candidate.
std::vector<CandidateGraph> build_candidate_graphs(const SearchSpace& space,
                                                   const std::vector<Candidate>& batch,
                                                   const Task& task);

}  // namespace ghnas
