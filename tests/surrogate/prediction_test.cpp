// Parameter prediction: gradients reach the GHN, every parameter with a node is predicted with its
// shape, tiling and normalisation follow the reference, and bad inputs name the parameter.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.hpp"
#include "surrogate/dense.hpp"
#include "surrogate/param_prediction.hpp"
#include "tests/surrogate/reference_fixture.hpp"

namespace ghnas {
namespace {

TEST(Prediction, GradientsReachTheDecodersAndTheGnn) {
  torch::manual_seed(0);
  Ghn ghn;
  ghn->train();
  const auto& nets = test::fixture_nets();
  // A meta-batch of two networks: one with attention and a classifier of two layers, one BN-free.
  const std::vector<const GhnGraph*> graphs = {&nets[0].graph, &nets[55].graph};
  const auto predicted = ghn->predict_parameters(graphs, {nets[0].params, nets[55].params});
  torch::Tensor loss = torch::zeros({});
  for (const auto& p : predicted)
    for (const auto& [name, t] : p.tensors) {
      ASSERT_TRUE(t.requires_grad()) << name;
      ASSERT_TRUE(t.grad_fn() != nullptr) << name << " is a leaf";
      loss = loss + t.square().mean();
    }
  loss.backward();
  for (const char* name :
       {"embed.weight", "shape_enc.embed_channel.weight", "shape_enc.embed_spatial.weight", "gnn.mlp.fc.0.weight",
        "gnn.mlp_ve.fc.2.weight", "gnn.gru.weight_ih", "gnn.gru.weight_hh", "ln.weight", "decoder.fc.0.weight",
        "decoder.conv.0.weight", "decoder.conv.2.weight", "decoder.class_layer_predictor.1.weight",
        "decoder_1d.fc.0.weight", "decoder_1d.fc.2.weight", "bias_class.1.weight"}) {
    const auto* w = ghn->named_parameters().find(name);
    ASSERT_NE(w, nullptr) << name;
    ASSERT_TRUE(w->grad().defined()) << name;
    EXPECT_GT(w->grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(Prediction, GradientsReachTheGnnFromEmbeddings) {
  torch::manual_seed(0);
  Ghn ghn;
  const auto& nets = test::fixture_nets();
  const auto e = ghn->embed({&nets[1].graph, &nets[2].graph});
  (e[0] - e[1]).square().sum().backward();
  EXPECT_GT(ghn->gnn->gru->weight_hh.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(ghn->gnn->mlp_ve->layers()[0]->weight.grad().abs().sum().item<double>(), 0.0);
  // The decoders play no part in embeddings.
  EXPECT_FALSE(ghn->decoder->conv2->weight.grad().defined());
}

TEST(Prediction, EveryNodeParameterIsPredictedWithItsShape) {
  auto& ghn = test::fixture_ghn();
  torch::NoGradGuard no_grad;
  for (std::size_t i : {7u, 38u, 46u}) {  // nets with parameters the forward pass never reaches
    const auto& net = test::fixture_nets()[i];
    const auto p = ghn->predict_parameters({&net.graph}, {net.params})[0];
    std::set<std::string> nodes;
    for (const auto& n : net.graph.nodes)
      if (!n.param.empty()) nodes.insert(n.param);
    std::set<std::string> unpredicted(p.unpredicted.begin(), p.unpredicted.end());
    EXPECT_FALSE(unpredicted.empty()) << i;
    for (const auto& param : net.params) {
      const bool norm_bias = param.name.size() > 5 && param.name.compare(param.name.size() - 5, 5, ".bias") == 0 &&
                             nodes.count(param.name.substr(0, param.name.size() - 4) + "weight") &&
                             param.shape.size() == 1 && !nodes.count(param.name);
      const bool has_node = nodes.count(param.name) > 0;
      const auto it = p.tensors.find(param.name);
      if (has_node || norm_bias) {
        ASSERT_NE(it, p.tensors.end()) << param.name;
        EXPECT_EQ(it->second.sizes().vec(), param.shape) << param.name;
        EXPECT_EQ(unpredicted.count(param.name), 0u) << param.name;
      } else {
        EXPECT_EQ(it, p.tensors.end()) << param.name;
        EXPECT_EQ(unpredicted.count(param.name), 1u) << param.name;
      }
    }
  }
}

TEST(Prediction, NormalisationBoundsNormLayersAndBiases) {
  auto& ghn = test::fixture_ghn();
  torch::NoGradGuard no_grad;
  const auto& net = test::fixture_nets()[0];
  const auto p = ghn->predict_parameters({&net.graph}, {net.params})[0];
  int norm = 0, bias = 0;
  for (const auto& node : net.graph.nodes) {
    if (node.type == GhnNodeType::kBn || node.type == GhnNodeType::kLn) {
      const auto w = p.tensors.at(node.param);
      const auto b = p.tensors.at(node.param.substr(0, node.param.size() - 6) + "bias");
      EXPECT_GT(w.min().item<float>(), 0.0f);  // 2 sigmoid(p / 2)
      EXPECT_LT(w.max().item<float>(), 2.0f);
      EXPECT_LT(b.abs().max().item<float>(), 1.0f);  // tanh(p / 5)
      ++norm;
    }
    if (node.type == GhnNodeType::kBias) {
      EXPECT_LT(p.tensors.at(node.param).abs().max().item<float>(), 1.0f);
      ++bias;
    }
  }
  EXPECT_GT(norm, 10);
  EXPECT_GT(bias, 5);
}

TEST(Prediction, WideLayersTileTheMaxSizedBlock) {
  auto& ghn = test::fixture_ghn();
  torch::NoGradGuard no_grad;
  const auto& net = test::fixture_nets()[0];
  const auto p = ghn->predict_parameters({&net.graph}, {net.params})[0];
  const auto w = p.tensors.at("cells.7.preprocess1.op.1.weight");  // 128 x 128 x 1 x 1
  ASSERT_EQ(w.sizes(), (std::vector<std::int64_t>{128, 128, 1, 1}));
  EXPECT_TRUE(torch::equal(w.narrow(0, 64, 64), w.narrow(0, 0, 64)));
  EXPECT_TRUE(torch::equal(w.narrow(1, 64, 64), w.narrow(1, 0, 64)));
  EXPECT_FALSE(torch::equal(w.narrow(0, 1, 1), w.narrow(0, 0, 1)));
}

TEST(Prediction, TilingAndFanInScalingFollowTheReference) {
  const auto block = torch::arange(6, torch::kFloat).view({2, 3});
  const auto t = tile_to(block, {5, 7});
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) EXPECT_EQ(t[i][j].item<float>(), block[i % 2][j % 3].item<float>());
  EXPECT_TRUE(torch::equal(tile_to(block, {1, 2}), block.narrow(0, 0, 1).narrow(1, 0, 2)));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_DOUBLE_EQ(fan_in_scale({64, 32, 3, 3}), std::sqrt(2.0 / (32 * 9)));
  EXPECT_DOUBLE_EQ(fan_in_scale({64, 1, 3, 3}), std::sqrt(1.0 / 9));   // depthwise: no ReLU after
  EXPECT_DOUBLE_EQ(fan_in_scale({64, 32, 1, 7}), std::sqrt(1.0 / (32 * 7)));  // 1x7 of conv_7x1_1x7
  EXPECT_DOUBLE_EQ(fan_in_scale({64, 32, 7, 1}), std::sqrt(2.0 / (32 * 7)));
  EXPECT_DOUBLE_EQ(fan_in_scale({10, 256}), std::sqrt(2.0 / 256));
  EXPECT_DOUBLE_EQ(fan_in_scale({1, 32, 11, 11}), 1.0);  // position encoding
}

TEST(Prediction, BadInputNamesTheParameter) {
  auto& ghn = test::fixture_ghn();
  torch::NoGradGuard no_grad;
  const auto& net = test::fixture_nets()[3];
  auto expect_arch_error = [&](const GhnGraph& g, const std::vector<ParamTensor>& params, const std::string& needle) {
    try {
      ghn->predict_parameters({&g}, {params});
      ADD_FAILURE() << "no error, expected one naming " << needle;
    } catch (const ArchError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // A parameter the graph names but the list lacks.
  auto params = net.params;
  params.erase(std::find_if(params.begin(), params.end(), [](const ParamTensor& p) { return p.name == "stem0.weight"; }));
  expect_arch_error(net.graph, params, "stem0.weight");
  // A parameter whose shape disagrees with its node.
  params = net.params;
  for (auto& p : params)
    if (p.name == "stem0.weight") p.shape[0] += 1;
  expect_arch_error(net.graph, params, "stem0.weight");
  // A 3-D parameter: GHN-2 has no decoder for it.
  GhnGraph g = net.graph;
  params = net.params;
  for (std::size_t v = 0; v < g.nodes.size(); ++v)
    if (g.nodes[v].param == "stem0.weight") g.nodes[v].shape = {32, 27, 1};
  for (auto& p : params)
    if (p.name == "stem0.weight") p.shape = {32, 27, 1};
  expect_arch_error(g, params, "cannot predict parameter 'stem0.weight'");
  EXPECT_THROW(ghn->predict_parameters({&net.graph}, {}), Error);
}

// Inference multiplies with BLAS or oneDNN depending on the machine; both must predict the same.
TEST(Prediction, BlasAndOneDnnProductsPredictTheSameParameters) {
  auto& ghn = test::fixture_ghn();
  torch::NoGradGuard no_grad;
  const auto& nets = test::fixture_nets();
  const std::vector<const GhnGraph*> graphs = {&nets[0].graph, &nets[46].graph};
  const std::vector<std::vector<ParamTensor>> params = {nets[0].params, nets[46].params};
  set_dense_backend(DenseBackend::kBlas);
  const auto blas = ghn->predict_parameters(graphs, params);
  set_dense_backend(DenseBackend::kOneDnn);
  const auto onednn = ghn->predict_parameters(graphs, params);
  set_dense_backend(DenseBackend::kAuto);
  for (std::size_t b = 0; b < graphs.size(); ++b) {
    ASSERT_EQ(blas[b].tensors.size(), onednn[b].tensors.size());
    for (const auto& [name, t] : blas[b].tensors) {
      const auto& u = onednn[b].tensors.at(name);
      EXPECT_LE((t - u).abs().max().item<float>(), 1e-5f * (1.0f + t.abs().max().item<float>())) << name;
    }
  }
}

}  // namespace
}  // namespace ghnas
