#include "storage/schema.hpp"

#include <string_view>

namespace ghnas {

namespace {

// Version 1. Times are ISO-8601 UTC text with milliseconds ("2024-05-01T12:00:00.123Z"):
// readable in `ghnas query`, sortable as text, parsed by pandas. The CHECK lists are the
// vocabularies of storage/vocabulary.hpp.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE schema_version (
  version       INTEGER PRIMARY KEY,
  description   TEXT NOT NULL,
  applied_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  ghnas_version TEXT NOT NULL
);

CREATE TABLE runs (
  id              INTEGER PRIMARY KEY,
  space           TEXT NOT NULL,
  task            TEXT NOT NULL,
  strategy        TEXT NOT NULL,
  config          TEXT NOT NULL CHECK (json_valid(config)),
  seed            INTEGER NOT NULL,
  status          TEXT NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
  started_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at     TEXT,
  ghnas_version   TEXT NOT NULL,
  checkpoint_hash TEXT
);

CREATE TABLE architectures (
  id     INTEGER PRIMARY KEY,
  space  TEXT NOT NULL,
  hash   TEXT NOT NULL,
  spec   TEXT NOT NULL CHECK (json_valid(spec)),
  params INTEGER CHECK (params >= 0),
  flops  INTEGER CHECK (flops >= 0),
  -- hash first: `ghnas query arch HASH` looks an architecture up by hash alone.
  UNIQUE (hash, space)
);

CREATE TABLE evaluations (
  id         INTEGER PRIMARY KEY,
  arch_id    INTEGER NOT NULL REFERENCES architectures (id),
  run_id     INTEGER NOT NULL REFERENCES runs (id),
  evaluator  TEXT NOT NULL,
  fidelity   TEXT NOT NULL
             CHECK (fidelity IN ('heads', 'predicted-parameters', 'sgd', 'table', 'proxy')),
  metric     TEXT NOT NULL,
  value      REAL,
  status     TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed', 'oom', 'invalid')),
  error      TEXT,
  seconds    REAL CHECK (seconds >= 0),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((status = 'ok') = (value IS NOT NULL))
);

-- One number per (architecture, run, evaluator, metric): the resume check and the guard
-- against duplicates; with arch_id first it also serves `ghnas query arch`.
CREATE UNIQUE INDEX evaluations_key ON evaluations (arch_id, run_id, evaluator, metric);
-- Top-k of a run by a metric walks one of these from one end of the (run, metric) range and
-- stops after k rows; value is NULL exactly for evaluations that are not ok, so queries skip
-- them with "value IS NOT NULL" (a range, not a filter). Ties are ranked by arch_id, then id:
-- the index order, so no sort is needed however many values tie. The first also counts a
-- run's rows; the second holds everything a Pareto query reads (no table lookups).
CREATE INDEX evaluations_top ON evaluations (run_id, metric, value, arch_id);
CREATE INDEX evaluations_top_fidelity ON evaluations (run_id, metric, fidelity, value, arch_id);
)sql";

[[noreturn]] void throw_newer(const std::string& path, int version, int newest) {
  throw StorageError(SQLITE_ERROR,
                     detail::str_cat("database '", path, "' has schema version ", version,
                                     ", newer than this ghnas (", GHNAS_VERSION,
                                     ") understands (", newest,
                                     "); open it with a newer ghnas (the file was not changed)"));
}

}  // namespace

const std::vector<Migration>& schema_migrations() {
  static const std::vector<Migration> migrations = {
      {1, "runs, architectures, evaluations", std::string(kSchemaV1)},
  };
  return migrations;
}

int read_schema_version(sqlite::Connection& db) {
  std::int64_t application_id = 0;
  std::int64_t tables = 0;
  try {
    // The first read of the header: a file that is not a database fails here.
    application_id = std::stoll(db.query_text("PRAGMA application_id"));
    tables = std::stoll(db.query_text("SELECT count(*) FROM sqlite_schema"));
  } catch (const StorageError& e) {
    if (!e.is_not_a_database()) throw;
    throw StorageError(e.code(), detail::str_cat("'", db.path(), "' is not an SQLite database"));
  }
  if (application_id == 0 && tables == 0) return 0;
  if (application_id != kApplicationId)
    throw StorageError(SQLITE_NOTADB,
                       detail::str_cat("'", db.path(),
                                       "' is an SQLite database but not a ghnas results database "
                                       "(its application_id is ", application_id, ", not ",
                                       kApplicationId, ")"));
  sqlite::Statement version(db, "SELECT max(version) FROM schema_version");
  const int value = version.step() ? static_cast<int>(version.column_int(0)) : 0;
  version.reset();
  return value;
}

void check_not_newer(const std::string& path, int version) {
  if (version > kSchemaVersion) throw_newer(path, version, kSchemaVersion);
}

void check_schema_readable(const std::string& path, int version) {
  check_not_newer(path, version);
  if (version == 0)
    throw StorageError(SQLITE_NOTADB,
                       detail::str_cat("database '", path,
                                       "' is empty: no ghnas results have been written to it"));
  if (version < kOldestReadableSchemaVersion)
    throw StorageError(SQLITE_ERROR,
                       detail::str_cat("database '", path, "' has schema version ", version,
                                       ", older than this ghnas reads (", kOldestReadableSchemaVersion,
                                       "); open it once for writing (e.g. resume a search) to migrate it"));
}

void migrate(sqlite::Connection& db, const std::vector<Migration>& migrations) {
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  int current = read_schema_version(db);
  if (current > newest) throw_newer(db.path(), current, newest);
  for (const Migration& step : migrations) {
    if (step.version <= current) continue;
    sqlite::Transaction transaction(db);
    db.exec(step.sql);
    sqlite::Statement record(
        db, "INSERT INTO schema_version (version, description, ghnas_version) VALUES (?1, ?2, ?3)");
    record.bind(step.version, step.description, GHNAS_VERSION).run();
    if (current == 0) {
      // Pragmas take no bound parameters; the value is a compile-time constant.
      db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    }
    transaction.commit();
    current = step.version;
  }
}

}  // namespace ghnas
