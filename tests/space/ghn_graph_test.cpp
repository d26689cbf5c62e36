#include <gtest/gtest.h>

#include "core/error.hpp"
#include "space/deepnets1m.hpp"
#include "space/ghn_graph.hpp"

namespace ghnas {
namespace {

GhnGraph chain_with_shortcut() {
  // 0 -> 1 -> 2 -> 3 and 0 -> 3.
  GhnGraph g;
  g.nodes.resize(4);
  g.edges = {{0, 1}, {1, 2}, {2, 3}, {0, 3}};
  return g;
}

TEST(GhnGraph, ShortestPathsTakeTheShortcut) {
  GhnGraph g = chain_with_shortcut();
  compute_shortest_paths(g, 50);
  // Pairs: (0,1)1 (0,2)2 (0,3)1 (1,2)1 (1,3)2 (2,3)1.
  EXPECT_EQ(g.path_src.size(), 6u);
  EXPECT_EQ(g.num_virtual_edges(), 2u);
  // Into node 3: from 0 (the shortcut, 1 step), 1 (2 steps), 2 (1 step).
  ASSERT_EQ(g.path_offset.size(), 5u);
  EXPECT_EQ(g.path_offset[4] - g.path_offset[3], 3);
  const int k = g.path_offset[3];
  EXPECT_EQ(std::vector<int>(g.path_src.begin() + k, g.path_src.begin() + k + 3), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(g.path_dist[k], 1);
  EXPECT_EQ(g.path_dist[k + 1], 2);
  EXPECT_EQ(g.path_dist[k + 2], 1);
}

TEST(GhnGraph, CutoffLimitsVirtualEdges) {
  GhnGraph g;
  g.nodes.resize(6);
  for (int i = 0; i < 5; ++i) g.edges.push_back({i, i + 1});
  compute_shortest_paths(g, 2);
  EXPECT_EQ(g.num_virtual_edges(), 4u);  // the pairs at distance exactly 2
  compute_shortest_paths(g, 50);
  EXPECT_EQ(g.num_virtual_edges(), 10u);  // C(6,2) - 5
}

TEST(GhnGraph, LevelsAreLongestPaths) {
  const GhnGraph g = chain_with_shortcut();
  EXPECT_EQ(g.levels(), (std::vector<int>{0, 1, 2, 3}));
}

TEST(GhnGraph, TypeNamesRoundTrip) {
  for (int i = 0; i < kNumGhnNodeTypes; ++i) {
    const auto t = static_cast<GhnNodeType>(i);
    EXPECT_EQ(ghn_node_type_by_name(ghn_node_type_name(t)), t);
  }
  EXPECT_THROW(ghn_node_type_by_name("relu"), Error);
}

TEST(GhnGraph, LinearLayersReadWeightThenBias) {
  // A plain net: the classifier ends ... -> conv(10, C) -> bias(10), and the input comes first.
  const auto spec = nlohmann::json::parse(R"({
    "genotype": {"normal": [["conv_3x3", 0], ["conv_1x1", 1]], "normal_concat": [2],
                 "reduce": [["max_pool_3x3", 0], ["avg_pool_3x3", 1]], "reduce_concat": [2]},
    "net_args": {"C": 16, "n_cells": 4, "preproc": true, "C_mult": 1, "fc_layers": 1, "glob_avg": true}})");
  const GhnGraph g = build_ghn_graph(build_deepnets_graph(parse_deepnets_arch(spec), task_by_name("cifar10")));
  ASSERT_GE(g.num_nodes(), 3u);
  EXPECT_EQ(g.nodes.front().type, GhnNodeType::kInput);
  const auto& last = g.nodes.back();
  const auto& before = g.nodes[g.num_nodes() - 2];
  EXPECT_EQ(last.type, GhnNodeType::kBias);
  EXPECT_EQ(last.param, "classifier.0.bias");
  EXPECT_EQ(before.type, GhnNodeType::kConv);
  EXPECT_EQ(before.shape, (std::vector<std::int64_t>{10, 16}));
  bool weight_to_bias = false;
  for (auto [a, b] : g.edges)
    weight_to_bias |= a == static_cast<int>(g.num_nodes()) - 2 && b == static_cast<int>(g.num_nodes()) - 1;
  EXPECT_TRUE(weight_to_bias);
  // Pooling nodes carry their kernel as a shape.
  bool pool = false;
  for (const auto& n : g.nodes)
    pool |= n.type == GhnNodeType::kMaxPool && n.shape == std::vector<std::int64_t>{1, 1, 3, 3};
  EXPECT_TRUE(pool);
}

}  // namespace
}  // namespace ghnas
