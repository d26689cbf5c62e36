#pragma once
// A batch of GHN graphs laid out for GHN-2's gated GNN: all graphs' nodes in one table, and for
// each sweep direction the nodes grouped into steps that can update at once, with the messages
// each node receives in CSR form.
//
// The reference updates nodes one index at a time, all graphs of a meta-batch in lock-step. A node
// only reads its predecessors (forward sweep) or successors (backward sweep), which always sit on
// a lower (higher) longest-path level, so updating every node of one level of every graph together
// computes exactly the same states with far fewer sequential steps.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "space/ghn_graph.hpp"
#include "surrogate/ghn_config.hpp"
#include "surrogate/shape_encoder.hpp"

namespace ghnas {

/// One sweep direction. Messages read a table of 2N rows: row u holds MLP(h_u) (1-hop messages),
/// row N+u holds MLP_sp(h_u) (shortest-path messages, GHN-2 Eq. 4).
struct SweepPlan {
  /// Node rows in update order; step s updates nodes[step_begin[s] .. step_begin[s+1]).
  torch::Tensor nodes;  // int64 [N]
  std::vector<std::int64_t> step_begin;
  /// Messages into the node at position k of `nodes`: entries msg_begin[k] .. msg_begin[k+1] of
  /// msg_src (table rows) and msg_dist (path length d; the message is weighted by 1/d, so 1-hop
  /// messages by 1). 1-hop entries come first, each group by ascending source, as the reference
  /// sums them.
  torch::Tensor msg_begin;  // int64 [N + 1]
  torch::Tensor msg_src;    // int32 [E]
  torch::Tensor msg_dist;   // uint8 [E]
  /// Step s reads entries msg_step_begin[s] .. msg_step_begin[s+1] (host copy of msg_begin at
  /// step boundaries).
  std::vector<std::int64_t> msg_step_begin;
  /// Position of each entry's receiver within its step; filled only on CUDA devices (see
  /// GhnBatch::to), where the messages are summed with index_add.
  torch::Tensor msg_slot;  // int64 [E]
  /// Also CUDA only: msg_src as int64 and each entry's weight_of(msg_dist) as a float column, so
  /// a step gathers and weights its messages with no conversion kernels (each costs a launch).
  torch::Tensor msg_src_index;  // int64 [E]
  torch::Tensor msg_weight;     // float [E, 1]

  /// The weight of a message over a path of length d: the float reciprocal 1/d, as the
  /// reference computes it (1 for 1-hop messages).
  static float weight_of(std::uint8_t d) { return 1.0f / static_cast<float>(d); }

  std::int64_t num_steps() const { return static_cast<std::int64_t>(step_begin.size()) - 1; }
};

/// Consecutive graphs whose nodes rows first_row .. first_row + num_rows sweep together; sweep
/// plans count rows from first_row. Shards are independent, so CPU threads run one each.
struct GnnShard {
  std::int64_t first_row = 0, num_rows = 0;
  SweepPlan forward_sweep, backward_sweep;
};

struct GhnBatch {
  std::int64_t num_nodes = 0;
  /// Graph b owns rows graph_begin[b] .. graph_begin[b+1].
  std::vector<std::int64_t> graph_begin;
  torch::Tensor node_types;  // int64 [N], index into the 15 GHN-2 node types
  torch::Tensor shape_ids;   // int64 [N, 4], rows of the shape encoder's tables
  std::vector<GnnShard> shards;

  std::int64_t num_graphs() const { return static_cast<std::int64_t>(graph_begin.size()) - 1; }
  /// Whether the index tensors live in CPU memory.
  bool on_host() const { return node_types.is_cpu(); }
  /// Whether the sweep plans carry the device path's gather tables (see to()).
  bool has_gather_tables() const { return !shards.empty() && shards[0].forward_sweep.msg_slot.defined(); }
  /// The same batch with its tensors on `device`. On a CUDA device the sweep plans also get the
  /// gather tables (msg_slot, msg_src_index, msg_weight) that select the GNN's device path;
  /// `gather_tables` adds them on any device, so tests can run that path's arithmetic on a CPU.
  GhnBatch to(const torch::Device& device, bool gather_tables = false) const;
};

/// Lays out `graphs` for a GHN with `config`, in at most `max_shards` shards of similar node
/// counts. Shortest paths longer than config.s_max are dropped; a graph built with a smaller s_max
/// than the GHN needs throws ConfigError. Graphs are read, not kept.
GhnBatch make_ghn_batch(const std::vector<const GhnGraph*>& graphs, const GhnConfig& config,
                        const ShapeVocabulary& vocab, int max_shards = 1);

}  // namespace ghnas
