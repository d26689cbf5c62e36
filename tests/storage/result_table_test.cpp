// The three output formats: CSV that a CSV reader gets back exactly, JSON lines that parse to
// the same values, and aligned tables for people.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "storage/result_table.hpp"

namespace ghnas {
namespace {

std::string render(OutputFormat format, const std::vector<std::string>& columns,
                   const std::vector<std::vector<Cell>>& rows) {
  std::ostringstream out;
  FormattedOutput f(out, format);
  f.begin(columns);
  for (const auto& r : rows) f.row(r);
  f.finish();
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// A strict RFC 4180 reader, for the round trip.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') rows.back().back() += '"', ++i;
      else if (c == '"') quoted = false;
      else rows.back().back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

const std::vector<std::string> kColumns = {"id", "name", "value", "spec"};
const std::vector<std::vector<Cell>> kRows = {
    {Cell::of(std::int64_t{1}), Cell::of(std::string("plain")), Cell::of(93.25), Cell::json(R"({"ops":[1,2]})")},
    {Cell::of(std::int64_t{-20}), Cell::of(std::string("a, \"quoted\"\nname")), Cell::of(0.1), Cell::null()},
    {Cell::null(), Cell::of(std::string(" padded ")), Cell::of(1e-7), Cell::json("[]")},
};

TEST(ResultTableFormat, CsvReadsBackExactly) {
  const std::string text = render(OutputFormat::kCsv, kColumns, kRows);
  const auto rows = parse_csv(text);
  ASSERT_EQ(rows.size(), 4u) << text;
  EXPECT_EQ(rows[0], kColumns);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "plain", "93.25", R"({"ops":[1,2]})"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"-20", "a, \"quoted\"\nname", "0.1", ""}));
  EXPECT_EQ(rows[3][0], "");
  EXPECT_EQ(rows[3][1], " padded ");
  EXPECT_EQ(std::stod(rows[3][2]), 1e-7);
}

TEST(ResultTableFormat, CsvOfAnEmptyResultIsItsHeader) {
  EXPECT_EQ(render(OutputFormat::kCsv, kColumns, {}), "id,name,value,spec\n");
}

TEST(ResultTableFormat, JsonLinesParseToTheSameValues) {
  std::vector<std::vector<Cell>> rows = kRows;
  rows.push_back({Cell::of(std::int64_t{4}), Cell::of(std::string("tab\tcontrol\x01 é")),
                  Cell::of(std::nan("")), Cell::json(R"({"nested":{"a":null}})")});
  const auto lines = lines_of(render(OutputFormat::kJson, kColumns, rows));
  ASSERT_EQ(lines.size(), 4u);
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["id"], 1);
  EXPECT_TRUE(first["id"].is_number_integer());
  EXPECT_EQ(first["value"], 93.25);
  EXPECT_EQ(first["spec"]["ops"], nlohmann::json({1, 2})) << "JSON cells are nested, not strings";
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["name"], "a, \"quoted\"\nname");
  EXPECT_EQ(second["value"].get<double>(), 0.1) << "reals round-trip";
  EXPECT_TRUE(second["spec"].is_null());
  const auto fourth = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(fourth["name"], "tab\tcontrol\x01 é");
  EXPECT_TRUE(fourth["value"].is_null()) << "JSON has no NaN";
  EXPECT_TRUE(fourth["spec"]["nested"]["a"].is_null());
  EXPECT_EQ(render(OutputFormat::kJson, kColumns, {}), "");
}

TEST(ResultTableFormat, TableAlignsColumnsForPeople) {
  const std::vector<std::vector<Cell>> rows = {
      {Cell::of(std::int64_t{7}), Cell::of(std::string("short")), Cell::of(93.123456789), Cell::null()},
      {Cell::of(std::int64_t{12345}), Cell::of(std::string("é longer")), Cell::of(5.0),
       Cell::json(std::string(100, 'x'))},
  };
  const auto lines = lines_of(render(OutputFormat::kTable, kColumns, rows));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "   id  name        value  spec");
  EXPECT_EQ(lines[1], "-----  --------  -------  " + std::string(60, '-'));
  EXPECT_EQ(lines[2], "    7  short     93.1235  ");
  EXPECT_EQ(lines[3], "12345  é longer        5  " + std::string(57, 'x') + "...");
}

TEST(ResultTableFormat, EmptyTableStillShowsItsHeader) {
  const auto lines = lines_of(render(OutputFormat::kTable, {"rank", "hash"}, {}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "rank  hash");
}

TEST(ResultTableFormat, FormatNamesAreChecked) {
  EXPECT_EQ(parse_output_format("csv"), OutputFormat::kCsv);
  EXPECT_EQ(parse_output_format("json"), OutputFormat::kJson);
  EXPECT_EQ(parse_output_format("table"), OutputFormat::kTable);
  EXPECT_THROW(parse_output_format("xml"), ConfigError);
}

TEST(ResultTableFormat, ColumnLookupNamesTheColumns) {
  ResultTable t;
  t.begin({"a", "b"});
  t.row({Cell::of(std::int64_t{1}), Cell::of(std::string("x"))});
  EXPECT_EQ(t.at(0, "b").text, "x");
  try {
    t.column("c");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("columns: a, b"), std::string::npos);
  }
}

}  // namespace
}  // namespace ghnas
