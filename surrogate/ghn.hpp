#pragma once
// GHN-2, the graph hypernetwork (Knyazev et al., "Parameter Prediction for Unseen Deep
// Architectures", NeurIPS 2021), as the reference ppuda.ghn.nn.GHN computes it: op-type embedding
// plus shape encoding, a gated GNN with one forward and one backward sweep over shortest-path
// virtual edges, LayerNorm, then decoders that turn node embeddings into the network's parameters.
//
// Batched: one call handles many graphs (a search's candidates, a training meta-batch). Gradients
// flow from every embedding and predicted tensor back into the GHN's weights, so a training loop
// can call predict_parameters on a meta-batch, run the networks and back-propagate.
//
//   Ghn ghn(GhnConfig{});                               // or load_ghn("ghn.ckpt")
//   ghn->eval();
//   torch::NoGradGuard no_grad;
//   torch::Tensor e = ghn->embed(graphs);              // [B, 32]
//   auto params = ghn->predict_parameters(graphs, param_lists);
//   params[0].tensors.at("stem0.weight");              // a tensor shaped like the parameter

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/ghn_graph.hpp"
#include "surrogate/conv_decoder.hpp"
#include "surrogate/gated_gnn.hpp"
#include "surrogate/ghn_config.hpp"
#include "surrogate/graph_batch.hpp"
#include "surrogate/mlp.hpp"
#include "surrogate/shape_encoder.hpp"

namespace ghnas {

/// The parameters GHN-2 predicts for one network.
struct PredictedParams {
  /// Reference parameter name ("cells.3._ops.1.op.2.weight") -> predicted tensor of the
  /// parameter's shape, on the GHN's device, part of the autograd graph when grads are enabled.
  std::map<std::string, torch::Tensor> tensors;
  /// Parameters of the network that have no GHN graph node (modules its forward pass never
  /// reaches), in network order. The reference drops them from the network; they get no value.
  std::vector<std::string> unpredicted;
};

class GhnImpl : public torch::nn::Module {
 public:
  explicit GhnImpl(GhnConfig config = {});
  void reset();

  const GhnConfig& config() const { return config_; }
  /// Where the GHN's weights live (inputs are moved there).
  torch::Device device() const;
  /// Number of scalar weights (1,620,764 for the CIFAR-10 GHN-2).
  std::int64_t num_weights() const;

  /// Lays out graphs for this GHN: in host memory when the CPU runs the GNN's sweeps (on a CPU
  /// always; on a GPU when host_gnn() is on), else on its device with the device path's tables.
  GhnBatch make_batch(const std::vector<const GhnGraph*>& graphs) const;

  /// On a GPU, whether the GNN's two sweeps run on the CPU (default: on), for inference and for
  /// training (with the hand-written backward of gnn_training_kernel.hpp). A sweep is hundreds of
  /// dependent steps of ops on a few 32-float rows; on a GPU each op is a kernel launch that costs
  /// more than its arithmetic, while the fused CPU kernels do a step in microseconds, so only the
  /// node states (and their gradients) cross. The decoders stay on the GPU. Off: every step runs
  /// on the device (tests check both paths; benchmarks compare them).
  bool host_gnn() const { return host_gnn_; }
  void set_host_gnn(bool on) { host_gnn_ = on; }

  /// Node embeddings after the GNN and the layer norm: [N, hid], rows as in `batch`.
  torch::Tensor node_embeddings(const GhnBatch& batch);

  /// Graph embeddings: the mean of each graph's node embeddings, [B, hid] (what the paper's
  /// property predictors read).
  torch::Tensor embed(const GhnBatch& batch);
  torch::Tensor embed(const std::vector<const GhnGraph*>& graphs);

  /// Predicted parameters of each network. params[b] lists network b's parameters
  /// (ArchGraph::all_params()); the graph nodes name which of them the GHN predicts. Throws
  /// ArchError naming the parameter when a graph and its parameter list disagree or a parameter
  /// has a shape GHN-2 cannot predict.
  std::vector<PredictedParams> predict_parameters(const std::vector<const GhnGraph*>& graphs,
                                                  const std::vector<std::vector<ParamTensor>>& params);

  /// Reference module names, in the reference's registration order (see checkpoint.hpp).
  torch::nn::LayerNorm ln{nullptr};
  torch::nn::Embedding op_embed{nullptr};  // "embed": one row per GHN-2 node type
  ShapeEncoder shape_enc{nullptr};
  GatedGnn gnn{nullptr};
  ConvDecoder decoder{nullptr};
  Mlp decoder_1d{nullptr};
  torch::nn::Sequential bias_class{nullptr};
  torch::nn::Linear bias_class_fc{nullptr};

 private:
  GhnConfig config_;
  bool host_gnn_ = true;
};
TORCH_MODULE(Ghn);

/// Pointers to graphs, for the calls above.
std::vector<const GhnGraph*> graph_pointers(const std::vector<GhnGraph>& graphs);

}  // namespace ghnas
