#include "cli/cascade_evaluators.hpp"

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "surrogate/feature_table.hpp"
#include "surrogate/predicted_accuracy.hpp"

namespace ghnas::cli {

HeadsEvaluator::HeadsEvaluator(Ghn ghn, PropertyHeads heads, const SearchSpace& space, Task task)
    : ghn_(std::move(ghn)), heads_(std::move(heads)), space_(space), task_(std::move(task)) {}

std::vector<CandidateEvaluation> HeadsEvaluator::evaluate(const std::vector<Candidate>& batch) {
  std::vector<Architecture> archs;
  for (const Candidate& c : batch) archs.push_back(c.arch);
  // Throws for a candidate that does not build; the search loop then retries one by one and
  // records that one as failed.
  const FeatureTable table = compute_feature_table(ghn_.is_empty() ? nullptr : &ghn_, space_, archs, task_, batch.size());
  std::vector<std::map<std::string, double>> metrics(batch.size());
  for (const PropertyHead& head : heads_.heads) {
    const Eigen::VectorXd y = head.predict(table);
    for (std::size_t i = 0; i < batch.size(); ++i) metrics[i][head.target] = y(static_cast<Eigen::Index>(i));
  }
  std::vector<CandidateEvaluation> out;
  for (auto& m : metrics) out.push_back(CandidateEvaluation::ok(std::move(m)));
  return out;
}

PredictedParamsEvaluator::PredictedParamsEvaluator(Ghn ghn, const SearchSpace& space, Task task,
                                                   std::vector<Batch> images, int width)
    : ghn_(std::move(ghn)), space_(space), task_(std::move(task)), images_(std::move(images)), width_(width) {}

std::vector<CandidateEvaluation> PredictedParamsEvaluator::evaluate(const std::vector<Candidate>& batch) {
  std::vector<CandidateEvaluation> out;
  for (const Candidate& c : batch) {
    try {
      const std::optional<Architecture> rebuilt = width_ > 0 ? space_.at_width(c.arch, width_) : std::nullopt;
      const double acc = predicted_parameter_accuracy(ghn_, space_.build_graph(rebuilt ? *rebuilt : c.arch, task_), images_);
      out.push_back(CandidateEvaluation::ok({{"clean_acc", acc}}));
    } catch (const std::exception& e) {
      out.push_back(CandidateEvaluation::failed(e.what()));
    }
  }
  return out;
}

SgdEvaluator::SgdEvaluator(const SearchSpace& space, Task task, const Dataset& data, SgdConfig config)
    : space_(space), task_(std::move(task)), data_(data), config_(std::move(config)) {
  config_.progress = false;
}

std::vector<CandidateEvaluation> SgdEvaluator::evaluate(const std::vector<Candidate>& batch) {
  std::vector<CandidateEvaluation> out;
  for (const Candidate& c : batch) {
    try {
      const TrainResult r = train_and_evaluate(space_.build_graph(c.arch, task_), data_, config_);
      if (r.status == "diverged") {
        CandidateEvaluation e = CandidateEvaluation::failed("training loss became NaN or infinite at step " +
                                                            std::to_string(r.diverged_step));
        e.status = CandidateStatus::kDiverged;
        out.push_back(std::move(e));
        continue;
      }
      out.push_back(CandidateEvaluation::ok({{"clean_acc", r.clean_acc},
                                             {"noisy_acc", r.noisy_acc},
                                             {"latency_ms", r.latency_ms},
                                             {"convergence", r.convergence},
                                             {"train_seconds", r.train_seconds}}));
    } catch (const c10::Error& e) {
      // LibTorch reports allocation failures as c10::Error; that is a result, not a crash.
      const std::string what = e.what();
      CandidateEvaluation f = CandidateEvaluation::failed(what.substr(0, what.find('\n')));
      if (what.find("alloc") != std::string::npos || what.find("memory") != std::string::npos)
        f.status = CandidateStatus::kOom;
      out.push_back(std::move(f));
    } catch (const std::exception& e) {
      out.push_back(CandidateEvaluation::failed(e.what()));
    }
  }
  return out;
}

}  // namespace ghnas::cli
