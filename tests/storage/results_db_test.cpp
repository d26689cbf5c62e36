// The writer API: runs, architecture upserts, evaluation batches, the resume check, and the
// one-writer rule.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "storage/results_db.hpp"
#include "storage/sqlite.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas {
namespace {

using test::make_arch;
using test::make_run_spec;
using test::ok_eval;

class ResultsDbTest : public ::testing::Test {
 protected:
  std::int64_t count(const std::string& table) {
    sqlite::Connection raw(tmp_.path(), sqlite::OpenMode::kReadOnly);
    return std::stoll(raw.query_text("SELECT count(*) FROM " + table));
  }

  test::TempDb tmp_;
  ResultsDb db_{tmp_.path()};
};

TEST_F(ResultsDbTest, CreatedRunReadsBackAsRunning) {
  RunSpec spec = make_run_spec("regularized_evolution");
  spec.seed = (std::uint64_t{1} << 63) - 1;
  const auto id = db_.create_run(spec);
  EXPECT_EQ(db_.create_run(make_run_spec()), id + 1);
  const RunRecord run = db_.run(id);
  EXPECT_EQ(run.id, id);
  EXPECT_EQ(run.spec.space, "nasbench201");
  EXPECT_EQ(run.spec.task, "fashion-mnist");
  EXPECT_EQ(run.spec.strategy, "regularized_evolution");
  EXPECT_EQ(run.spec.config, spec.config);
  EXPECT_EQ(run.spec.seed, spec.seed);
  EXPECT_EQ(run.spec.checkpoint_hash, "ckpt-abc");
  EXPECT_EQ(run.status, RunStatus::kRunning);
  EXPECT_EQ(run.ghnas_version, GHNAS_VERSION);
  // ISO-8601 UTC with milliseconds: 2024-05-01T12:00:00.123Z
  ASSERT_EQ(run.started_at.size(), 24u) << run.started_at;
  EXPECT_EQ(run.started_at[10], 'T');
  EXPECT_EQ(run.started_at.back(), 'Z');
  EXPECT_TRUE(run.finished_at.empty());
}

TEST_F(ResultsDbTest, RunWithoutNamesOrWithAHugeSeedIsRefused) {
  RunSpec spec = make_run_spec();
  spec.strategy.clear();
  EXPECT_THROW(db_.create_run(spec), ConfigError);
  spec = make_run_spec();
  spec.seed = std::numeric_limits<std::uint64_t>::max();
  EXPECT_THROW(db_.create_run(spec), ConfigError);
  EXPECT_EQ(count("runs"), 0);
}

TEST_F(ResultsDbTest, FinishAndResumeMarkTheRun) {
  const auto id = db_.create_run(make_run_spec());
  db_.finish_run(id, RunStatus::kFinished);
  RunRecord run = db_.run(id);
  EXPECT_EQ(run.status, RunStatus::kFinished);
  EXPECT_FALSE(run.finished_at.empty());
  EXPECT_GE(run.finished_at, run.started_at);
  run = db_.resume_run(id);
  EXPECT_EQ(run.status, RunStatus::kRunning);
  EXPECT_TRUE(run.finished_at.empty());
  db_.finish_run(id, RunStatus::kFailed);
  EXPECT_EQ(db_.run(id).status, RunStatus::kFailed);
  EXPECT_THROW(db_.finish_run(id, RunStatus::kRunning), ConfigError);
}

TEST_F(ResultsDbTest, UnknownRunsAndArchitecturesAreNamed) {
  for (const auto& call : std::vector<std::function<void()>>{
           [&] { db_.run(42); }, [&] { db_.finish_run(42, RunStatus::kFinished); },
           [&] { db_.resume_run(42); }, [&] { db_.record_evaluations(42, {}); },
           [&] { db_.run_evaluations(42); }}) {
    try {
      call();
      FAIL();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("run 42 does not exist"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(db_.architecture(7), ConfigError);
}

TEST_F(ResultsDbTest, UpsertReturnsOneIdPerSpaceAndHash) {
  const auto a = db_.upsert_architecture(make_arch("h1", 100));
  EXPECT_EQ(db_.upsert_architecture(make_arch("h1", 100)), a);
  const auto b = db_.upsert_architecture(make_arch("h2", 200));
  EXPECT_NE(a, b);
  const auto other_space = db_.upsert_architecture(make_arch("h1", 100, "deepnets1m"));
  EXPECT_NE(other_space, a);
  EXPECT_EQ(db_.find_architecture("nasbench201", "h1"), a);
  EXPECT_EQ(db_.find_architecture("deepnets1m", "h1"), other_space);
  EXPECT_FALSE(db_.find_architecture("nasbench201", "h3").has_value());
  EXPECT_EQ(count("architectures"), 3);

  // The first spec is kept; unknown sizes are filled in later, known ones are not replaced.
  ArchRecord sizeless{"nasbench201", "h4", nlohmann::json{{"cell", "first"}}, std::nullopt, std::nullopt};
  const auto c = db_.upsert_architecture(sizeless);
  ArchRecord later{"nasbench201", "h4", nlohmann::json{{"cell", "second"}}, 44, 440};
  EXPECT_EQ(db_.upsert_architecture(later), c);
  later.params = 45;
  EXPECT_EQ(db_.upsert_architecture(later), c);
  const ArchRecord stored = db_.architecture(c);
  EXPECT_EQ(stored.spec["cell"], "first");
  EXPECT_EQ(stored.params, 44);
  EXPECT_EQ(stored.flops, 440);
  EXPECT_THROW(db_.upsert_architecture(make_arch("", 1)), ConfigError);
}

TEST_F(ResultsDbTest, EvaluationsAreRecordedOnceAndReplaysReturnTheStoredIds) {
  const auto run = db_.create_run(make_run_spec());
  const auto a = db_.upsert_architecture(make_arch("a", 1));
  const auto b = db_.upsert_architecture(make_arch("b", 2));
  const std::vector<Evaluation> batch = {ok_eval(a, "clean_acc", 91.5), ok_eval(a, "latency", 3.2),
                                         ok_eval(b, "clean_acc", 88.0)};
  const auto ids = db_.record_evaluations(run, batch);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  EXPECT_TRUE(db_.is_recorded(run, a, "ghn-heads", "latency"));
  EXPECT_FALSE(db_.is_recorded(run, b, "ghn-heads", "latency"));
  EXPECT_FALSE(db_.is_recorded(run, a, "sgd-12ep", "clean_acc"));

  // A replay (a resumed search) with a changed value and one new evaluation.
  std::vector<Evaluation> replay = batch;
  replay[0].value = 10.0;
  replay.push_back(ok_eval(b, "latency", 4.0));
  const auto again = db_.record_evaluations(run, replay);
  EXPECT_EQ(std::vector<std::int64_t>(again.begin(), again.begin() + 3), ids);
  EXPECT_GT(again[3], ids[2]);
  EXPECT_EQ(count("evaluations"), 4);

  const auto stored = db_.run_evaluations(run);
  ASSERT_EQ(stored.size(), 4u);
  EXPECT_EQ(stored[0].id, ids[0]);
  EXPECT_EQ(stored[0].value, 91.5) << "the first recorded value is kept";
  EXPECT_EQ(stored[0].fidelity, Fidelity::kHeads);
  EXPECT_EQ(stored[0].status, EvalStatus::kOk);
  EXPECT_EQ(stored[0].seconds, 0.01);
  EXPECT_EQ(stored[3].metric, "latency");
  EXPECT_EQ(stored[3].arch_id, b);
}

TEST_F(ResultsDbTest, OutcomesOtherThanOkStoreNoValue) {
  const auto run = db_.create_run(make_run_spec());
  const auto a = db_.upsert_architecture(make_arch("a", 1));
  Evaluation oom = ok_eval(a, "clean_acc", 12.0, Fidelity::kSgd, "sgd-12ep");
  oom.status = EvalStatus::kOom;
  oom.error = "CUDA out of memory";
  Evaluation diverged = ok_eval(a, "clean_acc", std::nan(""), Fidelity::kPredictedParameters, "ghn-params");
  diverged.status = EvalStatus::kDiverged;
  db_.record_evaluations(run, {oom, diverged});
  const auto stored = db_.run_evaluations(run);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].status, EvalStatus::kOom);
  EXPECT_FALSE(stored[0].value.has_value());
  EXPECT_EQ(stored[0].error, "CUDA out of memory");
  EXPECT_EQ(stored[1].status, EvalStatus::kDiverged);
  EXPECT_FALSE(stored[1].value.has_value());
  EXPECT_TRUE(stored[1].error.empty());
}

TEST_F(ResultsDbTest, ABadEvaluationRejectsTheWholeBatch) {
  const auto run = db_.create_run(make_run_spec());
  const auto a = db_.upsert_architecture(make_arch("a", 1));
  try {
    db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90), ok_eval(a + 100, "clean_acc", 80)});
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_EQ(e.code(), SQLITE_CONSTRAINT_FOREIGNKEY);
    EXPECT_NE(std::string(e.what()).find("architecture id " + std::to_string(a + 100)),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90), ok_eval(a, "x", INFINITY)}),
               ConfigError);
  EXPECT_THROW(db_.record_evaluations(run, {ok_eval(a, "", 90)}), ConfigError);
  Evaluation negative_time = ok_eval(a, "clean_acc", 90);
  negative_time.seconds = -1;
  EXPECT_THROW(db_.record_evaluations(run, {negative_time}), ConfigError);
  EXPECT_EQ(count("evaluations"), 0);
}

TEST_F(ResultsDbTest, OnlyRunningRunsTakeEvaluations) {
  const auto run = db_.create_run(make_run_spec());
  const auto a = db_.upsert_architecture(make_arch("a", 1));
  db_.finish_run(run, RunStatus::kFinished);
  try {
    db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90)});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is finished"), std::string::npos) << e.what();
  }
  db_.resume_run(run);
  EXPECT_EQ(db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90)}).size(), 1u);
}

TEST_F(ResultsDbTest, ABatchIsAllOrNothing) {
  const auto run = db_.create_run(make_run_spec());
  {
    auto batch = db_.begin_batch();
    const auto a = db_.upsert_architecture(make_arch("a", 1));
    db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90)});
    // Not committed: the search crashed before the end of its batch.
  }
  EXPECT_EQ(count("architectures"), 0);
  EXPECT_EQ(count("evaluations"), 0);
  {
    auto batch = db_.begin_batch();
    const auto a = db_.upsert_architecture(make_arch("a", 1));
    db_.record_evaluations(run, {ok_eval(a, "clean_acc", 90)});
    batch.commit();
  }
  EXPECT_EQ(count("architectures"), 1);
  EXPECT_EQ(count("evaluations"), 1);
}

TEST(ResultsDbReopen, RunsLeftRunningByAWriterThatDiedAreMarkedInterrupted) {
  test::TempDb tmp;
  std::int64_t run = 0, done = 0;
  {
    ResultsDb db(tmp.path());
    run = db.create_run(make_run_spec());
    done = db.create_run(make_run_spec());
    db.finish_run(done, RunStatus::kFinished);
    // Closed without finishing `run`, as a process that dies leaves it.
  }
  ResultsDb reopened(tmp.path());
  EXPECT_EQ(reopened.run(run).status, RunStatus::kInterrupted);
  EXPECT_EQ(reopened.run(done).status, RunStatus::kFinished);
}

TEST(ResultsDbReopen, ASecondWriterInTheSameProcessIsRefused) {
  test::TempDb tmp;
  {
    ResultsDb first(tmp.path());
    try {
      ResultsDb second(tmp.path());
      FAIL() << "two writers on one database";
    } catch (const StorageError& e) {
      EXPECT_TRUE(e.is_busy());
      const std::string what = e.what();
      EXPECT_NE(what.find("already open for writing by process " + std::to_string(::getpid())),
                std::string::npos) << what;
    }
  }
  ResultsDb now_alone(tmp.path());  // the lock went with the first writer
}

TEST(ResultsDbProcesses, AWriterInAnotherProcessHoldsTheDatabaseUntilItExits) {
  test::TempDb tmp;
  { ResultsDb create(tmp.path()); }
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    try {
      ResultsDb db(tmp.path());
      char c = 'o';
      if (::write(to_parent[1], &c, 1) != 1) code = 2;
      if (::read(to_child[0], &c, 1) != 1) code = 3;  // hold the database until told
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  try {
    ResultsDb second(tmp.path());
    ADD_FAILURE() << "opened while another process writes";
  } catch (const StorageError& e) {
    EXPECT_TRUE(e.is_busy()) << e.what();
    EXPECT_NE(std::string(e.what()).find("by process " + std::to_string(child)), std::string::npos)
        << e.what();
  }
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ResultsDb after(tmp.path());
}

}  // namespace
}  // namespace ghnas
