#include "surrogate/gnn_training_kernel.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/ivalue.h>

#include <algorithm>
#include <cstdint>

#include "core/error.hpp"
#include "surrogate/gnn_kernel_math.hpp"

namespace ghnas {

namespace {

using gnn_kernel::affine;
using gnn_kernel::gather_messages;
using gnn_kernel::sigmoid_fast;
using gnn_kernel::tanh_fast;

// Gradients are accumulated in the weights' own layout (GnnHostWeights: matrices as [in][out]).
GnnHostWeights zeros_like(const GnnHostWeights& w) {
  GnnHostWeights z = w;
  for (auto* a : {&z.w_ih, &z.b_ih, &z.w_hh, &z.b_hh, &z.mlp_w1, &z.mlp_b1, &z.mlp_w2, &z.mlp_b2, &z.ve_w1, &z.ve_b1,
                  &z.ve_w2, &z.ve_b2})
    std::fill(a->begin(), a->end(), 0.0f);
  return z;
}

// The arrays in GnnWeightList order.
std::vector<std::vector<float>*> arrays(GnnHostWeights& w) {
  std::vector<std::vector<float>*> a = {&w.w_ih, &w.b_ih, &w.w_hh, &w.b_hh, &w.mlp_w1, &w.mlp_b1, &w.mlp_w2, &w.mlp_b2};
  if (w.ve) a.insert(a.end(), {&w.ve_w1, &w.ve_b1, &w.ve_w2, &w.ve_b2});
  return a;
}

// What the reverse sweep reads about one node's update in one sweep, as offsets into its record:
// the message m, the state before (h_prev) and after (h_new), the GRU gates r, z, n and the
// hidden part of the candidate gate (W_hn h + b_hn), and the message MLPs' pre-activations.
struct TapeLayout {
  std::int64_t m, h_prev, r, z, n, gh_n, h_new, pre1, pre2, ve_pre1, ve_pre2, width;
  TapeLayout(std::int64_t hid, std::int64_t hidden, bool ve)
      : m(0), h_prev(hid), r(2 * hid), z(3 * hid), n(4 * hid), gh_n(5 * hid), h_new(6 * hid), pre1(7 * hid),
        pre2(7 * hid + hidden), ve_pre1(8 * hid + hidden), ve_pre2(8 * hid + 2 * hidden),
        width(ve ? 9 * hid + 2 * hidden : 8 * hid + hidden) {}
};

struct MessageWeights {
  float of[256] = {0.0f};
  MessageWeights() {
    for (int d = 1; d < 256; ++d) of[d] = SweepPlan::weight_of(static_cast<std::uint8_t>(d));
  }
};
const MessageWeights kMessageWeights;

// out = relu(W2 relu(W1 x + b1) + b2), keeping both pre-activations.
void mlp_forward(const float* x, const std::vector<float>& w1, const std::vector<float>& b1,
                 const std::vector<float>& w2, const std::vector<float>& b2, std::int64_t hid, std::int64_t hidden,
                 float* pre1, float* pre2, float* a1, float* out) {
  affine<0, 0>(w1.data(), b1.data(), x, pre1, hid, hidden);
  for (std::int64_t j = 0; j < hidden; ++j) a1[j] = std::max(pre1[j], 0.0f);
  affine<0, 0>(w2.data(), b2.data(), a1, pre2, hidden, hid);
  for (std::int64_t j = 0; j < hid; ++j) out[j] = std::max(pre2[j], 0.0f);
}

// The forward sweep of one shard, as the inference kernel computes it, recording each node.
void record_sweep(float* h, std::int64_t rows, const SweepPlan& plan, const GnnHostWeights& w, const TapeLayout& t,
                  float* tape, float* table) {
  const std::int64_t hid = w.hid, hidden = w.mlp_hidden;
  std::vector<float> gi(3 * hid), gh(3 * hid), a1(hidden);
  const auto* nodes = plan.nodes.data_ptr<std::int64_t>();
  const auto* begin = plan.msg_begin.data_ptr<std::int64_t>();
  const auto* src = plan.msg_src.data_ptr<std::int32_t>();
  const auto* dist = plan.msg_dist.data_ptr<std::uint8_t>();
  const std::int64_t steps = plan.num_steps();
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::int64_t k = plan.step_begin[s]; k < plan.step_begin[s + 1]; ++k) {
      const std::int64_t row = nodes[k];
      float* hv = h + row * hid;
      float* rec = tape + row * t.width;
      gather_messages<0>(table, hid, begin[k], begin[k + 1], src, dist, kMessageWeights.of, rec + t.m);
      std::copy(hv, hv + hid, rec + t.h_prev);
      affine<0, 0>(w.w_ih.data(), w.b_ih.data(), rec + t.m, gi.data(), hid, 3 * hid);
      affine<0, 0>(w.w_hh.data(), w.b_hh.data(), hv, gh.data(), hid, 3 * hid);
      for (std::int64_t j = 0; j < hid; ++j) {
        const float r = sigmoid_fast(gh[j] + gi[j]);
        const float z = sigmoid_fast(gh[hid + j] + gi[hid + j]);
        const float n = tanh_fast(gi[2 * hid + j] + gh[2 * hid + j] * r);
        rec[t.r + j] = r, rec[t.z + j] = z, rec[t.n + j] = n, rec[t.gh_n + j] = gh[2 * hid + j];
        hv[j] = (hv[j] - n) * z + n;
        rec[t.h_new + j] = hv[j];
      }
      if (s + 1 == steps) continue;  // nothing reads the last step's messages
      mlp_forward(hv, w.mlp_w1, w.mlp_b1, w.mlp_w2, w.mlp_b2, hid, hidden, rec + t.pre1, rec + t.pre2, a1.data(),
                  table + row * hid);
      if (w.ve)
        mlp_forward(hv, w.ve_w1, w.ve_b1, w.ve_w2, w.ve_b2, hid, hidden, rec + t.ve_pre1, rec + t.ve_pre2, a1.data(),
                    table + (rows + row) * hid);
    }
  }
}

// Backward of y = W x + b with W kept as w_t [in][out]: adds x dy^T to gw_t and dy to gb; writes
// W^T dy to dx, or adds it when `add`.
void affine_backward(const float* w_t, const float* x, const float* dy, std::int64_t in, std::int64_t out,
                     float* gw_t, float* gb, float* dx, bool add) {
  for (std::int64_t o = 0; o < out; ++o) gb[o] += dy[o];
  for (std::int64_t i = 0; i < in; ++i) {
    const float xi = x[i];
    const float* w = w_t + i * out;
    float* gw = gw_t + i * out;
    float acc = 0.0f;
    for (std::int64_t o = 0; o < out; ++o) {
      gw[o] += xi * dy[o];
      acc += w[o] * dy[o];
    }
    dx[i] = add ? dx[i] + acc : acc;
  }
}

// Backward of mlp_forward for the gradient g_out of its output: weight gradients into gw, the
// input's gradient added to dx.
void mlp_backward(const float* x, const float* pre1, const float* pre2, const float* g_out,
                  const std::vector<float>& w1, const std::vector<float>& w2, std::vector<float>& gw1,
                  std::vector<float>& gb1, std::vector<float>& gw2, std::vector<float>& gb2, std::int64_t hid,
                  std::int64_t hidden, float* scratch, float* dx) {
  float* g2 = scratch;              // [hid]
  float* a1 = scratch + hid;        // [hidden]
  float* g1 = a1 + hidden;          // [hidden]
  bool any = false;
  for (std::int64_t j = 0; j < hid; ++j) {
    g2[j] = pre2[j] > 0.0f ? g_out[j] : 0.0f;
    any |= g2[j] != 0.0f;
  }
  if (!any) return;  // no node read this message (or every output was clipped by the ReLU)
  for (std::int64_t j = 0; j < hidden; ++j) a1[j] = std::max(pre1[j], 0.0f);
  affine_backward(w2.data(), a1, g2, hidden, hid, gw2.data(), gb2.data(), g1, /*add=*/false);
  for (std::int64_t j = 0; j < hidden; ++j) g1[j] = pre1[j] > 0.0f ? g1[j] : 0.0f;
  affine_backward(w1.data(), x, g1, hid, hidden, gw1.data(), gb1.data(), dx, /*add=*/true);
}

// The reverse of record_sweep. grad_h holds the gradient of the shard's states after the sweep
// and is left holding the gradient of the states before it; weight gradients add to g.
void reverse_sweep(float* grad_h, std::int64_t rows, const SweepPlan& plan, const GnnHostWeights& w,
                   const TapeLayout& t, const float* tape, GnnHostWeights& g) {
  const std::int64_t hid = w.hid, hidden = w.mlp_hidden;
  // Gradients of the message table's rows, filled by the receivers, which come later in the sweep
  // and so earlier here.
  std::vector<float> grad_table((w.ve ? 2 : 1) * rows * hid, 0.0f);
  std::vector<float> g_new(hid), dgi(3 * hid), dgh(3 * hid), dm(hid), scratch(hid + 2 * hidden);
  const auto* nodes = plan.nodes.data_ptr<std::int64_t>();
  const auto* begin = plan.msg_begin.data_ptr<std::int64_t>();
  const auto* src = plan.msg_src.data_ptr<std::int32_t>();
  const auto* dist = plan.msg_dist.data_ptr<std::uint8_t>();
  const std::int64_t steps = plan.num_steps();
  for (std::int64_t s = steps - 1; s >= 0; --s) {
    for (std::int64_t k = plan.step_begin[s + 1] - 1; k >= plan.step_begin[s]; --k) {
      const std::int64_t row = nodes[k];
      const float* rec = tape + row * t.width;
      float* gv = grad_h + row * hid;
      std::copy(gv, gv + hid, g_new.begin());
      if (s + 1 < steps) {
        mlp_backward(rec + t.h_new, rec + t.pre1, rec + t.pre2, grad_table.data() + row * hid, w.mlp_w1, w.mlp_w2,
                     g.mlp_w1, g.mlp_b1, g.mlp_w2, g.mlp_b2, hid, hidden, scratch.data(), g_new.data());
        if (w.ve)
          mlp_backward(rec + t.h_new, rec + t.ve_pre1, rec + t.ve_pre2, grad_table.data() + (rows + row) * hid, w.ve_w1,
                       w.ve_w2, g.ve_w1, g.ve_b1, g.ve_w2, g.ve_b2, hid, hidden, scratch.data(), g_new.data());
      }
      // h_new = n + z (h_prev - n), n = tanh(gi_n + r gh_n), r = sigmoid(gi_r + gh_r), z likewise.
      for (std::int64_t j = 0; j < hid; ++j) {
        const float r = rec[t.r + j], z = rec[t.z + j], n = rec[t.n + j], h_prev = rec[t.h_prev + j];
        const float gn = g_new[j] * (1.0f - z);
        const float gz = g_new[j] * (h_prev - n);
        const float an = gn * (1.0f - n * n);
        const float ar = an * rec[t.gh_n + j] * r * (1.0f - r);
        const float az = gz * z * (1.0f - z);
        dgi[j] = ar, dgi[hid + j] = az, dgi[2 * hid + j] = an;
        dgh[j] = ar, dgh[hid + j] = az, dgh[2 * hid + j] = an * r;
        gv[j] = g_new[j] * z;
      }
      affine_backward(w.w_ih.data(), rec + t.m, dgi.data(), hid, 3 * hid, g.w_ih.data(), g.b_ih.data(), dm.data(),
                      /*add=*/false);
      affine_backward(w.w_hh.data(), rec + t.h_prev, dgh.data(), hid, 3 * hid, g.w_hh.data(), g.b_hh.data(), gv,
                      /*add=*/true);
      for (std::int64_t e = begin[k]; e < begin[k + 1]; ++e) {
        float* gt = grad_table.data() + static_cast<std::int64_t>(src[e]) * hid;
        const float we = kMessageWeights.of[dist[e]];
        for (std::int64_t j = 0; j < hid; ++j) gt[j] += we * dm[j];
      }
    }
  }
}

// What the backward needs, kept alive by the autograd graph.
struct SweepState : torch::CustomClassHolder {
  GhnBatch batch;
  GnnHostWeights weights;
  std::vector<std::vector<float>> tapes;  // per shard: [2 sweeps][rows][layout.width]
  torch::TensorOptions x_options;
  std::vector<torch::TensorOptions> weight_options;
  std::vector<std::vector<std::int64_t>> weight_shapes;
};

class TrainableSweeps : public torch::autograd::Function<TrainableSweeps> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               torch::TensorList weights, const GhnBatch* batch, bool ve) {
    auto state = c10::make_intrusive<SweepState>();
    state->batch = *batch;
    state->weights = host_weights(weights.vec(), ve);
    state->x_options = x.options();
    for (const auto& w : weights) {
      state->weight_options.push_back(w.options());
      state->weight_shapes.push_back(w.sizes().vec());
    }
    const GnnHostWeights& w = state->weights;
    GHNAS_CHECK(x.dim() == 2 && x.size(1) == w.hid, "gnn_sweeps_trainable: states of shape ", x.sizes(),
                " for a GNN of width ", w.hid);
    const TapeLayout layout(w.hid, w.mlp_hidden, w.ve);
    auto h = x.detach().to(torch::kCPU, torch::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
    float* data = h.data_ptr<float>();
    const auto& shards = state->batch.shards;
    state->tapes.resize(shards.size());
    at::parallel_for(0, static_cast<std::int64_t>(shards.size()), 1, [&](std::int64_t s0, std::int64_t s1) {
      for (std::int64_t s = s0; s < s1; ++s) {
        const GnnShard& shard = shards[s];
        auto& tape = state->tapes[s];
        tape.assign(2 * shard.num_rows * layout.width, 0.0f);
        std::vector<float> table((w.ve ? 2 : 1) * shard.num_rows * w.hid, 0.0f);
        float* hs = data + shard.first_row * w.hid;
        record_sweep(hs, shard.num_rows, shard.forward_sweep, w, layout, tape.data(), table.data());
        record_sweep(hs, shard.num_rows, shard.backward_sweep, w, layout,
                     tape.data() + shard.num_rows * layout.width, table.data());
      }
    });
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return h.to(x.device());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    GHNAS_CHECK(!torch::GradMode::is_enabled(), "the GNN's fused CPU sweeps have no second derivative");
    const auto state = c10::static_intrusive_pointer_cast<SweepState>(ctx->saved_data["state"].toCapsule());
    const GnnHostWeights& w = state->weights;
    const TapeLayout layout(w.hid, w.mlp_hidden, w.ve);
    auto grad_h = grad_outputs[0].to(torch::kCPU, torch::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
    float* data = grad_h.data_ptr<float>();
    const auto& shards = state->batch.shards;
    std::vector<GnnHostWeights> grads(shards.size());
    at::parallel_for(0, static_cast<std::int64_t>(shards.size()), 1, [&](std::int64_t s0, std::int64_t s1) {
      for (std::int64_t s = s0; s < s1; ++s) {
        const GnnShard& shard = shards[s];
        grads[s] = zeros_like(w);
        const float* tape = state->tapes[s].data();
        float* gs = data + shard.first_row * w.hid;
        reverse_sweep(gs, shard.num_rows, shard.backward_sweep, w, layout, tape + shard.num_rows * layout.width,
                      grads[s]);
        reverse_sweep(gs, shard.num_rows, shard.forward_sweep, w, layout, tape, grads[s]);
      }
    });
    for (std::size_t s = 1; s < grads.size(); ++s) {
      const auto from = arrays(grads[s]);
      const auto to = arrays(grads[0]);
      for (std::size_t a = 0; a < to.size(); ++a)
        for (std::size_t i = 0; i < to[a]->size(); ++i) (*to[a])[i] += (*from[a])[i];
    }
    torch::autograd::tensor_list out = {grad_h.to(state->x_options)};
    const auto accumulated = arrays(grads[0]);
    for (std::size_t a = 0; a < accumulated.size(); ++a) {
      const auto& shape = state->weight_shapes[a];
      auto g = torch::from_blob(accumulated[a]->data(), {static_cast<std::int64_t>(accumulated[a]->size())},
                                torch::kFloat);
      // Matrices were accumulated as [in][out]; the weights are [out, in].
      g = shape.size() == 2 ? g.view({shape[1], shape[0]}).t() : g.view(shape);
      out.push_back(g.to(state->weight_options[a], /*non_blocking=*/false, /*copy=*/true).contiguous());
    }
    out.push_back(torch::Tensor());  // batch
    out.push_back(torch::Tensor());  // ve
    return out;
  }
};

}  // namespace

torch::Tensor gnn_sweeps_trainable(const torch::Tensor& x, const GhnBatch& batch, const GnnWeightList& weights,
                                   bool ve) {
  GHNAS_CHECK(!batch.has_gather_tables() && batch.on_host(), "gnn_sweeps_trainable needs a host batch");
  return TrainableSweeps::apply(x, torch::TensorList(weights), &batch, ve);
}

}  // namespace ghnas
