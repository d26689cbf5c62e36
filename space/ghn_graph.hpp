#pragma once
// The GHN-2 view of a network (Knyazev et al. 2021, Sec. 3 and Appendix): one node per
// parameter tensor or parameter-free op of 15 types, 1-hop edges along the forward pass, and
// shortest-path virtual edges up to s_max. It is derived from the ArchGraph and reproduces the
// graph the reference implementation builds by tracing PyTorch autograd (including which
// attention and squeeze-excitation blocks its filter keeps as msa/cse nodes), so that a GHN
// trained by either sees the same graphs.

#include <cstdint>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"

namespace ghnas {

/// Node types in the order of the GHN-2 embedding table (PRIMITIVES_DEEPNETS1M).
enum class GhnNodeType : std::uint8_t {
  kMaxPool = 0,
  kAvgPool,
  kSepConv,
  kDilConv,
  kConv,
  kMsa,
  kCse,
  kSum,
  kConcat,
  kInput,
  kBias,
  kBn,
  kLn,
  kPosEnc,
  kGlobAvg,
};
constexpr int kNumGhnNodeTypes = 15;

const char* ghn_node_type_name(GhnNodeType type);
/// Inverse of ghn_node_type_name; throws Error for an unknown name.
GhnNodeType ghn_node_type_by_name(const std::string& name);

struct GhnNode {
  GhnNodeType type = GhnNodeType::kInput;
  /// Shape of the parameter tensor ({1, 1, k, k} for pooling); empty for parameter-free nodes.
  std::vector<std::int64_t> shape;
  /// Full parameter name ("cells.0._ops.1.op.1.weight"); empty for parameter-free nodes.
  /// Norm layers' nodes stand for both weight and bias (the bias is predicted with the weight).
  std::string param;
};

struct GhnGraph {
  /// Nodes in a topological order; node 0 is the input, the last node the output.
  std::vector<GhnNode> nodes;
  /// 1-hop edges (src, dst).
  std::vector<std::pair<int, int>> edges;
  /// Shortest paths, stored by destination (CSR): for node v, the entries
  /// path_offset[v] .. path_offset[v+1] of path_src / path_dist list every node u that reaches
  /// v within s_max steps (u ascending) and its distance. The 1-hop edges are included with
  /// distance 1, since GHN-2's shortest-path messages also run along them.
  std::vector<int> path_offset;
  std::vector<int> path_src;
  std::vector<std::uint8_t> path_dist;
  int s_max = 50;

  std::size_t num_nodes() const { return nodes.size(); }
  /// Virtual edges in the paper's sense: pairs at distance 2..s_max.
  std::size_t num_virtual_edges() const;
  /// Longest-path level of every node from the sources (what the GNN sweeps process at once).
  std::vector<int> levels() const;
};

/// Builds the GHN-2 view of `graph` with shortest paths up to `s_max` (0 or 1: no virtual edges).
/// Throws ArchError naming the op when the network has an op GHN-2 cannot represent.
GhnGraph build_ghn_graph(const ArchGraph& graph, int s_max = 50);

/// Fills the shortest paths of `g` from `g.edges`, cut at s_max (at most 254). Nodes must be in topological
/// order (every edge goes from a lower to a higher index).
void compute_shortest_paths(GhnGraph& g, int s_max);

}  // namespace ghnas
