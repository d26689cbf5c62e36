// The executor: parameters exactly as the IR lists them, outputs of the right shape on real
// DeepNets-1M and NAS-Bench-201 networks, gradients into supplied (GHN-predicted) tensors, and
// the less common ops against computations written out by hand.

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/network.hpp"
#include "space/deepnets1m.hpp"
#include "space/nasbench201.hpp"
#include "tests/evaluators/tiny_graphs.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

using test::GraphBuilder;

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    configure_cpu_runtime(2);
  }
};

struct NamedNet {
  std::string label;
  nlohmann::json spec;
};

bool has_op(const nlohmann::json& spec, const std::string& op) {
  for (const char* cell : {"normal", "reduce"})
    for (const auto& e : spec["genotype"][cell])
      if (e[0] == op) return true;
  return false;
}

// A handful of DeepNets-1M nets that together cover every op and wiring rule: the first nets of
// test.json with msa, with cse, with none ops and with detached parameters, and the smallest
// nets of the wide, deep, dense and bnfree splits.
std::vector<NamedNet> chosen_deepnets() {
  const std::string dir = test::shared_dir() + "/deepnets1m/";
  std::vector<NamedNet> nets;
  const nlohmann::json test_nets = read_json_file(dir + "test.json");
  const Task cifar = task_by_name("cifar10");
  int msa = 0, cse = 0, none = 0, detached = 0;
  for (const auto& spec : test_nets) {
    const std::string label = "test[" + std::to_string(spec["index"].get<int>()) + "]";
    if (has_op(spec, "msa") && msa < 2) {
      ++msa;
      nets.push_back({label + " msa", spec});
    } else if (has_op(spec, "cse") && cse < 2) {
      ++cse;
      nets.push_back({label + " cse", spec});
    } else if (has_op(spec, "none") && none < 2) {
      ++none;
      nets.push_back({label + " none", spec});
    } else if (detached < 2 &&
               !build_deepnets_graph(parse_deepnets_arch(spec), cifar).detached_params().empty()) {
      ++detached;
      nets.push_back({label + " detached", spec});
    }
  }
  EXPECT_EQ(msa + cse + none, 6);
  EXPECT_EQ(detached, 2) << "test.json should hold nets with detached parameters";
  for (const char* split : {"wide", "deep", "dense", "bnfree"}) {
    const nlohmann::json doc = read_json_file(dir + split + ".json");
    const nlohmann::json* smallest = &doc[0];
    for (const auto& spec : doc)
      if (spec["params_cifar10"] < (*smallest)["params_cifar10"]) smallest = &spec;
    nets.push_back({std::string(split) + "[" + std::to_string((*smallest)["index"].get<int>()) + "]", *smallest});
  }
  return nets;
}

std::vector<std::string> nb201_cells() {
  return {"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
          "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
          "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",  // nodes 1 and 2 are zeros
          "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"};  // all zeros
}

// Everything the network registers, by name.
std::map<std::string, std::vector<std::int64_t>> registered(NetworkImpl& net) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& p : net.named_parameters()) out[p.key()] = p.value().sizes().vec();
  return out;
}

void expect_params_match_graph(const ArchGraph& g, NetworkImpl& net, const std::string& label) {
  const auto expected = g.all_params();
  ASSERT_EQ(net.param_specs().size(), expected.size()) << label;
  std::map<std::string, std::vector<std::int64_t>> expected_map;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(net.param_specs()[i].name, expected[i].name) << label;
    EXPECT_EQ(net.ordered_parameters()[i].sizes().vec(), expected[i].shape) << label << " " << expected[i].name;
    expected_map[expected[i].name] = expected[i].shape;
  }
  EXPECT_EQ(registered(net), expected_map) << label;
  std::int64_t total = 0;
  for (const auto& p : net.parameters()) total += p.numel();
  EXPECT_EQ(total, g.num_params()) << label;
  EXPECT_EQ(net.num_params(), g.num_params()) << label;
}

TEST_F(NetworkTest, DeepNetsParametersAndOutputsMatchTheGraph) {
  const auto nets = chosen_deepnets();
  ASSERT_GE(nets.size(), 12u);
  for (const auto& [label, spec] : nets) {
    const DeepNetsArch arch = parse_deepnets_arch(spec);
    for (const char* task_name : {"cifar10", "fashion-mnist"}) {
      const Task task = task_by_name(task_name);
      const ArchGraph g = build_deepnets_graph(arch, task);
      if (std::string(task_name) == "cifar10") EXPECT_EQ(g.num_params(), spec["params_cifar10"].get<std::int64_t>()) << label;
      Network net(g, torch::kCPU, /*seed=*/1);
      expect_params_match_graph(g, *net, label + " " + task_name);
      const torch::Tensor logits = net->forward(torch::randn({2, task.channels, task.height, task.width}));
      EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{2, 10})) << label << " " << task_name;
      EXPECT_TRUE(torch::isfinite(logits).all().item<bool>()) << label << " " << task_name;
    }
  }
}

TEST_F(NetworkTest, NasBench201ParametersAndOutputsMatchTheGraph) {
  for (const auto& cell : nb201_cells()) {
    for (const char* task_name : {"cifar10", "fashion-mnist"}) {
      const Task task = task_by_name(task_name);
      const ArchGraph g = build_nb201_graph(parse_nb201_arch(cell), task);
      Network net(g);
      expect_params_match_graph(g, *net, cell);
      const torch::Tensor logits = net->forward(torch::randn({3, task.channels, task.height, task.width}));
      EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{3, 10})) << cell;
    }
  }
}

TEST_F(NetworkTest, ValuesAreFreedAfterTheirLastReader) {
  const ArchGraph g = build_nb201_graph(parse_nb201_arch(nb201_cells()[0]), task_by_name("cifar10"));
  Network net(g);
  std::map<int, int> last_reader;
  std::set<int> released;
  for (std::size_t s = 0; s < net->steps().size(); ++s) {
    for (int u : net->steps()[s].inputs) last_reader[u] = static_cast<int>(s);
    for (int r : net->steps()[s].release) EXPECT_TRUE(released.insert(r).second) << "released twice: " << r;
  }
  // Every value but the output is released exactly at its last reader.
  for (const auto& [slot, step] : last_reader) {
    if (slot == static_cast<int>(g.output())) continue;
    const auto& rel = net->steps()[step].release;
    EXPECT_NE(std::find(rel.begin(), rel.end(), slot), rel.end()) << "slot " << slot;
  }
}

TEST_F(NetworkTest, SupplyingParametersRunsTheSameNetworkAndGradientsReachThem) {
  // One net with msa (LayerNorm, attention, GELU, pos_enc) and one with cse and none ops.
  const auto nets = chosen_deepnets();
  for (std::size_t which : {std::size_t{0}, std::size_t{2}}) {
    const Task task = task_by_name("fashion-mnist");
    const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(nets[which].spec), task);
    Network net(g, torch::kCPU, /*seed=*/3);
    net->eval();  // no dropout, so both passes run the same function (batch norm is unaffected)
    const torch::Tensor images = torch::randn({4, 1, 28, 28});
    const torch::Tensor labels = torch::tensor({1, 5, 7, 2}, torch::kInt64);

    // Reference: the network's own (leaf) parameters.
    torch::Tensor own_loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    own_loss.backward();

    // "Predicted" parameters: non-leaf tensors 2 * base with base = own / 2, as a GHN's decoder
    // output would be. Same values, so the same loss; the chain rule doubles nothing away:
    // d loss / d base = 2 * d loss / d param.
    ParamMap predicted;
    std::vector<torch::Tensor> bases;
    for (std::size_t i = 0; i < net->param_specs().size(); ++i) {
      torch::Tensor base = (net->ordered_parameters()[i].detach() / 2).requires_grad_(true);
      bases.push_back(base);
      predicted[net->param_specs()[i].name] = base * 2;
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(images, predicted), labels);
    EXPECT_NEAR(loss.item<double>(), own_loss.item<double>(), 1e-5) << nets[which].label;
    loss.backward();
    const std::set<std::string> detached_names = [&] {
      std::set<std::string> s;
      for (const auto& p : g.detached_params()) s.insert(p.name);
      return s;
    }();
    const auto reach = g.reaches_output();
    int with_grad = 0;
    for (std::size_t i = 0; i < bases.size(); ++i) {
      const torch::Tensor& own_grad = net->ordered_parameters()[i].grad();
      if (detached_names.count(net->param_specs()[i].name)) {
        EXPECT_FALSE(bases[i].grad().defined()) << net->param_specs()[i].name;
        continue;
      }
      if (!own_grad.defined()) continue;  // a node that does not reach the output
      ASSERT_TRUE(bases[i].grad().defined()) << net->param_specs()[i].name;
      EXPECT_TRUE(torch::allclose(bases[i].grad(), 2 * own_grad, 1e-4, 1e-6)) << net->param_specs()[i].name;
      with_grad += bases[i].grad().abs().sum().item<double>() > 0;
    }
    EXPECT_GT(with_grad, 10) << nets[which].label;
  }
}

// Layout changes speed, not the function. In float64, where rounding cannot flip a ReLU or a
// max-pool choice, channels-last logits and parameter gradients equal channels-first ones to 1e-9
// on every chosen net (all ops and wiring rules) and the NAS-Bench-201 cells; in float32 (the
// oneDNN kernels training uses) the logits agree to about 1e-4 of their largest value (1.1e-4 for
// test[4] on a CPU without AVX-512, whose kernels sum in another order), so the check allows
// 1e-3; a value read in the wrong layout is off by O(1). (Float32 gradients can differ by ~1%
// on a deep net: one near-zero ReLU input that rounds the other way changes its channel's batch
// statistics and everything upstream; channels-first float32 is no closer to float64.) Every
// 4-D value between ops really is channels-last under kChannelsLast and kAuto on the CPU, so a
// layout that silently stays NCHW fails here.
TEST_F(NetworkTest, ChannelsLastRunsTheSameFunctionAsChannelsFirst) {
  const Task task = task_by_name("fashion-mnist");
  std::vector<std::pair<std::string, ArchGraph>> graphs;
  for (const auto& [label, spec] : chosen_deepnets())
    graphs.emplace_back(label, build_deepnets_graph(parse_deepnets_arch(spec), task));
  for (const auto& cell : nb201_cells()) graphs.emplace_back(cell, build_nb201_graph(parse_nb201_arch(cell), task));
  const torch::Tensor images = torch::randn({8, 1, 28, 28});
  const torch::Tensor labels = torch::randint(10, {8}, torch::kInt64);
  for (const auto& [label, g] : graphs) {
    // Logits, then the gradient of every parameter (float64 only), and how many 4-D values
    // were not channels-last.
    auto run = [&, &label = label, &g = g](ActivationLayout layout, torch::ScalarType dtype, int& not_channels_last) {
      Network net(g, torch::kCPU, /*seed=*/5);
      net->to(dtype);
      net->eval();  // no dropout: every run is the same function
      net->set_activation_layout(layout);
      int four_d = 0;
      net->set_observer([&](const NetworkStep&, const torch::Tensor& out) {
        if (out.dim() != 4) return;
        ++four_d;
        not_channels_last += !out.is_contiguous(torch::MemoryFormat::ChannelsLast);
      });
      const torch::Tensor logits = net->forward(images.to(dtype));
      EXPECT_GT(four_d, 0) << label;
      std::vector<torch::Tensor> out = {logits.detach()};
      if (dtype != torch::kDouble) return out;
      torch::nn::functional::cross_entropy(logits, labels).backward();
      for (const auto& p : net->ordered_parameters()) out.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
      return out;
    };
    auto expect_close = [&, &label = label](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                                            double tolerance) {
      ASSERT_EQ(a.size(), b.size()) << label;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const double scale = std::max(1e-3, a[i].abs().max().item<double>());
        EXPECT_LE((a[i] - b[i]).abs().max().item<double>(), tolerance * scale)
            << label << (i == 0 ? ": logits" : ": gradient of " + std::to_string(i - 1) + "th parameter");
      }
    };
    int first_misses = 0, last_misses = 0, auto_misses = 0, unused = 0;
    expect_close(run(ActivationLayout::kChannelsFirst, torch::kDouble, first_misses),
                 run(ActivationLayout::kChannelsLast, torch::kDouble, last_misses), 1e-9);
    expect_close(run(ActivationLayout::kChannelsFirst, torch::kFloat, unused),
                 run(ActivationLayout::kAuto, torch::kFloat, auto_misses), 1e-3);
    EXPECT_EQ(last_misses, 0) << label;
    EXPECT_EQ(auto_misses, 0) << label;
    EXPECT_GT(first_misses, 0) << label << ": channels-first values should stay NCHW";
  }
}

TEST_F(NetworkTest, MissingOrMisshapenSuppliedParametersNameTheParameter) {
  const ArchGraph g = test::small_cnn(task_by_name("fashion-mnist"));
  Network net(g);
  ParamMap params;
  for (std::size_t i = 0; i < net->param_specs().size(); ++i)
    params[net->param_specs()[i].name] = net->ordered_parameters()[i];
  const torch::Tensor images = torch::randn({2, 1, 28, 28});
  ParamMap missing = params;
  missing.erase("features.5.weight");
  try {
    net->forward(images, missing);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'features.5.weight' is missing"), std::string::npos) << e.what();
  }
  ParamMap wrong = params;
  wrong["classifier.weight"] = torch::zeros({10, 7});
  try {
    net->forward(images, wrong);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'classifier.weight' has shape (10, 7)"), std::string::npos) << e.what();
  }
  try {
    net->forward(torch::randn({2, 3, 32, 32}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expects images of 1x28x28"), std::string::npos) << e.what();
  }
}

TEST_F(NetworkTest, InitialisationFollowsPyTorchDefaultsAndTheSeed) {
  const Task task = task_by_name("cifar10");
  const ArchGraph g = build_nb201_graph(parse_nb201_arch(nb201_cells()[1]), task);
  Network a(g, torch::kCPU, 7), b(g, torch::kCPU, 7), c(g, torch::kCPU, 8);
  bool any_differs = false;
  for (std::size_t i = 0; i < a->param_specs().size(); ++i) {
    const auto& spec = a->param_specs()[i];
    const torch::Tensor& t = a->ordered_parameters()[i];
    EXPECT_TRUE(torch::equal(t, b->ordered_parameters()[i])) << spec.name;
    any_differs |= !torch::equal(t, c->ordered_parameters()[i]);
    if (spec.shape.size() >= 2) {  // conv or linear weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
      std::int64_t fan_in = 1;
      for (std::size_t d = 1; d < spec.shape.size(); ++d) fan_in *= spec.shape[d];
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      EXPECT_LE(t.abs().max().item<double>(), bound + 1e-7) << spec.name;
      if (t.numel() >= 500) EXPECT_GT(t.abs().max().item<double>(), 0.9 * bound) << spec.name;
    } else if (spec.name == "classifier.bias") {
      EXPECT_LE(t.abs().max().item<double>(), 1.0 / std::sqrt(64.0) + 1e-7);
      EXPECT_GT(t.abs().max().item<double>(), 0.0);
    } else if (spec.name.size() > 7 && spec.name.substr(spec.name.size() - 7) == ".weight") {
      EXPECT_TRUE(torch::equal(t, torch::ones_like(t))) << spec.name;  // batch norm
    } else {
      EXPECT_TRUE(torch::equal(t, torch::zeros_like(t))) << spec.name;
    }
  }
  EXPECT_TRUE(any_differs);
  // Same seed, same forward pass.
  const torch::Tensor x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
}

TEST_F(NetworkTest, PositionalEncodingIsStandardNormal) {
  for (const auto& [label, spec] : chosen_deepnets()) {
    if (!has_op(spec, "msa")) continue;
    Network net(build_deepnets_graph(parse_deepnets_arch(spec), task_by_name("cifar10")));
    const torch::Tensor pe = net->named_parameters()["pos_enc.weight"];
    EXPECT_NEAR(pe.mean().item<double>(), 0.0, 0.1) << label;
    EXPECT_NEAR(pe.std().item<double>(), 1.0, 0.1) << label;
    return;
  }
  FAIL() << "no msa net chosen";
}

TEST_F(NetworkTest, AttentionMatchesAHandComputation) {
  // Input (12, 1, 2): two tokens of 12 channels = qkv of 2 heads of size 2.
  Task task{"tiny", 12, 1, 2, 4, false};
  GraphBuilder b(task);
  auto tokens = b.unary(OpKind::kToTokens, b.input(), {2, 12});
  OpNode attention;
  attention.kind = OpKind::kAttention;
  attention.heads = 2;
  attention.out_shape = {2, 4};
  auto out = b.node(attention, {tokens});
  Network net(b.finish(out));
  const torch::Tensor x = torch::randn({3, 12, 1, 2});
  const torch::Tensor y = net->forward(x);
  ASSERT_EQ(y.sizes().vec(), (std::vector<std::int64_t>{3, 2, 4}));

  const int heads = 2, dh = 2, n = 2;
  for (int batch = 0; batch < 3; ++batch) {
    auto feature = [&](int token, int channel) { return x[batch][channel][0][token].item<double>(); };
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < n; ++i) {
        // q, k, v are consecutive chunks of 4 channels; head h owns channels h*dh .. h*dh+1 of each.
        double score[2];
        for (int j = 0; j < n; ++j) {
          score[j] = 0;
          for (int d = 0; d < dh; ++d) score[j] += feature(i, 0 + h * dh + d) * feature(j, 4 + h * dh + d);
          score[j] /= std::sqrt(static_cast<double>(dh));
        }
        const double m = std::max(score[0], score[1]);
        const double w0 = std::exp(score[0] - m), w1 = std::exp(score[1] - m);
        for (int d = 0; d < dh; ++d) {
          const double expected = (w0 * feature(0, 8 + h * dh + d) + w1 * feature(1, 8 + h * dh + d)) / (w0 + w1);
          EXPECT_NEAR(y[batch][i][h * dh + d].item<double>(), expected, 1e-5)
              << "batch " << batch << " head " << h << " token " << i << " dim " << d;
        }
      }
    }
  }
}

TEST_F(NetworkTest, ChannelSqueezeExcitationMatchesAHandComputation) {
  // x (2, 2, 2) -> mean over space -> fc1 (2 -> 1) -> ReLU -> fc2 (1 -> 2) -> Hardswish -> x * gate.
  Task task{"tiny", 2, 2, 2, 2, false};
  GraphBuilder b(task);
  auto s = b.unary(OpKind::kSpatialMean, b.input(), {2});
  s = b.linear(s, "se.fc1", 1);
  s = b.unary(OpKind::kReLU, s);
  s = b.linear(s, "se.fc2", 2);
  s = b.unary(OpKind::kHardswish, s);
  OpNode scale;
  scale.kind = OpKind::kChannelScale;
  scale.out_shape = {2, 2, 2};
  auto y = b.node(scale, {b.input(), s});
  Network net(b.finish(y));
  ParamMap p;
  p["se.fc1.weight"] = torch::tensor({{0.5f, -0.25f}}).view({1, 2});
  p["se.fc1.bias"] = torch::tensor({0.1f});
  p["se.fc2.weight"] = torch::tensor({{2.0f}, {-1.0f}}).view({2, 1});
  p["se.fc2.bias"] = torch::tensor({0.5f, 4.0f});
  const torch::Tensor x = torch::tensor({1.f, 2.f, 3.f, 4.f, -1.f, 0.f, 1.f, 2.f}).view({1, 2, 2, 2});
  const torch::Tensor out = net->forward(x, p);
  // means 2.5 and 0.5; fc1: 0.5*2.5 - 0.25*0.5 + 0.1 = 1.225; ReLU keeps it;
  // fc2: 2*1.225 + 0.5 = 2.95 and -1.225 + 4 = 2.775; hardswish(z) = z * min(max(z + 3, 0), 6) / 6.
  auto hardswish = [](double z) { return z * std::min(std::max(z + 3.0, 0.0), 6.0) / 6.0; };
  const double g0 = hardswish(2.95), g1 = hardswish(2.775);
  const std::vector<double> expected = {1 * g0, 2 * g0, 3 * g0, 4 * g0, -1 * g1, 0, 1 * g1, 2 * g1};
  const torch::Tensor flat = out.flatten();
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(flat[i].item<double>(), expected[i], 1e-5) << i;
}

TEST_F(NetworkTest, BatchNormUsesBatchStatisticsInEvaluation) {
  Task task{"tiny", 2, 3, 3, 2, false};
  GraphBuilder b(task);
  auto y = b.batch_norm(b.input(), "bn");
  Network net(b.finish(y));
  net->eval();
  const torch::Tensor x = torch::randn({4, 2, 3, 3}) * 3 + 5;
  const torch::Tensor out = net->forward(x);
  for (int c = 0; c < 2; ++c) {
    // Normalised with this batch's mean and biased variance (eps 1e-5), weight 1, bias 0.
    const torch::Tensor xc = x.select(1, c);
    const double mean = xc.mean().item<double>();
    const double var = (xc - mean).pow(2).mean().item<double>();
    const torch::Tensor expected = (xc - mean) / std::sqrt(var + 1e-5);
    EXPECT_TRUE(torch::allclose(out.select(1, c), expected, 1e-4, 1e-5)) << "channel " << c;
  }
  // So one image's output depends on the rest of the batch.
  const torch::Tensor alone = net->forward(x.slice(0, 0, 2));
  EXPECT_FALSE(torch::allclose(alone, out.slice(0, 0, 2), 1e-3, 1e-3));
}

// Flatten (4, 2, 2) and dropout with p = 0.5: all-ones inputs show the mask and the scaling.
ArchGraph dropout_graph() {
  Task task{"tiny", 4, 2, 2, 16, false};
  GraphBuilder b(task);
  auto f = b.flatten(b.input());
  OpNode drop;
  drop.kind = OpKind::kDropout;
  drop.dropout = 0.5;
  drop.out_shape = {16};
  return b.finish(b.node(drop, {f}));
}

TEST_F(NetworkTest, DropoutRunsOnlyInTraining) {
  Network net(dropout_graph());
  const torch::Tensor x = torch::ones({64, 4, 2, 2});
  net->eval();
  EXPECT_TRUE(torch::equal(net->forward(x), x.flatten(1)));
  net->train();
  const torch::Tensor y = net->forward(x);
  const double zeros = (y == 0).sum().item<double>() / y.numel();
  EXPECT_GT(zeros, 0.3);
  EXPECT_LT(zeros, 0.7);
  EXPECT_TRUE(torch::allclose(y.max(), torch::tensor(2.f)));  // survivors scaled by 1/(1-p)
}

TEST_F(NetworkTest, DropoutWithItsOwnGeneratorIsReproducibleOnAnyThread) {
  const ArchGraph graph = dropout_graph();
  const torch::Tensor x = torch::ones({64, 4, 2, 2});
  auto masked = [&](std::uint64_t seed) {
    Network net(graph);
    net->train();
    net->set_dropout_generator(at::detail::createCPUGenerator(seed));
    return net->forward(x);
  };
  const torch::Tensor a = masked(7);
  // The global generator's state does not matter, nor which thread runs the network.
  torch::manual_seed(123);
  torch::Tensor on_thread;
  std::thread t([&] { on_thread = masked(7); });
  t.join();
  EXPECT_TRUE(torch::equal(a, on_thread));
  EXPECT_FALSE(torch::equal(a, masked(8)));
  const double zeros = (a == 0).sum().item<double>() / a.numel();
  EXPECT_GT(zeros, 0.3);
  EXPECT_LT(zeros, 0.7);
  EXPECT_TRUE(torch::allclose(a.max(), torch::tensor(2.f)));  // survivors scaled by 1/(1-p)
  // Evaluation mode ignores the generator.
  Network net(graph);
  net->set_dropout_generator(at::detail::createCPUGenerator(7));
  net->eval();
  EXPECT_TRUE(torch::equal(net->forward(x), x.flatten(1)));
}

TEST(IntraOpThreadsScope, SetsTheCallingThreadsCountOnly) {
  configure_cpu_runtime(2);
  const int main_threads = at::get_num_threads();
  int inside = 0, after_op = 0, restored = 0;
  std::thread worker([&] {
    const int before = at::get_num_threads();
    {
      IntraOpThreadsScope scope(1);
      inside = at::get_num_threads();
      // A parallel op on a fresh thread is where LibTorch would re-apply its process-wide count.
      (void)(torch::rand({1 << 20}) + 1).sum().item<float>();
      after_op = at::get_num_threads();
    }
    restored = at::get_num_threads() == before ? 1 : 0;
  });
  worker.join();
  EXPECT_EQ(at::get_num_threads(), main_threads);
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR < 2
  // Debian's LibTorch parallelises with the OpenMP runtime ghnas links, so the scope applies.
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(after_op, 1);
#else
  if (inside != 1) GTEST_SKIP() << "this LibTorch brings its own OpenMP runtime; the scope is a no-op";
  EXPECT_EQ(after_op, 1);
#endif
  EXPECT_EQ(restored, 1);
  EXPECT_THROW(IntraOpThreadsScope(0), ConfigError);
}

TEST_F(NetworkTest, SliceZerosAndPoolsFollowTheReferenceSemantics) {
  // x[:, :, 1::2, 1::2] padded by one zero row/column at the end (FactorizedReduce on odd sizes),
  // avg pool without counting padding, and x * 0.
  Task task{"tiny", 1, 3, 3, 2, false};
  GraphBuilder b(task);
  OpNode slice;
  slice.kind = OpKind::kSlice;
  slice.offset = 1;
  slice.step = 2;
  slice.pad_end = 1;
  slice.out_shape = {1, 2, 2};
  auto s = b.node(slice, {b.input()});
  auto avg = b.pool(OpKind::kAvgPool2d, b.input(), 3, 1, 1);
  auto z = b.unary(OpKind::kZeros, b.input());
  OpNode cat;
  cat.kind = OpKind::kConcat;
  cat.out_shape = {2, 3, 3};
  auto c = b.node(cat, {avg, z});
  auto fs = b.flatten(s);
  auto fc = b.flatten(c);
  OpNode cat2;
  cat2.kind = OpKind::kConcat;
  cat2.out_shape = {22};
  Network net(b.finish(b.node(cat2, {fs, fc})));
  const torch::Tensor x = torch::arange(9, torch::kFloat32).view({1, 1, 3, 3});
  const torch::Tensor y = net->forward(x).flatten();
  // Slice picks x[1][1] = 4, then zero padding.
  const std::vector<float> slice_expected = {4, 0, 0, 0};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i].item<float>(), slice_expected[i]);
  // Corner average over the 4 real pixels only: (0 + 1 + 3 + 4) / 4 = 2.
  EXPECT_FLOAT_EQ(y[4].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(y[4 + 4].item<float>(), 4.0f);  // centre: mean of 0..8
  for (int i = 13; i < 22; ++i) EXPECT_FLOAT_EQ(y[i].item<float>(), 0.0f);
}

}  // namespace
}  // namespace ghnas

namespace ghnas {
namespace {

TEST(NetworkCuda, SameNetworkOnTheGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const nlohmann::json nets = read_json_file(test::shared_dir() + "/deepnets1m/test.json");
  const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(nets[0]), task_by_name("cifar10"));
  // Parameters are drawn on the CPU and moved, so a seed gives the same network on both devices.
  Network cpu(g, torch::kCPU, 5), gpu(g, torch::kCUDA, 5);
  cpu->eval();
  gpu->eval();
  const torch::Tensor x = torch::randn({4, 3, 32, 32});
  const torch::Tensor y_cpu = cpu->forward(x);
  const torch::Tensor y_gpu = gpu->forward(x.to(torch::kCUDA));
  EXPECT_TRUE(y_gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(y_cpu, y_gpu.cpu(), 1e-3, 1e-3));
  y_gpu.sum().backward();
  for (const auto& p : gpu->parameters()) EXPECT_TRUE(p.is_cuda());
}

}  // namespace
}  // namespace ghnas
