// fit-heads and predict as a user runs them on a few NAS-Bench-201 cells, and one clear error line
// naming the row and column for each kind of bad labels file.

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "tests/surrogate/reference_fixture.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

using test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return test::run_command("OMP_WAIT_POLICY=passive " + std::string(GHNAS_BINARY) + " " + args);
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + std::to_string(getpid()) + "_heads_" + name;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The fixture GHN imported through the CLI; `weights_link` imports it through another path, which
// the checkpoint records, so the file (and its hash) differs while the weights are the same.
std::string import_fixture(const std::string& name, bool via_link) {
  const std::string out = temp_path(name);
  std::string weights = test::fixture_weights();
  if (via_link) {
    const std::string link = temp_path("weights_link.f32");
    std::remove(link.c_str());
    EXPECT_EQ(symlink(weights.c_str(), link.c_str()), 0);
    weights = link;
  }
  const CmdResult r = run_ghnas("import-ghn2 --weights " + weights + " --meta " + test::fixture_meta() + " --out " + out);
  EXPECT_EQ(r.code, 0) << r.err;
  return out;
}

const std::string& checkpoint() {
  static const std::string path = import_fixture("fixture.ckpt", false);
  return path;
}

// The header and the first `rows` cells of NAS-Bench-201's train.csv.
std::vector<std::string> nb201_lines(std::size_t rows) {
  std::ifstream in(test::shared_dir() + "/nasbench201/train.csv");
  std::vector<std::string> lines;
  std::string line;
  while (lines.size() < rows + 1 && std::getline(in, line)) lines.push_back(line);
  EXPECT_EQ(lines.size(), rows + 1);
  return lines;
}

// Field `column` of a CSV line without quotes.
std::string csv_field(const std::string& line, std::size_t column) {
  std::stringstream in(line);
  std::string cell;
  for (std::size_t i = 0; i <= column; ++i) std::getline(in, cell, ',');
  return cell;
}

std::string write_lines(const std::string& name, const std::vector<std::string>& lines) {
  const std::string path = temp_path(name);
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
  return path;
}

std::string fit_args(const std::string& labels, const std::string& targets, const std::string& out) {
  return "fit-heads --checkpoint " + checkpoint() + " --space nasbench201 --task cifar10 --labels " + labels +
         " --arch-column arch_str --targets " + targets + " --out " + out + " --threads 2";
}

TEST(HeadsCli, FitThenPredictEveryTargetForEveryArchitecture) {
  const auto lines = nb201_lines(24);
  const std::string labels = write_lines("labels.csv", lines);
  const std::string heads = temp_path("heads.json");
  CmdResult r = run_ghnas(fit_args(labels, "c10_test_nats,lat_pixel3_ms", heads) + " --folds 3 --features embedding");
  ASSERT_EQ(r.code, 0) << r.err;

  // Five cells of the training set, as an arch file.
  std::vector<std::string> archs;
  for (std::size_t i = 1; i <= 5; ++i) archs.push_back(csv_field(lines[i], 1));
  const std::string arch_file = write_lines("archs.txt", archs);
  const std::string predict = "predict --checkpoint " + checkpoint() + " --heads " + heads +
                              " --space nasbench201 --task cifar10 --archs " + arch_file + " --threads 2";
  r = run_ghnas(predict);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto out = json_lines(r.out);
  ASSERT_EQ(out.size(), 5u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].at("index"), i);
    const double acc = out[i].at("c10_test_nats").get<double>(), lat = out[i].at("lat_pixel3_ms").get<double>();
    // Heads predict in the labels' units: accuracies in percent, latencies in ms.
    EXPECT_TRUE(acc > 0 && acc < 100) << acc;
    EXPECT_TRUE(lat > 0 && lat < 100) << lat;
  }
  // Reproducible: the same heads and checkpoint give the same numbers.
  EXPECT_EQ(run_ghnas(predict).out, r.out);

  // Another checkpoint file: refused, naming it.
  const std::string other = import_fixture("other.ckpt", true);
  r = run_ghnas("predict --checkpoint " + other + " --heads " + heads + " --space nasbench201 --task cifar10 --archs " +
                arch_file);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("other.ckpt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fit-heads"), std::string::npos) << r.err;
  // Another task: refused too.
  r = run_ghnas("predict --checkpoint " + checkpoint() + " --heads " + heads +
                " --space nasbench201 --task fashion-mnist --archs " + arch_file);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("fashion-mnist"), std::string::npos) << r.err;
  for (const auto& f : {labels, heads, arch_file, other}) std::remove(f.c_str());
}

TEST(HeadsCli, PlainEncodingFeaturesAreRecordedAndPredictReproducesThem) {
  const auto lines = nb201_lines(24);
  const std::string labels = write_lines("plain_labels.csv", lines);
  const std::string heads = temp_path("plain_heads.json");
  CmdResult r = run_ghnas(fit_args(labels, "c10_test_nats,lat_pixel3_ms", heads) + " --folds 3 --features embedding+plain");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("features embedding+plain"), std::string::npos) << r.err;
  nlohmann::json file;
  std::ifstream(heads) >> file;
  ASSERT_EQ(file.at("heads").size(), 2u);
  for (const auto& h : file.at("heads")) {
    EXPECT_EQ(h.at("features"), "embedding+plain");
    // The fixture's 32-dimensional embedding and 6 edges x 5 ops.
    EXPECT_EQ(h.at("model").at("x_mean").size(), 32u + 30u);
  }

  std::vector<std::string> archs;
  for (std::size_t i = 1; i <= 5; ++i) archs.push_back(csv_field(lines[i], 1));
  const std::string arch_file = write_lines("plain_archs.txt", archs);
  const std::string predict = "predict --checkpoint " + checkpoint() + " --heads " + heads +
                              " --space nasbench201 --task cifar10 --archs " + arch_file + " --threads 2";
  r = run_ghnas(predict);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto out = json_lines(r.out);
  ASSERT_EQ(out.size(), 5u);
  for (const auto& line : out) {
    const double acc = line.at("c10_test_nats").get<double>(), lat = line.at("lat_pixel3_ms").get<double>();
    EXPECT_TRUE(acc > 0 && acc < 100) << acc;
    EXPECT_TRUE(lat > 0 && lat < 100) << lat;
  }

  // Reproducible from the file alone.
  EXPECT_EQ(run_ghnas(predict).out, r.out);

  // auto considers the plain encoding too and records what it chose.
  r = run_ghnas(fit_args(labels, "c10_test_nats", heads) + " --folds 3 --features auto");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream(heads) >> file;
  const std::string chosen = file.at("heads").at(0).at("features");
  EXPECT_TRUE(chosen == "embedding" || chosen == "embedding+cheap" || chosen == "embedding+plain") << chosen;

  // An unknown feature set is refused before anything runs.
  r = run_ghnas(fit_args(labels, "c10_test_nats", heads) + " --features embedding+onehot");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("embedding+onehot"), std::string::npos) << r.err;
  for (const auto& f : {labels, heads, arch_file}) std::remove(f.c_str());
}

// Runs fit-heads on `lines` and returns its error output (the command must fail).
std::string fit_error(const std::vector<std::string>& lines, const std::string& targets, const std::string& extra = "") {
  const std::string labels = write_lines("bad.csv", lines);
  const std::string heads = temp_path("bad_heads.json");
  const CmdResult r = run_ghnas(fit_args(labels, targets, heads) + " " + extra);
  std::remove(labels.c_str());
  EXPECT_NE(r.code, 0) << "fit-heads accepted bad labels";
  EXPECT_FALSE(std::ifstream(heads).good()) << "a heads file was written";
  return r.err;
}

// Replaces field `column` of CSV line `line`.
std::string with_field(const std::string& line, std::size_t column, const std::string& value) {
  std::vector<std::string> f;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) f.push_back(cell);
  f[column] = value;
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + f[i];
  return out;
}

TEST(HeadsCli, MissingColumnIsNamed) {
  const std::string err = fit_error(nb201_lines(10), "c10_test_nats,no_such_column");
  EXPECT_NE(err.find("no column 'no_such_column'"), std::string::npos) << err;
}

TEST(HeadsCli, NonNumericValueNamesLineAndColumn) {
  auto lines = nb201_lines(10);
  lines[3] = with_field(lines[3], 3, "abc");  // c10_test_nats of the third cell, file line 4
  const std::string err = fit_error(lines, "c10_test_nats");
  EXPECT_NE(err.find("line 4, column 'c10_test_nats'"), std::string::npos) << err;
  EXPECT_NE(err.find("'abc' is not a number"), std::string::npos) << err;
  lines[3] = with_field(lines[3], 3, "");
  EXPECT_NE(fit_error(lines, "c10_test_nats").find("line 4, column 'c10_test_nats': missing value"), std::string::npos);
}

TEST(HeadsCli, UnparsableArchitectureNamesLineAndColumn) {
  auto lines = nb201_lines(10);
  lines[2] = with_field(lines[2], 1, "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|");
  const std::string err = fit_error(lines, "c10_test_nats");
  EXPECT_NE(err.find("line 3, column 'arch_str'"), std::string::npos) << err;
  EXPECT_NE(err.find("conv_9x9"), std::string::npos) << err;
}

TEST(HeadsCli, FewerRowsThanFoldsIsAnError) {
  const std::string err = fit_error(nb201_lines(3), "c10_test_nats", "--folds 5");
  EXPECT_NE(err.find("3 rows"), std::string::npos) << err;
  EXPECT_NE(err.find("fewer than --folds 5"), std::string::npos) << err;
}

TEST(HeadsCli, JsonLinesLabelsBuildArchitecturesFromKeys) {
  // A JSON-lines labels file whose architecture is one key, with a null target skipped on request.
  const auto lines = nb201_lines(12);
  std::vector<std::string> jsonl;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string arch = csv_field(lines[i], 1);
    nlohmann::json row = {{"arch", arch}, {"acc", i == 5 ? nlohmann::json(nullptr) : nlohmann::json(80.0 + i)}};
    jsonl.push_back(row.dump());
  }
  const std::string labels = write_lines("labels.jsonl", jsonl);
  const std::string heads = temp_path("jsonl_heads.json");
  const std::string args = "fit-heads --checkpoint " + checkpoint() + " --space nasbench201 --task cifar10 --labels " +
                           labels + " --arch-column arch --targets acc --out " + heads + " --folds 3";
  CmdResult r = run_ghnas(args);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("line 5, column 'acc': 'null' is not a number"), std::string::npos) << r.err;
  r = run_ghnas(args + " --skip-missing");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("acc: 11 rows"), std::string::npos) << r.err;  // 12 cells, one null
  std::remove(labels.c_str());
  std::remove(heads.c_str());
}

TEST(HeadsCli, EvalHeadsRanksByCachedGhnAccuracy) {
  // eval-heads with the GHN-2 paper's ranker: predicted-parameter accuracy, computed once into a
  // cache keyed by checkpoint, then read back without recomputing.
  const std::string labels = write_lines("eval_labels.csv", nb201_lines(12));
  const std::string cache = temp_path("ghn_accuracy.jsonl");
  std::remove(cache.c_str());
  const auto args = [&](const std::string& ck) {
    return "eval-heads --checkpoint " + ck + " --space nasbench201 --task cifar10 --labels " + labels +
           " --arch-column arch_str --targets c10_test_nats --folds 3 --inner-folds 2 --threads 2 --ghn-accuracy " +
           cache;
  };
  CmdResult r = run_ghnas(args(checkpoint()) + " --ghn-accuracy-images 64");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("GHN accuracy: computing 12 architectures"), std::string::npos) << r.err;
  const auto row = [](const std::string& out) {
    const auto at = out.find("| GHN predicted-parameter accuracy |");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  const std::string first = row(r.out);
  EXPECT_FALSE(first.empty()) << r.out;
  std::ifstream in(cache);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto entries = json_lines(text);
  ASSERT_EQ(entries.size(), 12u);
  for (const auto& e : entries) {
    EXPECT_EQ(e.at("images"), 64);
    ASSERT_TRUE(e.at("acc").is_number()) << e.dump();
    EXPECT_GE(e.at("acc").get<double>(), 0.0);
    EXPECT_LE(e.at("acc").get<double>(), 100.0);
  }

  // Read back: nothing recomputed, the same row.
  r = run_ghnas(args(checkpoint()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("computing"), std::string::npos) << r.err;
  EXPECT_EQ(row(r.out), first);

  // Entries of another checkpoint are not this GHN's scores.
  const std::string other = import_fixture("other_for_accuracy.ckpt", true);
  r = run_ghnas(args(other));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("lacks 12 of 12"), std::string::npos) << r.err;
  for (const auto& p : {labels, cache, other}) std::remove(p.c_str());
}

}  // namespace
}  // namespace ghnas
