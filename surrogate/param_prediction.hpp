#pragma once
// Which parameter of a network each GHN-2 node predicts, and how a decoded block becomes the
// parameter (reference GHN._map_net_params, _tile_params, _normalize; Knyazev et al. 2021, Sec. 4
// and Appendix). Kept apart from the modules so the rules read in one place:
//
// - Every node that carries a parameter predicts it. A 1-D parameter comes from decoder_1d, whose
//   output holds two rows [weight, bias]: a norm layer's weight node predicts the weight from row 0
//   and the layer's bias from row 1; a bias node (conv/linear bias) predicts from row 1.
// - The node just before the output node, when it holds a 2-D or larger parameter, is the
//   classifier weight (class_layer_predictor); the output node, when it holds a 1-D parameter, is
//   the classifier bias (decoder_1d then bias_class, row 1). Other >= 2-D parameters come from the
//   convolutional decoder.
// - The decoded block is the top-left corner of the max-sized tensor; larger parameters tile it
//   periodically along every dimension.
// - With weight normalisation, >= 2-D weights are scaled by sqrt(beta / fan_in) (beta = 1 when the
//   layer is depthwise or a 1xk kernel with k > 1, i.e. not followed by ReLU; 2 otherwise; position
//   encodings (1, C, >= 11, ...) are left as they are), norm weights become 2 sigmoid(p / 2) and
//   biases tanh(p / 5).
// - Parameters of the network without a node (modules the forward pass never reaches) get no
//   prediction; the reference removes them from the network.

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/ghn_graph.hpp"

namespace ghnas {

/// Which predictor produces a parameter.
enum class Predictor : std::uint8_t {
  kKernel,       // ConvDecoder, >= 2-D weights
  kClassWeight,  // ConvDecoder + class_layer_predictor, the classifier weight
  kVector,       // decoder_1d, 1-D weights and biases
  kClassBias,    // decoder_1d + bias_class, the classifier bias
};

/// One parameter to predict.
struct PredictionTarget {
  std::int64_t graph = 0;  // index in the batch
  std::int64_t row = 0;    // node row in the batch
  std::string name;
  std::vector<std::int64_t> shape;
  Predictor predictor = Predictor::kKernel;
  /// kVector / kClassBias: 0 = the weight row, 1 = the bias row of the decoded pair.
  int pair_row = 0;
};

/// The targets of one network with graph `g` (rows start at `first_row`) and parameters `params`
/// (ArchGraph::all_params()). Parameters without a node are appended to `unpredicted`. Throws
/// ArchError naming the parameter when a node's parameter is missing from `params`, has another
/// shape, or has a shape GHN-2 cannot predict (3-D, or more than 4 dimensions).
std::vector<PredictionTarget> plan_targets(const GhnGraph& g, const std::vector<ParamTensor>& params,
                                           std::int64_t graph, std::int64_t first_row,
                                           std::vector<std::string>& unpredicted);

/// The fan-in scale of a >= 2-D predicted weight of `shape` (1 for position encodings).
double fan_in_scale(const std::vector<std::int64_t>& shape);

/// `block` sliced to at most `shape` and tiled periodically up to it along every dimension
/// (block has the same number of dimensions). Returns a contiguous tensor of `shape`.
torch::Tensor tile_to(const torch::Tensor& block, const std::vector<std::int64_t>& shape);

}  // namespace ghnas
