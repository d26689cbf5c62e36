// Zero-cost proxies on a two-layer network whose scores are worked out by hand in plain
// arithmetic, plus sanity on real DeepNets-1M networks.

#include <gtest/gtest.h>

#include <cmath>

#include "core/json_io.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/proxies.hpp"
#include "space/deepnets1m.hpp"
#include "tests/evaluators/tiny_graphs.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

// x (3) -> fc1 (3 -> 2, bias) -> ReLU -> fc2 (2 -> 2, bias) -> logits.
constexpr double kW1[2][3] = {{1.0, -1.0, 0.5}, {0.5, 1.0, -1.0}};
constexpr double kB1[2] = {0.1, -0.2};
constexpr double kW2[2][2] = {{1.0, 2.0}, {0.5, 0.5}};
constexpr double kB2[2] = {0.3, -0.1};
// ReLU codes (1,1), (1,0), (0,1): fc1 pre-activations (1.1, 0.3), (0.6, -1.2), (-0.9, 0.8).
constexpr double kX[3][3] = {{1, 0, 0}, {0, 0, 1}, {0, 1, 0}};
constexpr int kLabels[3] = {0, 1, 1};

class ProxiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_cpu_runtime(2);
    test::GraphBuilder b(Task{"tiny", 3, 1, 1, 2, false});
    auto h = b.linear(b.flatten(b.input()), "fc1", 2);
    h = b.unary(OpKind::kReLU, h);
    h = b.linear(h, "fc2", 2);
    net_ = Network(b.finish(h));
    torch::NoGradGuard no_grad;
    const auto& p = net_->ordered_parameters();  // fc1.weight, fc1.bias, fc2.weight, fc2.bias
    for (int j = 0; j < 2; ++j) {
      for (int k = 0; k < 3; ++k) p[0][j][k] = kW1[j][k];
      p[1][j] = kB1[j];
      for (int k = 0; k < 2; ++k) p[2][j][k] = kW2[j][k];
      p[3][j] = kB2[j];
    }
  }

  torch::Tensor images(int n) const {
    torch::Tensor x = torch::zeros({n, 3, 1, 1});
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) x[i][k][0][0] = kX[i][k];
    return x;
  }
  torch::Tensor labels(int n) const {
    torch::Tensor y = torch::zeros({n}, torch::kInt64);
    for (int i = 0; i < n; ++i) y[i] = kLabels[i];
    return y;
  }

  // Cross-entropy gradients of the mean loss over the 3 images, backpropagated by hand.
  void hand_gradients(double dw1[2][3], double dw2[2][2]) const {
    for (int j = 0; j < 2; ++j) {
      for (int k = 0; k < 3; ++k) dw1[j][k] = 0;
      for (int k = 0; k < 2; ++k) dw2[j][k] = 0;
    }
    for (int n = 0; n < 3; ++n) {
      double pre[2], h[2], z[2];
      for (int j = 0; j < 2; ++j) {
        pre[j] = kB1[j];
        for (int k = 0; k < 3; ++k) pre[j] += kW1[j][k] * kX[n][k];
        h[j] = std::max(pre[j], 0.0);
      }
      for (int i = 0; i < 2; ++i) z[i] = kB2[i] + kW2[i][0] * h[0] + kW2[i][1] * h[1];
      const double m = std::max(z[0], z[1]);
      const double e0 = std::exp(z[0] - m), e1 = std::exp(z[1] - m);
      const double p[2] = {e0 / (e0 + e1), e1 / (e0 + e1)};
      double dz[2];
      for (int i = 0; i < 2; ++i) dz[i] = (p[i] - (kLabels[n] == i ? 1.0 : 0.0)) / 3.0;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) dw2[i][j] += dz[i] * h[j];
      for (int j = 0; j < 2; ++j) {
        const double dh = kW2[0][j] * dz[0] + kW2[1][j] * dz[1];
        const double dpre = pre[j] > 0 ? dh : 0.0;
        for (int k = 0; k < 3; ++k) dw1[j][k] += dpre * kX[n][k];
      }
    }
  }

  Network net_{nullptr};
};

TEST_F(ProxiesTest, SynflowMatchesAHandComputation) {
  // |theta|, input ones: h_j = sum_k |W1_jk| + |b1_j|; R = sum_i (sum_j |W2_ij| h_j + |b2_i|).
  // dR/dW2_ij = h_j, dR/dW1_jk = sum_i |W2_ij| (the input is 1 and every unit is active).
  double expected = 0, h[2];
  for (int j = 0; j < 2; ++j) {
    h[j] = std::abs(kB1[j]);
    for (int k = 0; k < 3; ++k) h[j] += std::abs(kW1[j][k]);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) expected += std::abs(kW2[i][j]) * h[j];
  for (int j = 0; j < 2; ++j) {
    const double col = std::abs(kW2[0][j]) + std::abs(kW2[1][j]);
    for (int k = 0; k < 3; ++k) expected += std::abs(kW1[j][k]) * col;
  }
  EXPECT_NEAR(synflow(*net_), expected, 1e-5);  // float32 parameters, float64 arithmetic
}

TEST_F(ProxiesTest, NaswotMatchesAHandComputation) {
  // Codes (1,1), (1,0), (0,1); N_A = 2: K = [[2,1,1],[1,2,0],[1,0,2]], det = 8 - 2 - 2 = 4.
  EXPECT_NEAR(naswot(*net_, images(3)), std::log(4.0), 1e-9);
  // Two identical images make K singular: no finite score.
  torch::Tensor same = images(3);
  same[1] = same[0];
  EXPECT_TRUE(std::isnan(naswot(*net_, same)));
}

TEST_F(ProxiesTest, SnipAndGradNormMatchHandBackpropagation) {
  double dw1[2][3], dw2[2][2];
  hand_gradients(dw1, dw2);
  double snip_expected = 0, n1 = 0, n2 = 0;
  for (int j = 0; j < 2; ++j) {
    for (int k = 0; k < 3; ++k) {
      snip_expected += std::abs(kW1[j][k] * dw1[j][k]);
      n1 += dw1[j][k] * dw1[j][k];
    }
    for (int k = 0; k < 2; ++k) {
      snip_expected += std::abs(kW2[j][k] * dw2[j][k]);
      n2 += dw2[j][k] * dw2[j][k];
    }
  }
  EXPECT_NEAR(snip(*net_, images(3), labels(3)), snip_expected, 1e-6);
  EXPECT_NEAR(grad_norm(*net_, images(3), labels(3)), std::sqrt(n1) + std::sqrt(n2), 1e-6);
}

TEST_F(ProxiesTest, JacovMatchesAHandComputation) {
  // J_n = W1^T (mask_n * W2^T 1) for the first two images; their correlation r gives
  // eigenvalues 1 + r and 1 - r.
  const double up[2] = {kW2[0][0] + kW2[1][0], kW2[0][1] + kW2[1][1]};
  const bool mask[2][2] = {{true, true}, {true, false}};
  double jac[2][3];
  for (int n = 0; n < 2; ++n)
    for (int k = 0; k < 3; ++k)
      jac[n][k] = (mask[n][0] ? kW1[0][k] * up[0] : 0) + (mask[n][1] ? kW1[1][k] * up[1] : 0);
  double mean[2] = {0, 0};
  for (int n = 0; n < 2; ++n) mean[n] = (jac[n][0] + jac[n][1] + jac[n][2]) / 3;
  double dot = 0, s0 = 0, s1 = 0;
  for (int k = 0; k < 3; ++k) {
    dot += (jac[0][k] - mean[0]) * (jac[1][k] - mean[1]);
    s0 += (jac[0][k] - mean[0]) * (jac[0][k] - mean[0]);
    s1 += (jac[1][k] - mean[1]) * (jac[1][k] - mean[1]);
  }
  const double r = dot / std::sqrt(s0 * s1);
  const double k = 1e-5;
  double expected = 0;
  for (double v : {1 + r, 1 - r}) expected -= std::log(v + k) + 1 / (v + k);
  EXPECT_NEAR(jacov(*net_, images(2)), expected, 1e-6 * std::abs(expected));
}

TEST_F(ProxiesTest, ProxiesLeaveTheNetworkUntouched) {
  const torch::Tensor before = net_->ordered_parameters()[0].detach().clone();
  synflow(*net_);
  snip(*net_, images(3), labels(3));
  jacov(*net_, images(2));
  EXPECT_TRUE(torch::equal(before, net_->ordered_parameters()[0]));
  for (const auto& p : net_->ordered_parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(net_->is_training());
}

TEST_F(ProxiesTest, RealNetworksGetFiniteScores) {
  const nlohmann::json nets = read_json_file(test::shared_dir() + "/deepnets1m/test.json");
  const Task task = task_by_name("fashion-mnist");
  torch::manual_seed(0);
  Batch batch{torch::randn({16, 1, 28, 28}), torch::randint(10, {16}, torch::kInt64)};
  // test[0] has msa (layer norm, attention), test[4] has cse, test[36] is plain.
  for (int index : {0, 4, 36}) {
    const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(nets[index]), task);
    const ProxyScores s = compute_proxies(g, batch, /*seed=*/0);
    EXPECT_EQ(s.params, g.num_params());
    for (double v : {s.naswot, s.snip, s.grad_norm, s.jacov}) EXPECT_TRUE(std::isfinite(v)) << index;
    if (index == 4) {
      // Without batch norm, each cse multiplies the signal by a Hardswish gate of about its own
      // size, squaring magnitudes cell after cell: synflow leaves float64 and is reported as NaN.
      EXPECT_TRUE(std::isnan(s.synflow));
    } else {
      EXPECT_GT(s.synflow, 0) << index;
      EXPECT_TRUE(std::isfinite(s.synflow)) << index;
    }
    EXPECT_GT(s.snip, 0);
    EXPECT_GT(s.grad_norm, 0);
    // Same seed and batch, same scores.
    EXPECT_DOUBLE_EQ(compute_proxies(g, batch, 0).naswot, s.naswot);
  }
}

}  // namespace
}  // namespace ghnas
