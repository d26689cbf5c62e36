// The surrogate commands run as a user runs them: import-ghn2, embed and predict-params, their
// output fields, and one clear error line for bad input.

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "tests/surrogate/reference_fixture.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

using test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return test::run_command(std::string(GHNAS_BINARY) + " " + args);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The fixture imported once through the CLI.
const std::string& checkpoint() {
  static const std::string path = [] {
    const std::string p = ::testing::TempDir() + std::to_string(getpid()) + "_ghnas_cli_fixture.ckpt";
    const CmdResult r = run_ghnas("import-ghn2 --weights " + test::fixture_weights() + " --meta " +
                                  test::fixture_meta() + " --out " + p);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("1620764 weights"), std::string::npos) << r.err;
    return p;
  }();
  return path;
}

const std::string kTestArchs = test::shared_dir() + "/deepnets1m/test.json";

TEST(SurrogateCli, EmbedPrintsTheReferenceEmbeddings) {
  const CmdResult r = run_ghnas("embed --checkpoint " + checkpoint() + " --space deepnets1m --task cifar10 --archs " +
                                kTestArchs + " --batch 50 --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 500u);
  const auto& nets = test::fixture_nets();
  for (std::size_t i = 0; i < 40; ++i) {  // the fixture's first 40 are test.json's first 40
    ASSERT_EQ(lines[i].at("index"), i);
    const auto got = lines[i].at("embedding").get<std::vector<double>>();
    const auto want = nets[i].expected.at("graph_embedding").get<std::vector<double>>();
    ASSERT_EQ(got.size(), 32u);
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(got[j], want[j], 1e-5) << i;
  }
}

TEST(SurrogateCli, PredictParamsExportsEveryPredictedTensor) {
  const std::string out = ::testing::TempDir() + std::to_string(getpid()) + "_ghnas_net0.json";
  const CmdResult r = run_ghnas("predict-params --checkpoint " + checkpoint() + " --space deepnets1m --archs " +
                                kTestArchs + " --index 0 --export " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  const auto index = nlohmann::json::parse(std::ifstream(out));
  EXPECT_EQ(index.at("format"), "ghnas-predicted-params");
  EXPECT_EQ(index.at("data_file"), std::to_string(getpid()) + "_ghnas_net0.f32");
  std::ifstream blob(::testing::TempDir() + std::to_string(getpid()) + "_ghnas_net0.f32", std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(blob), {});
  ASSERT_EQ(bytes.size(), 4 * index.at("n_params").get<std::size_t>());
  const auto* data = reinterpret_cast<const float*>(bytes.data());
  // Matched by name: the export follows ArchGraph::all_params(), which lists an attention block's
  // ln1 before to_qkv where the reference module lists it after.
  std::map<std::string, nlohmann::json> want;
  for (const auto& w : test::fixture_nets()[0].expected.at("params")) want[w.at("name")] = w;
  ASSERT_EQ(index.at("tensors").size(), want.size());
  std::size_t offset = 0;
  for (const auto& t : index.at("tensors")) {
    ASSERT_EQ(want.count(t.at("name")), 1u) << t.at("name");
    const auto& w = want.at(t.at("name"));
    EXPECT_EQ(t.at("shape"), w.at("shape"));
    ASSERT_EQ(t.at("offset").get<std::size_t>(), offset);
    double sum = 0;
    for (std::size_t e = 0; e < t.at("numel").get<std::size_t>(); ++e) sum += data[offset + e];
    const double want_sum = w.at("sum").get<double>();
    EXPECT_NEAR(sum, want_sum, 1e-4 * std::abs(want_sum) + 1e-5) << t.at("name");
    offset += t.at("numel").get<std::size_t>();
  }
  EXPECT_TRUE(index.at("unpredicted").empty());
}

TEST(SurrogateCli, AverageGhnWritesACheckpointOthersRead) {
  // The mean of a checkpoint with itself is that checkpoint: its embeddings are the reference's.
  const std::string out = ::testing::TempDir() + std::to_string(getpid()) + "_ghnas_mean.ckpt";
  const CmdResult r = run_ghnas("average-ghn " + checkpoint() + " " + checkpoint() + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("the mean of 2 GHN checkpoints"), std::string::npos) << r.err;
  const CmdResult e = run_ghnas("embed --checkpoint " + out + " --space deepnets1m --task cifar10 --archs " +
                                kTestArchs + " --batch 50 --threads 2");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto lines = json_lines(e.out);
  ASSERT_EQ(lines.size(), 500u);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto got = lines[i].at("embedding").get<std::vector<double>>();
    const auto want = test::fixture_nets()[i].expected.at("graph_embedding").get<std::vector<double>>();
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(got[j], want[j], 1e-5) << i;
  }
  // Its header names what it averaged, and it cannot be resumed as a training run.
  std::ifstream in(out, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(bytes.find("\"averaged_from\""), std::string::npos);
  const CmdResult resume = run_ghnas("train-ghn --space deepnets1m --task fashion-mnist --out " + out + " --resume");
  EXPECT_EQ(resume.code, 1);
  EXPECT_NE(resume.err.find("holds no training state"), std::string::npos) << resume.err;
}

TEST(SurrogateCli, BadInputFailsWithOneClearLine) {
  const std::string tmp = ::testing::TempDir() + std::to_string(getpid()) + "_";
  const std::string truncated = tmp + "ghnas_truncated.ckpt";
  {
    std::ifstream in(checkpoint(), std::ios::binary);
    const std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::string embed = " --space deepnets1m --archs " + kTestArchs;
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"embed --checkpoint " + tmp + "ghnas_missing.ckpt" + embed, "cannot open"},
      {"embed --checkpoint " + test::fixture_meta() + embed, "not a valid ghnas GHN checkpoint"},
      {"embed --checkpoint " + truncated + embed, "truncated"},
      {"embed --checkpoint " + checkpoint() + " --space nosuch --archs " + kTestArchs, "unknown search space"},
      {"embed --checkpoint " + checkpoint() + embed + " --device tpu", "--device"},
      {"predict-params --checkpoint " + checkpoint() + embed + " --index 500 --export " + tmp + "x.json",
       "out of range"},
      {"average-ghn " + checkpoint() + " " + truncated + " --out " + tmp + "z.ckpt", "truncated"},
      {"import-ghn2 --weights " + test::fixture_meta() + " --meta " + test::fixture_meta() + " --out " + tmp + "y.ckpt",
       "not a whole number of float32"},
  };
  for (const auto& c : cases) {
    const CmdResult r = run_ghnas(c.args);
    EXPECT_EQ(r.code, 1) << c.args;
    EXPECT_TRUE(r.out.empty()) << c.args;
    EXPECT_EQ(r.err.rfind("ghnas: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << " -> " << r.err;
  }
}

}  // namespace
}  // namespace ghnas
