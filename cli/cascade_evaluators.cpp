#include "cli/cascade_evaluators.hpp"

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "evaluators/network.hpp"
#include "space/ghn_graph.hpp"
#include "surrogate/feature_table.hpp"

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
                                                   std::vector<Batch> images)
    : ghn_(std::move(ghn)), space_(space), task_(std::move(task)), images_(std::move(images)) {}

std::vector<CandidateEvaluation> PredictedParamsEvaluator::evaluate(const std::vector<Candidate>& batch) {
  torch::NoGradGuard no_grad;
  const torch::Device device = ghn_->device();
  std::vector<CandidateEvaluation> out;
  for (const Candidate& c : batch) {
    try {
      const ArchGraph graph = space_.build_graph(c.arch, task_);
      Network net(graph, device, /*seed=*/0);
      net->eval();
      const GhnGraph ghn_graph = build_ghn_graph(graph, ghn_->config().s_max);
      PredictedParams p = std::move(ghn_->predict_parameters({&ghn_graph}, {graph.all_params()})[0]);
      const ParamMap predicted(p.tensors.begin(), p.tensors.end());
      std::int64_t correct = 0, total = 0;
      for (const Batch& b : images_) {
        const torch::Tensor logits = net->forward(b.images.to(device), predicted);
        correct += logits.argmax(1).cpu().eq(b.labels).sum().item<std::int64_t>();
        total += b.labels.size(0);
      }
      out.push_back(CandidateEvaluation::ok({{"clean_acc", 100.0 * static_cast<double>(correct) /
                                                               static_cast<double>(std::max<std::int64_t>(1, total))}}));
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

std::vector<Batch> evaluation_batches(const ImageSet& set, const DatasetInfo& info, std::int64_t batch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(set.size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::mt19937_64 unused(0);  // no augmentation, no noise: nothing is drawn
  std::vector<Batch> batches;
  for (const auto& indices : make_batches(order, batch, /*keep_last=*/true))
    batches.push_back(make_batch(set, info, indices, BatchTransform{}, unused));
  return batches;
}

}  // namespace ghnas::cli
