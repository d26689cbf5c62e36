// `ghnas search` as a user runs it: the last-line contract, --resume after a SIGKILL, and one
// clear error for each kind of bad input.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>

#include "storage/results_db.hpp"
#include "tests/test_util.hpp"

namespace {

using ghnas::test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return ghnas::test::run_command(std::string(GHNAS_BINARY) + " " + args);
}

const std::string kTable = ghnas::test::shared_dir() + "/nasbench201/train.csv";

// A database path of this process, removed (with its WAL and lock files) on destruction.
struct TempDb {
  std::string path;
  explicit TempDb(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              (name + "_" + std::to_string(::getpid()) + ".db")).string()) {
    remove();
  }
  ~TempDb() { remove(); }
  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm", "-lock"}) std::filesystem::remove(path + suffix);
  }
  // One integer from a read-only query.
  long long count(const std::string& sql) const {
    const CmdResult r = run_ghnas("query sql --format csv --db " + path + " \"" + sql + "\"");
    EXPECT_EQ(r.code, 0) << r.err;
    return std::stoll(r.out.substr(r.out.find('\n') + 1));
  }
};

nlohmann::json last_line(const std::string& out) {
  std::istringstream lines(out);
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  return nlohmann::json::parse(last);
}

std::string search_args(const TempDb& db) {
  // 500 of the table's 705 distinct cells: long enough (each charged query is one durable
  // transaction) to be killed in the middle.
  return "search --space nasbench201 --strategy random --oracle table:" + kTable +
         ":c10_test_nats --queries 500 --seed 5 --db " + db.path;
}

TEST(CliSearch, KilledSearchResumesToTheUninterruptedResult) {
  TempDb whole("ghnas_search_whole"), killed("ghnas_search_killed");
  const CmdResult reference = run_ghnas(search_args(whole));
  ASSERT_EQ(reference.code, 0) << reference.err;
  const nlohmann::json expected = last_line(reference.out);
  const long long expected_rows = whole.count("SELECT count(*) FROM evaluations");
  ASSERT_EQ(expected["queries_used"], 500);

  // SIGKILL once 100 queries are on disk (sqlite3 reads the WAL database while it is written).
  const std::string cmd = std::string(GHNAS_BINARY) + " " + search_args(killed) +
                          " > /dev/null 2>&1 & p=$!; until [ \"$(sqlite3 " + killed.path +
                          " \"SELECT count(*) FROM evaluations\" 2>/dev/null || echo 0)\" -ge 100 ] || "
                          "! kill -0 $p 2>/dev/null; do sleep 0.01; done; kill -9 $p; wait $p";
  ghnas::test::run_command("sh -c '" + cmd + "'");
  const long long at_kill = killed.count("SELECT count(*) FROM evaluations");
  ASSERT_GE(at_kill, 100);
  ASSERT_LT(at_kill, expected_rows) << "the search finished before it could be killed";

  const CmdResult resumed = run_ghnas(search_args(killed) + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming run 1"), std::string::npos) << resumed.err;
  const nlohmann::json got = last_line(resumed.out);
  EXPECT_TRUE(got["resumed"].get<bool>());
  for (const char* field : {"best_arch", "best_value", "queries_used", "proposals"})
    EXPECT_EQ(got[field], expected[field]) << field;
  // One run, finished, with exactly the uninterrupted run's rows: none lost, none twice.
  EXPECT_EQ(killed.count("SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(killed.count("SELECT count(*) FROM runs WHERE status = 'finished'"), 1);
  EXPECT_EQ(killed.count("SELECT count(*) FROM evaluations"), expected_rows);
  EXPECT_EQ(killed.count("SELECT count(DISTINCT arch_id) FROM evaluations"),
            whole.count("SELECT count(DISTINCT arch_id) FROM evaluations"));
}

TEST(CliSearch, ResumeWithoutAnEarlierRunStartsOne) {
  TempDb db("ghnas_search_fresh");
  const CmdResult r = run_ghnas("search --space nasbench201 --strategy random --oracle table:" + kTable +
                                ":c10_test_nats --queries 5 --db " + db.path + " --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("starting one"), std::string::npos) << r.err;
  EXPECT_FALSE(last_line(r.out)["resumed"].get<bool>());
  EXPECT_EQ(last_line(r.out)["queries_used"], 5);
}

TEST(CliSearch, BadInputIsOneClearError) {
  TempDb db("ghnas_search_bad");
  const std::string base = "search --space nasbench201 --oracle table:" + kTable + ":c10_test_nats --db " + db.path;
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {base + " --queries 0", "positive number of queries"},
           {base + " --queries 5 --strategy annealing", "annealing"},
           {"search --space nasbench301 --oracle table:" + kTable + ":c10_test_nats --queries 5 --db " + db.path,
            "nasbench301"},
           {base + " --queries 5 --objectives top1", "top1"},
           {"search --space nasbench201 --oracle table:/nonexistent.csv:acc --queries 5 --db " + db.path,
            "/nonexistent.csv"},
       }) {
    const CmdResult r = run_ghnas(c.args);
    EXPECT_EQ(r.code, 1) << c.args;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// The cascade with the GHN and heads shipped in results/: every fidelity is recorded, and a
// repeated --resume run adds nothing (every answer is replayed from the database).
TEST(CliSearch, CascadeRecordsEveryFidelityAndResumesWithoutRedoingWork) {
  if (run_ghnas("fit-heads --help").code != 0) GTEST_SKIP() << "built without the GHN surrogate";
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDb db("ghnas_search_cascade");
  const std::string results = std::string(GHNAS_SOURCE_DIR) + "/results/";
  const std::string args = "search --space deepnets1m --space-option width=8 --strategy random --seed 2 "
                           "--checkpoint " + results + "ghn2_fashion_mnist.ckpt --heads " + results +
                           "heads_fashion_mnist.json --candidates 40 --heads-batch 16 --predict-top 3 "
                           "--verify-top 1 --train-size 128 --test-size 100 --val-images 64 --threads 1 --db " +
                           db.path;
  const CmdResult first = run_ghnas(args);
  ASSERT_EQ(first.code, 0) << first.err;
  const nlohmann::json summary = last_line(first.out);
  EXPECT_EQ(summary["candidates_ranked"], 40);
  EXPECT_EQ(summary["predicted_params_evaluated"], 3);
  EXPECT_EQ(summary["sgd_trained"], 1);
  EXPECT_EQ(summary["best_fidelity"], "sgd");
  EXPECT_TRUE(summary["best_value"].is_number());
  auto count = [&](const std::string& fidelity) {
    return db.count("SELECT count(DISTINCT arch_id) FROM evaluations WHERE fidelity = '" + fidelity + "'");
  };
  EXPECT_EQ(count("heads"), 40);
  EXPECT_EQ(count("predicted-parameters"), 3);
  EXPECT_EQ(count("sgd"), 1);
  // Candidates are drawn at C=8 but scored with predicted parameters at C=32, the width of the
  // networks the shipped GHN was trained on.
  EXPECT_EQ(db.count("SELECT json_extract(config, '$.cascade.predict_width') FROM runs"), 32);
  const long long rows = db.count("SELECT count(*) FROM evaluations");

  const CmdResult again = run_ghnas(args + " --resume");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(last_line(again.out)["resumed"].get<bool>());
  EXPECT_EQ(last_line(again.out)["best_value"], summary["best_value"]);
  EXPECT_EQ(db.count("SELECT count(*) FROM evaluations"), rows);
  EXPECT_EQ(db.count("SELECT count(*) FROM runs"), 1);
}

TEST(CliSearch, LockedDatabaseIsAClearErrorAndNothingIsWritten) {
  TempDb db("ghnas_search_locked");
  {
    ghnas::ResultsDb writer(db.path);  // another process's search would hold the same lock
    const CmdResult r = run_ghnas("search --space nasbench201 --strategy random --oracle table:" + kTable +
                                  ":c10_test_nats --queries 5 --db " + db.path);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(db.path), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(db.count("SELECT count(*) FROM runs"), 0);
}

}  // namespace
