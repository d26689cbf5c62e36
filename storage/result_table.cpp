#include "storage/result_table.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/error.hpp"

namespace ghnas {

namespace {

constexpr std::size_t kTableCellMax = 60;

void append_real(std::string& out, double v) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, result.ptr);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
}

void append_json_value(std::string& out, const Cell& cell) {
  switch (cell.kind) {
    case Cell::Kind::kNull: out += "null"; break;
    case Cell::Kind::kInteger: out += std::to_string(cell.integer); break;
    case Cell::Kind::kReal:
      // JSON has no NaN or infinity.
      if (std::isfinite(cell.real)) append_real(out, cell.real);
      else out += "null";
      break;
    case Cell::Kind::kText: append_json_string(out, cell.text); break;
    case Cell::Kind::kJson: out += cell.text; break;
  }
}

void append_csv_field(std::string& out, std::string_view s) {
  const bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) {
    out += s;
    return;
  }
  out += '"';
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_value(std::string& out, const Cell& cell) {
  switch (cell.kind) {
    case Cell::Kind::kNull: break;
    case Cell::Kind::kInteger: out += std::to_string(cell.integer); break;
    case Cell::Kind::kReal: append_real(out, cell.real); break;
    case Cell::Kind::kText:
    case Cell::Kind::kJson: append_csv_field(out, cell.text); break;
  }
}

// What the table format shows: one line, at most kTableCellMax characters.
std::string table_text(const Cell& cell) {
  switch (cell.kind) {
    case Cell::Kind::kNull: return "";
    case Cell::Kind::kInteger: return std::to_string(cell.integer);
    case Cell::Kind::kReal: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", cell.real);
      return buf;
    }
    case Cell::Kind::kText:
    case Cell::Kind::kJson: break;
  }
  std::string text = cell.text;
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\t', ' ');
  if (text.size() > kTableCellMax) {
    std::size_t cut = kTableCellMax - 3;
    // Never cut inside a UTF-8 sequence (continuation bytes are 10xxxxxx).
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  return text;
}

// Width on screen, counting UTF-8 code points rather than bytes.
std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

// ---- ResultTable

void ResultTable::begin(const std::vector<std::string>& cols) {
  columns = cols;
  rows.clear();
}

void ResultTable::row(const std::vector<Cell>& cells) { rows.push_back(cells); }

std::size_t ResultTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  std::string names;
  for (const auto& c : columns) names += (names.empty() ? "" : ", ") + c;
  throw Error(detail::str_cat("result has no column '", name, "' (columns: ", names, ")"));
}

// ---- formats

OutputFormat parse_output_format(std::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "csv") return OutputFormat::kCsv;
  throw ConfigError(detail::str_cat("unknown output format '", name, "' (valid: table, json, csv)"));
}

void FormattedOutput::begin(const std::vector<std::string>& columns) {
  columns_ = columns;
  if (format_ != OutputFormat::kCsv) return;
  line_.clear();
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i) line_ += ',';
    append_csv_field(line_, columns_[i]);
  }
  line_ += '\n';
  out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
}

void FormattedOutput::row(const std::vector<Cell>& cells) {
  assert(cells.size() == columns_.size());
  if (format_ == OutputFormat::kTable) {
    buffered_.push_back(cells);
    return;
  }
  line_.clear();
  if (format_ == OutputFormat::kJson) {
    line_ += '{';
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i) line_ += ',';
      append_json_string(line_, columns_[i]);
      line_ += ':';
      append_json_value(line_, cells[i]);
    }
    line_ += "}\n";
  } else {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i) line_ += ',';
      append_csv_value(line_, cells[i]);
    }
    line_ += '\n';
  }
  out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
}

void FormattedOutput::finish() {
  if (format_ == OutputFormat::kTable && !columns_.empty()) {
    const std::size_t n = columns_.size();
    std::vector<std::vector<std::string>> texts;
    texts.reserve(buffered_.size());
    std::vector<std::size_t> width(n);
    std::vector<bool> numeric(n, true);
    for (std::size_t c = 0; c < n; ++c) width[c] = display_width(columns_[c]);
    for (const auto& cells : buffered_) {
      std::vector<std::string> line(n);
      for (std::size_t c = 0; c < n; ++c) {
        line[c] = table_text(cells[c]);
        width[c] = std::max(width[c], display_width(line[c]));
        const auto kind = cells[c].kind;
        if (kind != Cell::Kind::kNull && kind != Cell::Kind::kInteger && kind != Cell::Kind::kReal)
          numeric[c] = false;
      }
      texts.push_back(std::move(line));
    }
    const auto print = [&](const std::vector<std::string>& line) {
      std::string out;
      for (std::size_t c = 0; c < n; ++c) {
        const std::size_t pad = width[c] - display_width(line[c]);
        if (c) out += "  ";
        if (numeric[c]) out.append(pad, ' ');
        out += line[c];
        if (!numeric[c] && c + 1 < n) out.append(pad, ' ');
      }
      out += '\n';
      out_ << out;
    };
    print(columns_);
    std::vector<std::string> rule(n);
    for (std::size_t c = 0; c < n; ++c) rule[c] = std::string(width[c], '-');
    print(rule);
    for (const auto& line : texts) print(line);
    buffered_.clear();
  }
  out_.flush();
}

}  // namespace ghnas
