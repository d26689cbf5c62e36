#include "surrogate/param_prediction.hpp"

#include <cmath>
#include <unordered_map>

#include "core/error.hpp"

namespace ghnas {

namespace {

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<PredictionTarget> plan_targets(const GhnGraph& g, const std::vector<ParamTensor>& params,
                                           std::int64_t graph, std::int64_t first_row,
                                           std::vector<std::string>& unpredicted) {
  std::unordered_map<std::string, const ParamTensor*> by_name;
  for (const auto& p : params) by_name.emplace(p.name, &p);
  std::unordered_map<std::string, bool> covered;

  std::vector<PredictionTarget> targets;
  const auto n = static_cast<std::int64_t>(g.num_nodes());
  for (std::int64_t v = 0; v < n; ++v) {
    const GhnNode& node = g.nodes[v];
    if (node.param.empty()) continue;
    const auto it = by_name.find(node.param);
    GHNAS_CHECK_AS(ArchError, it != by_name.end(), "GHN graph node ", v, " names parameter '", node.param,
                   "' that the network does not have");
    const ParamTensor& p = *it->second;
    GHNAS_CHECK_AS(ArchError, p.shape == node.shape, "parameter '", p.name, "' has shape ", shape_text(p.shape),
                   " but its GHN graph node has ", shape_text(node.shape));
    GHNAS_CHECK_AS(ArchError, !p.shape.empty() && p.shape.size() != 3 && p.shape.size() <= 4,
                   "GHN-2 cannot predict parameter '", p.name, "' of shape ", shape_text(p.shape),
                   " (it predicts 1-D, 2-D and 4-D tensors)");
    PredictionTarget t;
    t.graph = graph;
    t.row = first_row + v;
    t.name = p.name;
    t.shape = p.shape;
    covered[p.name] = true;
    if (p.shape.size() >= 2) {
      t.predictor = v == n - 2 ? Predictor::kClassWeight : Predictor::kKernel;
      GHNAS_CHECK_AS(ArchError, t.predictor != Predictor::kClassWeight || p.shape.size() == 2,
                     "GHN-2 predicts the classifier weight '", p.name, "' as a 2-D tensor, but it has shape ",
                     shape_text(p.shape));
      targets.push_back(std::move(t));
      continue;
    }
    t.predictor = v == n - 1 ? Predictor::kClassBias : Predictor::kVector;
    // A 1-D weight is a norm layer's: its node stands for the layer's bias too.
    const bool is_weight = ends_with(p.name, ".weight");
    t.pair_row = is_weight ? 0 : 1;
    const PredictionTarget weight_target = t;
    targets.push_back(std::move(t));
    if (is_weight) {
      const std::string bias = p.name.substr(0, p.name.size() - 6) + "bias";
      const auto b = by_name.find(bias);
      if (b != by_name.end()) {
        PredictionTarget bt = weight_target;
        bt.name = bias;
        bt.shape = b->second->shape;
        bt.pair_row = 1;
        covered[bias] = true;
        targets.push_back(std::move(bt));
      }
    }
  }
  for (const auto& p : params)
    if (!covered.count(p.name)) unpredicted.push_back(p.name);
  return targets;
}

double fan_in_scale(const std::vector<std::int64_t>& s) {
  if (s.size() > 2 && s[2] >= 11 && s[0] == 1) return 1.0;  // position encoding
  const bool no_relu = s.size() > 2 && (s[1] == 1 || s[2] < s[3]);
  const double beta = no_relu ? 1.0 : 2.0;
  double fan_in = 1.0;
  for (std::size_t d = 1; d < s.size(); ++d) fan_in *= static_cast<double>(s[d]);
  return std::sqrt(beta / fan_in);
}

torch::Tensor tile_to(const torch::Tensor& block, const std::vector<std::int64_t>& shape) {
  const auto dims = static_cast<std::int64_t>(shape.size());
  TORCH_INTERNAL_ASSERT(block.dim() == dims);
  auto w = block;
  std::vector<std::int64_t> reps(dims, 1);
  bool tiled = false;
  for (std::int64_t d = 0; d < dims; ++d) {
    if (w.size(d) > shape[d]) w = w.narrow(d, 0, shape[d]);
    reps[d] = (shape[d] + w.size(d) - 1) / w.size(d);
    tiled |= reps[d] > 1;
  }
  if (tiled) {
    w = w.repeat(reps);
    for (std::int64_t d = 0; d < dims; ++d)
      if (w.size(d) > shape[d]) w = w.narrow(d, 0, shape[d]);
  }
  return w.contiguous();
}

}  // namespace ghnas
