// `ghnas query` and `ghnas export` run as a user runs them: formats scripts parse, and one
// clear error line (exit 1, nothing on stdout) for each kind of bad input.

#include <gtest/gtest.h>

#include "tests/test_util.hpp"
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "storage/results_db.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas {
namespace {

using test::CmdResult;

CmdResult run_ghnas(const std::string& args, const std::string& cwd = "") {
  return test::run_command((cwd.empty() ? "" : "cd '" + cwd + "' && ") + std::string(GHNAS_BINARY) +
                           " " + args);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines_of(text)) out.push_back(nlohmann::json::parse(line));
  return out;
}

// One error line naming the problem, nothing on stdout, exit code 1.
void expect_error(const CmdResult& r, const std::string& part) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.rfind("ghnas: error: ", 0), 0u) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

class StorageCli : public ::testing::Test {
 protected:
  StorageCli() {
    ResultsDb db(tmp_.path());
    const auto run = db.create_run(test::make_run_spec("random"));
    std::vector<Evaluation> evals;
    for (int i = 0; i < 6; ++i) {
      const auto id = db.upsert_architecture(test::make_arch("arch-" + std::to_string(i), 1000 * (i + 1)));
      evals.push_back(test::ok_eval(id, "clean_acc", 80 + i));
      evals.push_back(test::ok_eval(id, "latency", 10 - i));
    }
    db.record_evaluations(run, evals);
    db.finish_run(run, RunStatus::kFinished);
    db.create_run(test::make_run_spec("regularized_evolution"));
  }
  std::string db_arg() const { return " --db '" + tmp_.path() + "'"; }

  test::TempDb tmp_;
};

TEST(StorageCliHelp, ListsQueryAndExport) {
  const CmdResult r = run_ghnas("--help");
  ASSERT_EQ(r.code, 0);
  for (const char* cmd : {"query", "export"}) EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  const CmdResult q = run_ghnas("query --help");
  ASSERT_EQ(q.code, 0);
  for (const char* sub : {"runs", "top", "pareto", "arch", "sql"})
    EXPECT_NE(q.out.find(sub), std::string::npos) << sub;
  for (const char* sub : {"runs", "top", "pareto", "arch", "sql"})
    EXPECT_EQ(run_ghnas(std::string("query ") + sub + " --help").code, 0) << sub;
}

TEST_F(StorageCli, RunsInEachFormat) {
  CmdResult r = run_ghnas("query runs" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;  // header, rule, two runs
  EXPECT_EQ(lines[0].rfind("id  space", 0), 0u) << lines[0];
  EXPECT_NE(lines[2].find("finished"), std::string::npos);

  r = run_ghnas("query runs --format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["evaluations"], 12);
  EXPECT_EQ(rows[0]["config"]["population"], 20);
  EXPECT_EQ(rows[1]["strategy"], "regularized_evolution");

  r = run_ghnas("query runs --format csv" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "id,space,task,strategy,status,seed,started_at,finished_at,evaluations,"
                      "ghnas_version,checkpoint_hash,config");
}

TEST_F(StorageCli, TopPrintsTheBestK) {
  CmdResult r = run_ghnas("query top --run 1 --by clean_acc -k 2 --format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["rank"], 1);
  EXPECT_EQ(rows[0]["hash"], "arch-5");
  EXPECT_EQ(rows[0]["clean_acc"], 85);
  EXPECT_EQ(rows[1]["hash"], "arch-4");

  r = run_ghnas("query top --run 1 --by latency -k 1 --asc --fidelity heads --format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["latency"], 5);

  EXPECT_NE(run_ghnas("query top --run 1 --by latency --asc --desc" + db_arg()).code, 0);
  EXPECT_NE(run_ghnas("query top --run 1 --by latency --fidelity exact" + db_arg()).code, 0);
}

TEST_F(StorageCli, ParetoArchAndSql) {
  CmdResult r = run_ghnas("query pareto --run 1 --x latency --y clean_acc --format csv" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;  // arch-5 is fastest and most accurate
  EXPECT_EQ(lines[0], "arch_id,hash,latency,clean_acc,latency_fidelity,clean_acc_fidelity,params,flops");
  EXPECT_EQ(lines[1].substr(0, lines[1].find(",heads")), "6,arch-5,5,85");

  r = run_ghnas("query arch arch-2" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 4u);  // header, rule, clean_acc, latency
  EXPECT_NE(r.out.find("arch-2"), std::string::npos);

  r = run_ghnas("query sql 'SELECT metric, count(*) AS n FROM evaluations GROUP BY metric ORDER BY metric' "
                "--format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], nlohmann::json({{"metric", "clean_acc"}, {"n", 6}}));
}

TEST_F(StorageCli, ExportWritesEveryEvaluation) {
  CmdResult r = run_ghnas("export --run 1" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 13u);
  EXPECT_EQ(lines[0], "evaluation_id,run_id,arch_id,space,hash,params,flops,evaluator,fidelity,metric,"
                      "value,status,error,seconds,created_at,spec");
  EXPECT_EQ(lines[1].rfind("1,1,1,nasbench201,arch-0,1000,10000,ghn-heads,heads,clean_acc,80,ok,,0.01,", 0), 0u)
      << lines[1];
  EXPECT_NE(lines[1].find(R"("{""cell"":""arch-0""}")"), std::string::npos) << lines[1];

  r = run_ghnas("export --run 1 --format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows[11]["metric"], "latency");
  EXPECT_EQ(rows[11]["spec"]["cell"], "arch-5");
  EXPECT_TRUE(rows[11]["error"].is_null());
  EXPECT_NE(run_ghnas("export --run 1 --format table" + db_arg()).code, 0) << "export writes csv or json";
}

TEST_F(StorageCli, ReadersWorkWhileAWriterHoldsTheDatabase) {
  ResultsDb writer(tmp_.path());
  const auto run = writer.resume_run(2).id;
  const auto id = writer.upsert_architecture(test::make_arch("new", 1));
  writer.record_evaluations(run, {test::ok_eval(id, "clean_acc", 99)});
  const CmdResult r = run_ghnas("query top --run 2 --by clean_acc --format json" + db_arg());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["hash"], "new");
}

TEST_F(StorageCli, BadInputIsOneClearLine) {
  expect_error(run_ghnas("query top --run 9 --by clean_acc" + db_arg()), "run 9 does not exist");
  expect_error(run_ghnas("query top --run 1 --by accuracy" + db_arg()),
               "run 1 has no evaluations of metric 'accuracy' (its metrics: clean_acc, latency)");
  expect_error(run_ghnas("export --run 5" + db_arg()), "run 5 does not exist");
  expect_error(run_ghnas("query arch nothing-like-this" + db_arg()), "no architecture with hash");
  expect_error(run_ghnas("query sql 'DELETE FROM evaluations'" + db_arg()), "only reads");
  EXPECT_EQ(json_lines(run_ghnas("query sql 'SELECT count(*) AS n FROM evaluations' --format json" + db_arg()).out)
                .at(0)["n"],
            12);
}

TEST(StorageCliFiles, BadDatabaseFilesAreOneClearLine) {
  test::TempDb tmp;
  expect_error(run_ghnas("query runs --db '" + tmp.path() + "'"), "does not exist");
  // Without --db: ghnas.db in the working directory (an empty one here).
  const std::string empty_dir = ::testing::TempDir() + "ghnas_cli_cwd_" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(empty_dir.c_str(), 0755), 0);
  expect_error(run_ghnas("query runs", empty_dir), "database 'ghnas.db' does not exist");
  ::rmdir(empty_dir.c_str());
  std::ofstream(tmp.path()) << "this is a CSV file, not a database\n" << std::string(300, '-');
  expect_error(run_ghnas("query runs --db '" + tmp.path() + "'"), "is not an SQLite database");
  expect_error(run_ghnas("export --run 1 --db '" + tmp.path() + "'"), "is not an SQLite database");
  expect_error(run_ghnas("query runs --db '" + ::testing::TempDir() + "'"), "is a directory");
}

TEST(StorageCliFiles, NewerSchemaIsOneClearLine) {
  test::TempDb tmp;
  { ResultsDb db(tmp.path()); }
  {
    sqlite::Connection raw(tmp.path(), sqlite::OpenMode::kReadWriteCreate);
    raw.exec("INSERT INTO schema_version (version, description, ghnas_version) VALUES (9, 'future', '9.0')");
  }
  const std::string before = test::file_bytes(tmp.path());
  expect_error(run_ghnas("query runs --db '" + tmp.path() + "'"), "schema version 9, newer than this ghnas");
  EXPECT_EQ(test::file_bytes(tmp.path()), before);
}

}  // namespace
}  // namespace ghnas
