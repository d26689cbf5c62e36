#pragma once
// The gated GNN's two sweeps on the CPU with gradients: the fused inference kernel's arithmetic
// (gnn_inference.hpp), which also records each node's intermediate values, and a hand-written
// reverse sweep that turns the gradient of the final states into gradients of the initial states
// and of every GNN weight. It is one autograd node instead of ~25 recorded tensor ops per sweep
// step (about 300 steps per meta-batch), which on a GPU were thousands of kernel launches per
// iteration and most of the GHN's share of a training iteration.

#include <torch/torch.h>

#include <vector>

#include "surrogate/graph_batch.hpp"

namespace ghnas {

/// The GNN weights in the order gnn_sweeps_trainable takes them: gru.weight_ih, gru.bias_ih,
/// gru.weight_hh, gru.bias_hh, mlp fc0 weight and bias, fc2 weight and bias, and with virtual
/// edges the same four of mlp_ve. Any device; gradients come back on each weight's device.
using GnnWeightList = std::vector<torch::Tensor>;

/// x: [N, hid] initial node states of `batch` (a host batch: no gather tables), on any device.
/// Returns the states after the forward and the backward sweep, on x's device, differentiable
/// with respect to x and `weights` (once: the backward is not itself differentiable). The batch
/// is copied into the autograd graph, so it need not outlive the call.
torch::Tensor gnn_sweeps_trainable(const torch::Tensor& x, const GhnBatch& batch, const GnnWeightList& weights,
                                   bool ve);

}  // namespace ghnas
