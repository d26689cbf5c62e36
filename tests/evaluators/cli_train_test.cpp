// `ghnas train` as a user runs it: the JSON line of the public contract and clear errors.

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/test_util.hpp"

namespace {

using ghnas::test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return ghnas::test::run_command(std::string(GHNAS_BINARY) + " " + args);
}

const std::string kTestNets = ghnas::test::shared_dir() + "/deepnets1m/test.json";
const bool kHaveFashion = std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");

TEST(CliTrain, PrintsOneJsonLineWithTheContractFields) {
  if (!kHaveFashion) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  // test[36] is the smallest net of test.json (4 cells, 21,930 parameters on CIFAR-10).
  const CmdResult r = run_ghnas("train --space deepnets1m --task fashion-mnist --archs " + kTestNets +
                                " --index 36 --epochs 1 --batch-size 32 --train-size 320 "
                                "--test-size 200 --val-size 100 --seed 3");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line, extra;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_FALSE(std::getline(lines, extra)) << "more than one line: " << extra;
  const nlohmann::json j = nlohmann::json::parse(line);
  for (const char* f : {"clean_acc", "noisy_acc", "latency_ms", "convergence", "train_seconds"})
    EXPECT_TRUE(j[f].is_number()) << f << " in " << line;
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["index"], 36);
  EXPECT_EQ(j["steps"], 10);
  EXPECT_DOUBLE_EQ(j["noise_sigma"].get<double>(), 0.2);
  EXPECT_GE(j["clean_acc"].get<double>(), 0.0);
  EXPECT_LE(j["clean_acc"].get<double>(), 100.0);
  // params and flops are the Fashion-MNIST network's, as describe reports them.
  const CmdResult d = run_ghnas("describe --space deepnets1m --task fashion-mnist --archs " + kTestNets);
  ASSERT_EQ(d.code, 0) << d.err;
  std::istringstream described(d.out);
  for (int i = 0; i <= 36; ++i) std::getline(described, line);
  const nlohmann::json desc = nlohmann::json::parse(line);
  EXPECT_EQ(j["params"], desc["params"]);
  EXPECT_EQ(j["flops"], desc["flops"]);
}

TEST(CliTrain, BadDatasetPathIsOneClearError) {
  const CmdResult r = run_ghnas("train --space deepnets1m --task fashion-mnist --archs " + kTestNets +
                                " --index 0 --data /nonexistent/fmnist");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.rfind("ghnas: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/fmnist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dataset-fashion-mnist"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  const CmdResult c = run_ghnas("train --space deepnets1m --task cifar10 --archs " + kTestNets + " --index 0");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.err.find("--data"), std::string::npos) << c.err;
}

TEST(CliTrain, IndexOutOfRangeNamesTheFile) {
  const CmdResult r = run_ghnas("train --space deepnets1m --archs " + kTestNets + " --index 500");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--index 500 is out of range"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("500 architectures"), std::string::npos) << r.err;
}

}  // namespace

namespace {

TEST(CliProxies, PrintsOneJsonLinePerArchitecture) {
  if (!kHaveFashion) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const std::string archs = ::testing::TempDir() + std::to_string(getpid()) + "_proxy_cells.txt";
  std::ofstream(archs) << "# two cells\n"
                       << "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|\n"
                       << "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\n";
  const CmdResult r = run_ghnas("proxies --space nasbench201 --task fashion-mnist --archs " + archs + " --batch-size 16");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["index"], n);
    for (const char* f : {"params", "flops", "synflow", "naswot", "snip", "grad_norm", "jacov"})
      EXPECT_TRUE(j[f].is_number()) << f << " in " << line;
    ++n;
  }
  EXPECT_EQ(n, 2);
}

}  // namespace

namespace {

TEST(CliGroundTruth, PrintsOneLinePerArchitectureOfTheRange) {
  if (!kHaveFashion) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const CmdResult r = run_ghnas("ground-truth --space deepnets1m --task fashion-mnist --archs " + kTestNets +
                                " --from 36 --to 38 --batch-size 32 --train-size 64 --test-size 100 "
                                "--val-size 100");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0]["index"], 36);
  EXPECT_EQ(rows[1]["index"], 37);
  for (const auto& row : rows) {
    EXPECT_EQ(row["status"], "ok");
    EXPECT_EQ(row["steps"], 2);
  }
  const CmdResult bad = run_ghnas("ground-truth --space deepnets1m --archs " + kTestNets + " --from 499 --to 501");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("500 architectures"), std::string::npos) << bad.err;
}

}  // namespace
