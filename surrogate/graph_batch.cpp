#include "surrogate/graph_batch.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>

#include "core/error.hpp"

namespace ghnas {

namespace {

torch::Tensor long_tensor(const std::vector<std::int64_t>& v) {
  return torch::from_blob(const_cast<std::int64_t*>(v.data()), {static_cast<std::int64_t>(v.size())},
                          torch::kLong)
      .clone();
}

// The messages a node receives, straight from the graph's shortest-path CSR (by destination,
// sources ascending): in the forward sweep its 1-hop predecessors, then every node within s_max;
// in the backward sweep the same lists with the edges reversed.
struct GraphMessages {
  const GhnGraph* g = nullptr;
  int s_max = 1;
  bool ve = false;
  std::vector<int> level;
  // Backward sweep: per node, how many 1-hop / path entries it sends (it receives them back).
  std::vector<int> out1, outp;

  std::int64_t count(int v, bool backward) const {
    if (backward) return out1[v] + (ve ? outp[v] : 0);
    std::int64_t n = 0;
    for (int k = g->path_offset[v]; k < g->path_offset[v + 1]; ++k)
      n += (g->path_dist[k] == 1) + (ve && g->path_dist[k] <= s_max);
    return n;
  }
};

GraphMessages graph_messages(const GhnGraph& g, const GhnConfig& config) {
  GraphMessages m;
  m.g = &g;
  m.ve = config.ve;
  m.s_max = config.s_max;
  m.level = g.levels();
  const int n = static_cast<int>(g.num_nodes());
  m.out1.assign(n, 0);
  m.outp.assign(n, 0);
  for (int k = 0; k < g.path_offset[n]; ++k) {
    m.out1[g.path_src[k]] += g.path_dist[k] == 1;
    m.outp[g.path_src[k]] += g.path_dist[k] <= m.s_max;
  }
  return m;
}

// Writes graph `m`'s entries for one direction; `slot[v]` is where node v's list starts, `base`
// the graph's first row (table rows: base + u for 1-hop, n_rows + base + u for paths).
void fill_messages(const GraphMessages& m, bool backward, const std::int64_t* slot, std::int64_t base,
                   std::int64_t n_rows, std::int32_t* src, std::uint8_t* dist) {
  const GhnGraph& g = *m.g;
  const int n = static_cast<int>(g.num_nodes());
  auto put = [&](std::int64_t k, std::int64_t row, std::uint8_t d) {
    src[k] = static_cast<std::int32_t>(row);
    dist[k] = d;
  };
  if (!backward) {
    for (int v = 0; v < n; ++v) {
      std::int64_t k = slot[v];
      for (int e = g.path_offset[v]; e < g.path_offset[v + 1]; ++e)
        if (g.path_dist[e] == 1) put(k++, base + g.path_src[e], 1);
      if (!m.ve) continue;
      for (int e = g.path_offset[v]; e < g.path_offset[v + 1]; ++e)
        if (g.path_dist[e] <= m.s_max) put(k++, n_rows + base + g.path_src[e], g.path_dist[e]);
    }
    return;
  }
  // Reversed lists: visiting receivers v in ascending order appends each sender's entries in
  // ascending order too.
  std::vector<std::int64_t> cursor1(n), cursorp(n);
  for (int u = 0; u < n; ++u) {
    cursor1[u] = slot[u];
    cursorp[u] = slot[u] + m.out1[u];
  }
  for (int v = 0; v < n; ++v)
    for (int e = g.path_offset[v]; e < g.path_offset[v + 1]; ++e) {
      const int u = g.path_src[e];
      const std::uint8_t d = g.path_dist[e];
      if (d == 1) put(cursor1[u]++, base + v, 1);
      if (m.ve && d <= m.s_max) put(cursorp[u]++, n_rows + base + v, d);
    }
}

// One sweep direction over graphs `msgs` (first rows `graph_begin`, from 0): forward steps are
// the levels in ascending order, backward steps in descending order; a step lists its nodes by
// ascending row.
SweepPlan make_sweep(const GraphMessages* msgs, std::size_t n_graphs, const std::vector<std::int64_t>& graph_begin,
                     bool backward) {
  const std::int64_t n_rows = graph_begin.back();
  int num_levels = 0;
  for (std::size_t b = 0; b < n_graphs; ++b)
    num_levels = std::max(num_levels, 1 + *std::max_element(msgs[b].level.begin(), msgs[b].level.end()));
  auto step_of = [&](int level) { return backward ? num_levels - 1 - level : level; };

  SweepPlan sweep;
  std::vector<std::int64_t> step_begin(num_levels + 1, 0);
  for (std::size_t b = 0; b < n_graphs; ++b)
    for (int l : msgs[b].level) ++step_begin[step_of(l) + 1];
  for (int s = 0; s < num_levels; ++s) step_begin[s + 1] += step_begin[s];

  // position[row]: where the row sits in update order.
  std::vector<std::int64_t> order(n_rows), position(n_rows);
  std::vector<std::int64_t> cursor(step_begin.begin(), step_begin.end() - 1);
  for (std::size_t b = 0; b < n_graphs; ++b)
    for (std::size_t v = 0; v < msgs[b].level.size(); ++v) {
      const std::int64_t row = graph_begin[b] + static_cast<std::int64_t>(v);
      const std::int64_t k = cursor[step_of(msgs[b].level[v])]++;
      order[k] = row;
      position[row] = k;
    }
  std::vector<std::int64_t> begin(n_rows + 1, 0);
  for (std::size_t b = 0; b < n_graphs; ++b)
    for (std::size_t v = 0; v < msgs[b].level.size(); ++v)
      begin[position[graph_begin[b] + static_cast<std::int64_t>(v)] + 1] = msgs[b].count(static_cast<int>(v), backward);
  for (std::int64_t k = 0; k < n_rows; ++k) begin[k + 1] += begin[k];

  const std::int64_t n_msgs = begin.back();
  sweep.msg_src = torch::empty({n_msgs}, torch::kInt);
  sweep.msg_dist = torch::empty({n_msgs}, torch::kByte);
  auto* src = sweep.msg_src.data_ptr<std::int32_t>();
  auto* dist = sweep.msg_dist.data_ptr<std::uint8_t>();
  tbb::parallel_for(std::size_t{0}, n_graphs, [&](std::size_t b) {
    std::vector<std::int64_t> slot(msgs[b].level.size());
    for (std::size_t v = 0; v < slot.size(); ++v) slot[v] = begin[position[graph_begin[b] + static_cast<std::int64_t>(v)]];
    fill_messages(msgs[b], backward, slot.data(), graph_begin[b], n_rows, src, dist);
  });
  sweep.step_begin = step_begin;
  sweep.msg_step_begin.resize(num_levels + 1);
  for (int s = 0; s <= num_levels; ++s) sweep.msg_step_begin[s] = begin[step_begin[s]];
  sweep.nodes = long_tensor(order);
  sweep.msg_begin = long_tensor(begin);
  return sweep;
}

}  // namespace

GhnBatch make_ghn_batch(const std::vector<const GhnGraph*>& graphs, const GhnConfig& config,
                        const ShapeVocabulary& vocab, int max_shards) {
  GHNAS_CHECK_AS(ConfigError, !graphs.empty(), "a GHN batch needs at least one graph");
  GhnBatch batch;
  batch.graph_begin.assign(1, 0);
  for (const GhnGraph* g : graphs) {
    GHNAS_CHECK_AS(ArchError, g->num_nodes() > 0, "a GHN graph has no nodes");
    GHNAS_CHECK_AS(ArchError, g->path_offset.size() == g->num_nodes() + 1,
                   "a GHN graph has no shortest paths (call compute_shortest_paths)");
    GHNAS_CHECK_AS(ConfigError, !config.ve || g->s_max >= config.s_max, "a GHN graph was built with s_max ",
                   g->s_max, " but the GHN uses virtual edges up to ", config.s_max);
    batch.graph_begin.push_back(batch.graph_begin.back() + static_cast<std::int64_t>(g->num_nodes()));
  }
  const std::int64_t n_total = batch.graph_begin.back();
  GHNAS_CHECK_AS(ConfigError, 2 * n_total < (std::int64_t{1} << 31), "a GHN batch of ", n_total,
                 " nodes is too large; split it");
  batch.num_nodes = n_total;

  std::vector<std::int64_t> types(n_total), shapes(n_total * 4);
  std::vector<GraphMessages> msgs(graphs.size());
  tbb::parallel_for(std::size_t{0}, graphs.size(), [&](std::size_t b) {
    msgs[b] = graph_messages(*graphs[b], config);
    for (std::size_t v = 0; v < graphs[b]->num_nodes(); ++v) {
      const auto row = batch.graph_begin[b] + static_cast<std::int64_t>(v);
      const GhnNode& node = graphs[b]->nodes[v];
      types[row] = static_cast<std::int64_t>(node.type);
      const auto ids = vocab.encode(node.shape);
      std::copy(ids.begin(), ids.end(), shapes.begin() + row * 4);
    }
  });
  batch.node_types = long_tensor(types);
  batch.shape_ids = long_tensor(shapes).view({n_total, 4});

  // Shards: consecutive graphs, cut when a shard reaches its share of the nodes.
  const auto n_graphs = static_cast<std::int64_t>(graphs.size());
  const std::int64_t n_shards = std::max<std::int64_t>(1, std::min<std::int64_t>(max_shards, n_graphs));
  std::vector<std::int64_t> cuts = {0};
  for (std::int64_t b = 1; b < n_graphs && static_cast<std::int64_t>(cuts.size()) < n_shards; ++b)
    if (batch.graph_begin[b] * n_shards >= n_total * static_cast<std::int64_t>(cuts.size())) cuts.push_back(b);
  cuts.push_back(n_graphs);
  batch.shards.resize(cuts.size() - 1);
  tbb::parallel_for(std::size_t{0}, batch.shards.size(), [&](std::size_t k) {
    GnnShard& shard = batch.shards[k];
    std::vector<std::int64_t> begin;
    for (std::int64_t b = cuts[k]; b <= cuts[k + 1]; ++b) begin.push_back(batch.graph_begin[b] - batch.graph_begin[cuts[k]]);
    shard.first_row = batch.graph_begin[cuts[k]];
    shard.num_rows = begin.back();
    const auto n = static_cast<std::size_t>(cuts[k + 1] - cuts[k]);
    shard.forward_sweep = make_sweep(msgs.data() + cuts[k], n, begin, false);
    shard.backward_sweep = make_sweep(msgs.data() + cuts[k], n, begin, true);
  });
  return batch;
}

namespace {
SweepPlan sweep_to(const SweepPlan& s, const torch::Device& device, bool gather_tables) {
  SweepPlan out = s;
  if ((device.is_cuda() || gather_tables) && !s.msg_slot.defined()) {
    const auto n_msgs = s.msg_src.size(0);
    std::vector<std::int64_t> slot(n_msgs);
    const auto* begin = s.msg_begin.data_ptr<std::int64_t>();
    for (std::size_t step = 0; step + 1 < s.step_begin.size(); ++step)
      for (std::int64_t k = s.step_begin[step]; k < s.step_begin[step + 1]; ++k)
        for (std::int64_t e = begin[k]; e < begin[k + 1]; ++e) slot[e] = k - s.step_begin[step];
    out.msg_slot = long_tensor(slot);
    std::vector<std::int64_t> src(s.msg_src.data_ptr<std::int32_t>(), s.msg_src.data_ptr<std::int32_t>() + n_msgs);
    std::vector<float> weight(n_msgs);
    const auto* dist = s.msg_dist.data_ptr<std::uint8_t>();
    for (std::int64_t e = 0; e < n_msgs; ++e) weight[e] = SweepPlan::weight_of(dist[e]);
    out.msg_src_index = long_tensor(src);
    out.msg_weight = torch::tensor(weight, torch::TensorOptions().dtype(torch::kFloat)).view({n_msgs, 1});
  }
  if (out.msg_slot.defined()) {
    out.msg_slot = out.msg_slot.to(device);
    out.msg_src_index = out.msg_src_index.to(device);
    out.msg_weight = out.msg_weight.to(device);
  }
  out.nodes = s.nodes.to(device);
  out.msg_begin = s.msg_begin.to(device);
  out.msg_src = s.msg_src.to(device);
  out.msg_dist = s.msg_dist.to(device);
  return out;
}
}  // namespace

GhnBatch GhnBatch::to(const torch::Device& device, bool gather_tables) const {
  GhnBatch out = *this;
  out.node_types = node_types.to(device);
  out.shape_ids = shape_ids.to(device);
  for (auto& shard : out.shards) {
    shard.forward_sweep = sweep_to(shard.forward_sweep, device, gather_tables);
    shard.backward_sweep = sweep_to(shard.backward_sweep, device, gather_tables);
  }
  return out;
}

}  // namespace ghnas
