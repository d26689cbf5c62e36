#pragma once
// The reference GHN-2 fixture (../shared/reference/ghn2_fixture): the imported GHN and, for each
// of its 60 DeepNets-1M networks, the graph, the parameter list and what the reference computed.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/ghn_graph.hpp"
#include "surrogate/ghn.hpp"

namespace ghnas::test {

struct FixtureNet {
  std::string split;
  int index = 0;
  GhnGraph graph;
  std::vector<ParamTensor> params;
  nlohmann::json expected;  // the fixture's entry: n_nodes, graph_embedding, params
};

std::string fixture_dir();
std::string fixture_weights();
std::string fixture_meta();

/// The fixture GHN, imported once per test binary, in evaluation mode on the CPU.
Ghn& fixture_ghn();

/// The 60 networks, built once per test binary (CIFAR-10 task, s_max 50).
const std::vector<FixtureNet>& fixture_nets();

}  // namespace ghnas::test
