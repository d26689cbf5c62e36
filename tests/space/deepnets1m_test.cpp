#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "space/deepnets1m.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

nlohmann::json small_net() {
  return nlohmann::json::parse(R"({
    "genotype": {"normal": [["conv_3x3", 0], ["skip_connect", 1], ["sep_conv_3x3", 2], ["max_pool_3x3", 1]],
                 "normal_concat": [2, 3],
                 "reduce": [["avg_pool_3x3", 0], ["dil_conv_3x3", 1], ["conv_1x1", 2], ["none", 0]],
                 "reduce_concat": [2, 3]},
    "net_args": {"C": 16, "n_cells": 4, "ks": 3, "stem_type": 0, "stem_pool": false, "norm": "bnorm",
                 "preproc": true, "C_mult": 2, "fc_layers": 1, "fc_dim": 0, "glob_avg": true}})");
}

std::string error_of(const nlohmann::json& spec) {
  try {
    build_deepnets_graph(parse_deepnets_arch(spec), task_by_name("cifar10"));
  } catch (const ArchError& e) {
    return e.what();
  }
  return "";
}

TEST(DeepNets1m, JsonRoundTrip) {
  const DeepNetsArch a = parse_deepnets_arch(small_net());
  const DeepNetsArch b = parse_deepnets_arch(deepnets_arch_to_json(a));
  EXPECT_EQ(deepnets_arch_to_json(a), deepnets_arch_to_json(b));
  EXPECT_EQ(b.genotype.normal[2], (CellEdge{"sep_conv_3x3", 2}));
}

TEST(DeepNets1m, BadArchitecturesNameTheProblem) {
  auto net = small_net();
  net["genotype"]["normal"][1][0] = "conv_9x9";
  EXPECT_NE(error_of(net).find("unknown op 'conv_9x9'"), std::string::npos);

  net = small_net();
  net["genotype"]["normal"][2][1] = 4;  // node 1 can read states 0..2
  EXPECT_NE(error_of(net).find("input 4 out of range"), std::string::npos);

  net = small_net();
  net["genotype"]["reduce_concat"] = nlohmann::json::parse("[7]");
  EXPECT_NE(error_of(net).find("state 7 does not exist"), std::string::npos);

  net = small_net();
  net["genotype"]["normal"][0] = "conv";
  EXPECT_NE(error_of(net).find("expected [op, input]"), std::string::npos);

  net = small_net();
  net.erase("net_args");
  EXPECT_NE(error_of(net).find("net_args"), std::string::npos);

  net = small_net();
  net["net_args"]["preproc"] = false;
  EXPECT_NE(error_of(net).find("preproc"), std::string::npos);
}

TEST(DeepNets1m, CellWithNoPathToTheOutputIsAnError) {
  auto net = small_net();
  // Every edge is 'none': the normal cells produce nothing.
  const auto all_none = nlohmann::json::parse(R"([["none", 0], ["none", 1], ["none", 2], ["none", 0]])");
  net["genotype"]["normal"] = all_none;
  net["genotype"]["reduce"] = all_none;
  EXPECT_NE(error_of(net).find("no path from the input to the output"), std::string::npos);
}

TEST(DeepNets1m, ShapesFollowTheTask) {
  const DeepNetsArch a = parse_deepnets_arch(small_net());
  const ArchGraph cifar = build_deepnets_graph(a, task_by_name("cifar10"));
  const ArchGraph fmnist = build_deepnets_graph(a, task_by_name("fashion-mnist"));
  EXPECT_EQ(cifar.node(cifar.output()).out_shape, (std::vector<std::int64_t>{10}));
  EXPECT_EQ(fmnist.node(fmnist.output()).out_shape, (std::vector<std::int64_t>{10}));
  // Two input channels fewer in the first conv: 16*3 stem channels (preproc) x 3x3 kernel.
  EXPECT_EQ(cifar.num_params() - fmnist.num_params(), 2 * 48 * 9);
}

TEST(DeepNets1m, AtWidthRebuildsTheSameNetworkAtAnotherWidth) {
  const DeepNets1mSpace space;
  Rng rng(5);
  const Architecture arch = space.sample(rng);
  ASSERT_EQ(space.width(arch), 32);
  const std::optional<Architecture> narrow = space.at_width(arch, 8);
  ASSERT_TRUE(narrow.has_value());
  EXPECT_EQ(space.width(*narrow), 8);
  EXPECT_EQ(narrow->spec.at("genotype"), arch.spec.at("genotype"));
  const Task task = task_by_name("fashion-mnist");
  const ArchGraph wide_net = space.build_graph(arch, task), narrow_net = space.build_graph(*narrow, task);
  EXPECT_EQ(wide_net.num_nodes(), narrow_net.num_nodes());
  EXPECT_LT(narrow_net.num_params(), wide_net.num_params());
  EXPECT_THROW(space.at_width(arch, 0), ConfigError);
}

TEST(DeepNets1m, EveryValidationNetBuildsForFashionMnist) {
  // 28x28 inputs reach odd sizes (7x7) where the reference's FactorizedReduce cannot
  // concatenate; ghnas pads the shifted path so every net builds.
  const auto doc = read_json_file(test::shared_dir() + "/deepnets1m/val.json");
  const Task task = task_by_name("fashion-mnist");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(doc[i]), task);
    EXPECT_EQ(g.node(g.output()).out_shape, (std::vector<std::int64_t>{10})) << "net " << i;
  }
}

TEST(DeepNets1m, MissingInputsKeepTheirParameters) {
  // Node 0 is 'none' + 'none' (missing); node 1 reads it with a conv that therefore never runs,
  // yet its parameters exist, as in the reference network.
  auto net = small_net();
  net["genotype"]["normal"] =
      nlohmann::json::parse(R"([["none", 0], ["none", 1], ["conv_3x3", 2], ["skip_connect", 1]])");
  net["genotype"]["normal_concat"] = nlohmann::json::parse("[3]");
  net["net_args"]["C_mult"] = 1;
  net["net_args"]["preproc"] = true;
  const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(net), task_by_name("cifar10"));
  bool found = false;
  for (const auto& p : g.detached_params())
    found |= p.name == "cells.0._ops.2.op.1.weight" && p.shape == std::vector<std::int64_t>{16, 16, 3, 3};
  EXPECT_TRUE(found);
}

TEST(DeepNets1m, VitStemAddsPositionalEncoding) {
  auto net = small_net();
  net["genotype"]["normal"][0] = nlohmann::json::parse(R"(["msa", 0])");
  const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(net), task_by_name("cifar10"));
  bool pos = false;
  for (const auto& p : g.all_params())
    pos |= p.name == "pos_enc.weight" && p.shape == std::vector<std::int64_t>{1, 16, 11, 11};
  EXPECT_TRUE(pos);
}

TEST(DeepNets1m, NeighboursDifferInOneEdgeAndAreValid) {
  DeepNets1mSpace space;
  const Architecture arch{"deepnets1m", small_net()};
  const auto neighbours = space.neighbours(arch);
  // 8 edges x (14 other ops + other inputs), minus the rejected ones: many, all distinct.
  EXPECT_GT(neighbours.size(), 80u);
  std::set<std::string> hashes;
  for (const auto& n : neighbours) {
    EXPECT_NO_THROW(space.validate(n));
    hashes.insert(space.canonical_hash(n));
    const DeepNetsArch a = parse_deepnets_arch(arch.spec), b = parse_deepnets_arch(n.spec);
    int differing = 0;
    for (std::size_t e = 0; e < a.genotype.normal.size(); ++e) differing += a.genotype.normal[e] != b.genotype.normal[e];
    for (std::size_t e = 0; e < a.genotype.reduce.size(); ++e) differing += a.genotype.reduce[e] != b.genotype.reduce[e];
    EXPECT_EQ(differing, 1);
  }
  EXPECT_EQ(hashes.size(), neighbours.size());
  EXPECT_EQ(hashes.count(space.canonical_hash(arch)), 0u);
}

TEST(DeepNets1m, SpaceReadsFilesAndNamesBadEntries) {
  DeepNets1mSpace space;
  const auto archs = space.read_archs(test::shared_dir() + "/deepnets1m/bnfree.json");
  EXPECT_EQ(archs.size(), 100u);
  EXPECT_NE(space.canonical_hash(archs[0]), space.canonical_hash(archs[1]));
  EXPECT_EQ(space.canonical_hash(archs[0]), space.canonical_hash(Architecture{"deepnets1m", archs[0].spec}));
  EXPECT_THROW(space.read_archs("/nonexistent/nets.json"), FileError);
}

}  // namespace
}  // namespace ghnas
