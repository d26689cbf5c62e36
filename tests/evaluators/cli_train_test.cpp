// `ghnas train` as a user runs it: the JSON line of the public contract and clear errors.

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

TEST(CliLatency, TimesARangeAndAgreesWithDescribe) {
  // test[36] and test[37]: latency needs no data, only the networks.
  const CmdResult r = run_ghnas("latency --space deepnets1m --task fashion-mnist --archs " + kTestNets +
                                " --from 36 --to 38 --runs 3 --warmup 1 --batch 8");
  ASSERT_EQ(r.code, 0) << r.err;
  const CmdResult d = run_ghnas("describe --space deepnets1m --task fashion-mnist --archs " + kTestNets);
  ASSERT_EQ(d.code, 0) << d.err;
  std::vector<nlohmann::json> described;
  std::istringstream dl(d.out);
  for (std::string line; std::getline(dl, line);) described.push_back(nlohmann::json::parse(line));
  std::istringstream lines(r.out);
  std::string line;
  int index = 36;
  std::set<std::string> hashes;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["index"], index) << line;
    EXPECT_GT(j["latency_ms"].get<double>(), 0.0) << line;
    EXPECT_EQ(j["params"], described.at(index)["params"]) << line;
    EXPECT_EQ(j["flops"], described.at(index)["flops"]) << line;
    hashes.insert(j["hash"].get<std::string>());
    ++index;
  }
  EXPECT_EQ(index, 38);
  EXPECT_EQ(hashes.size(), 2u);

  const CmdResult bad = run_ghnas("latency --space deepnets1m --archs " + kTestNets + " --from 499 --to 501");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(bad.out.empty()) << bad.out;
  EXPECT_NE(bad.err.find("500 architectures"), std::string::npos) << bad.err;
}

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

// ground-truth stores into a results database; a build without the storage module has no
// such command.
bool have_ground_truth() { return run_ghnas("ground-truth --help").code == 0; }

struct GroundTruthFiles {
  std::string db, jsonl;
  GroundTruthFiles(const std::string& name) {
    const std::string base = (std::filesystem::temp_directory_path() /
                              (name + "_" + std::to_string(::getpid()))).string();
    db = base + ".db";
    jsonl = base + ".jsonl";
    clean();
  }
  ~GroundTruthFiles() { clean(); }
  void clean() const {
    for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(db + suffix);
    std::filesystem::remove(jsonl);
  }
  std::vector<nlohmann::json> lines() const {
    std::ifstream in(jsonl);
    std::vector<nlohmann::json> rows;
    for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
    return rows;
  }
  // Number of stored clean_acc measurements (one per measured architecture).
  int measured() const {
    const CmdResult r = run_ghnas("query sql --format csv --db " + db +
                                  " \"SELECT count(*) AS n FROM evaluations WHERE metric = 'clean_acc'\"");
    EXPECT_EQ(r.code, 0) << r.err;
    return std::stoi(r.out.substr(r.out.find('\n') + 1));
  }
};

// Tiny settings: 2 SGD steps and 100 test images per network.
std::string ground_truth_args(const GroundTruthFiles& f, int to) {
  return "ground-truth --space deepnets1m --task fashion-mnist --archs " + kTestNets + " --from 36 --to " +
         std::to_string(to) + " --batch-size 32 --train-size 64 --test-size 100 --val-size 0 --threads 1" +
         " --db " + f.db + " --jsonl " + f.jsonl;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::istringstream lines(text);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(CliGroundTruth, StoresEachMeasurementAndResumesWithoutRepeats) {
  if (!kHaveFashion) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!have_ground_truth()) GTEST_SKIP() << "built without the storage module";
  GroundTruthFiles f("ghnas_gt_resume");
  const CmdResult first = run_ghnas(ground_truth_args(f, 38));
  ASSERT_EQ(first.code, 0) << first.err;
  const auto rows = json_lines(first.out);
  ASSERT_EQ(rows.size(), 2u) << first.out;
  EXPECT_EQ(rows[0]["index"], 36);
  EXPECT_EQ(rows[1]["index"], 37);
  for (const auto& row : rows) {
    EXPECT_EQ(row["status"], "ok");
    EXPECT_EQ(row["steps"], 2);
  }
  // A longer range of the same file continues the same run: only index 38 is new.
  const CmdResult second = run_ghnas(ground_truth_args(f, 39));
  ASSERT_EQ(second.code, 0) << second.err;
  const auto more = json_lines(second.out);
  ASSERT_EQ(more.size(), 1u) << second.out;
  EXPECT_EQ(more[0]["index"], 38);
  EXPECT_NE(second.err.find("2 of 3 architectures already measured"), std::string::npos) << second.err;
  EXPECT_EQ(f.measured(), 3);
  // The JSON lines file holds every measured network with its spec, in input order.
  const auto file = f.lines();
  ASSERT_EQ(file.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(file[i]["index"], 36 + i);
    EXPECT_TRUE(file[i].contains("genotype") && file[i].contains("net_args"));
    for (const char* k : {"clean_acc", "noisy_acc", "latency_ms", "convergence", "params", "flops"})
      EXPECT_TRUE(file[i][k].is_number()) << k << " in " << file[i].dump();
  }
  EXPECT_EQ(file[0]["clean_acc"], rows[0]["clean_acc"]);
}

TEST(CliGroundTruth, KilledRunResumesWithNothingLostOrRepeated) {
  if (!kHaveFashion) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!have_ground_truth()) GTEST_SKIP() << "built without the storage module";
  GroundTruthFiles f("ghnas_gt_kill");
  // SIGKILL as soon as the first measurement is on disk (the JSON lines file appears after it
  // is committed), while the next network trains.
  const std::string cmd = std::string(GHNAS_BINARY) + " " + ground_truth_args(f, 41) +
                          " > /dev/null 2>&1 & p=$!; while [ ! -s " + f.jsonl +
                          " ] && kill -0 $p 2>/dev/null; do sleep 0.02; done; kill -9 $p; wait $p";
  ghnas::test::run_command("sh -c '" + cmd + "'");
  const int before = f.measured();
  ASSERT_GE(before, 1);
  const CmdResult rerun = run_ghnas(ground_truth_args(f, 41));
  ASSERT_EQ(rerun.code, 0) << rerun.err;
  EXPECT_EQ(static_cast<int>(json_lines(rerun.out).size()), 5 - before);
  EXPECT_EQ(f.measured(), 5);
  const auto file = f.lines();
  ASSERT_EQ(file.size(), 5u);
  std::set<std::string> hashes;
  for (const auto& row : file) hashes.insert(row["hash"].get<std::string>());
  EXPECT_EQ(hashes.size(), 5u);
}

TEST(CliGroundTruth, BadRangeAndMissingSourceAreClearErrors) {
  if (!have_ground_truth()) GTEST_SKIP() << "built without the storage module";
  const CmdResult bad = run_ghnas("ground-truth --space deepnets1m --archs " + kTestNets + " --from 499 --to 501");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("500 architectures"), std::string::npos) << bad.err;
  const CmdResult none = run_ghnas("ground-truth --space deepnets1m");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("--archs FILE or --sample N"), std::string::npos) << none.err;
}

}  // namespace
