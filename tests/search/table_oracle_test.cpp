// The tabular oracle (charging, unknowns, file errors), the table-restricted space, and whole
// searches on NAS-Bench-201's train.csv as `ghnas search` will run them.

#include "search/table_oracle.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "core/error.hpp"
#include "search/oracle_search.hpp"
#include "search/pareto.hpp"
#include "space/nasbench201.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

const std::string kTrainCsv = test::shared_dir() + "/nasbench201/train.csv";

// Two spellings of one cell class (the benchmark's unique_str agrees) and a third cell.
const std::string kIsoA = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|";
const std::string kIsoB = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|";
const std::string kResNet =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
const std::string kAllConv =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~"
    "2|";

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

Candidate candidate(const SearchSpace& space, const std::string& arch_str, std::size_t id = 0) {
  Candidate c;
  c.id = id;
  c.arch = {"nasbench201", arch_str};
  c.hash = space.canonical_hash(c.arch);
  return c;
}

int hamming(const Architecture& a, const Architecture& b) {
  const auto x = parse_nb201_arch(a.spec.get<std::string>());
  const auto y = parse_nb201_arch(b.spec.get<std::string>());
  int d = 0;
  for (int k = 0; k < kNb201NumEdges; ++k) d += x.ops[k] != y.ops[k];
  return d;
}

TEST(TableOracle, ParsesOracleSpecs) {
  auto s = parse_table_oracle_spec("table:/data/nb201/train.csv:c10_test_nats");
  EXPECT_EQ(s.path, "/data/nb201/train.csv");
  EXPECT_EQ(s.columns, (std::vector<std::string>{"c10_test_nats"}));
  s = parse_table_oracle_spec("table:C:/tables/t.csv:acc,params_M");
  EXPECT_EQ(s.path, "C:/tables/t.csv");
  EXPECT_EQ(s.columns, (std::vector<std::string>{"acc", "params_M"}));
  for (const char* bad : {"table:train.csv", "csv:train.csv:acc", "table::acc",
                          "table:t.csv:", "table:t.csv:acc,,lat", "table:t.csv:acc,acc"})
    EXPECT_THROW(parse_table_oracle_spec(bad), ConfigError) << bad;
}

TEST(TableOracle, ChargesIsomorphicCellsOnceAndMissesNothing) {
  NasBench201Space space;
  ASSERT_EQ(space.canonical_hash({"nasbench201", kIsoA}),
            space.canonical_hash({"nasbench201", kIsoB}));
  const std::string csv = write_temp("iso.csv", "index,arch_str,acc\n0," + kIsoA + ",90\n1," +
                                                    kIsoB + ",92\n2," + kResNet + ",80\n");
  TabularOracle oracle(space, csv, {"acc"});
  EXPECT_EQ(oracle.num_rows(), 3u);
  EXPECT_EQ(oracle.num_classes(), 2u);

  auto r = oracle.evaluate({candidate(space, kIsoB)});
  ASSERT_EQ(r[0].status, CandidateStatus::kOk);
  EXPECT_TRUE(r[0].charged);
  EXPECT_DOUBLE_EQ(r[0].metrics.at("acc"), 91.0) << "isomorphic rows are one network: their mean";
  r = oracle.evaluate(
      {candidate(space, kIsoA), candidate(space, kResNet), candidate(space, kIsoB)});
  EXPECT_FALSE(r[0].charged) << "the class was already charged";
  EXPECT_DOUBLE_EQ(r[0].metrics.at("acc"), 91.0);
  EXPECT_TRUE(r[1].charged);
  EXPECT_DOUBLE_EQ(r[1].metrics.at("acc"), 80.0);
  EXPECT_FALSE(r[2].charged);
  EXPECT_EQ(oracle.queries_charged(), 2u);

  r = oracle.evaluate({candidate(space, kAllConv)});
  EXPECT_EQ(r[0].status, CandidateStatus::kUnknown);
  EXPECT_FALSE(r[0].charged);
  EXPECT_NE(r[0].message.find("iso.csv"), std::string::npos);
  EXPECT_EQ(oracle.queries_charged(), 2u);
  EXPECT_EQ(oracle.value(candidate(space, kResNet).hash, "acc"), 80.0);
  EXPECT_FALSE(oracle.value(candidate(space, kAllConv).hash, "acc"));
}

TEST(TableOracle, CanChargeEveryQueryAsNasBench201Does) {
  NasBench201Space space;
  TabularOracle oracle(space, kTrainCsv, {"c10_test_nats"}, /*charge_repeats=*/true);
  const std::string cell =
      "|nor_conv_1x1~0|+|skip_connect~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|";
  const std::string isomorphic =
      "|nor_conv_1x1~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
  const auto r = oracle.evaluate({candidate(space, cell), candidate(space, isomorphic),
                                  candidate(space, cell), candidate(space, kAllConv)});
  EXPECT_TRUE(r[0].charged && r[1].charged && r[2].charged);
  EXPECT_DOUBLE_EQ(r[1].metrics.at("c10_test_nats"), 89.68) << "train.csv's row of the class";
  EXPECT_EQ(r[3].status, CandidateStatus::kUnknown);
  EXPECT_FALSE(r[3].charged);
  EXPECT_EQ(oracle.queries_charged(), 3u);
  EXPECT_EQ(oracle.distinct_queried(), 1u);

  OracleSearchConfig config;
  config.strategy = "evolution";
  config.strategy_options = {{"population", "10"}, {"sample", "3"}};
  config.oracle = "table:" + kTrainCsv + ":c10_test_nats";
  config.queries = 80;
  config.charge_repeats = true;
  config.progress = 0;
  const auto report = run_oracle_search(config);
  EXPECT_EQ(report.summary["queries_used"], 80);
  EXPECT_EQ(report.summary["proposals"], 80) << "no free repeats";
  EXPECT_LT(report.summary["distinct_queried"].get<int>(), 80);
  EXPECT_EQ(report.result.reused, 0);
}

TEST(TableOracle, RowsWithoutAMeasurementAreLeftOut) {
  NasBench201Space space;
  const std::string csv =
      write_temp("gaps.csv", "arch_str,acc,lat\n\"" + kResNet + "\",80,\n" + kAllConv +
                                 ",NaN,2.5\n" + kIsoA + ", 75.5 ,1.0\n");
  TabularOracle acc(space, csv, {"acc"});
  EXPECT_EQ(acc.num_rows(), 2u) << "the quoted field is read, the NaN row dropped";
  TabularOracle both(space, csv, {"acc", "lat"});
  EXPECT_EQ(both.num_rows(), 1u);
  EXPECT_EQ(both.value(candidate(space, kIsoA).hash, "acc"), 75.5);
}

TEST(TableOracle, BadFilesGiveErrorsNamingTheProblem) {
  NasBench201Space space;
  auto message = [&](const std::string& text, const std::vector<std::string>& columns) {
    const std::string path = write_temp("bad.csv", text);
    try {
      TabularOracle oracle(space, path, columns);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THROW(TabularOracle(space, "/nonexistent/t.csv", {"acc"}), FileError);
  EXPECT_NE(message("arch,acc\nx,1\n", {"acc"}).find("arch_str"), std::string::npos);
  const std::string missing =
      message("arch_str,acc,params_M\n" + kResNet + ",1,2\n", {"c10_test_nats"});
  EXPECT_NE(missing.find("c10_test_nats"), std::string::npos);
  EXPECT_NE(missing.find("params_M"), std::string::npos) << "lists the columns it has: " << missing;
  const std::string number =
      message("arch_str,acc\n" + kResNet + ",93.1\n" + kIsoA + ",high\n", {"acc"});
  EXPECT_NE(number.find("line 3"), std::string::npos) << number;
  EXPECT_NE(number.find("'high'"), std::string::npos) << number;
  const std::string arch = message("arch_str,acc\n|conv~0|+|x|,1\n", {"acc"});
  EXPECT_NE(arch.find("line 2"), std::string::npos) << arch;
  EXPECT_NE(message("arch_str,acc\n" + kResNet + ",1,2\n", {"acc"}).find("fields"),
            std::string::npos);
  EXPECT_NE(message("", {"acc"}).find("empty"), std::string::npos);
  EXPECT_NE(message("arch_str,acc\n" + kResNet + ",nan\n", {"acc"}).find("no row"),
            std::string::npos);
}

TEST(TableOracle, ReadsTheNasBench201TrainingTable) {
  NasBench201Space space;
  TabularOracle oracle(space, kTrainCsv, {"c10_test_nats", "params_M"});
  EXPECT_EQ(oracle.num_rows(), 1000u);
  EXPECT_EQ(oracle.num_classes(), 705u);
  // The best row of the table is alone in its class (published value 94.2067).
  const auto best = oracle.value(
      candidate(
          space,
          "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
          .hash,
      "c10_test_nats");
  ASSERT_TRUE(best);
  EXPECT_NEAR(*best, 94.2067, 1e-4);
}

TEST(TableSpace, SamplesAndMutatesWithinTheTable) {
  auto full = std::make_shared<NasBench201Space>();
  TabularOracle oracle(*full, kTrainCsv, {"c10_test_nats"});
  TableSpace space(full, oracle.row_archs(), "train.csv");
  EXPECT_EQ(space.num_classes(), 705u);
  EXPECT_EQ(space.name(), "nasbench201");
  Rng rng(11);
  int one_step = 0;
  for (int i = 0; i < 60; ++i) {
    const Architecture parent = space.sample(rng);
    EXPECT_TRUE(space.contains(space.canonical_hash(parent)));
    const Architecture child = space.mutate(parent, rng);
    const std::string child_hash = space.canonical_hash(child);
    EXPECT_TRUE(space.contains(child_hash)) << child.spec.dump();
    EXPECT_NE(child_hash, space.canonical_hash(parent));
    EXPECT_NO_THROW(space.validate(child));
    // Nearest: no table row of another class is closer than the child.
    int nearest_row = kNb201NumEdges;
    for (const auto& row : oracle.row_archs())
      if (space.canonical_hash(row) != space.canonical_hash(parent))
        nearest_row = std::min(nearest_row, hamming(parent, row));
    EXPECT_LE(hamming(parent, child), nearest_row);
    // Where the full space's single mutation can land in the table, it does exactly that.
    if (!space.neighbours(parent).empty()) {
      bool other_class = false;
      for (const auto& n : space.neighbours(parent))
        other_class |= space.canonical_hash(n) != space.canonical_hash(parent);
      if (other_class) {
        EXPECT_EQ(hamming(parent, child), 1);
        ++one_step;
      }
    }
  }
  EXPECT_GT(one_step, 10);
  EXPECT_THROW(space.validate({"nasbench201", kAllConv}), ArchError);
}

TEST(TableSpace, MutationIsTheFullMutationConditionedOnTheTable) {
  auto full = std::make_shared<NasBench201Space>();
  // A table of the ResNet cell and exactly three of its 24 single-op neighbours.
  const Architecture resnet{"nasbench201", kResNet};
  const auto neighbours = full->neighbours(resnet);
  std::string csv = "arch_str,acc\n" + kResNet + ",93.9\n";
  for (int k : {0, 9, 20}) csv += neighbours[k].spec.get<std::string>() + ",90\n";
  TabularOracle oracle(*full, write_temp("three.csv", csv), {"acc"});
  TableSpace space(full, oracle.row_archs(), "three.csv");
  ASSERT_EQ(space.num_classes(), 4u) << "the chosen neighbours are not isomorphic to each other";
  // The single mutations of the full space that land in another class of the table (the
  // three rows, and any neighbour isomorphic to one of them).
  const std::string own = full->canonical_hash(resnet);
  std::set<std::string> expected;
  for (const auto& n : neighbours)
    if (full->canonical_hash(n) != own && space.contains(full->canonical_hash(n)))
      expected.insert(n.spec.get<std::string>());
  ASSERT_GE(expected.size(), 3u);
  Rng rng(2);
  std::map<std::string, int> counts;
  const int draws = 900;
  for (int i = 0; i < draws; ++i) ++counts[space.mutate(resnet, rng).spec.get<std::string>()];
  std::set<std::string> seen;
  for (const auto& [arch, n] : counts) {
    seen.insert(arch);
    EXPECT_GT(n, draws / static_cast<int>(expected.size()) / 2) << arch << ": uniform over them";
  }
  EXPECT_EQ(seen, expected);
}

OracleSearchConfig train_config(const std::string& strategy, int queries, std::uint64_t seed) {
  OracleSearchConfig c;
  c.strategy = strategy;
  c.oracle = "table:" + kTrainCsv + ":c10_test_nats";
  c.queries = queries;
  c.seed = seed;
  c.progress = 0;
  if (strategy == "evolution") c.strategy_options = {{"population", "10"}, {"sample", "3"}};
  return c;
}

TEST(OracleSearch, FindsGoodCellsWithinTheQueryBudget) {
  NasBench201Space space;
  TabularOracle oracle(space, kTrainCsv, {"c10_test_nats"});
  for (const char* strategy : {"random", "evolution"}) {
    SCOPED_TRACE(strategy);
    const auto report = run_oracle_search(train_config(strategy, 150, 3));
    const auto& s = report.summary;
    EXPECT_EQ(s["queries_used"], 150);
    EXPECT_EQ(s["unknown"], 0) << "the restricted space proposes only table cells";
    EXPECT_EQ(s["stop_reason"], "budget");
    EXPECT_EQ(s["space_size"], 705);
    ASSERT_TRUE(s["best_arch"].is_string());
    const std::string best_hash = space.canonical_hash({"nasbench201", s["best_arch"]});
    ASSERT_TRUE(oracle.value(best_hash, "c10_test_nats"));
    EXPECT_DOUBLE_EQ(s["best_value"].get<double>(), *oracle.value(best_hash, "c10_test_nats"));
    EXPECT_GT(s["best_value"].get<double>(), 93.0) << "150 of 705 classes reach the top few %";
    EXPECT_LE(s["best_value"].get<double>(), 94.2067);
    std::set<std::string> charged;
    for (const auto& r : report.result.history) {
      if (r.evaluation.charged) {
        EXPECT_TRUE(charged.insert(r.candidate.hash).second);
      }
    }
    EXPECT_EQ(charged.size(), 150u) << "one charge per distinct cell class";
  }
}

TEST(OracleSearch, SameSeedSameSummary) {
  const auto a = run_oracle_search(train_config("evolution", 60, 21));
  const auto b = run_oracle_search(train_config("evolution", 60, 21));
  const auto c = run_oracle_search(train_config("evolution", 60, 22));
  EXPECT_EQ(a.summary, b.summary);
  std::vector<std::string> ha, hc;
  for (const auto& r : a.result.history) ha.push_back(r.candidate.hash);
  for (const auto& r : c.result.history) hc.push_back(r.candidate.hash);
  EXPECT_NE(ha, hc);
}

TEST(OracleSearch, UnrestrictedSearchMeetsUnknownCellsWithoutPayingForThem) {
  auto config = train_config("random", 30, 5);
  config.restrict_to_table = false;
  const auto report = run_oracle_search(config);
  EXPECT_EQ(report.summary["queries_used"], 30);
  EXPECT_EQ(report.summary["stop_reason"], "budget");
  // train.csv holds 705 of the 6,466 classes (the larger ones more often, being 1,000 cells
  // drawn uniformly), so uniform proposals miss often; misses cost nothing.
  EXPECT_GT(report.summary["unknown"].get<int>(), 0);
  EXPECT_TRUE(report.summary["space_size"].is_null());
  NasBench201Space space;
  TabularOracle oracle(space, kTrainCsv, {"c10_test_nats"});
  for (const auto& r : report.result.history) {
    const bool in_table = oracle.value(r.candidate.hash, "c10_test_nats").has_value();
    EXPECT_EQ(r.evaluation.status, in_table ? CandidateStatus::kOk : CandidateStatus::kUnknown);
    EXPECT_EQ(r.evaluation.charged, in_table) << "random proposes each class once";
  }
  EXPECT_EQ(report.result.charged + report.result.unknown + report.result.reused,
            static_cast<int>(report.result.history.size()));
}

TEST(OracleSearch, ParetoSearchReturnsAFront) {
  auto config = train_config("pareto", 120, 8);
  config.oracle = "table:" + kTrainCsv + ":c10_test_nats,params_M";
  config.objectives = parse_objectives("c10_test_nats:max,params_M:min");
  config.strategy_options = {{"population", "20"}};
  const auto report = run_oracle_search(config);
  const auto& front = report.summary["pareto_front"];
  ASSERT_GE(front.size(), 2u);
  for (const auto& p : front)
    for (const auto& q : front)
      EXPECT_FALSE(dominates({p["c10_test_nats"].get<double>(), -p["params_M"].get<double>()},
                             {q["c10_test_nats"].get<double>(), -q["params_M"].get<double>()}));
}

TEST(OracleSearch, BadConfigurationsGiveClearErrors) {
  auto expect_config_error = [](OracleSearchConfig c, const std::string& word) {
    try {
      run_oracle_search(c);
      ADD_FAILURE() << "expected ConfigError mentioning " << word;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  auto c = train_config("random", 0, 1);
  expect_config_error(c, "budget");
  c = train_config("random", -1, 1);
  expect_config_error(c, "budget");
  c = train_config("simulated-annealing", 10, 1);
  expect_config_error(c, "evolution");
  c = train_config("random", 10, 1);
  c.objectives = {{"c100_test_nats", Direction::kMaximize}};
  expect_config_error(c, "c100_test_nats");
  c = train_config("random", 10, 1);
  c.oracle = "ghn:model.pt";
  expect_config_error(c, "table:");
  c = train_config("random", 10, 1);
  c.oracle = "table:" + kTrainCsv + ":top1";
  expect_config_error(c, "c10_test_nats");
  c = train_config("random", 10, 1);
  c.space = "darts";
  expect_config_error(c, "nasbench201");
  c = train_config("evolution", 10, 1);
  c.strategy_options = {{"population", "5"}, {"sample", "6"}};
  expect_config_error(c, "sample");
  c = train_config("random", 10, 1);
  c.oracle = "table:/nonexistent/train.csv:c10_test_nats";
  EXPECT_THROW(run_oracle_search(c), FileError);
}

}  // namespace
}  // namespace ghnas
