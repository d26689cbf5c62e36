#pragma once
// GHN-2's gated graph neural network (Knyazev et al. 2021, Sec. 3-4; reference GatedGNN, T = 1):
// one forward sweep in topological order, where a node's message sums MLP(h_u) over its 1-hop
// predecessors and MLP_sp(h_u)/d(u, v) over all nodes within s_max (the 1-hop ones included), then
// h_v = GRUCell(m_v, h_v); and one backward sweep the same way over successors. Every node is
// updated once per sweep, also when it receives no message. Nodes are processed a level at a time
// over the whole batch (see graph_batch.hpp).

#include <torch/torch.h>

#include "surrogate/gnn_inference.hpp"
#include "surrogate/gnn_training_kernel.hpp"
#include "surrogate/graph_batch.hpp"
#include "surrogate/mlp.hpp"

namespace ghnas {

class GatedGnnImpl : public torch::nn::Module {
 public:
  /// ve: virtual-edge messages (GHN-2). Without them the 1-hop MLP is hid -> hid -> hid (GHN-1).
  GatedGnnImpl(std::int64_t hid, bool ve);
  void reset();

  /// x: [N, hid] initial node states of `batch`. Returns the states after the forward and the
  /// backward sweep, on x's device; x itself is not modified. Two paths, which compute the same
  /// values up to float rounding:
  ///  - a host batch (GhnImpl::make_batch): the fused CPU kernels, also when x is on a GPU, with
  ///    a hand-written backward when gradients are recorded (gnn_training_kernel.hpp) and without
  ///    one otherwise (gnn_inference.hpp);
  ///  - a batch with gather tables (on a GPU, unless GhnImpl::set_host_gnn(true)): the device
  ///    path, a few tensor ops per step that autograd records.
  torch::Tensor forward(const torch::Tensor& x, const GhnBatch& batch);

  /// Reference names: mlp.fc.{0,2}, mlp_ve.fc.{0,2}, gru.{weight,bias}_{ih,hh}.
  Mlp mlp{nullptr}, mlp_ve{nullptr};
  torch::nn::GRUCell gru{nullptr};

 private:
  void sweep(torch::Tensor& h, const SweepPlan& plan);
  torch::Tensor gru_step(const torch::Tensor& message, const torch::Tensor& h);
  /// The weights in the order gnn_sweeps_trainable takes them.
  GnnWeightList weight_list() const;
  GnnHostWeights inference_weights() const;

  std::int64_t hid_;
  bool ve_;
};
TORCH_MODULE(GatedGnn);

}  // namespace ghnas
