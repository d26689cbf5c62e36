#pragma once
// The error the results database throws: a ghnas::Error that keeps SQLite's result code, so a
// caller can tell "another process is writing, try later" from "this file is not ours".

#include <sqlite3.h>

#include <string>

#include "core/error.hpp"

namespace ghnas {

/// A failure of the results database. `code()` is the SQLite extended result code
/// (SQLITE_BUSY, SQLITE_NOTADB, SQLITE_READONLY, SQLITE_CANTOPEN, ...). Conditions ghnas
/// detects itself use the closest SQLite code:
///   - another writer holds the database           -> SQLITE_BUSY
///   - an SQLite file that is not a ghnas database   -> SQLITE_NOTADB
///   - a schema newer than this build understands    -> SQLITE_ERROR (message says "newer")
///   - a missing file or directory                   -> SQLITE_CANTOPEN
///   - `ghnas query sql` given a statement that writes -> SQLITE_READONLY
class StorageError : public Error {
 public:
  StorageError(int code, const std::string& message) : Error(message), code_(code) {}

  /// The SQLite extended result code.
  int code() const { return code_; }
  /// The primary result code (extended code without its upper bits), e.g. SQLITE_BUSY.
  int primary_code() const { return code_ & 0xff; }

  /// The database is held by another connection or process (SQLITE_BUSY / SQLITE_LOCKED).
  bool is_busy() const { return primary_code() == SQLITE_BUSY || primary_code() == SQLITE_LOCKED; }
  /// The file is not an SQLite database, or not a ghnas one.
  bool is_not_a_database() const { return primary_code() == SQLITE_NOTADB; }
  /// A write was attempted through a read-only connection.
  bool is_read_only() const { return primary_code() == SQLITE_READONLY; }

 private:
  int code_;
};

}  // namespace ghnas
