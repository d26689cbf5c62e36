// The GHN on a GPU computes what it computes on the CPU. Skipped when no CUDA device is present.

#include <gtest/gtest.h>

#include "surrogate/checkpoint.hpp"
#include "tests/surrogate/reference_fixture.hpp"

namespace ghnas {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

Ghn fixture_ghn_on_cuda() {
  // Full float32: on an H200 the classifier weights' sums came out 3-4e-4 off the reference
  // (every other tensor within 1e-4), the size of TF32's rounding, which cuDNN (and, by the
  // matmul precision setting, cuBLAS) may use on Ampere and later GPUs.
  at::globalContext().setFloat32MatmulPrecision("highest");
  at::globalContext().setAllowTF32CuDNN(false);
  Ghn ghn = import_reference_ghn(test::fixture_weights(), test::fixture_meta());
  ghn->to(torch::kCUDA);
  ghn->eval();
  return ghn;
}

// Both GNN paths without gradients: the sweeps on the host (the default) and on the device.
TEST(Cuda, EmbeddingsMatchTheReference_CUDA) {
  SKIP_WITHOUT_CUDA();
  Ghn ghn = fixture_ghn_on_cuda();
  const auto& nets = test::fixture_nets();
  std::vector<const GhnGraph*> graphs;
  for (const auto& n : nets) graphs.push_back(&n.graph);
  torch::NoGradGuard no_grad;
  for (bool host : {true, false}) {
    ghn->set_host_gnn(host);
    const auto emb = ghn->embed(graphs);
    ASSERT_TRUE(emb.is_cuda());
    const auto cpu = emb.cpu();
    for (std::size_t b = 0; b < nets.size(); ++b) {
      const auto want = nets[b].expected.at("graph_embedding").get<std::vector<double>>();
      for (int j = 0; j < 32; ++j)
        EXPECT_NEAR(cpu[static_cast<std::int64_t>(b)][j].item<float>(), want[j], 1e-5)
            << nets[b].split << " " << nets[b].index << (host ? " host" : " device") << " sweeps";
    }
  }
}

TEST(Cuda, PredictedParametersMatchTheReference_CUDA) {
  SKIP_WITHOUT_CUDA();
  Ghn ghn = fixture_ghn_on_cuda();
  const auto& nets = test::fixture_nets();
  torch::NoGradGuard no_grad;
  for (std::size_t b : {0u, 41u, 46u, 50u, 55u}) {
    ghn->set_host_gnn(b % 2 == 0);  // both paths, on different networks
    const auto p = ghn->predict_parameters({&nets[b].graph}, {nets[b].params})[0];
    for (const auto& w : nets[b].expected.at("params")) {
      const auto& t = p.tensors.at(w.at("name").get<std::string>());
      ASSERT_TRUE(t.is_cuda());
      const auto d = t.to(torch::kCPU, torch::kDouble);
      const double sum = d.sum().item<double>(), want = w.at("sum").get<double>();
      EXPECT_TRUE(std::abs(sum - want) <= 1e-4 * std::abs(want) || std::abs(sum - want) <= 1e-5)
          << w.at("name") << ": " << sum << " vs " << want;
      EXPECT_NEAR(d.norm().item<double>(), w.at("l2").get<double>(), 1e-4 * w.at("l2").get<double>() + 1e-5);
    }
  }
}

TEST(Cuda, GradientsReachTheGhn_CUDA) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  Ghn ghn;
  ghn->to(torch::kCUDA);
  const auto& net = test::fixture_nets()[0];
  const auto p = ghn->predict_parameters({&net.graph}, {net.params})[0];
  torch::Tensor loss = torch::zeros({}, torch::kCUDA);
  for (const auto& [name, t] : p.tensors) loss = loss + t.square().mean();
  loss.backward();
  EXPECT_GT(ghn->gnn->gru->weight_ih.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(ghn->decoder->conv2->weight.grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace ghnas
