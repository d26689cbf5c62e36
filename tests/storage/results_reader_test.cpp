// The read-only queries: run list, top-k, Pareto front, architecture lookup, SQL, export;
// and the errors for unknown runs, metrics and hashes.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "storage/results_db.hpp"
#include "storage/results_reader.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas {
namespace {

using test::make_arch;
using test::make_run_spec;
using test::ok_eval;

// Run 1: ten architectures arch-0..arch-9 (params 1000..10000) with heads clean_acc and
// latency, sgd clean_acc for arch-7..9, a failed and an invalid evaluation. Run 2: one
// evaluation of arch-0. Plus an architecture nobody evaluated and one hash in two spaces.
class ReaderTest : public ::testing::Test {
 protected:
  static constexpr double kHeadsAcc[10] = {80, 81, 82, 85, 85, 84, 86, 87, 88, 89};
  static constexpr double kSgdAcc[3] = {70, 75, 72};  // arch-7, 8, 9

  ReaderTest() {
    ResultsDb db(tmp_.path());
    const auto run1 = db.create_run(make_run_spec("random"));
    std::vector<Evaluation> evals;
    for (int i = 0; i < 10; ++i) {
      arch_[i] = db.upsert_architecture(make_arch("arch-" + std::to_string(i), 1000 * (i + 1)));
      evals.push_back(ok_eval(arch_[i], "clean_acc", kHeadsAcc[i]));
      evals.push_back(ok_eval(arch_[i], "latency", 10 - 0.5 * i));
    }
    for (int i = 7; i < 10; ++i)
      evals.push_back(ok_eval(arch_[i], "clean_acc", kSgdAcc[i - 7], Fidelity::kSgd, "sgd-12ep"));
    Evaluation failed = ok_eval(arch_[0], "clean_acc", 0, Fidelity::kPredictedParameters, "ghn-params");
    failed.status = EvalStatus::kFailed;
    failed.error = "shape mismatch";
    Evaluation invalid = ok_eval(arch_[1], "synflow", 0, Fidelity::kProxy, "synflow");
    invalid.status = EvalStatus::kInvalid;
    evals.push_back(failed);
    evals.push_back(invalid);
    db.record_evaluations(run1, evals);
    db.finish_run(run1, RunStatus::kFinished);

    const auto run2 = db.create_run(make_run_spec("regularized_evolution"));
    db.record_evaluations(run2, {ok_eval(arch_[0], "clean_acc", 50)});
    lonely_ = db.upsert_architecture(make_arch("lonely", 5));
    db.upsert_architecture(make_arch("cafe-unique", 6));
    db.upsert_architecture(make_arch("shared", 7, "nasbench201"));
    db.upsert_architecture(make_arch("shared", 8, "deepnets1m"));
  }

  // The arch_id column of a result, in row order.
  static std::vector<std::int64_t> arch_ids(const ResultTable& t) {
    std::vector<std::int64_t> ids;
    for (std::size_t r = 0; r < t.rows.size(); ++r) ids.push_back(t.at(r, "arch_id").integer);
    return ids;
  }

  template <typename Call>
  static std::string config_error(Call call) {
    try {
      call();
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a ConfigError";
    return "";
  }

  test::TempDb tmp_;
  std::int64_t arch_[10] = {};
  std::int64_t lonely_ = 0;
};

TEST_F(ReaderTest, RunsListsEveryRunWithItsEvaluationCount) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.runs(t);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.at(0, "id").integer, 1);
  EXPECT_EQ(t.at(0, "strategy").text, "random");
  EXPECT_EQ(t.at(0, "status").text, "finished");
  EXPECT_EQ(t.at(0, "evaluations").integer, 25);
  EXPECT_EQ(t.at(1, "status").text, "running");
  EXPECT_EQ(t.at(1, "evaluations").integer, 1);
  EXPECT_TRUE(t.at(1, "finished_at").is_null());
  EXPECT_EQ(t.at(0, "config").kind, Cell::Kind::kJson);
  EXPECT_EQ(nlohmann::json::parse(t.at(0, "config").text), make_run_spec().config);
}

TEST_F(ReaderTest, TopRanksOkEvaluationsByValue) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.top({1, "clean_acc", 3}, t);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(arch_ids(t), (std::vector<std::int64_t>{arch_[9], arch_[8], arch_[7]}));
  EXPECT_EQ(t.at(0, "rank").integer, 1);
  EXPECT_EQ(t.at(0, "clean_acc").real, 89);
  EXPECT_EQ(t.at(0, "hash").text, "arch-9");
  EXPECT_EQ(t.at(0, "fidelity").text, "heads");
  EXPECT_EQ(t.at(0, "params").integer, 10000);

  // Every ok clean_acc of run 1 (10 heads + 3 sgd; the failed one is left out).
  reader.top({1, "clean_acc", 100}, t);
  EXPECT_EQ(t.rows.size(), 13u);
  for (std::size_t r = 1; r < t.rows.size(); ++r)
    EXPECT_GE(t.at(r - 1, "clean_acc").real, t.at(r, "clean_acc").real);
}

TEST_F(ReaderTest, TopAscendingAndTiesByArchitectureId) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.top({1, "clean_acc", 100, std::nullopt, /*descending=*/false}, t);
  ASSERT_EQ(t.rows.size(), 13u);
  EXPECT_EQ(t.at(0, "clean_acc").real, 70);
  EXPECT_EQ(t.at(0, "fidelity").text, "sgd");
  for (std::size_t r = 1; r < t.rows.size(); ++r)
    EXPECT_LE(t.at(r - 1, "clean_acc").real, t.at(r, "clean_acc").real);
  // arch-3 and arch-4 tie at 85; ties follow the architecture id in the value's direction.
  for (bool descending : {true, false}) {
    reader.top({1, "clean_acc", 100, std::nullopt, descending}, t);
    const auto ids = arch_ids(t);
    const auto first = std::find_if(ids.begin(), ids.end(),
                                    [&](std::int64_t id) { return id == arch_[3] || id == arch_[4]; });
    ASSERT_NE(first, ids.end());
    ASSERT_NE(first + 1, ids.end());
    EXPECT_EQ(*first, descending ? arch_[4] : arch_[3]) << "descending=" << descending;
    EXPECT_EQ(*(first + 1), descending ? arch_[3] : arch_[4]) << "descending=" << descending;
  }
}

// Equal values rank by architecture id, then evaluation id, in the value's direction, whatever
// order they were recorded in.
TEST(ReaderTies, RankByArchitectureThenEvaluation) {
  test::TempDb tmp;
  std::int64_t a = 0, b = 0;
  {
    ResultsDb db(tmp.path());
    const auto run = db.create_run(make_run_spec());
    a = db.upsert_architecture(make_arch("a", 1));
    b = db.upsert_architecture(make_arch("b", 2));
    db.record_evaluations(run, {ok_eval(b, "clean_acc", 90), ok_eval(a, "clean_acc", 90),
                                ok_eval(b, "clean_acc", 90, Fidelity::kHeads, "other-heads")});
  }
  ResultsReader reader(tmp.path());
  for (const auto& fidelity : {std::optional<Fidelity>{}, std::optional<Fidelity>{Fidelity::kHeads}}) {
    ResultTable t;
    reader.top({1, "clean_acc", 10, fidelity, /*descending=*/true}, t);
    ASSERT_EQ(t.rows.size(), 3u);
    EXPECT_EQ(t.at(0, "arch_id").integer, b);
    EXPECT_EQ(t.at(0, "evaluator").text, "other-heads");  // recorded last
    EXPECT_EQ(t.at(1, "arch_id").integer, b);
    EXPECT_EQ(t.at(2, "arch_id").integer, a);
    reader.top({1, "clean_acc", 10, fidelity, /*descending=*/false}, t);
    EXPECT_EQ(t.at(0, "arch_id").integer, a);
    EXPECT_EQ(t.at(1, "evaluator").text, "ghn-heads");
    EXPECT_EQ(t.at(2, "evaluator").text, "other-heads");
  }
}

TEST_F(ReaderTest, TopByFidelity) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.top({1, "clean_acc", 10, Fidelity::kSgd}, t);
  EXPECT_EQ(arch_ids(t), (std::vector<std::int64_t>{arch_[8], arch_[9], arch_[7]}));
  reader.top({1, "latency", 2, Fidelity::kHeads, /*descending=*/false}, t);
  EXPECT_EQ(arch_ids(t), (std::vector<std::int64_t>{arch_[9], arch_[8]}));
  EXPECT_EQ(t.at(0, "latency").real, 5.5);
}

TEST_F(ReaderTest, TopOfAMetricThatNeverSucceededIsEmpty) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.top({1, "synflow", 5}, t);
  EXPECT_TRUE(t.rows.empty());
  EXPECT_EQ(t.columns.front(), "rank");
}

TEST_F(ReaderTest, UnknownRunsAndMetricsNameWhatExists) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  std::string e = config_error([&] { reader.top({9, "clean_acc", 5}, t); });
  EXPECT_NE(e.find("run 9 does not exist"), std::string::npos) << e;
  EXPECT_NE(e.find("runs: 1, 2"), std::string::npos) << e;
  e = config_error([&] { reader.top({1, "accuracy", 5}, t); });
  EXPECT_NE(e.find("run 1 has no evaluations of metric 'accuracy'"), std::string::npos) << e;
  EXPECT_NE(e.find("clean_acc, latency, synflow"), std::string::npos) << e;
  e = config_error([&] { reader.top({2, "clean_acc", 5, Fidelity::kSgd}, t); });
  EXPECT_NE(e.find("at fidelity 'sgd' (it has: heads)"), std::string::npos) << e;
  e = config_error([&] { reader.pareto({1, "params", "accuracy"}, t); });
  EXPECT_NE(e.find("metric 'accuracy'"), std::string::npos) << e;
  e = config_error([&] { reader.export_run(3, t); });
  EXPECT_NE(e.find("run 3 does not exist"), std::string::npos) << e;
  e = config_error([&] { reader.pareto({1, "params", "flops"}, t); });
  EXPECT_NE(e.find("at least one evaluation metric"), std::string::npos) << e;
}

TEST_F(ReaderTest, ParetoUsesTheMostFaithfulEvaluationOfEachArchitecture) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.pareto({1}, t);  // params (min) vs clean_acc (max)
  // arch-7..9 count with their sgd accuracy (70-75), below every heads estimate.
  EXPECT_EQ(arch_ids(t), (std::vector<std::int64_t>{arch_[0], arch_[1], arch_[2], arch_[3], arch_[6]}));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"arch_id", "hash", "params", "clean_acc",
                                                 "clean_acc_fidelity", "flops"}));
  EXPECT_EQ(t.at(3, "params").integer, 4000);
  EXPECT_EQ(t.at(3, "clean_acc").real, 85);
  EXPECT_EQ(t.at(3, "flops").integer, 40000);

  ParetoQuery heads_only{1};
  heads_only.fidelity = Fidelity::kHeads;
  reader.pareto(heads_only, t);
  EXPECT_EQ(arch_ids(t), (std::vector<std::int64_t>{arch_[0], arch_[1], arch_[2], arch_[3], arch_[6],
                                                    arch_[7], arch_[8], arch_[9]}));
  EXPECT_EQ(t.at(7, "clean_acc_fidelity").text, "heads");
}

// The sweep against the definition: p is on the front when no q is at least as good in both
// objectives and better in one. Small integer ranges make many ties.
TEST(ReaderPareto, FrontMatchesTheDefinitionOnRandomData) {
  test::TempDb tmp;
  std::mt19937 rng(12345);
  struct P {
    std::int64_t id;
    double params, acc, latency;
  };
  std::vector<P> points;
  {
    ResultsDb db(tmp.path());
    const auto run = db.create_run(make_run_spec());
    auto batch = db.begin_batch();
    std::vector<Evaluation> evals;
    for (int i = 0; i < 300; ++i) {
      const std::int64_t params = 1000 * static_cast<std::int64_t>(1 + rng() % 20);
      const auto id = db.upsert_architecture(make_arch("r" + std::to_string(i), params));
      const double acc = 50 + rng() % 12, latency = 1 + rng() % 15;
      evals.push_back(ok_eval(id, "clean_acc", acc));
      evals.push_back(ok_eval(id, "latency", latency));
      points.push_back({id, double(params), acc, latency});
    }
    db.record_evaluations(run, evals);
    batch.commit();
  }
  ResultsReader reader(tmp.path());
  for (const std::string x : {"params", "latency"}) {
    for (bool max_x : {false, true}) {
      for (bool max_y : {true, false}) {
        const auto xv = [&](const P& p) { return (x == "params" ? p.params : p.latency) * (max_x ? -1 : 1); };
        const auto yv = [&](const P& p) { return p.acc * (max_y ? -1 : 1); };  // both as costs
        std::set<std::int64_t> expected;
        for (const P& p : points) {
          bool dominated = false;
          for (const P& q : points)
            dominated |= xv(q) <= xv(p) && yv(q) <= yv(p) && (xv(q) < xv(p) || yv(q) < yv(p));
          if (!dominated) expected.insert(p.id);
        }
        ParetoQuery q{1, x, "clean_acc", max_x, max_y};
        ResultTable t;
        reader.pareto(q, t);
        std::set<std::int64_t> got;
        for (std::size_t r = 0; r < t.rows.size(); ++r) got.insert(t.at(r, "arch_id").integer);
        EXPECT_EQ(got, expected) << x << " max_x=" << max_x << " max_y=" << max_y;
        EXPECT_EQ(got.size(), t.rows.size()) << "each architecture once";
        for (std::size_t r = 1; r < t.rows.size(); ++r) {
          const Cell& a = t.at(r - 1, x);
          const Cell& b = t.at(r, x);
          const double av = a.kind == Cell::Kind::kInteger ? double(a.integer) : a.real;
          const double bv = b.kind == Cell::Kind::kInteger ? double(b.integer) : b.real;
          EXPECT_LE(av, bv) << "sorted by x";
        }
      }
    }
  }
}

TEST_F(ReaderTest, ArchitectureShowsEveryEvaluationAcrossRuns) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.architecture("arch-0", t);
  ASSERT_EQ(t.rows.size(), 4u);  // run 1: clean_acc, latency, failed clean_acc; run 2: clean_acc
  EXPECT_EQ(t.at(0, "run_id").integer, 1);
  EXPECT_EQ(t.at(3, "run_id").integer, 2);
  EXPECT_EQ(t.at(3, "value").real, 50);
  EXPECT_EQ(t.at(2, "status").text, "failed");
  EXPECT_TRUE(t.at(2, "value").is_null());
  EXPECT_EQ(t.at(2, "error").text, "shape mismatch");
  EXPECT_EQ(t.at(0, "params").integer, 1000);
  EXPECT_EQ(t.at(0, "spec").kind, Cell::Kind::kJson);
  EXPECT_EQ(nlohmann::json::parse(t.at(0, "spec").text)["cell"], "arch-0");
}

TEST_F(ReaderTest, ArchitectureByPrefixOrWithoutEvaluations) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.architecture("cafe", t);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.at(0, "hash").text, "cafe-unique");
  EXPECT_TRUE(t.at(0, "run_id").is_null()) << "no evaluations: one row, evaluation columns empty";
  reader.architecture("lonely", t);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.at(0, "arch_id").integer, lonely_);
  reader.architecture("shared", t);
  ASSERT_EQ(t.rows.size(), 2u);  // one hash, two spaces
  EXPECT_EQ(t.at(0, "space").text, "deepnets1m");
  EXPECT_EQ(t.at(1, "space").text, "nasbench201");

  std::string e = config_error([&] { reader.architecture("arch-", t); });
  EXPECT_NE(e.find("matches several architectures (arch-0, arch-1"), std::string::npos) << e;
  e = config_error([&] { reader.architecture("zzz", t); });
  EXPECT_NE(e.find("no architecture with hash 'zzz'"), std::string::npos) << e;
}

TEST_F(ReaderTest, SqlReadsWithTypedColumns) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.sql("SELECT metric, count(*) AS n, avg(value) AS mean FROM evaluations "
             "WHERE run_id = 1 GROUP BY metric ORDER BY metric", t);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"metric", "n", "mean"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.at(0, "metric").text, "clean_acc");
  EXPECT_EQ(t.at(0, "n").integer, 14);
  EXPECT_EQ(t.at(0, "mean").kind, Cell::Kind::kReal);
  EXPECT_TRUE(t.at(2, "mean").is_null());  // synflow: no ok value
  reader.sql("SELECT 1;  -- one statement and a comment", t);
  EXPECT_EQ(t.rows.size(), 1u);
}

TEST_F(ReaderTest, SqlRefusesStatementsThatWrite) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  for (const char* statement :
       {"DELETE FROM evaluations", "UPDATE runs SET status = 'failed'", "DROP TABLE runs",
        "INSERT INTO runs (space, task, strategy, config, seed, ghnas_version) VALUES ('a','b','c','{}',1,'x')",
        "CREATE TABLE mine (x)", "PRAGMA user_version = 7", "VACUUM",
        "WITH x AS (SELECT 1) DELETE FROM architectures"}) {
    try {
      reader.sql(statement, t);
      ADD_FAILURE() << "ran: " << statement;
    } catch (const StorageError& e) {
      EXPECT_TRUE(e.is_read_only()) << statement << ": " << e.what();
    }
  }
  reader.sql("SELECT count(*) AS n FROM evaluations", t);
  EXPECT_EQ(t.at(0, "n").integer, 26);
  reader.sql("PRAGMA user_version", t);
  EXPECT_EQ(t.rows.at(0).at(0).integer, 0);

  EXPECT_THROW(reader.sql("SELECT 1; SELECT 2", t), ConfigError);
  EXPECT_THROW(reader.sql("  -- nothing", t), ConfigError);
  try {
    reader.sql("SELEC 1", t);
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("SQL error"), std::string::npos) << e.what();
  }
}

TEST_F(ReaderTest, ExportHasEveryEvaluationOfTheRunInRecordingOrder) {
  ResultsReader reader(tmp_.path());
  ResultTable t;
  reader.export_run(1, t);
  ASSERT_EQ(t.rows.size(), 25u);
  for (std::size_t r = 1; r < t.rows.size(); ++r)
    EXPECT_LT(t.at(r - 1, "evaluation_id").integer, t.at(r, "evaluation_id").integer);
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    EXPECT_EQ(t.at(r, "run_id").integer, 1);
    EXPECT_EQ(t.at(r, "spec").kind, Cell::Kind::kJson);
    EXPECT_EQ(nlohmann::json::parse(t.at(r, "spec").text)["cell"], t.at(r, "hash").text);
    EXPECT_EQ(t.at(r, "value").is_null(), t.at(r, "status").text != "ok");
  }
  EXPECT_EQ(t.at(0, "hash").text, "arch-0");
  EXPECT_EQ(t.at(0, "metric").text, "clean_acc");
  EXPECT_EQ(t.at(0, "evaluator").text, "ghn-heads");
  reader.export_run(2, t);
  EXPECT_EQ(t.rows.size(), 1u);
}

}  // namespace
}  // namespace ghnas
