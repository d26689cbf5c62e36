#include "surrogate/gated_gnn.hpp"

#include "surrogate/gnn_training_kernel.hpp"
#include "surrogate/message_sum.hpp"

namespace ghnas {

GatedGnnImpl::GatedGnnImpl(std::int64_t hid, bool ve) : hid_(hid), ve_(ve) { reset(); }

void GatedGnnImpl::reset() {
  mlp = register_module("mlp", Mlp(hid_, std::vector<std::int64_t>{ve_ ? hid_ / 2 : hid_, hid_}, true));
  if (ve_) mlp_ve = register_module("mlp_ve", Mlp(hid_, std::vector<std::int64_t>{hid_ / 2, hid_}, true));
  gru = register_module("gru", torch::nn::GRUCell(hid_, hid_));
}

torch::Tensor GatedGnnImpl::gru_step(const torch::Tensor& message, const torch::Tensor& h) {
  // ATen's GRU cell, which on CUDA is two matrix products and one fused kernel for the gates
  // (forward and backward) instead of a dozen launches.
  return torch::gru_cell(message, h, gru->weight_ih, gru->weight_hh, gru->bias_ih, gru->bias_hh);
}

void GatedGnnImpl::sweep(torch::Tensor& h, const SweepPlan& plan) {
  const std::int64_t n = h.size(0);
  // Message table: row u = MLP(h_u), row n+u = MLP_sp(h_u), written when u is updated. A node
  // only reads rows of nodes updated earlier in this sweep.
  auto table = torch::zeros({ve_ ? 2 * n : n, hid_}, h.options());
  const std::int64_t steps = plan.num_steps();
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto nodes = plan.nodes.narrow(0, plan.step_begin[s], plan.step_begin[s + 1] - plan.step_begin[s]);
    const auto message = message_sum(table, plan, s);
    const auto updated = gru_step(message, h.index_select(0, nodes));
    h.index_copy_(0, nodes, updated);
    if (s + 1 == steps) break;  // nothing reads the last step's messages
    table.index_copy_(0, nodes, mlp(updated));
    if (ve_) table.index_copy_(0, nodes + n, mlp_ve(updated));
  }
}

GnnHostWeights GatedGnnImpl::inference_weights() const { return host_weights(weight_list(), ve_); }

GnnWeightList GatedGnnImpl::weight_list() const {
  const auto& l = mlp->layers();
  GnnWeightList w = {gru->weight_ih, gru->bias_ih, gru->weight_hh, gru->bias_hh,
                     l[0]->weight,   l[0]->bias,   l[1]->weight,   l[1]->bias};
  if (ve_) {
    const auto& v = mlp_ve->layers();
    w.insert(w.end(), {v[0]->weight, v[0]->bias, v[1]->weight, v[1]->bias});
  }
  return w;
}

torch::Tensor GatedGnnImpl::forward(const torch::Tensor& x, const GhnBatch& batch) {
  if (!batch.has_gather_tables()) {
    bool needs_grad = x.requires_grad();
    for (const auto& p : parameters()) needs_grad |= p.requires_grad();
    needs_grad &= torch::GradMode::is_enabled();
    TORCH_INTERNAL_ASSERT(batch.on_host(), "a batch on a device always has gather tables");
    // The fused CPU kernels, also for states on a GPU: only they cross, twice (and their
    // gradient, twice more).
    if (needs_grad) return gnn_sweeps_trainable(x, batch, weight_list(), ve_);
    auto h = x.to(torch::kCPU, torch::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
    gnn_sweeps_cpu(h, batch, inference_weights());
    return h.to(x.device());
  }
  // The device path. The sweeps update rows in place, so each shard works on its own copy of x's
  // rows.
  std::vector<torch::Tensor> parts;
  for (const auto& shard : batch.shards) {
    auto h = x.narrow(0, shard.first_row, shard.num_rows).clone();
    sweep(h, shard.forward_sweep);
    sweep(h, shard.backward_sweep);
    parts.push_back(h);
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

}  // namespace ghnas
