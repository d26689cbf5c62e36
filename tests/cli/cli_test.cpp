// Runs the ghnas executable as a user does and checks exit codes, messages and output fields.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "tests/test_util.hpp"

namespace {

using ghnas::test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return ghnas::test::run_command(std::string(GHNAS_BINARY) + " " + args);
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + std::to_string(getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

const std::string kShared = ghnas::test::shared_dir();

TEST(Cli, HelpListsTheCommands) {
  const CmdResult r = run_ghnas("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* cmd : {"spaces", "sample", "describe", "graph"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  for (const char* cmd : {"spaces", "sample", "describe", "graph"})
    EXPECT_EQ(run_ghnas(std::string(cmd) + " --help").code, 0) << cmd;
}

TEST(Cli, DescribeDeepNetsPrintsTheContractFields) {
  const CmdResult r = run_ghnas("describe --space deepnets1m --task cifar10 --archs " + kShared +
                    "/deepnets1m/bnfree.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 100u);
  const auto shared = nlohmann::json::parse(std::ifstream(kShared + "/deepnets1m/bnfree.json"));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_EQ(lines[i]["params"], shared[i]["params_cifar10"]);
    EXPECT_EQ(lines[i]["nodes"], shared[i]["ghn_graph_nodes"]);
    for (const char* f : {"flops", "edges", "virtual_edges"}) EXPECT_TRUE(lines[i].contains(f));
  }
}

TEST(Cli, DescribeNasBench201) {
  const std::string file = write_temp(
      "nb201.txt",
      "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|\n"
      "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\n");
  const CmdResult r = run_ghnas("describe --space nasbench201 --task cifar10 --archs " + file);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["params"], 129306);  // params_M 0.129306 in ../shared/nasbench201
}

TEST(Cli, DescribeAndGraphTakeSpaceOptions) {
  const std::string archs = " --archs " + kShared + "/deepnets1m/test.json";
  // A valid option is accepted (deepnets1m's width shapes sampling, not a file's networks).
  CmdResult r = run_ghnas("describe --space deepnets1m --space-option width=8" + archs);
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_ghnas("graph --space deepnets1m --index 3 --space-option variant=wide" + archs);
  EXPECT_EQ(r.code, 0) << r.err;
  // An unknown one, and one without a value, are one error line each, naming it.
  r = run_ghnas("describe --space deepnets1m --space-option bogus=1" + archs);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("unknown option 'bogus'"), std::string::npos) << r.err;
  r = run_ghnas("graph --space deepnets1m --space-option width" + archs);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("NAME=VALUE, got 'width'"), std::string::npos) << r.err;
}

TEST(Cli, SampleWritesReadableArchitectures) {
  const std::string out = ::testing::TempDir() + std::to_string(getpid()) + "_sampled.json";
  CmdResult r = run_ghnas("sample --space deepnets1m --n 5 --seed 3 --variant deep --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_ghnas("describe --space deepnets1m --archs " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 5u);
  // Same seed, same architectures.
  EXPECT_EQ(run_ghnas("sample --space nasbench201 --n 4 --seed 9").out,
            run_ghnas("sample --space nasbench201 --n 4 --seed 9").out);
}

TEST(Cli, GraphShowsOneNetwork) {
  const std::string archs = kShared + "/deepnets1m/test.json";
  CmdResult r = run_ghnas("graph --space deepnets1m --archs " + archs + " --index 1 --format json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto g = nlohmann::json::parse(r.out);
  EXPECT_EQ(g["n_nodes"], 88);
  r = run_ghnas("graph --space deepnets1m --archs " + archs + " --index 1 --format dot --view arch");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph", 0), 0u);
}

TEST(Cli, BadInputFailsWithOneClearLine) {
  struct Case {
    std::string args;
    std::string expect;
  };
  const std::string bad_json = write_temp("bad.json", "[{\"genotype\": ");
  const std::string bad_op = write_temp(
      "bad_op.json",
      R"([{"genotype": {"normal": [["conv_9x9", 0], ["skip_connect", 1]], "normal_concat": [2],
            "reduce": [["max_pool_3x3", 0], ["avg_pool_3x3", 1]], "reduce_concat": [2]},
           "net_args": {"n_cells": 4, "C_mult": 1, "preproc": true}}])");
  const std::string bad_index = write_temp(
      "bad_index.json",
      R"([{"genotype": {"normal": [["conv_3x3", 5], ["skip_connect", 1]], "normal_concat": [2],
            "reduce": [["max_pool_3x3", 0], ["avg_pool_3x3", 1]], "reduce_concat": [2]},
           "net_args": {"n_cells": 4}}])");
  const std::string no_path = write_temp(
      "no_path.json",
      R"([{"genotype": {"normal": [["none", 0], ["none", 1]], "normal_concat": [2],
            "reduce": [["none", 0], ["none", 1]], "reduce_concat": [2]},
           "net_args": {"n_cells": 4, "C_mult": 1, "preproc": true}}])");
  const std::string bad_nb = write_temp("bad_nb.txt", "|nor_conv_3x3~0|+|none~0|\n");
  const std::vector<Case> cases = {
      {"describe --space deepnets1m --archs " + bad_json, "not valid JSON"},
      {"describe --space deepnets1m --archs " + bad_op, "unknown op 'conv_9x9'"},
      {"describe --space deepnets1m --archs " + bad_index, "out of range"},
      {"describe --space deepnets1m --archs " + no_path, "no path from the input to the output"},
      {"describe --space nasbench201 --archs " + bad_nb, "bad_nb.txt"},
      {"describe --space deepnets1m --archs /no/such/file.json", "cannot open '/no/such/file.json'"},
      {"describe --space nope --archs x", "valid spaces: deepnets1m, nasbench201"},
      {"describe --space deepnets1m --task mnist --archs x", "valid tasks"},
      {"sample --space deepnets1m --n 2 --variant huge", "must be one of"},
  };
  for (const auto& c : cases) {
    const CmdResult r = run_ghnas(c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_TRUE(r.out.empty()) << c.args << " printed: " << r.out;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " said: " << r.err;
  }
}

}  // namespace
