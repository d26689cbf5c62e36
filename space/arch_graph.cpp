#include "space/arch_graph.hpp"

#include <algorithm>

namespace ghnas {

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kInput: return "input";
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kBatchNorm2d: return "batch_norm";
    case OpKind::kLayerNorm: return "layer_norm";
    case OpKind::kLinear: return "linear";
    case OpKind::kPosEnc: return "pos_enc";
    case OpKind::kReLU: return "relu";
    case OpKind::kGELU: return "gelu";
    case OpKind::kHardswish: return "hardswish";
    case OpKind::kMaxPool2d: return "max_pool";
    case OpKind::kAvgPool2d: return "avg_pool";
    case OpKind::kGlobalAvgPool: return "global_avg_pool";
    case OpKind::kAdd: return "add";
    case OpKind::kConcat: return "concat";
    case OpKind::kSlice: return "slice";
    case OpKind::kZeros: return "zeros";
    case OpKind::kSpatialMean: return "spatial_mean";
    case OpKind::kChannelScale: return "channel_scale";
    case OpKind::kToTokens: return "to_tokens";
    case OpKind::kFromTokens: return "from_tokens";
    case OpKind::kAttention: return "attention";
    case OpKind::kFlatten: return "flatten";
    case OpKind::kDropout: return "dropout";
  }
  return "?";
}

std::int64_t ParamTensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

ArchGraph::ArchGraph(Task task) : task_(std::move(task)) {}

ArchGraph::Vertex ArchGraph::add(OpNode node, const std::vector<Vertex>& inputs) {
  const Vertex v = boost::add_vertex(graph_);
  nodes_.push_back(std::move(node));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    boost::add_edge(inputs[i], v, InputSlot{static_cast<int>(i)}, graph_);
  return v;
}

std::vector<ArchGraph::Vertex> ArchGraph::inputs(Vertex v) const {
  std::vector<std::pair<int, Vertex>> slots;
  for (auto [it, end] = boost::in_edges(v, graph_); it != end; ++it)
    slots.emplace_back(graph_[*it].slot, boost::source(*it, graph_));
  std::sort(slots.begin(), slots.end());
  std::vector<Vertex> result;
  result.reserve(slots.size());
  for (const auto& s : slots) result.push_back(s.second);
  return result;
}

std::vector<ArchGraph::Vertex> ArchGraph::outputs(Vertex v) const {
  std::vector<Vertex> result;
  for (auto [it, end] = boost::out_edges(v, graph_); it != end; ++it)
    result.push_back(boost::target(*it, graph_));
  return result;
}

std::vector<ParamTensor> ArchGraph::all_params() const {
  std::vector<ParamTensor> result;
  for (std::size_t v = 0; v < num_nodes(); ++v)
    for (const auto& p : nodes_[v].params) result.push_back(p);
  result.insert(result.end(), detached_.begin(), detached_.end());
  return result;
}

std::int64_t ArchGraph::num_params() const {
  std::int64_t n = 0;
  for (std::size_t v = 0; v < num_nodes(); ++v)
    for (const auto& p : nodes_[v].params) n += p.numel();
  for (const auto& p : detached_) n += p.numel();
  return n;
}

double op_flops(const OpNode& n) {
  if (n.kind == OpKind::kConv2d) {
    // out_h * out_w * C_out * (C_in / groups) * kh * kw, plus one add per output for a bias.
    const auto& w = n.params.at(0).shape;
    const double spatial = static_cast<double>(n.out_shape.at(1)) * n.out_shape.at(2);
    return spatial * w[0] * w[1] * w[2] * w[3] + (n.params.size() > 1 ? spatial * w[0] : 0.0);
  }
  if (n.kind == OpKind::kLinear) {
    const auto& w = n.params.at(0).shape;
    double rows = 1;  // tokens for (N, C) inputs
    for (std::size_t d = 0; d + 1 < n.out_shape.size(); ++d) rows *= n.out_shape[d];
    return rows * w[0] * w[1] + (n.params.size() > 1 ? rows * w[0] : 0.0);
  }
  return 0.0;
}

double ArchGraph::flops() const {
  double total = 0;
  for (const OpNode& n : nodes_) total += op_flops(n);
  return total;
}

std::vector<bool> ArchGraph::reaches_output() const {
  std::vector<bool> reach(num_nodes(), false);
  if (num_nodes() == 0) return reach;
  reach[output_] = true;
  // Vertex order is topological, so one backward sweep settles every node.
  for (std::size_t v = num_nodes(); v-- > 0;) {
    if (!reach[v]) continue;
    for (auto [it, end] = boost::in_edges(v, graph_); it != end; ++it)
      reach[boost::source(*it, graph_)] = true;
  }
  return reach;
}

}  // namespace ghnas
