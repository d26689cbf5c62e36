#include "surrogate/gnn_inference.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "surrogate/gnn_kernel_math.hpp"

namespace ghnas {

namespace {

using gnn_kernel::affine;
using gnn_kernel::gather_messages;
using gnn_kernel::sigmoid_fast;
using gnn_kernel::tanh_fast;

// relu(W2 relu(W1 x + b1) + b2) into out.
template <int kHid, int kHidden>
GHNAS_INLINE void message_mlp(const float* x, const std::vector<float>& w1, const std::vector<float>& b1,
                              const std::vector<float>& w2, const std::vector<float>& b2, std::int64_t hid,
                              std::int64_t hidden, float* tmp, float* out) {
  affine<kHid, kHidden>(w1.data(), b1.data(), x, tmp, hid, hidden);
  for (std::int64_t j = 0; j < hidden; ++j) tmp[j] = std::max(tmp[j], 0.0f);
  affine<kHidden, kHid>(w2.data(), b2.data(), tmp, out, hidden, hid);
  for (std::int64_t j = 0; j < hid; ++j) out[j] = std::max(out[j], 0.0f);
}

// One sweep over a shard: h and the message table hold the shard's rows only. kHid and kHidden
// (the message MLPs' middle width) as above. Inlined into sweep_shard so that each of its
// CPU-specific copies compiles the loops anew.
template <int kHid, int kHidden>
GHNAS_INLINE void sweep(float* h, std::int64_t rows, const SweepPlan& plan, const GnnHostWeights& w, float* table) {
  const std::int64_t hid = kHid > 0 ? kHid : w.hid, hidden = kHidden > 0 ? kHidden : w.mlp_hidden;
  std::vector<float> m(hid), gi(3 * hid), gh(3 * hid), tmp(std::max(hidden, hid));
  const auto* nodes = plan.nodes.data_ptr<std::int64_t>();
  const auto* begin = plan.msg_begin.data_ptr<std::int64_t>();
  const auto* src = plan.msg_src.data_ptr<std::int32_t>();
  const auto* dist = plan.msg_dist.data_ptr<std::uint8_t>();
  float weight_of[256] = {0.0f};
  for (int d = 1; d < 256; ++d) weight_of[d] = SweepPlan::weight_of(static_cast<std::uint8_t>(d));
  const std::int64_t steps = plan.num_steps();
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::int64_t k = plan.step_begin[s]; k < plan.step_begin[s + 1]; ++k) {
      const std::int64_t row = nodes[k];
      float* hv = h + row * hid;
      gather_messages<kHid>(table, hid, begin[k], begin[k + 1], src, dist, weight_of, m.data());
      // GRUCell as PyTorch computes it on the CPU.
      affine<kHid, 3 * kHid>(w.w_ih.data(), w.b_ih.data(), m.data(), gi.data(), hid, 3 * hid);
      affine<kHid, 3 * kHid>(w.w_hh.data(), w.b_hh.data(), hv, gh.data(), hid, 3 * hid);
      for (std::int64_t j = 0; j < 2 * hid; ++j) gh[j] = sigmoid_fast(gh[j] + gi[j]);  // reset, update
      for (std::int64_t j = 0; j < hid; ++j) gi[2 * hid + j] = tanh_fast(gi[2 * hid + j] + gh[2 * hid + j] * gh[j]);
      for (std::int64_t j = 0; j < hid; ++j) {
        const float n = gi[2 * hid + j];
        hv[j] = (hv[j] - n) * gh[hid + j] + n;
      }
      if (s + 1 == steps) continue;  // nothing reads the last step's messages
      message_mlp<kHid, kHidden>(hv, w.mlp_w1, w.mlp_b1, w.mlp_w2, w.mlp_b2, hid, hidden, tmp.data(),
                                 table + row * hid);
      if (w.ve)
        message_mlp<kHid, kHidden>(hv, w.ve_w1, w.ve_b1, w.ve_w2, w.ve_b2, hid, hidden, tmp.data(),
                                   table + (rows + row) * hid);
    }
  }
}

// x86-64 builds target the 2003 baseline (SSE2); AVX2 with FMA doubles the vector width. GCC
// compiles both and picks one by the CPU's features at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define GHNAS_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GHNAS_VECTOR_CLONES
#endif

// Both sweeps of one shard. GHN-2 (hid 32, message MLPs 32-16-32) gets loops of fixed size;
// other widths take the generic ones.
GHNAS_VECTOR_CLONES void sweep_shard(float* h, const GnnShard& shard, const GnnHostWeights& w, float* table) {
  if (w.hid == 32 && w.mlp_hidden == 16) {
    sweep<32, 16>(h, shard.num_rows, shard.forward_sweep, w, table);
    sweep<32, 16>(h, shard.num_rows, shard.backward_sweep, w, table);
  } else {
    sweep<0, 0>(h, shard.num_rows, shard.forward_sweep, w, table);
    sweep<0, 0>(h, shard.num_rows, shard.backward_sweep, w, table);
  }
}

}  // namespace

namespace {
std::vector<float> values(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
}  // namespace

GnnHostWeights host_weights(const GnnWeightList& w, bool ve) {
  TORCH_CHECK(w.size() == (ve ? 12u : 8u), "the GNN has ", ve ? 12 : 8, " weight tensors, got ", w.size());
  GnnHostWeights p;
  p.ve = ve;
  p.hid = w[2].size(1);
  p.mlp_hidden = w[4].size(0);
  // Every matrix is stored as [out, in] and kept here as [in][out].
  p.w_ih = values(w[0].t()), p.b_ih = values(w[1]), p.w_hh = values(w[2].t()), p.b_hh = values(w[3]);
  p.mlp_w1 = values(w[4].t()), p.mlp_b1 = values(w[5]), p.mlp_w2 = values(w[6].t()), p.mlp_b2 = values(w[7]);
  if (ve) {
    TORCH_CHECK(w[8].size(0) == p.mlp_hidden, "the two message MLPs must have the same hidden width");
    p.ve_w1 = values(w[8].t()), p.ve_b1 = values(w[9]), p.ve_w2 = values(w[10].t()), p.ve_b2 = values(w[11]);
  }
  return p;
}

void gnn_sweeps_cpu(torch::Tensor& h, const GhnBatch& batch, const GnnHostWeights& weights) {
  TORCH_CHECK(h.is_cpu() && h.is_contiguous() && h.scalar_type() == torch::kFloat && h.size(1) == weights.hid,
              "gnn_sweeps_cpu needs contiguous float CPU node states of width ", weights.hid);
  float* data = h.data_ptr<float>();
  const auto n_shards = static_cast<std::int64_t>(batch.shards.size());
  at::parallel_for(0, n_shards, 1, [&](std::int64_t s0, std::int64_t s1) {
    for (std::int64_t s = s0; s < s1; ++s) {
      const GnnShard& shard = batch.shards[s];
      float* hs = data + shard.first_row * weights.hid;
      // Rows of nodes not yet updated are never read, so the table needs no clearing between sweeps.
      std::vector<float> table((weights.ve ? 2 : 1) * shard.num_rows * weights.hid, 0.0f);
      sweep_shard(hs, shard, weights, table.data());
    }
  });
}

}  // namespace ghnas
