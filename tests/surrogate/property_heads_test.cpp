// Property heads: kernel ridge regression recovers a smooth function, the grid search and folds
// behave, a heads file round-trips exactly, and heads refuse embeddings of another GHN.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "core/error.hpp"
#include "space/nasbench201.hpp"
#include "space/search_space.hpp"
#include "surrogate/cheap_features.hpp"
#include "surrogate/property_heads.hpp"
#include "surrogate/rank_metrics.hpp"

namespace ghnas {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + std::to_string(getpid()) + "_" + name;
}

// Rows uniform in [-1, 1]^d and a smooth target of them.
void smooth_problem(int n, std::uint64_t seed, Eigen::MatrixXd& x, Eigen::VectorXd& y) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  x.resize(n, 3);
  y.resize(n);
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) x(i, c) = u(rng);
    y(i) = std::sin(2 * x(i, 0)) + x(i, 1) * x(i, 1) - 0.5 * x(i, 2);
  }
}

std::vector<double> as_std(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

TEST(PropertyHeads, KernelRidgeRecoversASmoothFunctionOnHeldOutPoints) {
  Eigen::MatrixXd x, xt;
  Eigen::VectorXd y, yt;
  smooth_problem(200, 1, x, y);
  smooth_problem(100, 2, xt, yt);
  // Feature scales far apart: standardisation must make them comparable.
  x.col(1) *= 1000.0;
  xt.col(1) *= 1000.0;
  GridSearchResult chosen;
  const RbfKernelRidge m = fit_krr(x, y, GridSearchOptions{}, &chosen);
  const double tau = kendall_tau(as_std(m.predict(xt)), as_std(yt));
  EXPECT_GT(tau, 0.9);
  EXPECT_GT(chosen.cv_tau, 0.8);
  EXPECT_GT(chosen.gamma, 0);
}

TEST(PropertyHeads, FoldsAreBalancedSeededAndNeedEnoughRows) {
  const auto f = kfold_assignment(23, 5, 7);
  std::vector<int> count(5, 0);
  for (int id : f) ++count[static_cast<std::size_t>(id)];
  for (int c : count) EXPECT_TRUE(c == 4 || c == 5);
  EXPECT_EQ(f, kfold_assignment(23, 5, 7));
  EXPECT_NE(f, kfold_assignment(23, 5, 8));
  EXPECT_THROW(kfold_assignment(4, 5, 0), ConfigError);
  EXPECT_THROW(kfold_assignment(10, 1, 0), ConfigError);
}

PropertyHeads make_heads(FeatureTable& table) {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  smooth_problem(60, 3, x, y);
  table.embedding = x;
  table.cheap = Eigen::MatrixXd::Random(60, static_cast<Eigen::Index>(cheap_feature_names().size()));
  PropertyHeads heads;
  heads.provenance = {"fnv1a64:0123456789abcdef", "ghn.ckpt", 3, "cifar10", "nasbench201"};
  GridSearchOptions grid;
  grid.gamma_scales = {0.1, 1.0};
  grid.lambdas = {1e-2, 1e-1};
  heads.heads.push_back(fit_head("acc", {true, false}, table, y, grid));
  heads.heads.push_back(fit_head("lat", {true, true}, table, (2.0 * y.array() + 5).matrix(), grid));
  // A one-hot-like plain encoding of 4 values per row, as for nasbench201's edges.
  table.plain = Eigen::MatrixXd::Zero(60, 4);
  for (Eigen::Index i = 0; i < 60; ++i) table.plain(i, i % 4) = 1.0;
  heads.heads.push_back(fit_head("noisy", {true, false, true}, table, (y.array() - 1).matrix(), grid));
  return heads;
}

TEST(PropertyHeads, SaveLoadRoundTripPredictsIdentically) {
  FeatureTable table;
  const PropertyHeads heads = make_heads(table);
  const std::string path = temp_path("heads.json");
  heads.save(path);
  const PropertyHeads loaded = PropertyHeads::load(path);
  std::remove(path.c_str());
  ASSERT_EQ(loaded.heads.size(), 3u);
  EXPECT_EQ(loaded.heads[2].features.name(), "embedding+plain");
  EXPECT_EQ(loaded.heads[2].model.num_features(), 3 + 4);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(loaded.heads[k].target, heads.heads[k].target);
    EXPECT_EQ(loaded.heads[k].features.name(), heads.heads[k].features.name());
    const Eigen::VectorXd a = heads.heads[k].predict(table), b = loaded.heads[k].predict(table);
    for (Eigen::Index i = 0; i < a.size(); ++i) ASSERT_EQ(a(i), b(i)) << "head " << k << " row " << i;
  }
  EXPECT_EQ(loaded.provenance.checkpoint_hash, heads.provenance.checkpoint_hash);
  EXPECT_NO_THROW(loaded.check_provenance(heads.provenance));
}

TEST(PropertyHeads, HeadsFilesWrittenBeforePlainEncodingsStillLoad) {
  // A heads file as fit-heads wrote it before plain encodings existed: one "embedding" head on
  // 2 features and 2 training rows, small enough to predict by hand, read with a table that has
  // no plain encodings.
  nlohmann::json file = {
      {"format", "ghnas-property-heads"},
      {"version", 1},
      {"provenance",
       {{"checkpoint_hash", "fnv1a64:0123456789abcdef"}, {"checkpoint", "ghn.ckpt"}, {"hid", 2}, {"task", "cifar10"},
        {"space", "nasbench201"}}},
      {"cheap_features", cheap_feature_names()},
      {"heads",
       {{{"target", "acc"},
         {"features", "embedding"},
         {"search", {{"gamma", 0.5}, {"lambda", 0.1}, {"target_transform", "standard"}, {"cv_kendall_tau", 0.7}}},
         {"train_rows", 2},
         {"model",
          {{"type", "rbf_kernel_ridge"}, {"gamma", 0.5}, {"lambda", 0.1}, {"target_transform", "standard"},
           {"y_sorted", nlohmann::json::array()}, {"x_mean", {1.0, 2.0}}, {"x_scale", {2.0, 4.0}},
           {"y_mean", 80.0}, {"y_scale", 5.0}, {"train_x", {{-1.0, 0.0}, {1.0, 0.0}}}, {"alpha", {-1.0, 1.0}}}}}}}};
  const std::string path = temp_path("old_heads.json");
  std::ofstream(path) << file.dump();
  const PropertyHeads loaded = PropertyHeads::load(path);
  std::remove(path.c_str());
  ASSERT_EQ(loaded.heads.size(), 1u);
  EXPECT_EQ(loaded.heads[0].features.name(), "embedding");
  FeatureTable table;
  table.embedding = Eigen::MatrixXd(1, 2);
  table.embedding << 3.0, 2.0;  // standardised: (1, 0), at distance 2 from the first row, 0 from the second
  const double expected = 80.0 + 5.0 * (-std::exp(-0.5 * 4.0) + 1.0);
  EXPECT_NEAR(loaded.heads[0].predict(table)(0), expected, 1e-12);
  // A head reading plain encodings refuses a table without them.
  FeatureTable fitted;
  const PropertyHeads heads = make_heads(fitted);
  FeatureTable no_plain = fitted;
  no_plain.plain.resize(0, 0);
  EXPECT_NO_THROW(heads.heads[1].predict(no_plain));
  EXPECT_THROW(heads.heads[2].predict(no_plain), ConfigError);
}

TEST(PropertyHeads, FeatureSetNamesRoundTrip) {
  for (const char* name : {"embedding", "cheap", "plain", "embedding+cheap", "embedding+plain", "cheap+plain",
                           "embedding+cheap+plain"})
    EXPECT_EQ(FeatureConfig::parse(name).name(), name);
  EXPECT_EQ(FeatureConfig::parse("plain+embedding").name(), "embedding+plain");
  for (const char* bad : {"", "emb", "plain+plain", "embedding+", "+cheap", "embedding,plain"})
    EXPECT_THROW(FeatureConfig::parse(bad), ConfigError) << bad;
}

TEST(PropertyHeads, AnotherCheckpointIsAClearError) {
  FeatureTable table;
  const PropertyHeads heads = make_heads(table);
  EmbeddingProvenance other = heads.provenance;
  other.checkpoint_hash = "fnv1a64:fedcba9876543210";
  other.checkpoint = "other.ckpt";
  try {
    heads.check_provenance(other);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("other.ckpt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fit-heads"), std::string::npos) << e.what();
  }
  other = heads.provenance;
  other.task = "fashion-mnist";
  EXPECT_THROW(heads.check_provenance(other), ConfigError);
}

TEST(PropertyHeads, BadHeadsFilesAreFileErrors) {
  const std::string path = temp_path("bad_heads.json");
  std::ofstream(path) << "{\"format\": \"something-else\"}\n";
  EXPECT_THROW(PropertyHeads::load(path), FileError);
  std::ofstream(path, std::ios::trunc) << "not json";
  EXPECT_THROW(PropertyHeads::load(path), FileError);
  std::remove(path.c_str());
  EXPECT_THROW(PropertyHeads::load(path), FileError);
}

TEST(PropertyHeads, FileHashSeesEveryByte) {
  const std::string path = temp_path("hash.bin");
  const auto write = [&](const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  };
  write("abc");
  const std::string a = file_hash(path);
  write("abd");
  EXPECT_NE(a, file_hash(path));
  // FNV-1a 64 of "a" is af63dc4c8601ec8c (the published test vector).
  write("a");
  EXPECT_EQ(file_hash(path), "fnv1a64:af63dc4c8601ec8c");
  std::remove(path.c_str());
}

TEST(CheapFeatures, PlainEncodingIsOneHotOpsPerEdgeForNasBench201) {
  register_builtin_spaces();
  const auto space = make_space("nasbench201");
  const Architecture arch{"nasbench201", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"};
  const Task task = task_by_name("cifar10");
  const auto from_task = plain_encoding(*space, arch, task);
  ASSERT_EQ(from_task.size(), plain_encoding_size(*space));
  EXPECT_EQ(plain_encoding(*space, arch, space->build_graph(arch, task)), from_task);
  double ones = 0;
  for (double v : from_task) ones += v;
  EXPECT_EQ(ones, 6.0);
}

// Feature `name` of a cheap_features() vector.
double at(const std::vector<double>& f, const std::string& name) {
  const auto& names = cheap_feature_names();
  return f[static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin())];
}

TEST(CheapFeatures, CountTheCellsOps) {
  const Task task = task_by_name("cifar10");
  const auto conv = cheap_features(build_nb201_graph(
      parse_nb201_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"), task));
  const auto none =
      cheap_features(build_nb201_graph(parse_nb201_arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), task));
  ASSERT_EQ(conv.size(), cheap_feature_names().size());
  // 15 cells of 6 edges, each a 3x3 convolution.
  EXPECT_EQ(at(conv, "conv_3x3") - at(none, "conv_3x3"), 90);
  EXPECT_EQ(at(conv, "conv_1x1"), at(none, "conv_1x1"));
  // Three chained convs per cell (0->1->2->3) make the conv cell deeper by 45 at least.
  EXPECT_GE(at(conv, "depth") - at(none, "depth"), 45);
  EXPECT_GT(at(conv, "log10_params"), at(none, "log10_params"));
  EXPECT_EQ(at(conv, "constant_output"), 0.0);
  EXPECT_EQ(at(none, "constant_output"), 1.0);
}

TEST(CheapFeatures, LiveCountsLeaveOutWhatNeverReachesTheOutput) {
  const Task task = task_by_name("cifar10");
  // Node 2 = conv3x3(node 0) feeds nothing ((2,3) is none): one dead 3x3 conv in each of 15 cells.
  const auto dead = cheap_features(build_nb201_graph(
      parse_nb201_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"), task));
  EXPECT_EQ(at(dead, "conv_3x3") - at(dead, "live_conv_3x3_or_larger"), 15);
  EXPECT_EQ(at(dead, "conv_1x1"), at(dead, "live_conv_1x1"));
  EXPECT_LT(at(dead, "live_log10_flops"), at(dead, "log10_flops"));
  EXPECT_EQ(at(dead, "constant_output"), 0.0);
  // Node 3 sums none edges only: every cell outputs zeros, the network a constant.
  const auto constant = cheap_features(build_nb201_graph(
      parse_nb201_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"), task));
  EXPECT_EQ(at(constant, "constant_output"), 1.0);
}

}  // namespace
}  // namespace ghnas
