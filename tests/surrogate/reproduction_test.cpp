// Exact reproduction of the reference GHN-2 (facebookresearch/ppuda) on the fixture's 60
// DeepNets-1M networks: graph embeddings and every predicted parameter tensor, float32, evaluation
// mode. The fixture's statistics were computed in float64 from the reference's float32 tensors.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>

#include "tests/surrogate/reference_fixture.hpp"

namespace ghnas {
namespace {

using test::fixture_ghn;
using test::fixture_nets;

// |got - want| within 1e-4 relative, or 1e-5 absolute near zero.
bool close(double got, double want) {
  const double err = std::abs(got - want);
  return err <= 1e-4 * std::abs(want) || err <= 1e-5;
}

// What the summary line reports: relative error where the reference value is not near zero
// (|want| >= 0.01), absolute error otherwise.
struct Worst {
  double rel = 0, abs_near_zero = 0;
  void add(double got, double want) {
    if (std::abs(want) >= 1e-2) rel = std::max(rel, std::abs(got - want) / std::abs(want));
    else abs_near_zero = std::max(abs_near_zero, std::abs(got - want));
  }
};

TEST(Reproduction, FixtureGhnHasTheReferenceParameterCount) {
  EXPECT_EQ(fixture_ghn()->num_weights(), 1620764);
}

TEST(Reproduction, GraphEmbeddingsOfAll60NetsMatchTheReference) {
  const auto& nets = fixture_nets();
  ASSERT_EQ(nets.size(), 60u);
  std::vector<const GhnGraph*> graphs;
  for (const auto& n : nets) {
    EXPECT_EQ(n.graph.num_nodes(), n.expected.at("n_nodes").get<std::size_t>()) << n.split << " " << n.index;
    graphs.push_back(&n.graph);
  }
  torch::NoGradGuard no_grad;
  const auto emb = fixture_ghn()->embed(graphs);
  ASSERT_EQ(emb.sizes(), (std::vector<std::int64_t>{60, 32}));
  double worst = 0;
  for (std::size_t b = 0; b < nets.size(); ++b) {
    const auto want = nets[b].expected.at("graph_embedding").get<std::vector<double>>();
    ASSERT_EQ(want.size(), 32u);
    for (int j = 0; j < 32; ++j) {
      const double got = emb[static_cast<std::int64_t>(b)][j].item<float>();
      worst = std::max(worst, std::abs(got - want[j]));
      EXPECT_NEAR(got, want[j], 1e-5) << nets[b].split << " net " << nets[b].index << " dim " << j;
    }
  }
  std::cout << "[ reproduction ] max |embedding - reference| = " << worst << "\n";
}

TEST(Reproduction, PredictedParametersOfAll60NetsMatchTheReference) {
  const auto& nets = fixture_nets();
  torch::NoGradGuard no_grad;
  Worst worst_sum, worst_l2;
  double worst_first = 0;
  std::size_t tensors = 0;
  // Batches of 12 networks keep the predicted tensors (92M floats for all 60) small.
  constexpr std::size_t kBatch = 12;
  for (std::size_t b0 = 0; b0 < nets.size(); b0 += kBatch) {
    std::vector<const GhnGraph*> graphs;
    std::vector<std::vector<ParamTensor>> params;
    for (std::size_t b = b0; b < std::min(nets.size(), b0 + kBatch); ++b) {
      graphs.push_back(&nets[b].graph);
      params.push_back(nets[b].params);
    }
    const auto predicted = fixture_ghn()->predict_parameters(graphs, params);
    for (std::size_t k = 0; k < predicted.size(); ++k) {
      const auto& net = nets[b0 + k];
      const std::string where = net.split + " net " + std::to_string(net.index);
      const auto& want = net.expected.at("params");
      EXPECT_EQ(predicted[k].tensors.size(), want.size()) << where;
      for (const auto& w : want) {
        const auto name = w.at("name").get<std::string>();
        const auto it = predicted[k].tensors.find(name);
        if (it == predicted[k].tensors.end()) {
          ADD_FAILURE() << where << ": no prediction for " << name;
          continue;
        }
        const auto& t = it->second;
        ++tensors;
        ASSERT_EQ(t.sizes().vec(), w.at("shape").get<std::vector<std::int64_t>>()) << where << " " << name;
        const auto d = t.to(torch::kDouble);
        const double sum = d.sum().item<double>(), l2 = d.norm().item<double>();
        const double want_sum = w.at("sum").get<double>(), want_l2 = w.at("l2").get<double>();
        worst_sum.add(sum, want_sum);
        worst_l2.add(l2, want_l2);
        EXPECT_TRUE(close(sum, want_sum)) << where << " " << name << ": sum " << sum << " vs " << want_sum;
        EXPECT_TRUE(close(l2, want_l2)) << where << " " << name << ": l2 " << l2 << " vs " << want_l2;
        const auto first = w.at("first").get<std::vector<double>>();
        const auto flat = d.flatten();
        for (std::size_t j = 0; j < first.size(); ++j) {
          const double got = flat[static_cast<std::int64_t>(j)].item<double>();
          worst_first = std::max(worst_first, std::abs(got - first[j]));
          EXPECT_TRUE(close(got, first[j])) << where << " " << name << "[" << j << "]: " << got << " vs " << first[j];
        }
      }
    }
  }
  EXPECT_EQ(tensors, 12948u);
  std::cout << "[ reproduction ] " << tensors << " tensors; sum: max relative error " << worst_sum.rel
            << " (max absolute " << worst_sum.abs_near_zero << " where |sum| < 0.01); l2: max relative error "
            << worst_l2.rel << "; first values: max absolute error " << worst_first << "\n";
}

}  // namespace
}  // namespace ghnas
