#pragma once
// Cheap features of an architecture, read off its ArchGraph without running anything: size, cost,
// depth and operation counts. Property heads may read them beside the GHN embedding, and a
// regressor on them alone is the "op counts + params" baseline the heads must beat.

#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// Names of cheap_features(), in order: "log10_params", "log10_flops", "depth", "nodes",
/// "count_<op kind>" for every OpKind but input, then convolution shapes "conv_1x1", "conv_3x3",
/// "conv_5x5", "conv_7x7_or_larger", "conv_grouped", "conv_dilated", "conv_strided", then what a
/// runtime executes after dropping nodes that never reach the output: "live_log10_flops",
/// "live_log10_activations" (output elements written, a memory-traffic measure),
/// "live_conv_1x1", "live_conv_3x3_or_larger", "live_pools", "live_adds" (summed inputs beyond the
/// first), and "constant_output" (1 when no path from the input reaches the output without passing
/// a zeros node, i.e. the network computes a constant).
const std::vector<std::string>& cheap_feature_names();

/// The cheap features of one network. depth is the largest number of convolution and linear
/// layers on any path from the input to a node.
std::vector<double> cheap_features(const ArchGraph& graph);

/// A plain encoding of an architecture for the encoding baseline: for nasbench201 the one-hot
/// op of each of the 6 edges (30 values, edge-major); for any other space the cheap features of
/// its graph for `task`. Throws ArchError for an invalid architecture.
std::vector<double> plain_encoding(const SearchSpace& space, const Architecture& arch, const Task& task);

/// The length of plain_encoding() in `space`.
std::size_t plain_encoding_size(const SearchSpace& space);

/// The same for an architecture whose graph is already built (`graph` is space.build_graph(arch, ...)),
/// so a caller that needs the graph anyway builds it once.
std::vector<double> plain_encoding(const SearchSpace& space, const Architecture& arch, const ArchGraph& graph);

}  // namespace ghnas
