#include "surrogate/gnn_inference.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ghnas {

namespace {

#if defined(__GNUC__)
#define GHNAS_INLINE inline __attribute__((always_inline))
#else
#define GHNAS_INLINE inline
#endif

// expf within about one ulp (the Cephes polynomial), free of branches and library calls so the
// loops below vectorize. The input is clamped to the range where the result is a normal float.
GHNAS_INLINE float exp_fast(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float fx = x * 1.44269504088896341f + 0.5f;
  // floor(fx) by truncating a positive number (fx >= -125 here). Where fx + 128 rounds up to the
  // next integer, n is one more and r sits at the edge of the polynomial's range: still exact to
  // an ulp.
  const float n = static_cast<float>(static_cast<std::int32_t>(fx + 128.0f) - 128);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

GHNAS_INLINE float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// tanhf as Cephes computes it: an odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above.
GHNAS_INLINE float tanh_fast(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  const float small =
      ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
       3.33332819422e-1f) * z * a + a;
  const float large = 1.0f - 2.0f / (exp_fast(2.0f * a) + 1.0f);
  const float y = a < 0.625f ? small : large;
  return x < 0.0f ? -y : y;
}

// y[out] = b[out] + x[in] W_t[in][out]. kIn/kOut > 0 fix the sizes at compile time.
template <int kIn, int kOut>
GHNAS_INLINE void affine(const float* __restrict w_t, const float* __restrict b, const float* __restrict x,
                         float* __restrict y, std::int64_t in, std::int64_t out) {
  if constexpr (kIn > 0 && kOut > 0) {
    in = kIn;
    out = kOut;
  }
  for (std::int64_t o = 0; o < out; ++o) y[o] = b[o];
  for (std::int64_t i = 0; i < in; ++i) {
    const float xi = x[i];
    const float* __restrict w = w_t + i * out;
    for (std::int64_t o = 0; o < out; ++o) y[o] += xi * w[o];
  }
}

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

// Sums a node's messages, from zero in CSR order like the reference's scatter_add. For kHid a
// multiple of 8 the accumulator is held in explicit vector registers (GCC/Clang vector
// extensions; on the SSE2 baseline each becomes two registers), which the auto-vectorizer does
// not manage across the entries' loop.
template <int kHid>
GHNAS_INLINE void gather_messages(const float* table, std::int64_t hid, std::int64_t e0, std::int64_t e1,
                                  const std::int32_t* src, const std::uint8_t* dist, const float* weight_of, float* m) {
#if defined(__GNUC__)
  if constexpr (kHid > 0 && kHid % 8 == 0) {
    typedef float Vec8 __attribute__((vector_size(32)));
    constexpr int kVecs = kHid / 8;
    Vec8 acc[kVecs] = {};
    for (std::int64_t e = e0; e < e1; ++e) {
      const float* t = table + static_cast<std::int64_t>(src[e]) * kHid;
      const float we = weight_of[dist[e]];
      for (int q = 0; q < kVecs; ++q) {
        Vec8 row;
        std::memcpy(&row, t + 8 * q, sizeof row);
        acc[q] += we * row;
      }
    }
    std::memcpy(m, acc, sizeof acc);
    return;
  }
#endif
  std::fill(m, m + hid, 0.0f);
  for (std::int64_t e = e0; e < e1; ++e) {
    const float* t = table + static_cast<std::int64_t>(src[e]) * hid;
    const float we = weight_of[dist[e]];
    for (std::int64_t j = 0; j < hid; ++j) m[j] += we * t[j];
  }
}

// One sweep over a shard: h and the message table hold the shard's rows only. kHid and kHidden
// (the message MLPs' middle width) as above. Inlined into sweep_shard so that each of its
// CPU-specific copies compiles the loops anew.
template <int kHid, int kHidden>
GHNAS_INLINE void sweep(float* h, std::int64_t rows, const SweepPlan& plan, const GnnInferenceWeights& w, float* table) {
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
GHNAS_VECTOR_CLONES void sweep_shard(float* h, const GnnShard& shard, const GnnInferenceWeights& w, float* table) {
  if (w.hid == 32 && w.mlp_hidden == 16) {
    sweep<32, 16>(h, shard.num_rows, shard.forward_sweep, w, table);
    sweep<32, 16>(h, shard.num_rows, shard.backward_sweep, w, table);
  } else {
    sweep<0, 0>(h, shard.num_rows, shard.forward_sweep, w, table);
    sweep<0, 0>(h, shard.num_rows, shard.backward_sweep, w, table);
  }
}

}  // namespace

void gnn_sweeps_cpu(torch::Tensor& h, const GhnBatch& batch, const GnnInferenceWeights& weights) {
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
