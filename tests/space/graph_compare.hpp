#pragma once
// Compares a GHN graph with a reference graph from ../shared/deepnets1m/graphs_*.json up to
// isomorphism, with node types and parameter shapes as labels (Boost.Graph's VF2).

#include <nlohmann/json.hpp>

#include <string>

#include "space/ghn_graph.hpp"

namespace ghnas::test {

/// Empty when `ours` is isomorphic to `reference` (same labelled structure and the same number
/// of virtual edges at s <= 50); otherwise what differs first.
std::string compare_with_reference(const GhnGraph& ours, const nlohmann::json& reference);

}  // namespace ghnas::test
