#pragma once
// Query results as rows of typed cells, and the three ways `ghnas query` / `ghnas export`
// print them: aligned columns for people, one JSON object per line, or CSV with a header.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ghnas {

/// One value of a result row. JSON documents stored in the database (a run's config, an
/// architecture's spec) are kJson: their text is embedded as JSON, not as a string, in the
/// json format.
struct Cell {
  enum class Kind { kNull, kInteger, kReal, kText, kJson };
  Kind kind = Kind::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;  ///< kText's string, or kJson's JSON text

  bool is_null() const { return kind == Kind::kNull; }
  static Cell null() { return {}; }
  static Cell of(std::int64_t v) { return {Kind::kInteger, v, 0, {}}; }
  static Cell of(double v) { return {Kind::kReal, 0, v, {}}; }
  static Cell of(std::string v) { return {Kind::kText, 0, 0, std::move(v)}; }
  static Cell json(std::string v) { return {Kind::kJson, 0, 0, std::move(v)}; }
};

/// Receives the rows of a query: begin() once with the column names, then row() per row.
/// Queries write into a sink so large results (an export) stream instead of piling up.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual void begin(const std::vector<std::string>& columns) = 0;
  virtual void row(const std::vector<Cell>& cells) = 0;
};

/// Collects a result in memory, for programs and tests.
class ResultTable : public RowSink {
 public:
  void begin(const std::vector<std::string>& columns) override;
  void row(const std::vector<Cell>& cells) override;

  /// Index of the column called `name`; throws ghnas::Error listing the columns if absent.
  std::size_t column(std::string_view name) const;
  /// The cell of row `r` in column `name`.
  const Cell& at(std::size_t r, std::string_view name) const { return rows.at(r).at(column(name)); }

  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

enum class OutputFormat { kTable, kJson, kCsv };

/// "table", "json" or "csv"; throws ConfigError otherwise.
OutputFormat parse_output_format(std::string_view name);

/// Prints rows in one format:
///   kTable  aligned columns with a header, numbers right-aligned, NULL blank, cells longer
///           than 60 characters shortened with "..." (use json or csv for full values);
///           buffered until finish(), since widths depend on every row.
///   kJson   one object per line, {"column": value, ...}; NULL is null, JSON cells are nested.
///   kCsv    RFC 4180: a header line, fields quoted when they hold a comma, quote or line
///           break, NULL as an empty field.
/// Reals are printed with the shortest text that reads back to the same double (table: 6
/// significant digits).
class FormattedOutput : public RowSink {
 public:
  FormattedOutput(std::ostream& out, OutputFormat format) : out_(out), format_(format) {}
  void begin(const std::vector<std::string>& columns) override;
  void row(const std::vector<Cell>& cells) override;
  /// Writes what is buffered (the table format) and flushes the stream.
  void finish();

 private:
  std::ostream& out_;
  OutputFormat format_;
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> buffered_;  // kTable only
  std::string line_;                         // reused for each line
};

}  // namespace ghnas
