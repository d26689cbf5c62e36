#pragma once
// Accuracy of a network running GHN-predicted parameters: the GHN-2 paper's measure of a GHN, and
// the cascade's second fidelity. One definition, so eval-ghn, `search --cascade` and eval-heads'
// "GHN predicted-parameter accuracy" ranker cannot drift apart.
//
//   const auto batches = evaluation_batches(data.test.head(256), data.info, 64);
//   double acc = predicted_parameter_accuracy(ghn, space.build_graph(arch, task), batches);

#include <cstdint>
#include <vector>

#include "evaluators/datasets.hpp"
#include "space/arch_graph.hpp"
#include "surrogate/ghn.hpp"

namespace ghnas {

/// Held-out images in evaluation batches of `batch` (the last, shorter one kept), in order, with
/// no augmentation or noise.
std::vector<Batch> evaluation_batches(const ImageSet& set, const DatasetInfo& info, std::int64_t batch);

/// Accuracy (%) on `batches` of the network `graph` describes, running the parameters `ghn`
/// predicts for it; with an empty `ghn` (Ghn{nullptr}), its own default initialisation seeded by
/// `seed` instead (the random-init baseline). Batch norm uses batch statistics, as in the paper.
/// Runs on the GHN's device (`device` for the baseline). No gradients. Throws ArchError for a graph
/// the GHN cannot represent.
double predicted_parameter_accuracy(Ghn ghn, const ArchGraph& graph, const std::vector<Batch>& batches,
                                    std::uint64_t seed = 0, torch::Device device = torch::kCPU);

}  // namespace ghnas
