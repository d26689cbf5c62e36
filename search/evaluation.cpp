#include "search/evaluation.hpp"

#include <tbb/parallel_for.h>

#include <exception>

namespace ghnas {

const char* candidate_status_name(CandidateStatus status) {
  switch (status) {
    case CandidateStatus::kOk:
      return "ok";
    case CandidateStatus::kDiverged:
      return "diverged";
    case CandidateStatus::kFailed:
      return "failed";
    case CandidateStatus::kOom:
      return "oom";
    case CandidateStatus::kInvalid:
      return "invalid";
    case CandidateStatus::kUnknown:
      return "unknown";
    case CandidateStatus::kScreened:
      return "screened";
  }
  return "?";
}

bool is_failure(CandidateStatus status) {
  return status == CandidateStatus::kDiverged || status == CandidateStatus::kFailed ||
         status == CandidateStatus::kOom;
}

CandidateEvaluation CandidateEvaluation::ok(std::map<std::string, double> metrics, bool charged) {
  CandidateEvaluation e;
  e.status = CandidateStatus::kOk;
  e.metrics = std::move(metrics);
  e.charged = charged;
  return e;
}

CandidateEvaluation CandidateEvaluation::failed(std::string message, bool charged) {
  CandidateEvaluation e;
  e.status = CandidateStatus::kFailed;
  e.message = std::move(message);
  e.charged = charged;
  return e;
}

CandidateEvaluation CandidateEvaluation::unknown(std::string message) {
  CandidateEvaluation e;
  e.status = CandidateStatus::kUnknown;
  e.message = std::move(message);
  e.charged = false;
  return e;
}

ParallelEvaluator::ParallelEvaluator(Function function) : function_(std::move(function)) {}

std::vector<CandidateEvaluation> ParallelEvaluator::evaluate(const std::vector<Candidate>& batch) {
  std::vector<CandidateEvaluation> results(batch.size());
  tbb::parallel_for(std::size_t{0}, batch.size(), [&](std::size_t i) {
    // LibTorch 1.13 throws plain std::runtime_error in places, so the boundary catches the
    // base class (STYLE.md, Errors).
    try {
      results[i] = function_(batch[i]);
    } catch (const std::exception& e) {
      results[i] = CandidateEvaluation::failed(e.what());
    }
  });
  return results;
}

std::vector<CandidateGraph> build_candidate_graphs(const SearchSpace& space,
                                                   const std::vector<Candidate>& batch,
                                                   const Task& task) {
  std::vector<CandidateGraph> graphs(batch.size());
  tbb::parallel_for(std::size_t{0}, batch.size(), [&](std::size_t i) {
    try {
      graphs[i].graph.emplace(space.build_graph(batch[i].arch, task));
    } catch (const std::exception& e) {
      graphs[i].error = e.what();
    }
  });
  return graphs;
}

}  // namespace ghnas
