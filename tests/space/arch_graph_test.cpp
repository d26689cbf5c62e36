#include <gtest/gtest.h>

#include "space/arch_graph.hpp"

namespace ghnas {
namespace {

OpNode conv_node(int c_in, int c_out, int k, int hw, bool bias) {
  OpNode n;
  n.kind = OpKind::kConv2d;
  n.module = "conv";
  n.kernel_h = n.kernel_w = k;
  n.pad_h = n.pad_w = k / 2;
  n.params.push_back({"conv.weight", {c_out, c_in, k, k}});
  if (bias) n.params.push_back({"conv.bias", {c_out}});
  n.out_shape = {c_out, hw, hw};
  return n;
}

TEST(ArchGraph, InputsKeepTheirOrder) {
  ArchGraph g;
  OpNode in;
  in.out_shape = {3, 8, 8};
  const auto x = g.add(in);
  const auto a = g.add(conv_node(3, 4, 3, 8, false), {x});
  const auto b = g.add(conv_node(3, 4, 1, 8, false), {x});
  OpNode cat;
  cat.kind = OpKind::kConcat;
  cat.out_shape = {8, 8, 8};
  const auto c = g.add(cat, {b, a});
  EXPECT_EQ(g.inputs(c), (std::vector<ArchGraph::Vertex>{b, a}));
  EXPECT_EQ(g.outputs(x).size(), 2u);
}

TEST(ArchGraph, CountsParametersAndMultiplyAccumulates) {
  ArchGraph g;
  OpNode in;
  in.out_shape = {3, 8, 8};
  const auto x = g.add(in);
  const auto c = g.add(conv_node(3, 4, 3, 8, true), {x});
  g.set_output(c);
  EXPECT_EQ(g.num_params(), 4 * 3 * 3 * 3 + 4);
  // 8*8 outputs x 4 channels x (3*3*3 MACs + 1 bias add)
  EXPECT_DOUBLE_EQ(g.flops(), 64.0 * 4 * 27 + 64.0 * 4);
}

TEST(ArchGraph, DetachedParametersCount) {
  ArchGraph g;
  g.detached_params().push_back({"unused.weight", {5, 2}});
  EXPECT_EQ(g.num_params(), 10);
  EXPECT_EQ(g.all_params().size(), 1u);
}

TEST(ArchGraph, ReachesOutputMarksDeadBranches) {
  ArchGraph g;
  OpNode in;
  in.out_shape = {3, 8, 8};
  const auto x = g.add(in);
  const auto used = g.add(conv_node(3, 4, 3, 8, false), {x});
  const auto dead = g.add(conv_node(3, 4, 3, 8, false), {x});
  g.set_output(used);
  const auto reach = g.reaches_output();
  EXPECT_TRUE(reach[x]);
  EXPECT_TRUE(reach[used]);
  EXPECT_FALSE(reach[dead]);
}

}  // namespace
}  // namespace ghnas
