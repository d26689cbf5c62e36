// Durability for real: a writer process is SIGKILLed at random moments while it records
// batches, and every time the database must be intact, every batch whole or absent, nothing
// reported committed lost, and a new writer must resume without duplicates. And a reader
// connection must read whole batches while a writer commits.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "storage/results_db.hpp"
#include "storage/results_reader.hpp"
#include "storage/sqlite.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas {
namespace {

constexpr int kBatches = 60;
constexpr int kArchsPerBatch = 5;
constexpr int kMetrics = 5;
constexpr int kEvalsPerBatch = kArchsPerBatch * kMetrics;
constexpr std::int64_t kRun = 1;

std::string arch_hash(int batch, int j) {
  return "b" + std::to_string(batch) + "-a" + std::to_string(j);
}
double expected_value(int batch, int j, int m) { return batch * 100.0 + j * 10.0 + m; }

// What the writer process tells the parent, one int per message (pipe writes of 4 bytes are
// atomic): 2b for "an architecture of batch b is written" (inside its transaction), 2b+1 for
// "batch b is committed".
void tell(int fd, int message) {
  if (::write(fd, &message, sizeof(message)) != sizeof(message)) ::_exit(3);
}

// The writer process: resumes run 1, skips the batches already recorded (the resume check a
// search does), and records the rest, one transaction per batch.
[[noreturn]] void writer_process(const std::string& path, int progress_fd) {
  int code = 0;
  try {
    ResultsDb db(path);
    db.resume_run(kRun);
    for (int b = 0; b < kBatches; ++b) {
      const auto last = db.find_architecture("nasbench201", arch_hash(b, kArchsPerBatch - 1));
      if (last && db.is_recorded(kRun, *last, "writer", "m" + std::to_string(kMetrics - 1))) continue;
      auto batch = db.begin_batch();
      std::vector<Evaluation> evals;
      for (int j = 0; j < kArchsPerBatch; ++j) {
        const auto id = db.upsert_architecture(
            {"nasbench201", arch_hash(b, j), nlohmann::json{{"batch", b}, {"j", j}}, 100 + j, 1000 + j});
        for (int m = 0; m < kMetrics; ++m)
          evals.push_back(test::ok_eval(id, "m" + std::to_string(m), expected_value(b, j, m),
                                        Fidelity::kHeads, "writer"));
        tell(progress_fd, 2 * b);
      }
      db.record_evaluations(kRun, evals);
      batch.commit();
      tell(progress_fd, 2 * b + 1);
    }
    db.finish_run(kRun, RunStatus::kFinished);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer process: %s\n", e.what());
    code = 1;
  }
  ::_exit(code);
}

// Checks the database after a kill. Returns the number of batches present (always a prefix).
int check_database(const std::string& path, const std::set<int>& committed) {
  sqlite::Connection db(path, sqlite::OpenMode::kReadOnly);
  EXPECT_EQ(db.query_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(db.query_text("SELECT count(*) FROM pragma_foreign_key_check"), "0");
  // No evaluation recorded twice.
  EXPECT_EQ(db.query_text("SELECT count(*) FROM evaluations"),
            db.query_text("SELECT count(*) FROM (SELECT DISTINCT arch_id, metric FROM evaluations)"));

  sqlite::Statement per_batch(db,
                              "SELECT json_extract(a.spec, '$.batch') AS b, count(DISTINCT a.id), "
                              "count(e.id), sum(e.value = json_extract(a.spec, '$.batch') * 100 + "
                              "json_extract(a.spec, '$.j') * 10 + CAST(substr(e.metric, 2) AS INTEGER)) "
                              "FROM architectures a LEFT JOIN evaluations e ON e.arch_id = a.id "
                              "GROUP BY b ORDER BY b");
  per_batch.bind();
  int present = 0;
  while (per_batch.step()) {
    const int b = static_cast<int>(per_batch.column_int(0));
    EXPECT_EQ(b, present) << "batches form a prefix: batch " << b << " without batch " << present;
    EXPECT_EQ(per_batch.column_int(1), kArchsPerBatch) << "batch " << b << " is half-written";
    EXPECT_EQ(per_batch.column_int(2), kEvalsPerBatch) << "batch " << b << " is half-written";
    EXPECT_EQ(per_batch.column_int(3), kEvalsPerBatch) << "batch " << b << " has wrong values";
    ++present;
  }
  for (int b : committed) EXPECT_LT(b, present) << "batch " << b << " was committed, then lost";
  // Ids stay consistent: architecture and evaluation ids grow with the batch order, as written.
  const char* out_of_order[] = {
      "SELECT count(*) FROM (SELECT json_extract(spec, '$.batch') AS b, "
      "lag(json_extract(spec, '$.batch')) OVER (ORDER BY id) AS prev FROM architectures) WHERE prev > b",
      "SELECT count(*) FROM (SELECT json_extract(a.spec, '$.batch') AS b, "
      "lag(json_extract(a.spec, '$.batch')) OVER (ORDER BY e.id) AS prev "
      "FROM evaluations e JOIN architectures a ON a.id = e.arch_id) WHERE prev > b"};
  for (const char* query : out_of_order) EXPECT_EQ(db.query_text(query), "0") << query;
  return present;
}

TEST(Durability, KilledWriterLosesNothingAndResumesWithoutDuplicates) {
  test::TempDb tmp;
  {
    ResultsDb db(tmp.path());
    ASSERT_EQ(db.create_run(test::make_run_spec()), kRun);
  }
  std::mt19937 rng(20240501);
  std::set<int> committed;
  int rounds_with_a_batch_in_flight = 0;
  int present = 0;
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      writer_process(tmp.path(), fds[1]);
    }
    ::close(fds[1]);
    // Kill after a random number of messages: somewhere in the next three batches, inside a
    // transaction, during a commit, or between batches.
    const int kill_after = std::uniform_int_distribution<int>(1, 3 * (kArchsPerBatch + 1))(rng);
    int message = 0, seen = 0, in_flight = -1;
    while (seen < kill_after && ::read(fds[0], &message, sizeof(message)) == sizeof(message)) {
      ++seen;
      if (message % 2) committed.insert(message / 2);
      else in_flight = message / 2;
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) == 0)
        << "the writer process failed on its own (exit " << WEXITSTATUS(status) << ")";

    const int now = check_database(tmp.path(), committed);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "after round " << round;
    EXPECT_GE(now, present) << "batches disappeared";
    if (in_flight >= now) ++rounds_with_a_batch_in_flight;
    present = now;
  }
  std::printf("killed 8 times: %d batches present, %d kills with a batch in flight\n", present,
              rounds_with_a_batch_in_flight);

  // A last writer finishes the run: every batch exactly once.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int devnull[2];
    if (::pipe(devnull) != 0) ::_exit(4);
    // Nobody reads the messages; a pipe holds far more than one run writes.
    writer_process(tmp.path(), devnull[1]);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(check_database(tmp.path(), committed), kBatches);
  ResultsDb db(tmp.path());
  EXPECT_EQ(db.run(kRun).status, RunStatus::kFinished);
  EXPECT_EQ(db.run_evaluations(kRun).size(), static_cast<std::size_t>(kBatches * kEvalsPerBatch));
}

TEST(Durability, ReaderSeesWholeBatchesWhileAWriterCommits) {
  test::TempDb tmp;
  constexpr int kReaderBatches = 100, kPerBatch = 10;
  ResultsDb db(tmp.path());
  const auto run = db.create_run(test::make_run_spec());
  ResultsReader reader(tmp.path());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int b = 0; b < kReaderBatches; ++b) {
      auto batch = db.begin_batch();
      std::vector<Evaluation> evals;
      for (int j = 0; j < kPerBatch; ++j) {
        const auto id = db.upsert_architecture(test::make_arch(arch_hash(b, j), 10 + j));
        evals.push_back(test::ok_eval(id, "clean_acc", b));
      }
      db.record_evaluations(run, evals);
      batch.commit();
    }
    done = true;
  });
  int reads = 0;
  std::int64_t last = 0;
  bool finished = false;
  while (!finished) {
    finished = done;  // read once more after the writer is done
    ResultTable t;
    // One statement, one snapshot: complete batches b = 0..max hold (max+1)*kPerBatch rows.
    reader.sql("SELECT count(*) AS n, coalesce(max(value), -1) AS top FROM evaluations", t);
    const std::int64_t n = t.at(0, "n").integer;
    const Cell& top = t.at(0, "top");
    const double max_batch = top.kind == Cell::Kind::kInteger ? double(top.integer) : top.real;
    EXPECT_EQ(n, static_cast<std::int64_t>((max_batch + 1) * kPerBatch)) << "a half batch was visible";
    EXPECT_GE(n, last);
    last = n;
    if (n > 0) {
      ResultTable best;
      reader.top({run, "clean_acc", 3}, best);
      EXPECT_EQ(best.rows.size(), 3u);
    }
    ++reads;
  }
  writer.join();
  EXPECT_EQ(last, kReaderBatches * kPerBatch);
  std::printf("%d consistent reads while the writer committed %d batches\n", reads, kReaderBatches);
}

}  // namespace
}  // namespace ghnas
