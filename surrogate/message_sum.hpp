#pragma once
// The message aggregation of GHN-2's gated GNN for one sweep step: every updating node sums the
// messages of its neighbours (1-hop MLP messages, and shortest-path MLP_sp messages divided by the
// distance; Knyazev et al. 2021, Eq. 4), for the GNN's device path. Messages are rows of a table;
// the CPU kernels (gnn_inference.hpp, gnn_training_kernel.hpp) sum them in place instead.

#include <torch/torch.h>

#include "surrogate/graph_batch.hpp"

namespace ghnas {

/// out[k] = sum over e in msg_begin[k'] .. msg_begin[k'+1] of msg_weight[e] * table[msg_src[e]],
/// for the nodes k' of step `step` of `sweep` (in order). table: [rows, hid] float on the sweep's
/// device. Differentiable with respect to `table`. The plan needs gather tables (GhnBatch::to);
/// index_add sums in another order than the reference's scatter_add, so results differ from it
/// by float rounding.
torch::Tensor message_sum(const torch::Tensor& table, const SweepPlan& sweep, std::int64_t step);

}  // namespace ghnas
