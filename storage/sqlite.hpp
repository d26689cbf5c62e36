#pragma once
// A thin, owning layer over the SQLite C API: connections and prepared statements are
// std::unique_ptr with deleters, every SQL text is a prepared statement with bound parameters,
// and a Transaction rolls back in its destructor unless committed.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "storage/storage_error.hpp"

namespace ghnas::sqlite {

struct CloseConnection {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using ConnectionPtr = std::unique_ptr<sqlite3, CloseConnection>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

/// How long a connection waits for a lock held by another connection before failing with
/// SQLITE_BUSY (milliseconds).
constexpr int kBusyTimeoutMs = 5000;

enum class OpenMode { kReadOnly, kReadWriteCreate };

/// One connection to a database file. Not thread-safe: use each connection from one thread
/// at a time (open one per thread).
class Connection {
 public:
  /// Opens `path`. kReadOnly never creates the file. Throws StorageError (SQLITE_CANTOPEN)
  /// when it cannot be opened. Extended result codes and the busy timeout are switched on.
  Connection(const std::string& path, OpenMode mode);

  sqlite3* get() const { return db_.get(); }
  const std::string& path() const { return path_; }

  /// Runs each statement of `script` (separated by ';') to completion, ignoring result rows.
  /// For schema definitions and pragmas without parameters.
  void exec(std::string_view script);

  /// Runs one statement that returns a single value (e.g. "PRAGMA journal_mode=WAL") and
  /// returns it as text; empty when the statement returned no row.
  std::string query_text(std::string_view sql);

  /// The rowid of the last successful INSERT on this connection.
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_.get()); }
  /// Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int changes() const { return sqlite3_changes(db_.get()); }
  /// True outside an explicit transaction.
  bool autocommit() const { return sqlite3_get_autocommit(db_.get()) != 0; }

  /// Throws StorageError for result code `rc`: "<what> in '<path>': <SQLite's message>".
  [[noreturn]] void fail(int rc, std::string_view what) const;

 private:
  ConnectionPtr db_;
  std::string path_;
};

/// A prepared statement. Parameters are numbered from 1, columns from 0.
///
///   Statement find(db, "SELECT id FROM runs WHERE status = ?1");
///   find.bind("running");
///   while (find.step()) ids.push_back(find.column_int(0));
class Statement {
 public:
  Statement(Connection& db, std::string_view sql);
  /// Adopts an already prepared statement (for the one-statement-at-a-time loop of exec()).
  Statement(Connection& db, StatementPtr stmt);

  /// Resets the statement (ending a previous execution) and binds `args` to parameters
  /// 1..n. Accepts integers, double, strings, nullptr and std::optional of those.
  template <typename... Args>
  Statement& bind(const Args&... args) {
    reset();
    int index = 0;
    (bind_one(++index, args), ...);
    return *this;
  }

  /// Advances to the next row: true when a row is available, false when done.
  /// Throws StorageError on failure (after resetting the statement).
  bool step();
  /// Steps to completion, ignoring rows (for INSERT/UPDATE/DELETE).
  void run();
  /// Ends the current execution so the statement holds no read snapshot or lock; the bound
  /// parameters are cleared.
  void reset();

  int column_count() const { return sqlite3_column_count(stmt_.get()); }
  std::string column_name(int col) const;
  /// SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
  int column_type(int col) const { return sqlite3_column_type(stmt_.get(), col); }
  bool column_is_null(int col) const { return column_type(col) == SQLITE_NULL; }
  std::int64_t column_int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double column_double(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  std::string column_text(int col) const;
  std::optional<std::int64_t> column_optional_int(int col) const;
  std::optional<double> column_optional_double(int col) const;

  /// True when the statement cannot change the database (sqlite3_stmt_readonly).
  bool read_only() const { return sqlite3_stmt_readonly(stmt_.get()) != 0; }
  sqlite3_stmt* get() const { return stmt_.get(); }

 private:
  void bind_one(int index, std::int64_t v);
  void bind_one(int index, int v) { bind_one(index, static_cast<std::int64_t>(v)); }
  void bind_one(int index, std::uint64_t v);
  void bind_one(int index, double v);
  void bind_one(int index, std::string_view v);
  void bind_one(int index, const std::string& v) { bind_one(index, std::string_view(v)); }
  void bind_one(int index, const char* v) { bind_one(index, std::string_view(v)); }
  void bind_one(int index, std::nullptr_t);
  template <typename T>
  void bind_one(int index, const std::optional<T>& v) {
    if (v) bind_one(index, *v);
    else bind_one(index, nullptr);
  }
  void check_bind(int rc, int index);

  Connection* db_;
  StatementPtr stmt_;
};

/// A transaction that rolls back when it goes out of scope without commit(), e.g. when an
/// exception leaves the block. The outermost one is BEGIN IMMEDIATE (it takes the write lock
/// at once, so it cannot fail half-way on a lock upgrade); one opened while another is active
/// is a SAVEPOINT, so functions that use a Transaction compose into a caller's batch.
class Transaction {
 public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;

  /// Makes the changes permanent (for a savepoint: part of the enclosing transaction).
  void commit();

 private:
  Connection* db_;
  bool savepoint_;
  bool done_ = false;
};

/// A read transaction: the queries run while it lives all see one snapshot of the database,
/// while a writer goes on committing (WAL). Ends when destroyed.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& db);
  ~ReadSnapshot();
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  Connection* db_;
};

}  // namespace ghnas::sqlite
