#include "storage/results_db.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "storage/schema.hpp"

namespace ghnas {

namespace {

using sqlite::Statement;

// The one-writer rule across processes. SQLite's own locks cannot express it: in WAL mode a
// writer holds the write lock only for the length of a transaction. An flock() on a file
// beside the database can: the kernel releases it when the process exits, however it dies.
// (Not on the database file itself: closing any descriptor of that file would drop SQLite's
// POSIX locks on it.)
class WriterLock {
 public:
  explicit WriterLock(const std::string& db_path) {
    const std::string lock_path = db_path + "-lock";
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw StorageError(SQLITE_CANTOPEN, detail::str_cat("cannot create the writer lock '", lock_path,
                                                          "': ", std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_holder();
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK)
        throw StorageError(
            SQLITE_BUSY,
            detail::str_cat("database '", db_path, "' is already open for writing",
                            holder.empty() ? "" : " by process " + holder,
                            "; ghnas allows one writer at a time ('ghnas query' can read it meanwhile)"));
      throw StorageError(SQLITE_CANTOPEN, detail::str_cat("cannot lock '", lock_path, "': ",
                                                          std::strerror(err)));
    }
    // The holder's pid, for the message another writer gets. Advisory: failing to write it
    // changes nothing about the lock.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
      [[maybe_unused]] const auto written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
  }
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  std::string read_holder() const {
    char buf[32] = {};
    const auto n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
    std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid;
  }

  int fd_ = -1;
};

// Checks an existing file before the lock file is created beside it: a path that is a
// directory, a missing directory, or a file that is not a ghnas database (or is one from a
// newer ghnas) is refused without leaving anything behind.
void check_writer_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      throw StorageError(SQLITE_CANTOPEN, detail::str_cat("cannot open database '", path, "': ",
                                                          std::strerror(errno)));
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw StorageError(SQLITE_CANTOPEN,
                         detail::str_cat("cannot create database '", path, "': directory '",
                                         dir.string(), "' does not exist"));
    return;
  }
  if (S_ISDIR(st.st_mode))
    throw StorageError(SQLITE_CANTOPEN,
                       detail::str_cat("'", path, "' is a directory, not a database file"));
  if (st.st_size == 0) return;
  sqlite::Connection probe(path, sqlite::OpenMode::kReadOnly);
  check_not_newer(path, read_schema_version(probe));
}

const std::string& checked_writer_path(const std::string& path) {
  check_writer_path(path);
  return path;
}

sqlite::Connection open_writer_connection(const std::string& path) {
  sqlite::Connection db(path, sqlite::OpenMode::kReadWriteCreate);
  try {
    // Read before anything writes: a newer database must stay byte-for-byte as it was.
    check_not_newer(path, read_schema_version(db));
    const std::string mode = db.query_text("PRAGMA journal_mode = WAL");
    if (mode != "wal")
      throw StorageError(SQLITE_CANTOPEN,
                         detail::str_cat("cannot switch database '", path, "' to WAL mode (got '",
                                         mode, "'); keep the database on a local disk"));
    // FULL: a committed batch survives power loss too, not only a killed process; batches
    // make the extra fsync cheap. A 64 MiB page cache keeps the indexes' hot pages of a large
    // database in memory instead of spilling them mid-transaction.
    db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536");
    migrate(db);
  } catch (const StorageError& e) {
    if (!e.is_busy()) throw;
    throw StorageError(e.code(), detail::str_cat("database '", path, "' is locked by another connection (waited ",
                                                 sqlite::kBusyTimeoutMs / 1000, " s): ", e.what()));
  }
  return db;
}

// Runs `stmt` to completion and returns column 0 of its first row, if any (the id of an
// INSERT ... RETURNING, the value of a lookup). Stepping to the end matters: a statement left
// open would keep its implicit transaction open too.
std::optional<std::int64_t> first_int(Statement& stmt) {
  std::optional<std::int64_t> value;
  while (stmt.step())
    if (!value) value = stmt.column_int(0);
  return value;
}

std::optional<std::string> null_if_empty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

constexpr const char* kRunColumns =
    "SELECT id, space, task, strategy, config, seed, status, started_at, finished_at, "
    "ghnas_version, checkpoint_hash FROM runs WHERE id = ?1";

}  // namespace

struct ResultsDb::Impl {
  explicit Impl(const std::string& path)
      : lock(checked_writer_path(path)),
        db(open_writer_connection(path)),
        insert_run(db,
                   "INSERT INTO runs (space, task, strategy, config, seed, ghnas_version, "
                   "checkpoint_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id"),
        select_run(db, kRunColumns),
        find_run(db,
                 "SELECT id FROM runs WHERE space = ?1 AND task = ?2 AND strategy = ?3 AND "
                 "config = ?4 AND seed = ?5 ORDER BY id DESC LIMIT 1"),
        run_status(db, "SELECT status FROM runs WHERE id = ?1"),
        set_run_status(db,
                       "UPDATE runs SET status = ?2, finished_at = CASE WHEN ?2 = 'running' THEN "
                       "NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END WHERE id = ?1 "
                       "RETURNING id"),
        upsert_arch(db,
                    "INSERT INTO architectures (space, hash, spec, params, flops) "
                    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hash, space) DO UPDATE SET "
                    "params = coalesce(params, excluded.params), "
                    "flops = coalesce(flops, excluded.flops) RETURNING id"),
        find_arch(db, "SELECT id FROM architectures WHERE hash = ?2 AND space = ?1"),
        select_arch(db, "SELECT space, hash, spec, params, flops FROM architectures WHERE id = ?1"),
        insert_eval(db,
                    "INSERT INTO evaluations (arch_id, run_id, evaluator, fidelity, metric, value, "
                    "status, error, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                    "ON CONFLICT (arch_id, run_id, evaluator, metric) DO NOTHING RETURNING id"),
        find_eval(db,
                  "SELECT id FROM evaluations "
                  "WHERE arch_id = ?1 AND run_id = ?2 AND evaluator = ?3 AND metric = ?4"),
        // A run is usually most of the table: walking it in id order beats an index + sort.
        select_run_evals(db,
                         "SELECT id, arch_id, evaluator, fidelity, metric, value, status, error, "
                         "seconds, created_at FROM evaluations NOT INDEXED WHERE run_id = ?1 ORDER BY id") {
    // Runs a dead writer left behind: only one writer exists and it is us, so nobody else
    // is still working on them.
    db.exec("UPDATE runs SET status = 'interrupted' WHERE status = 'running'");
  }

  [[noreturn]] void unknown(const char* what, std::int64_t id) const {
    throw ConfigError(detail::str_cat(what, " ", id, " does not exist in '", db.path(), "'"));
  }

  // Member order is teardown order in reverse: statements are finalized before the
  // connection closes, and the lock is released last.
  WriterLock lock;
  sqlite::Connection db;
  Statement insert_run, select_run, find_run, run_status, set_run_status;
  Statement upsert_arch, find_arch, select_arch;
  Statement insert_eval, find_eval, select_run_evals;
};

ResultsDb::ResultsDb(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
ResultsDb::~ResultsDb() = default;
ResultsDb::ResultsDb(ResultsDb&&) noexcept = default;
ResultsDb& ResultsDb::operator=(ResultsDb&&) noexcept = default;

const std::string& ResultsDb::path() const { return impl_->db.path(); }

sqlite::Transaction ResultsDb::begin_batch() { return sqlite::Transaction(impl_->db); }

// ---- runs

std::int64_t ResultsDb::create_run(const RunSpec& spec) {
  GHNAS_CHECK_AS(ConfigError, !spec.space.empty() && !spec.task.empty() && !spec.strategy.empty(),
                 "a run needs a space, a task and a strategy (got '", spec.space, "', '",
                 spec.task, "', '", spec.strategy, "')");
  impl_->insert_run.bind(spec.space, spec.task, spec.strategy, spec.config.dump(), spec.seed,
                         GHNAS_VERSION, null_if_empty(spec.checkpoint_hash));
  return *first_int(impl_->insert_run);
}

RunRecord ResultsDb::run(std::int64_t id) const {
  Statement& s = impl_->select_run;
  s.bind(id);
  if (!s.step()) impl_->unknown("run", id);
  RunRecord r;
  r.id = s.column_int(0);
  r.spec.space = s.column_text(1);
  r.spec.task = s.column_text(2);
  r.spec.strategy = s.column_text(3);
  const std::string config = s.column_text(4);
  r.spec.seed = static_cast<std::uint64_t>(s.column_int(5));
  const std::string status = s.column_text(6);
  r.started_at = s.column_text(7);
  r.finished_at = s.column_text(8);
  r.ghnas_version = s.column_text(9);
  r.spec.checkpoint_hash = s.column_text(10);
  s.reset();
  r.status = parse_run_status(status);
  r.spec.config = nlohmann::json::parse(config);
  return r;
}

std::optional<std::int64_t> ResultsDb::find_run(const RunSpec& spec) const {
  // config is stored as nlohmann's dump, whose object keys are sorted: equal JSON, equal text.
  impl_->find_run.bind(spec.space, spec.task, spec.strategy, spec.config.dump(), spec.seed);
  return first_int(impl_->find_run);
}

RunRecord ResultsDb::resume_run(std::int64_t id) {
  impl_->set_run_status.bind(id, to_string(RunStatus::kRunning));
  if (!first_int(impl_->set_run_status)) impl_->unknown("run", id);
  return run(id);
}

void ResultsDb::finish_run(std::int64_t id, RunStatus status) {
  GHNAS_CHECK_AS(ConfigError, status != RunStatus::kRunning,
                 "finish_run needs the status a run ended with (finished, failed or interrupted)");
  impl_->set_run_status.bind(id, to_string(status));
  if (!first_int(impl_->set_run_status)) impl_->unknown("run", id);
}

// ---- architectures

std::int64_t ResultsDb::upsert_architecture(const ArchRecord& arch) {
  GHNAS_CHECK_AS(ConfigError, !arch.space.empty() && !arch.hash.empty(),
                 "an architecture needs a space and a hash (got '", arch.space, "', '", arch.hash, "')");
  GHNAS_CHECK_AS(ConfigError, !arch.spec.is_null(), "architecture ", arch.hash, " has no spec");
  impl_->upsert_arch.bind(arch.space, arch.hash, arch.spec.dump(), arch.params, arch.flops);
  return *first_int(impl_->upsert_arch);
}

std::optional<std::int64_t> ResultsDb::find_architecture(const std::string& space,
                                                         const std::string& hash) const {
  impl_->find_arch.bind(space, hash);
  return first_int(impl_->find_arch);
}

ArchRecord ResultsDb::architecture(std::int64_t id) const {
  Statement& s = impl_->select_arch;
  s.bind(id);
  if (!s.step()) impl_->unknown("architecture", id);
  ArchRecord a{s.column_text(0), s.column_text(1), {}, s.column_optional_int(3),
               s.column_optional_int(4)};
  const std::string spec = s.column_text(2);
  s.reset();
  a.spec = nlohmann::json::parse(spec);
  return a;
}

// ---- evaluations

std::vector<std::int64_t> ResultsDb::record_evaluations(std::int64_t run_id,
                                                        const std::vector<Evaluation>& evaluations) {
  Impl& m = *impl_;
  m.run_status.bind(run_id);
  std::string status;
  if (m.run_status.step()) status = m.run_status.column_text(0);
  m.run_status.reset();
  if (status.empty()) m.unknown("run", run_id);
  GHNAS_CHECK_AS(ConfigError, status == to_string(RunStatus::kRunning), "run ", run_id, " is ",
                 status, "; resume it before recording evaluations");
  for (std::size_t i = 0; i < evaluations.size(); ++i) {
    const Evaluation& e = evaluations[i];
    GHNAS_CHECK_AS(ConfigError, !e.evaluator.empty() && !e.metric.empty(), "evaluation ", i,
                   " of the batch has no evaluator or metric name");
    GHNAS_CHECK_AS(ConfigError, e.status != EvalStatus::kOk || std::isfinite(e.value),
                   "evaluation ", i, " of the batch (", e.evaluator, ", ", e.metric,
                   ") is ok but its value is ", e.value, "; record it as diverged or failed");
    GHNAS_CHECK_AS(ConfigError, !e.seconds || (std::isfinite(*e.seconds) && *e.seconds >= 0),
                   "evaluation ", i, " of the batch has a bad time: ", *e.seconds, " s");
  }

  std::vector<std::int64_t> ids;
  ids.reserve(evaluations.size());
  sqlite::Transaction transaction(m.db);
  for (std::size_t i = 0; i < evaluations.size(); ++i) {
    const Evaluation& e = evaluations[i];
    const bool ok = e.status == EvalStatus::kOk;
    m.insert_eval.bind(e.arch_id, run_id, e.evaluator, to_string(e.fidelity), e.metric,
                       ok ? std::optional<double>(e.value) : std::nullopt, to_string(e.status),
                       null_if_empty(e.error), e.seconds);
    std::optional<std::int64_t> id;
    try {
      id = first_int(m.insert_eval);
    } catch (const StorageError& err) {
      if (err.code() != SQLITE_CONSTRAINT_FOREIGNKEY) throw;
      throw StorageError(err.code(),
                         detail::str_cat("evaluation ", i, " of the batch names architecture id ",
                                         e.arch_id, ", which is not in '", m.db.path(),
                                         "' (nothing of the batch was recorded)"));
    }
    if (!id) {  // already recorded: keep the stored one
      m.find_eval.bind(e.arch_id, run_id, e.evaluator, e.metric);
      id = first_int(m.find_eval);
    }
    ids.push_back(*id);
  }
  transaction.commit();
  return ids;
}

bool ResultsDb::is_recorded(std::int64_t run_id, std::int64_t arch_id, const std::string& evaluator,
                            const std::string& metric) const {
  impl_->find_eval.bind(arch_id, run_id, evaluator, metric);
  return first_int(impl_->find_eval).has_value();
}

std::vector<StoredEvaluation> ResultsDb::run_evaluations(std::int64_t run_id) const {
  (void)run(run_id);  // an unknown run is an error, not an empty history
  Statement& s = impl_->select_run_evals;
  s.bind(run_id);
  std::vector<StoredEvaluation> out;
  while (s.step()) {
    StoredEvaluation e;
    e.id = s.column_int(0);
    e.arch_id = s.column_int(1);
    e.evaluator = s.column_text(2);
    e.fidelity = parse_fidelity(s.column_text(3));
    e.metric = s.column_text(4);
    e.value = s.column_optional_double(5);
    e.status = parse_eval_status(s.column_text(6));
    e.error = s.column_text(7);
    e.seconds = s.column_optional_double(8);
    e.created_at = s.column_text(9);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ghnas
