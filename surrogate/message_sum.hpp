#pragma once
// The message aggregation of GHN-2's gated GNN for one sweep step: every updating node sums the
// messages of its neighbours (1-hop MLP messages, and shortest-path MLP_sp messages divided by the
// distance; Knyazev et al. 2021, Eq. 4). Messages are rows of a table, so the sum is a sparse
// (CSR) times dense product.

#include <torch/torch.h>

#include "surrogate/graph_batch.hpp"

namespace ghnas {

/// out[k] = sum over e in msg_begin[k'] .. msg_begin[k'+1] of msg_weight[e] * table[msg_src[e]],
/// for the nodes k' of step `step` of `sweep` (in order), summed in CSR order starting from zero
/// as the reference's scatter_add does. table: [rows, hid] float on the sweep's device.
/// Differentiable with respect to `table`. A CSR kernel on the CPU; gather + index_add when the
/// plan has gather tables (on CUDA, see GhnBatch::to), which sums in another order.
torch::Tensor message_sum(const torch::Tensor& table, const SweepPlan& sweep, std::int64_t step);

}  // namespace ghnas
