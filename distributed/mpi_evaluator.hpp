#pragma once
// Rank 0's side of a distributed search: the workers as a SearchEvaluator. The search loop,
// the cascade and the results database run on rank 0 exactly as in a single process; only the
// evaluations travel. A batch is split into one contiguous chunk per available worker, and the
// answers come back in the batch's order.
//
// Robustness: a chunk not answered within the worker timeout is given to another worker once;
// the silent worker gets no more work until it answers (its late answer is dropped). A chunk
// that times out twice, or finds no worker left, is evaluated by rank 0's own evaluator (the
// same one the workers run), or recorded as kFailed when there is none. An evaluator that
// throws on a worker throws from evaluate() on rank 0, as it would in a single process.
//
//   MpiSession mpi;
//   WorkerPool workers(/*worker_timeout_seconds=*/300);
//   MpiEvaluator heads(workers, "ghn-heads", &local_heads);  // a SearchEvaluator like any other

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "search/evaluation.hpp"

namespace ghnas::distributed {

/// The workers (ranks 1..K-1) as rank 0 sees them. Create after MpiSession, on rank 0 only.
class WorkerPool {
 public:
  /// `worker_timeout_seconds` (> 0): how long a chunk may take on a worker before it is
  /// given to another.
  explicit WorkerPool(double worker_timeout_seconds);
  /// Stops the workers (see stop()).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// One answer per candidate from the workers' evaluator named `evaluator`, in order.
  /// `local`: rank 0's own copy of that evaluator, for chunks no worker answered (may be null).
  std::vector<CandidateEvaluation> evaluate(const std::string& evaluator, const std::vector<Candidate>& batch,
                                            SearchEvaluator* local);

  /// Tells every worker to leave its loop. Waits up to one worker timeout for the answers of
  /// chunks still out (a worker blocked sending one would never see the stop), and prints
  /// timing() and the reassignments on stderr; idempotent.
  void stop();

  /// Workers that answered their last chunk in time (or have not had one yet).
  int workers_available() const;
  /// Chunks given to a second worker, and chunks rank 0 evaluated itself, so far.
  std::size_t reassigned() const { return reassigned_; }
  std::size_t evaluated_locally() const { return evaluated_locally_; }

  /// Where the time of answered chunks went: chunks answered, the workers' evaluation
  /// seconds, and the seconds from send to answer received (the difference is MPI, encoding
  /// and waiting for rank 0 to poll).
  struct Timing {
    std::size_t chunks = 0;
    double worker_seconds = 0;
    double round_trip_seconds = 0;
  };
  const Timing& timing() const { return timing_; }

 private:
  struct State;  // MPI requests and buffers (keeps <mpi.h> out of this header)
  std::unique_ptr<State> state_;
  double timeout_ = 0;
  std::uint64_t next_chunk_ = 1;
  std::size_t reassigned_ = 0;
  std::size_t evaluated_locally_ = 0;
  Timing timing_;
  bool stopped_ = false;
};

/// One of the workers' evaluators as a SearchEvaluator on rank 0.
class MpiEvaluator : public SearchEvaluator {
 public:
  /// `evaluator`: the name the workers registered it under (worker.hpp); `local`: rank 0's
  /// copy of it for chunks no worker answers (may be null: those candidates then fail).
  MpiEvaluator(WorkerPool& workers, std::string evaluator, SearchEvaluator* local)
      : workers_(workers), evaluator_(std::move(evaluator)), local_(local) {}
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override {
    return workers_.evaluate(evaluator_, batch, local_);
  }

 private:
  WorkerPool& workers_;
  std::string evaluator_;
  SearchEvaluator* local_;
};

}  // namespace ghnas::distributed
