#pragma once
// Resuming an expensive search: the search is replayed from its seed, and every candidate an
// interrupted run already evaluated is answered from that run's record instead of being
// evaluated again. Deterministic strategies then retrace the same path; only what the run had
// not recorded costs anything.

#include <map>
#include <string>
#include <vector>

#include "search/evaluation.hpp"

namespace ghnas {

/// Answers candidates found in `recorded` (by canonical hash) from it, charged as the original
/// evaluation was, and asks `inner` for the others in one call.
class ReplayEvaluator : public SearchEvaluator {
 public:
  ReplayEvaluator(SearchEvaluator& inner, std::map<std::string, CandidateEvaluation> recorded)
      : inner_(inner), recorded_(std::move(recorded)) {}

  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override {
    std::vector<CandidateEvaluation> out(batch.size());
    std::vector<Candidate> missing;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto it = recorded_.find(batch[i].hash);
      if (it != recorded_.end()) {
        out[i] = it->second;
        ++replayed_;
      } else {
        missing.push_back(batch[i]);
        where.push_back(i);
      }
    }
    if (!missing.empty()) {
      std::vector<CandidateEvaluation> fresh = inner_.evaluate(missing);
      for (std::size_t k = 0; k < where.size() && k < fresh.size(); ++k) out[where[k]] = std::move(fresh[k]);
    }
    return out;
  }

  /// Candidates answered from the record so far.
  std::size_t replayed() const { return replayed_; }

 private:
  SearchEvaluator& inner_;
  std::map<std::string, CandidateEvaluation> recorded_;
  std::size_t replayed_ = 0;
};

}  // namespace ghnas
