// The level-synchronous, batched gated GNN computes what the reference's node-by-node sweep
// computes, whatever the batch, the sharding or the code path (fused inference kernel or the
// autograd ops).

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

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
// MLP_sp / distance over every path, GRUCell update in place.
torch::Tensor reference_sweeps(GatedGnnImpl& gnn, torch::Tensor h, const GhnGraph& g) {
  const int n = static_cast<int>(g.num_nodes());
  h = h.clone();
  for (int order : {1, 0}) {
    for (int step = 0; step < n; ++step) {
      const int v = order ? step : n - 1 - step;
      auto m = torch::zeros({1, h.size(1)});
      std::vector<std::pair<int, int>> links;  // (neighbour, distance)
      for (int w = 0; w < n; ++w) {
        const int from = order ? w : v, to = order ? v : w;
        for (int k = g.path_offset[to]; k < g.path_offset[to + 1]; ++k)
          if (g.path_src[k] == from) links.emplace_back(w, g.path_dist[k]);
      }
      for (auto [u, d] : links)
        if (d == 1) m = m + gnn.mlp(h[u].unsqueeze(0));
      for (auto [u, d] : links) m = m + gnn.mlp_ve(h[u].unsqueeze(0)) * (1.0f / static_cast<float>(d));
      h[v] = gnn.gru(m, h[v].unsqueeze(0))[0];
    }
  }
  return h;
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

TEST(GatedGnn, FusedInferenceKernelMatchesTheAutogradPath) {
  GhnConfig ghn1;  // also the generic (non-32-16) loops of the kernel
  ghn1.ve = false;
  ghn1.layernorm = false;
  for (const GhnConfig& config : {GhnConfig{}, ghn1}) {
    torch::manual_seed(0);
    Ghn ghn(config);  // random weights: the autograd path runs because they require grad
    const auto& nets = test::fixture_nets();
    const std::vector<const GhnGraph*> graphs = {&nets[0].graph, &nets[41].graph, &nets[52].graph};
    const auto batch = ghn->make_batch(graphs);
    const auto with_grad = ghn->node_embeddings(batch);
    ASSERT_TRUE(with_grad.requires_grad());
    torch::Tensor fused;
    {
      torch::NoGradGuard no_grad;
      fused = ghn->node_embeddings(batch);
    }
    EXPECT_FALSE(fused.requires_grad());
    EXPECT_LT(max_abs_diff(fused, with_grad.detach()), 1e-5) << "ve " << config.ve;
  }
}

// What a GPU runs (gather + index_add messages, ATen's GRU cell), here on CPU tensors: the same
// states and the same weight gradients as the CPU's autograd path.
TEST(GatedGnn, DevicePathMatchesTheCpuPath) {
  torch::manual_seed(0);
  Ghn ghn;
  const auto& nets = test::fixture_nets();
  const std::vector<const GhnGraph*> graphs = {&nets[3].graph, &nets[44].graph, &nets[57].graph};
  const auto host = ghn->make_batch(graphs);
  const auto gathered = host.to(torch::kCPU, /*gather_tables=*/true);
  ASSERT_FALSE(host.has_gather_tables());
  ASSERT_TRUE(gathered.has_gather_tables());
  auto run = [&](const GhnBatch& batch) {
    ghn->zero_grad();
    const auto x = ghn->node_embeddings(batch);
    (x * torch::linspace(-1, 1, x.numel()).view(x.sizes())).sum().backward();
    return std::make_pair(x.detach(), ghn->gnn->gru->weight_hh.grad().clone());
  };
  const auto [want_x, want_grad] = run(host);
  const auto [got_x, got_grad] = run(gathered);
  EXPECT_LT(max_abs_diff(got_x, want_x), 1e-5);
  EXPECT_LT(max_abs_diff(got_grad, want_grad), 1e-4 * want_grad.abs().max().item<double>());
  EXPECT_GT(want_grad.abs().max().item<double>(), 0.0);
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
