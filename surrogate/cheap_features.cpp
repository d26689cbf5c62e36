#include "surrogate/cheap_features.hpp"

#include <algorithm>
#include <cmath>

#include "space/nasbench201.hpp"

namespace ghnas {

namespace {

constexpr int kFirstKind = static_cast<int>(OpKind::kConv2d);
constexpr int kLastKind = static_cast<int>(OpKind::kDropout);

// The one-hot op of each of the cell's 6 edges, edge-major.
std::vector<double> nb201_onehot(const Architecture& arch) {
  const Nb201Cell cell = parse_nb201_arch(arch.spec.get<std::string>());
  std::vector<double> onehot(kNb201NumEdges * kNb201NumOps, 0.0);
  for (int e = 0; e < kNb201NumEdges; ++e)
    onehot[static_cast<std::size_t>(e * kNb201NumOps + static_cast<int>(cell.ops[static_cast<std::size_t>(e)]))] = 1.0;
  return onehot;
}

// What a deployment runtime executes. Exporters drop nodes whose value never reaches the
// output (a NAS-Bench-201 node whose only outgoing edge is none), so the live counts track
// measured latency where the plain counts do not (on NAS-Bench-201's Pixel 3 latencies a linear
// fit on live op counts ranks as well as an RBF regressor on all the one-hot ops). A network
// whose output does not depend on its input at all (every path runs through a zeros node) is
// folded to a constant and costs almost nothing to run.
std::vector<double> live_features(const ArchGraph& graph) {
  const std::vector<bool> live = graph.reaches_output();
  std::vector<bool> depends(graph.num_nodes(), false);
  double flops = 0, activations = 0, conv1 = 0, conv3 = 0, pools = 0, adds = 0;
  for (std::size_t v = 0; v < graph.num_nodes(); ++v) {
    const OpNode& node = graph.node(v);
    if (node.kind == OpKind::kInput) {
      depends[v] = true;
    } else if (node.kind != OpKind::kZeros) {
      for (auto u : graph.inputs(v)) depends[v] = depends[v] || depends[u];
    }
    if (!live[v]) continue;
    flops += op_flops(node);
    double numel = 1;
    for (auto d : node.out_shape) numel *= static_cast<double>(d);
    activations += numel;
    if (node.kind == OpKind::kConv2d) (std::max(node.kernel_h, node.kernel_w) <= 1 ? conv1 : conv3) += 1;
    if (node.kind == OpKind::kMaxPool2d || node.kind == OpKind::kAvgPool2d) pools += 1;
    if (node.kind == OpKind::kAdd) adds += static_cast<double>(graph.inputs(v).size()) - 1.0;
  }
  const bool constant = graph.num_nodes() == 0 || !depends[graph.output()];
  return {std::log10(1.0 + flops), std::log10(1.0 + activations), conv1, conv3, pools, adds, constant ? 1.0 : 0.0};
}

}  // namespace

const std::vector<std::string>& cheap_feature_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = {"log10_params", "log10_flops", "depth", "nodes"};
    for (int k = kFirstKind; k <= kLastKind; ++k) n.push_back(std::string("count_") + op_kind_name(static_cast<OpKind>(k)));
    for (const char* c : {"conv_1x1", "conv_3x3", "conv_5x5", "conv_7x7_or_larger", "conv_grouped", "conv_dilated",
                          "conv_strided"})
      n.emplace_back(c);
    for (const char* c : {"live_log10_flops", "live_log10_activations", "live_conv_1x1", "live_conv_3x3_or_larger", "live_pools", "live_adds",
                          "constant_output"})
      n.emplace_back(c);
    return n;
  }();
  return names;
}

std::vector<double> cheap_features(const ArchGraph& graph) {
  std::vector<double> counts(kLastKind - kFirstKind + 1, 0.0);
  double conv1 = 0, conv3 = 0, conv5 = 0, conv7 = 0, grouped = 0, dilated = 0, strided = 0;
  std::vector<int> depth(graph.num_nodes(), 0);
  int max_depth = 0;
  // Vertex order is a topological order (ArchGraph::add), so one pass gives longest paths.
  for (std::size_t v = 0; v < graph.num_nodes(); ++v) {
    const OpNode& node = graph.node(v);
    int d = 0;
    for (auto u : graph.inputs(v)) d = std::max(d, depth[u]);
    const bool layer = node.kind == OpKind::kConv2d || node.kind == OpKind::kLinear;
    depth[v] = d + (layer ? 1 : 0);
    max_depth = std::max(max_depth, depth[v]);
    const int k = static_cast<int>(node.kind);
    if (k >= kFirstKind && k <= kLastKind) counts[static_cast<std::size_t>(k - kFirstKind)] += 1;
    if (node.kind == OpKind::kConv2d) {
      const int size = std::max(node.kernel_h, node.kernel_w);
      (size <= 1 ? conv1 : size <= 3 ? conv3 : size <= 5 ? conv5 : conv7) += 1;
      if (node.groups > 1) grouped += 1;
      if (node.dilation > 1) dilated += 1;
      if (node.stride_h > 1 || node.stride_w > 1) strided += 1;
    }
  }
  std::vector<double> f = {std::log10(static_cast<double>(std::max<std::int64_t>(1, graph.num_params()))),
                           std::log10(1.0 + graph.flops()), static_cast<double>(max_depth),
                           static_cast<double>(graph.num_nodes())};
  f.insert(f.end(), counts.begin(), counts.end());
  f.insert(f.end(), {conv1, conv3, conv5, conv7, grouped, dilated, strided});
  const auto live = live_features(graph);
  f.insert(f.end(), live.begin(), live.end());
  return f;
}

std::size_t plain_encoding_size(const SearchSpace& space) {
  return space.name() == "nasbench201" ? static_cast<std::size_t>(kNb201NumEdges * kNb201NumOps)
                                       : cheap_feature_names().size();
}

std::vector<double> plain_encoding(const SearchSpace& space, const Architecture& arch, const Task& task) {
  if (space.name() != "nasbench201") return cheap_features(space.build_graph(arch, task));
  space.validate(arch);
  return nb201_onehot(arch);
}

std::vector<double> plain_encoding(const SearchSpace& space, const Architecture& arch, const ArchGraph& graph) {
  return space.name() == "nasbench201" ? nb201_onehot(arch) : cheap_features(graph);
}

}  // namespace ghnas
