#pragma once
// The gated GNN's two sweeps on the CPU with gradients: the fused inference kernel's arithmetic
// (gnn_inference.hpp), which also records each node's intermediate values, and a hand-written
// reverse sweep that turns the gradient of the final states into gradients of the initial states
// and of every GNN weight. It is one autograd node instead of ~25 recorded tensor ops per sweep
// step (up to a few hundred steps per meta-batch), which on a GPU are thousands of small kernel
// launches per iteration, forward and backward.

#include <torch/torch.h>

#include <vector>

#include "surrogate/gnn_inference.hpp"
#include "surrogate/graph_batch.hpp"

namespace ghnas {

/// x: [N, hid] initial node states of `batch` (a host batch: no gather tables), on any device.
/// Returns the states after the forward and the backward sweep, on x's device, differentiable
/// with respect to x and `weights` (in GnnWeightList order) (once: the backward is not itself differentiable). The batch
/// is copied into the autograd graph, so it need not outlive the call.
torch::Tensor gnn_sweeps_trainable(const torch::Tensor& x, const GhnBatch& batch, const GnnWeightList& weights,
                                   bool ve);

}  // namespace ghnas
