#include "storage/sqlite.hpp"

#include <limits>
#include <utility>

namespace ghnas::sqlite {

namespace {

// Error messages quote the statement that failed, shortened: users need to know which step
// failed, not the whole text.
std::string short_sql(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  std::string out(sql.substr(0, kMax));
  for (char& c : out)
    if (c == '\n' || c == '\t') c = ' ';
  if (sql.size() > kMax) out += "...";
  return out;
}

}  // namespace

// ---- Connection

Connection::Connection(const std::string& path, OpenMode mode) : path_(path) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // Even a failed open allocates a handle that must be closed.
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    const std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw StorageError(rc, detail::str_cat("cannot open database '", path, "': ", message));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
}

void Connection::fail(int rc, std::string_view what) const {
  throw StorageError(rc, detail::str_cat("database '", path_, "': ", sqlite3_errmsg(db_.get()),
                                         " (", what, ")"));
}

void Connection::exec(std::string_view script) {
  const char* next = script.data();
  const char* const end = script.data() + script.size();
  while (next < end) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db_.get(), next, static_cast<int>(end - next), &raw, &tail);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK)
      fail(rc, "preparing \"" + short_sql(std::string_view(next, end - next)) + "\"");
    next = tail;
    if (stmt) Statement(*this, std::move(stmt)).run();  // null for trailing blanks/comments
  }
}

std::string Connection::query_text(std::string_view sql) {
  Statement stmt(*this, sql);
  std::string value = stmt.step() ? stmt.column_text(0) : std::string();
  stmt.reset();
  return value;
}

// ---- Statement

Statement::Statement(Connection& db, std::string_view sql) : db_(&db) {
  sqlite3_stmt* raw = nullptr;
  // Statements live as long as the object that owns them (often the whole session).
  const int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) db.fail(rc, "preparing \"" + short_sql(sql) + "\"");
  GHNAS_CHECK(stmt_ != nullptr, "empty SQL statement");
}

Statement::Statement(Connection& db, StatementPtr stmt) : db_(&db), stmt_(std::move(stmt)) {}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(stmt_.get());
  // The message must be read before reset(), which may replace it.
  const std::string message = sqlite3_errmsg(db_->get());
  sqlite3_reset(stmt_.get());
  throw StorageError(rc, detail::str_cat("database '", db_->path(), "': ", message,
                                         " (running \"", short_sql(sql), "\")"));
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::string Statement::column_name(int col) const {
  const char* name = sqlite3_column_name(stmt_.get(), col);
  return name ? name : "";
}

std::string Statement::column_text(int col) const {
  const auto* text = sqlite3_column_text(stmt_.get(), col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

std::optional<std::int64_t> Statement::column_optional_int(int col) const {
  if (column_is_null(col)) return std::nullopt;
  return column_int(col);
}

std::optional<double> Statement::column_optional_double(int col) const {
  if (column_is_null(col)) return std::nullopt;
  return column_double(col);
}

void Statement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK)
    db_->fail(rc, detail::str_cat("binding parameter ", index, " of \"",
                                  short_sql(sqlite3_sql(stmt_.get())), "\""));
}

void Statement::bind_one(int index, std::int64_t v) {
  check_bind(sqlite3_bind_int64(stmt_.get(), index, v), index);
}

void Statement::bind_one(int index, std::uint64_t v) {
  GHNAS_CHECK_AS(ConfigError, v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                 "value ", v, " does not fit an SQLite integer (at most 2^63-1)");
  bind_one(index, static_cast<std::int64_t>(v));
}

void Statement::bind_one(int index, double v) {
  check_bind(sqlite3_bind_double(stmt_.get(), index, v), index);
}

void Statement::bind_one(int index, std::string_view v) {
  check_bind(sqlite3_bind_text64(stmt_.get(), index, v.data(), v.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8),
             index);
}

void Statement::bind_one(int index, std::nullptr_t) {
  check_bind(sqlite3_bind_null(stmt_.get(), index), index);
}

// ---- Transaction

Transaction::Transaction(Connection& db) : db_(&db), savepoint_(!db.autocommit()) {
  db.exec(savepoint_ ? "SAVEPOINT ghnas_batch" : "BEGIN IMMEDIATE");
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), savepoint_(other.savepoint_), done_(other.done_) {
  other.done_ = true;
}

Transaction::~Transaction() {
  if (done_) return;
  // After some errors (SQLITE_FULL, SQLITE_IOERR, ...) SQLite has already rolled the whole
  // transaction back; there is nothing left to undo then.
  if (db_->autocommit()) return;
  try {
    if (savepoint_) db_->exec("ROLLBACK TO ghnas_batch; RELEASE ghnas_batch");
    else db_->exec("ROLLBACK");
  } catch (const std::exception&) {
    // A destructor must not throw; SQLite rolls back an unfinished transaction when the
    // connection closes, so the database stays consistent either way.
  }
}

void Transaction::commit() {
  db_->exec(savepoint_ ? "RELEASE ghnas_batch" : "COMMIT");
  done_ = true;
}

// ---- ReadSnapshot

ReadSnapshot::ReadSnapshot(Connection& db) : db_(&db) { db.exec("BEGIN DEFERRED"); }

ReadSnapshot::~ReadSnapshot() {
  if (db_->autocommit()) return;
  try {
    db_->exec("COMMIT");
  } catch (const std::exception&) {
    // Ending a read transaction cannot lose data; closing the connection ends it as well.
  }
}

}  // namespace ghnas::sqlite
