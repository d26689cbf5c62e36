#pragma once
// The schema of the results database and how a database reaches it: a schema_version table
// records every migration applied, and a database from a newer ghnas is refused untouched.
// The tables are documented for users in storage/SCHEMA.md.

#include <cstdint>
#include <string>
#include <vector>

#include "storage/sqlite.hpp"

namespace ghnas {

/// The newest schema version this build creates and understands.
constexpr int kSchemaVersion = 1;

/// The oldest schema version ResultsReader reads without migrating it first. A migration that
/// changes what the reader's queries need raises it; older databases must then be opened
/// once by a writer (ResultsDb migrates on open).
constexpr int kOldestReadableSchemaVersion = 1;

/// PRAGMA application_id of a ghnas results database ("ghna" in ASCII); tells a ghnas
/// database from any other SQLite file.
constexpr std::int32_t kApplicationId = 0x67686e61;

/// One step of the schema's history: the SQL that takes a database from version-1 to version.
struct Migration {
  int version;
  std::string description;
  std::string sql;
};

/// The migrations of this build, oldest first; the last one's version is kSchemaVersion.
const std::vector<Migration>& schema_migrations();

/// The schema version of the database behind `db`: 0 for an empty database (no tables).
/// Throws StorageError (SQLITE_NOTADB) when the file is not an SQLite database, or is one but
/// not a ghnas results database.
int read_schema_version(sqlite::Connection& db);

/// Throws StorageError, naming `path`, when `version` is newer than kSchemaVersion.
void check_not_newer(const std::string& path, int version);

/// Throws StorageError unless a database at `version` can be read by this build: version 0
/// (empty), versions older than kOldestReadableSchemaVersion and versions newer than
/// kSchemaVersion are refused with a message naming the path.
void check_schema_readable(const std::string& path, int version);

/// Brings the database to the last version of `migrations`, one transaction per step, so a
/// failed step leaves the database at the previous version. Throws StorageError without
/// touching the database when it is newer than the last migration.
void migrate(sqlite::Connection& db, const std::vector<Migration>& migrations = schema_migrations());

}  // namespace ghnas
