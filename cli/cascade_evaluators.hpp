#pragma once
// The three fidelities of `ghnas search`'s cascade as search evaluators: the composition root
// (this executable) is the one place that knows the search loop, the GHN and the executor
// together, so the adapters live here and search/ depends on neither model.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/datasets.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "search/evaluation.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/property_heads.hpp"

namespace ghnas::cli {

/// Fidelity 1: the property heads on GHN embeddings (no decoder). Metrics: one per head target,
/// e.g. clean_acc, noisy_acc, latency_ms, convergence. A batch is embedded in one GHN call.
class HeadsEvaluator : public SearchEvaluator {
 public:
  HeadsEvaluator(Ghn ghn, PropertyHeads heads, const SearchSpace& space, Task task);
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override;

 private:
  Ghn ghn_;
  PropertyHeads heads_;
  const SearchSpace& space_;
  Task task_;
};

/// Fidelity 2: accuracy (%) of the network running GHN-predicted parameters on held-out images
/// (batch norm with batch statistics, batches of 64 as in the paper). Metric: clean_acc. With
/// `width` > 0 each candidate is scored rebuilt at that stem width (SearchSpace::at_width; the
/// caller checks that the space has widths, see search's --predict-width), so that a GHN trained
/// at one width ranks networks of another.
class PredictedParamsEvaluator : public SearchEvaluator {
 public:
  PredictedParamsEvaluator(Ghn ghn, const SearchSpace& space, Task task, std::vector<Batch> images, int width = 0);
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override;

 private:
  Ghn ghn_;
  const SearchSpace& space_;
  Task task_;
  std::vector<Batch> images_;
  int width_;
};

/// Fidelity 3: SGD from scratch (the ground truth). Metrics: clean_acc, noisy_acc, latency_ms,
/// convergence, train_seconds; a diverging network is kDiverged.
class SgdEvaluator : public SearchEvaluator {
 public:
  SgdEvaluator(const SearchSpace& space, Task task, const Dataset& data, SgdConfig config);
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override;

 private:
  const SearchSpace& space_;
  Task task_;
  const Dataset& data_;
  SgdConfig config_;
};

}  // namespace ghnas::cli
