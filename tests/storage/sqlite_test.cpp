// The SQLite layer: statements bind and read every type, transactions roll back unless
// committed (also nested, also on exceptions), and errors carry SQLite's code.

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

#include "storage/sqlite.hpp"
#include "tests/storage/storage_test_util.hpp"

namespace ghnas::sqlite {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  SqliteTest() : db_(tmp_.path(), OpenMode::kReadWriteCreate) {
    db_.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, x REAL)");
  }
  std::int64_t count() { return std::stoll(db_.query_text("SELECT count(*) FROM t")); }
  void insert(const std::string& name) {
    Statement s(db_, "INSERT INTO t (name) VALUES (?1)");
    s.bind(name).run();
  }

  test::TempDb tmp_;
  Connection db_;
};

TEST_F(SqliteTest, StatementBindsAndReadsEveryType) {
  Statement s(db_, "SELECT ?1, ?2, ?3, ?4, ?5, ?6");
  s.bind(std::int64_t{-5}, 2.5, "text", nullptr, std::optional<std::int64_t>{}, std::optional<double>{1.25});
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_int(0), -5);
  EXPECT_EQ(s.column_type(0), SQLITE_INTEGER);
  EXPECT_EQ(s.column_double(1), 2.5);
  EXPECT_EQ(s.column_text(2), "text");
  EXPECT_TRUE(s.column_is_null(3));
  EXPECT_FALSE(s.column_optional_int(4).has_value());
  EXPECT_EQ(s.column_optional_double(5), 1.25);
  EXPECT_FALSE(s.step());
  // bind() resets: the statement runs again with new values.
  s.bind(std::int64_t{1}, 0.0, std::string("again"), nullptr, std::optional<std::int64_t>{3}, 0.0);
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_text(2), "again");
  EXPECT_EQ(s.column_optional_int(4), 3);
}

TEST_F(SqliteTest, UnsignedValuesBeyondInt64AreRefused) {
  Statement s(db_, "SELECT ?1");
  EXPECT_THROW(s.bind(std::numeric_limits<std::uint64_t>::max()), ConfigError);
  s.bind(std::uint64_t{1} << 62);
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_int(0), std::int64_t{1} << 62);
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  {
    Transaction t(db_);
    insert("a");
    EXPECT_EQ(count(), 1);
  }
  EXPECT_EQ(count(), 0);
  EXPECT_TRUE(db_.autocommit());
  {
    Transaction t(db_);
    insert("a");
    t.commit();
  }
  EXPECT_EQ(count(), 1);
}

TEST_F(SqliteTest, TransactionRollsBackWhenAnExceptionLeavesTheBlock) {
  try {
    Transaction t(db_);
    insert("a");
    insert("b");
    throw std::runtime_error("evaluator crashed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(count(), 0);
}

TEST_F(SqliteTest, NestedTransactionIsASavepointOfTheOuterOne) {
  {
    Transaction outer(db_);
    insert("outer");
    {
      Transaction inner(db_);
      insert("inner, rolled back");
    }
    {
      Transaction inner(db_);
      insert("inner, kept");
      inner.commit();
    }
    EXPECT_FALSE(db_.autocommit());  // committing a savepoint does not end the outer transaction
    outer.commit();
  }
  EXPECT_EQ(count(), 2);
  EXPECT_EQ(db_.query_text("SELECT group_concat(name, '|') FROM (SELECT name FROM t ORDER BY id)"),
            "outer|inner, kept");
  {
    Transaction outer(db_);
    Transaction inner(db_);
    insert("c");
    inner.commit();
    // The outer transaction is not committed: the committed savepoint goes with it.
  }
  EXPECT_EQ(count(), 2);
}

TEST_F(SqliteTest, ErrorsCarryTheSqliteCodeAndNameTheDatabase) {
  insert("a");
  try {
    insert("a");
    FAIL() << "a duplicate name must violate the UNIQUE constraint";
  } catch (const StorageError& e) {
    EXPECT_EQ(e.primary_code(), SQLITE_CONSTRAINT);
    EXPECT_EQ(e.code(), SQLITE_CONSTRAINT_UNIQUE);
    EXPECT_NE(std::string(e.what()).find(tmp_.path()), std::string::npos) << e.what();
  }
  try {
    Statement bad(db_, "SELECT no_such_column FROM t");
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_EQ(e.primary_code(), SQLITE_ERROR);
    EXPECT_NE(std::string(e.what()).find("no_such_column"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteTest, ExecRunsEveryStatementOfAScript) {
  db_.exec("INSERT INTO t (name) VALUES ('x'); INSERT INTO t (name) VALUES ('y'); -- trailing comment\n");
  EXPECT_EQ(count(), 2);
}

TEST_F(SqliteTest, ReadOnlyConnectionRefusesWrites) {
  insert("a");
  Connection reader(tmp_.path(), OpenMode::kReadOnly);
  EXPECT_EQ(reader.query_text("SELECT name FROM t"), "a");
  try {
    reader.exec("DELETE FROM t");
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_TRUE(e.is_read_only()) << e.what();
  }
  EXPECT_EQ(count(), 1);
}

TEST(SqliteOpen, ReadOnlyOpenNeverCreatesAFile) {
  test::TempDb tmp;
  try {
    Connection c(tmp.path(), OpenMode::kReadOnly);
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_EQ(e.primary_code(), SQLITE_CANTOPEN);
  }
  EXPECT_FALSE(test::file_exists(tmp.path()));
}

}  // namespace
}  // namespace ghnas::sqlite
