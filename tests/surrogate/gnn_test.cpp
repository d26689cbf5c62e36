// The level-synchronous, batched gated GNN computes what the reference's node-by-node sweep
// computes, whatever the batch, the sharding or the code path (the fused CPU kernels, with and
// without their hand-written backward, or the device path's tensor ops), and so do its gradients.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"

#include "surrogate/ghn.hpp"
#include "tests/surrogate/reference_fixture.hpp"

namespace ghnas {
namespace {

float max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu() - b.cpu()).abs().max().item<float>();
}

// A random DAG in topological order (every node after node 0 has 1-3 earlier predecessors), with
// shortest paths up to s_max.
GhnGraph random_graph(int n, unsigned seed, int s_max) {
  std::mt19937 rng(seed);
  GhnGraph g;
  g.nodes.resize(n);
  for (int v = 0; v < n; ++v) {
    g.nodes[v].type = static_cast<GhnNodeType>(rng() % kNumGhnNodeTypes);
    if (rng() % 2) g.nodes[v].shape = {static_cast<std::int64_t>(8 * (1 + rng() % 8)), 16, 3, 3};
  }
  for (int v = 1; v < n; ++v) {
    const int k = 1 + static_cast<int>(rng() % 3);
    std::vector<int> preds;
    for (int j = 0; j < k; ++j) preds.push_back(static_cast<int>(rng() % v));
    std::sort(preds.begin(), preds.end());
    preds.erase(std::unique(preds.begin(), preds.end()), preds.end());
    for (int u : preds) g.edges.emplace_back(u, v);
  }
  compute_shortest_paths(g, s_max);
  return g;
}

// The reference's GatedGNN (ppuda/ghn/gatedgnn.py, T = 1) for one graph: nodes one at a time in
// index order, then in reverse, messages from all predecessors (successors), 1-hop MLP plus
// MLP_sp / distance over every path, GRUCell update in place. Rows are separate tensors, so
// autograd can differentiate it too.
torch::Tensor reference_sweeps(GatedGnnImpl& gnn, const torch::Tensor& x, const GhnGraph& g) {
  const int n = static_cast<int>(g.num_nodes());
  std::vector<torch::Tensor> h;
  for (int v = 0; v < n; ++v) h.push_back(x[v].unsqueeze(0));
  for (int order : {1, 0}) {
    for (int step = 0; step < n; ++step) {
      const int v = order ? step : n - 1 - step;
      auto m = torch::zeros({1, x.size(1)});
      std::vector<std::pair<int, int>> links;  // (neighbour, distance)
      for (int w = 0; w < n; ++w) {
        const int from = order ? w : v, to = order ? v : w;
        for (int k = g.path_offset[to]; k < g.path_offset[to + 1]; ++k)
          if (g.path_src[k] == from) links.emplace_back(w, g.path_dist[k]);
      }
      for (auto [u, d] : links)
        if (d == 1) m = m + gnn.mlp(h[u]);
      for (auto [u, d] : links) m = m + gnn.mlp_ve(h[u]) * (1.0f / static_cast<float>(d));
      h[v] = gnn.gru(m, h[v]);
    }
  }
  return torch::cat(h);
}

TEST(GatedGnn, LevelSweepsEqualTheReferenceNodeByNodeSweeps) {
  torch::manual_seed(0);
  Ghn ghn;  // random weights
  ghn->eval();
  torch::NoGradGuard no_grad;
  for (unsigned seed : {1u, 2u, 3u}) {
    const GhnGraph g = random_graph(40, seed, 50);
    const auto batch = ghn->make_batch({&g});
    const auto x = ghn->op_embed(batch.node_types) + ghn->shape_enc(batch.shape_ids);
    const auto want = reference_sweeps(*ghn->gnn, x, g);
    const auto got = ghn->gnn(x, batch);
    EXPECT_LT(max_abs_diff(got, want), 1e-5) << "graph seed " << seed;
    // The sweeps did change the states (the test would pass trivially otherwise).
    EXPECT_GT(max_abs_diff(got, x), 1e-2);
  }
}

TEST(GatedGnn, EmbeddingsDoNotDependOnTheBatchOrItsShards) {
  auto& ghn = test::fixture_ghn();
  const auto& nets = test::fixture_nets();
  torch::NoGradGuard no_grad;
  std::vector<const GhnGraph*> graphs;
  for (std::size_t i = 0; i < 12; ++i) graphs.push_back(&nets[i * 5].graph);
  const auto together = ghn->embed(graphs);
  for (std::size_t i = 0; i < graphs.size(); ++i)
    EXPECT_LT(max_abs_diff(ghn->embed(std::vector<const GhnGraph*>{graphs[i]})[0], together[static_cast<std::int64_t>(i)]),
              1e-6)
        << i;
  for (int shards : {1, 3, 7}) {
    const auto batch = make_ghn_batch(graphs, ghn->config(), ghn->shape_enc->vocabulary(), shards);
    EXPECT_EQ(static_cast<int>(batch.shards.size()), shards);
    EXPECT_LT(max_abs_diff(ghn->embed(batch), together), 1e-6) << shards << " shards";
  }
}

GhnConfig ghn1_config() {  // no virtual edges: also the generic (non-32-16) loops of the kernels
  GhnConfig c;
  c.ve = false;
  c.layernorm = false;
  return c;
}

// Gradients of a fixed, non-uniform weighting of `x` with respect to every GNN weight and the
// op embedding (x's initial states come from it), after zeroing them.
std::vector<torch::Tensor> gnn_gradients(GhnImpl& ghn, const torch::Tensor& x) {
  ghn.zero_grad();
  (x * torch::linspace(-1, 1, x.numel()).view(x.sizes())).sum().backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : ghn.gnn->parameters()) grads.push_back(p.grad().clone());
  grads.push_back(ghn.op_embed->weight.grad().clone());
  return grads;
}

void expect_same_gradients(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want,
                           const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double scale = want[i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << what << ": gradient " << i << " is zero";
    EXPECT_LT(max_abs_diff(got[i], want[i]), 1e-4 * scale) << what << ": gradient " << i;
  }
}

TEST(GatedGnn, FusedInferenceKernelMatchesTheDevicePath) {
  for (const GhnConfig& config : {GhnConfig{}, ghn1_config()}) {
    torch::manual_seed(0);
    Ghn ghn(config);
    const auto& nets = test::fixture_nets();
    const std::vector<const GhnGraph*> graphs = {&nets[0].graph, &nets[41].graph, &nets[52].graph};
    const auto host = ghn->make_batch(graphs);
    torch::NoGradGuard no_grad;
    const auto fused = ghn->node_embeddings(host);
    const auto ops = ghn->node_embeddings(host.to(torch::kCPU, /*gather_tables=*/true));
    EXPECT_LT(max_abs_diff(fused, ops), 1e-5) << "ve " << config.ve;
  }
}

// Training on a host batch runs the fused sweeps with their hand-written backward; a batch with
// gather tables runs the device path's tensor ops (here on CPU tensors), which autograd
// differentiates. Same states, same gradients for every GNN weight and the embeddings below.
TEST(GatedGnn, FusedBackwardMatchesAutogradThroughTheDevicePath) {
  for (const GhnConfig& config : {GhnConfig{}, ghn1_config()}) {
    torch::manual_seed(0);
    Ghn ghn(config);
    const auto& nets = test::fixture_nets();
    const std::vector<const GhnGraph*> graphs = {&nets[3].graph, &nets[44].graph, &nets[57].graph};
    const auto host = ghn->make_batch(graphs);
    const auto gathered = host.to(torch::kCPU, /*gather_tables=*/true);
    ASSERT_FALSE(host.has_gather_tables());
    ASSERT_TRUE(gathered.has_gather_tables());
    const auto want_x = ghn->node_embeddings(gathered);
    const auto want = gnn_gradients(*ghn, want_x);
    const auto got_x = ghn->node_embeddings(host);
    const auto got = gnn_gradients(*ghn, got_x);
    EXPECT_LT(max_abs_diff(got_x, want_x), 1e-5) << "ve " << config.ve;
    expect_same_gradients(got, want, config.ve ? "GHN-2" : "GHN-1");
    // Shards accumulate their weight gradients separately; the sum does not depend on them.
    for (int shards : {2, 3}) {
      const auto sharded = make_ghn_batch(graphs, ghn->config(), ghn->shape_enc->vocabulary(), shards);
      expect_same_gradients(gnn_gradients(*ghn, ghn->node_embeddings(sharded)), want,
                            std::to_string(shards) + " shards");
    }
  }
}

TEST(GatedGnn, FusedBackwardMatchesAutogradThroughTheReferenceSweeps) {
  torch::manual_seed(0);
  Ghn ghn;
  for (unsigned seed : {4u, 5u}) {
    const GhnGraph g = random_graph(40, seed, 50);
    const auto batch = ghn->make_batch({&g});
    auto initial = [&] { return ghn->op_embed(batch.node_types) + ghn->shape_enc(batch.shape_ids); };
    const auto want = gnn_gradients(*ghn, reference_sweeps(*ghn->gnn, initial(), g));
    const auto got = gnn_gradients(*ghn, ghn->gnn(initial(), batch));
    expect_same_gradients(got, want, "graph seed " + std::to_string(seed));
  }
}

TEST(GatedGnn, FusedBackwardHasNoSecondDerivative) {
  torch::manual_seed(0);
  Ghn ghn;
  const GhnGraph g = random_graph(10, 6, 50);
  const auto batch = ghn->make_batch({&g});
  const auto x = ghn->op_embed(batch.node_types);
  const auto h = ghn->gnn(x, batch);
  EXPECT_THROW(torch::autograd::grad({h.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true), Error);
}

TEST(GatedGnn, WithoutVirtualEdgesOnlyOneHopMessagesFlow) {
  // GHN-1 configuration (the reference's defaults): no virtual edges, layer norm or weight
  // normalisation; a hid -> hid -> hid message MLP. Graphs may still carry longer paths.
  torch::manual_seed(0);
  GhnConfig c;
  c.ve = false;
  c.layernorm = false;
  c.weight_norm = false;
  Ghn ghn(c);
  EXPECT_TRUE(ghn->gnn->mlp_ve.is_empty());
  EXPECT_EQ(ghn->num_weights(), 1620764 - 96);  // GHN-1 has 96 fewer weights (ghn2.md)
  ghn->eval();
  torch::NoGradGuard no_grad;
  GhnGraph g = random_graph(30, 7, 50);
  GhnGraph one_hop = g;
  compute_shortest_paths(one_hop, 1);
  EXPECT_LT(max_abs_diff(ghn->embed({&g}), ghn->embed({&one_hop})), 1e-7);
}

}  // namespace
}  // namespace ghnas
