#pragma once
// Scalar math and message sums for the GNN's fused CPU kernels (gnn_inference.cpp, gnn_training_kernel.cpp):
// branch-free and free of library calls so that loops over them vectorize. Included only by
// those two sources.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ghnas::gnn_kernel {

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

}  // namespace ghnas::gnn_kernel
