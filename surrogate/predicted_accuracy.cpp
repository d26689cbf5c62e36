#include "surrogate/predicted_accuracy.hpp"

#include <algorithm>
#include <random>

#include "evaluators/network.hpp"
#include "space/ghn_graph.hpp"

namespace ghnas {

std::vector<Batch> evaluation_batches(const ImageSet& set, const DatasetInfo& info, std::int64_t batch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(set.size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::mt19937_64 unused(0);  // no augmentation, no noise: nothing is drawn
  std::vector<Batch> batches;
  for (const auto& indices : make_batches(order, batch, /*keep_last=*/true))
    batches.push_back(make_batch(set, info, indices, BatchTransform{}, unused));
  return batches;
}

double predicted_parameter_accuracy(Ghn ghn, const ArchGraph& graph, const std::vector<Batch>& batches,
                                    std::uint64_t seed, torch::Device device) {
  torch::NoGradGuard no_grad;
  const bool random = ghn.is_empty();
  if (!random) device = ghn->device();
  Network net(graph, device, seed);
  net->eval();
  ParamMap predicted;
  if (!random) {
    const GhnGraph ghn_graph = build_ghn_graph(graph, ghn->config().s_max);
    PredictedParams p = std::move(ghn->predict_parameters({&ghn_graph}, {graph.all_params()})[0]);
    predicted = ParamMap(p.tensors.begin(), p.tensors.end());
  }
  std::int64_t correct = 0, total = 0;
  for (const Batch& b : batches) {
    const torch::Tensor images = b.images.to(device);
    const torch::Tensor logits = random ? net->forward(images) : net->forward(images, predicted);
    correct += logits.argmax(1).cpu().eq(b.labels).sum().item<std::int64_t>();
    total += b.labels.size(0);
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(1, total));
}

}  // namespace ghnas
