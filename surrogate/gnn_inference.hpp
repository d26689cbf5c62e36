#pragma once
// The gated GNN's two sweeps for inference on the CPU: the same arithmetic as GatedGnnImpl's
// device path (and as gnn_training_kernel.hpp, which also records for a backward), fused into one
// pass per node with no tensor operations inside the loop. A sweep
// step holds only a few nodes of one network, so dispatching ~25 small tensor ops per step costs
// far more than the arithmetic; this kernel makes a single network's GNN take well under a
// millisecond and runs the shards of a batch on separate threads.

#include <torch/torch.h>

#include <vector>

#include "surrogate/graph_batch.hpp"

namespace ghnas {

/// The GNN's weights as plain arrays, matrices transposed to [in][out] so the kernels accumulate
/// along contiguous outputs.
struct GnnHostWeights {
  std::int64_t hid = 0, mlp_hidden = 0;
  bool ve = false;
  std::vector<float> w_ih, b_ih, w_hh, b_hh;          // GRUCell, gates r, z, n
  std::vector<float> mlp_w1, mlp_b1, mlp_w2, mlp_b2;  // 1-hop message MLP
  std::vector<float> ve_w1, ve_b1, ve_w2, ve_b2;      // shortest-path message MLP
};

/// The GNN weights as tensors, in this order: gru.weight_ih, gru.bias_ih, gru.weight_hh,
/// gru.bias_hh, mlp fc0 weight and bias, fc2 weight and bias, and with virtual edges the same four
/// of mlp_ve. Any device.
using GnnWeightList = std::vector<torch::Tensor>;

/// Host copies of `weights` for the kernels.
GnnHostWeights host_weights(const GnnWeightList& weights, bool ve);

/// Runs the forward then the backward sweep of every shard of `batch` on h ([N, hid], float,
/// contiguous, CPU), in place. Shards run in parallel on torch's intra-op threads.
void gnn_sweeps_cpu(torch::Tensor& h, const GhnBatch& batch, const GnnHostWeights& weights);

}  // namespace ghnas
