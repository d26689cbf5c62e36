// Schema versions and migrations, and every way opening a database can go wrong: each is one
// clear error naming the file, and a file that is refused is left exactly as it was.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "storage/results_db.hpp"
#include "storage/results_reader.hpp"
#include "storage/schema.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas {
namespace {

using test::TempDb;

// Expects `open()` to throw StorageError with primary code `code` and a message containing
// every string of `parts`.
template <typename Open>
void expect_storage_error(Open open, int code, std::initializer_list<std::string> parts) {
  try {
    open();
    FAIL() << "expected a StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(e.primary_code(), code) << e.what();
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
    for (const auto& part : parts) EXPECT_NE(what.find(part), std::string::npos) << what;
  }
}

// Takes a ghnas database to a made-up version 2, as a future ghnas would.
void make_newer(const std::string& path) {
  { ResultsDb db(path); db.create_run(test::make_run_spec()); }
  sqlite::Connection raw(path, sqlite::OpenMode::kReadWriteCreate);
  auto steps = schema_migrations();
  steps.push_back({2, "a future table", "CREATE TABLE future (x INTEGER)"});
  migrate(raw, steps);
  EXPECT_EQ(read_schema_version(raw), 2);
}

TEST(Schema, MigrationsEndAtTheSchemaVersion) {
  ASSERT_FALSE(schema_migrations().empty());
  EXPECT_EQ(schema_migrations().back().version, kSchemaVersion);
  for (std::size_t i = 0; i < schema_migrations().size(); ++i)
    EXPECT_EQ(schema_migrations()[i].version, static_cast<int>(i) + 1);
}

TEST(Schema, NewDatabaseIsAtTheLatestVersionInWalMode) {
  TempDb tmp;
  { ResultsDb db(tmp.path()); }
  sqlite::Connection raw(tmp.path(), sqlite::OpenMode::kReadOnly);
  EXPECT_EQ(read_schema_version(raw), kSchemaVersion);
  EXPECT_EQ(std::stoll(raw.query_text("PRAGMA application_id")), kApplicationId);
  EXPECT_EQ(raw.query_text("PRAGMA journal_mode"), "wal");
  for (const char* table : {"runs", "architectures", "evaluations", "schema_version"}) {
    sqlite::Statement s(raw, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    s.bind(table);
    ASSERT_TRUE(s.step());
    EXPECT_EQ(s.column_int(0), 1) << table;
  }
}

TEST(Schema, ReopeningAppliesNoMigrationTwice) {
  TempDb tmp;
  { ResultsDb db(tmp.path()); }
  { ResultsDb db(tmp.path()); }
  sqlite::Connection raw(tmp.path(), sqlite::OpenMode::kReadOnly);
  EXPECT_EQ(raw.query_text("SELECT count(*) FROM schema_version"), std::to_string(kSchemaVersion));
}

TEST(Schema, MigrationsApplyInOrderOnTopOfOlderVersions) {
  TempDb tmp;
  sqlite::Connection raw(tmp.path(), sqlite::OpenMode::kReadWriteCreate);
  migrate(raw);
  auto steps = schema_migrations();
  steps.push_back({kSchemaVersion + 1, "notes", "CREATE TABLE notes (text TEXT)"});
  steps.push_back({kSchemaVersion + 2, "note time", "ALTER TABLE notes ADD COLUMN at TEXT"});
  migrate(raw, steps);
  EXPECT_EQ(read_schema_version(raw), kSchemaVersion + 2);
  raw.exec("INSERT INTO notes (text, at) VALUES ('a', 'b')");
  std::string expected;
  for (int v = 1; v <= kSchemaVersion + 2; ++v) expected += (v > 1 ? "," : "") + std::to_string(v);
  EXPECT_EQ(raw.query_text("SELECT group_concat(version) FROM (SELECT version FROM schema_version ORDER BY version)"),
            expected);
}

TEST(Schema, AFailedMigrationLeavesThePreviousVersion) {
  TempDb tmp;
  sqlite::Connection raw(tmp.path(), sqlite::OpenMode::kReadWriteCreate);
  migrate(raw);
  auto steps = schema_migrations();
  steps.push_back({kSchemaVersion + 1, "broken",
                   "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1)"});
  EXPECT_THROW(migrate(raw, steps), StorageError);
  EXPECT_EQ(read_schema_version(raw), kSchemaVersion);
  EXPECT_EQ(raw.query_text("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'"), "0");
  EXPECT_TRUE(raw.autocommit());
}

TEST(Schema, NewerDatabaseIsRefusedAndLeftUntouched) {
  TempDb tmp;
  make_newer(tmp.path());
  std::remove((tmp.path() + "-lock").c_str());  // left by the writer that made it
  ASSERT_FALSE(test::file_exists(tmp.path() + "-wal"));  // the last connection checkpointed it
  const std::string before = test::file_bytes(tmp.path());
  struct stat st_before {};
  ASSERT_EQ(::stat(tmp.path().c_str(), &st_before), 0);

  expect_storage_error([&] { ResultsDb db(tmp.path()); }, SQLITE_ERROR,
                       {tmp.path(), "schema version 2", "newer", "not changed"});
  expect_storage_error([&] { ResultsReader reader(tmp.path()); }, SQLITE_ERROR,
                       {tmp.path(), "schema version 2", "newer"});

  EXPECT_EQ(test::file_bytes(tmp.path()), before);
  struct stat st_after {};
  ASSERT_EQ(::stat(tmp.path().c_str(), &st_after), 0);
  EXPECT_EQ(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
  EXPECT_EQ(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);
  EXPECT_FALSE(test::file_exists(tmp.path() + "-lock")) << "refused before taking the writer lock";
}

TEST(Schema, FileThatIsNotADatabaseIsRefusedAndLeftUntouched) {
  TempDb tmp;
  std::ofstream(tmp.path()) << "index,accuracy\n0,93.1\n1,92.4\n2,91.8\n" << std::string(200, 'x');
  const std::string before = test::file_bytes(tmp.path());
  expect_storage_error([&] { ResultsDb db(tmp.path()); }, SQLITE_NOTADB,
                       {tmp.path(), "not an SQLite database"});
  expect_storage_error([&] { ResultsReader reader(tmp.path()); }, SQLITE_NOTADB,
                       {tmp.path(), "not an SQLite database"});
  EXPECT_EQ(test::file_bytes(tmp.path()), before);
  EXPECT_FALSE(test::file_exists(tmp.path() + "-lock"));
}

TEST(Schema, OtherSqliteDatabaseIsRefused) {
  TempDb tmp;
  { sqlite::Connection(tmp.path(), sqlite::OpenMode::kReadWriteCreate).exec("CREATE TABLE mine (x)"); }
  const std::string before = test::file_bytes(tmp.path());
  expect_storage_error([&] { ResultsDb db(tmp.path()); }, SQLITE_NOTADB,
                       {tmp.path(), "not a ghnas results database"});
  expect_storage_error([&] { ResultsReader reader(tmp.path()); }, SQLITE_NOTADB,
                       {"not a ghnas results database"});
  EXPECT_EQ(test::file_bytes(tmp.path()), before);
}

TEST(Schema, MissingPathsAreNamed) {
  TempDb tmp;
  expect_storage_error([&] { ResultsReader reader(tmp.path()); }, SQLITE_CANTOPEN,
                       {tmp.path(), "does not exist"});
  EXPECT_FALSE(test::file_exists(tmp.path())) << "a reader never creates the database";
  const std::string in_missing_dir = ::testing::TempDir() + "ghnas_no_such_dir/results.db";
  expect_storage_error([&] { ResultsDb db(in_missing_dir); }, SQLITE_CANTOPEN,
                       {in_missing_dir, "does not exist"});
  expect_storage_error([&] { ResultsDb db(::testing::TempDir()); }, SQLITE_CANTOPEN,
                       {"is a directory"});
  expect_storage_error([&] { ResultsReader reader(::testing::TempDir()); }, SQLITE_CANTOPEN,
                       {"is a directory"});
}

TEST(Schema, EmptyFileIsAnEmptyDatabase) {
  TempDb tmp;
  std::ofstream(tmp.path()).flush();
  expect_storage_error([&] { ResultsReader reader(tmp.path()); }, SQLITE_NOTADB, {"is empty"});
  // A writer may start a new database in an empty file.
  ResultsDb db(tmp.path());
  EXPECT_EQ(db.create_run(test::make_run_spec()), 1);
}

}  // namespace
}  // namespace ghnas
