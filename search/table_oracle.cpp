#include "search/table_oracle.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"
#include "core/json_io.hpp"

namespace ghnas {

namespace {

constexpr const char* kArchColumn = "arch_str";
// Breadth-first rings around a cell searched for the nearest member: NAS-Bench-201 reaches
// every cell within 6 op changes; the visit cap bounds the work in larger spaces.
constexpr int kMaxMutationDistance = 8;
constexpr std::size_t kMaxVisited = 200000;
constexpr int kRejectionTries = 1000;

// One CSV record split into fields. Handles double-quoted fields with "" escapes, which
// spreadsheet exports produce; the published tables need none of it.
std::vector<std::string> split_csv_line(const std::string& line, const std::string& path,
                                        std::size_t line_number) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  GHNAS_CHECK_AS(FileError, !quoted, "'", path, "', line ", line_number,
                 ": a quoted field is not closed");
  return fields;
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// The number in `text`, nullopt for "no measurement" (empty, nan), FileError otherwise.
std::optional<double> parse_measurement(const std::string& text, const std::string& path,
                                        std::size_t line_number, const std::string& column) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.empty() || lower == "nan") return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  GHNAS_CHECK_AS(FileError, end == text.c_str() + text.size() && errno == 0 && std::isfinite(value),
                 "'", path, "', line ", line_number, ", column '", column, "': '", text,
                 "' is not a number");
  return value;
}

}  // namespace

TableOracleSpec parse_table_oracle_spec(const std::string& spec) {
  const std::string form = "table:FILE.csv:COLUMN (e.g. table:train.csv:c10_test_nats)";
  const std::string prefix = "table:";
  GHNAS_CHECK_AS(ConfigError, spec.rfind(prefix, 0) == 0, "oracle '", spec, "' is not of the form ",
                 form);
  const std::string rest = spec.substr(prefix.size());
  const auto colon = rest.rfind(':');
  GHNAS_CHECK_AS(ConfigError, colon != std::string::npos && colon > 0 && colon + 1 < rest.size(),
                 "oracle '", spec, "' needs a file and a column: ", form);
  TableOracleSpec parsed;
  parsed.path = rest.substr(0, colon);
  std::string column;
  const std::string columns = rest.substr(colon + 1) + ",";
  for (char c : columns) {
    if (c != ',') {
      column += c;
      continue;
    }
    GHNAS_CHECK_AS(ConfigError, !column.empty(), "oracle '", spec, "' has an empty column name");
    GHNAS_CHECK_AS(
        ConfigError,
        std::find(parsed.columns.begin(), parsed.columns.end(), column) == parsed.columns.end(),
        "oracle '", spec, "' names column '", column, "' twice");
    parsed.columns.push_back(column);
    column.clear();
  }
  return parsed;
}

// -------------------------------------------------------------------------------------------------

TabularOracle::TabularOracle(const SearchSpace& space, const std::string& path,
                             std::vector<std::string> columns, bool charge_repeats)
    : path_(path), columns_(std::move(columns)), charge_repeats_(charge_repeats) {
  GHNAS_CHECK_AS(ConfigError, !columns_.empty(), "oracle table '", path, "': no column named");
  const std::string text = read_file(path);
  std::vector<std::string> lines;
  {
    std::string line;
    for (char c : text) {
      if (c == '\n') {
        lines.push_back(std::move(line));
        line.clear();
      } else {
        line += c;
      }
    }
    if (!line.empty()) lines.push_back(std::move(line));
  }
  for (auto& l : lines)
    if (!l.empty() && l.back() == '\r') l.pop_back();
  GHNAS_CHECK_AS(FileError, !lines.empty() && !trim(lines[0]).empty(), "'", path,
                 "' is empty; expected a CSV header with an '", kArchColumn, "' column");

  const std::vector<std::string> header = split_csv_line(lines[0], path, 1);
  auto column_index = [&](const std::string& name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (trim(header[i]) == name) return i;
    return std::nullopt;
  };
  std::string have;
  for (const auto& h : header) have += (have.empty() ? "" : ", ") + trim(h);
  const auto arch_index = column_index(kArchColumn);
  GHNAS_CHECK_AS(FileError, arch_index.has_value(), "'", path, "' has no '", kArchColumn,
                 "' column; its columns: ", have);
  std::vector<std::size_t> value_index;
  for (const auto& c : columns_) {
    const auto index = column_index(c);
    GHNAS_CHECK_AS(ConfigError, index.has_value(), "oracle table '", path, "' has no column '", c,
                   "'; its columns: ", have);
    value_index.push_back(*index);
  }

  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::size_t line_number = i + 1;
    if (trim(lines[i]).empty()) continue;
    const std::vector<std::string> fields = split_csv_line(lines[i], path, line_number);
    GHNAS_CHECK_AS(FileError, fields.size() == header.size(), "'", path, "', line ", line_number,
                   ": ", fields.size(), " fields where the header has ", header.size());
    std::vector<double> values;
    bool measured = true;
    for (std::size_t k = 0; k < columns_.size(); ++k) {
      const auto v =
          parse_measurement(trim(fields[value_index[k]]), path, line_number, columns_[k]);
      if (!v) measured = false;
      values.push_back(v.value_or(0));
    }
    if (!measured) continue;
    Architecture arch{space.name(), trim(fields[*arch_index])};
    std::string hash;
    try {
      space.validate(arch);
      hash = space.canonical_hash(arch);
    } catch (const ArchError& e) {
      throw ArchError(detail::str_cat("'", path, "', line ", line_number, ": ", e.what()));
    }
    auto [it, inserted] = classes_.try_emplace(hash);
    ArchClass& c = it->second;
    if (inserted) c.values.assign(columns_.size(), 0.0);
    for (std::size_t k = 0; k < values.size(); ++k) c.values[k] += values[k];
    ++c.rows;
    rows_.push_back(std::move(arch));
  }
  GHNAS_CHECK_AS(FileError, !rows_.empty(), "'", path,
                 "' has no row with a value in every one of "
                 "the requested columns");
  for (auto& [hash, c] : classes_)
    for (double& v : c.values) v /= c.rows;
}

std::vector<CandidateEvaluation> TabularOracle::evaluate(const std::vector<Candidate>& batch) {
  std::vector<CandidateEvaluation> results;
  results.reserve(batch.size());
  for (const auto& candidate : batch) {
    const auto it = classes_.find(candidate.hash);
    if (it == classes_.end()) {
      results.push_back(CandidateEvaluation::unknown("not in table '" + path_ + "'"));
      continue;
    }
    std::map<std::string, double> metrics;
    for (std::size_t k = 0; k < columns_.size(); ++k) metrics[columns_[k]] = it->second.values[k];
    results.push_back(CandidateEvaluation::ok(std::move(metrics)));
  }
  charge(batch, results);
  return results;
}

void TabularOracle::charge(const std::vector<Candidate>& batch, std::vector<CandidateEvaluation>& answers) {
  assert(batch.size() == answers.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (answers[i].status != CandidateStatus::kOk) continue;
    const bool first_query = charged_.insert(batch[i].hash).second;
    answers[i].charged = first_query || charge_repeats_;
    if (answers[i].charged) ++queries_charged_;
  }
}

std::optional<double> TabularOracle::value(const std::string& hash,
                                           const std::string& column) const {
  const auto it = classes_.find(hash);
  if (it == classes_.end()) return std::nullopt;
  for (std::size_t k = 0; k < columns_.size(); ++k)
    if (columns_[k] == column) return it->second.values[k];
  return std::nullopt;
}

// -------------------------------------------------------------------------------------------------

TableSpace::TableSpace(std::shared_ptr<const SearchSpace> base, std::vector<Architecture> members,
                       std::string source)
    : base_(std::move(base)), members_(std::move(members)), source_(std::move(source)) {
  GHNAS_CHECK_AS(ConfigError, base_ != nullptr, "a restricted space needs a full space");
  GHNAS_CHECK_AS(ConfigError, !members_.empty(), "the restriction of space '", base_->name(),
                 "' to ", source_, " has no architecture");
  for (const auto& m : members_) {
    base_->validate(m);
    member_hashes_.push_back(base_->canonical_hash(m));
    hashes_.insert(member_hashes_.back());
  }
}

std::string TableSpace::description() const {
  return detail::str_cat(base_->name(), " restricted to the ", members_.size(), " architectures (",
                         hashes_.size(), " distinct) of ", source_);
}

Architecture TableSpace::sample(Rng& rng) const {
  return members_[std::uniform_int_distribution<std::size_t>(0, members_.size() - 1)(rng)];
}

Architecture TableSpace::mutate(const Architecture& arch, Rng& rng) const {
  const std::string own = base_->canonical_hash(arch);
  std::unordered_set<std::string> visited{arch.spec.dump()};
  std::vector<Architecture> frontier{arch};
  bool has_neighbourhood = false;
  for (int distance = 1; distance <= kMaxMutationDistance && !frontier.empty(); ++distance) {
    std::vector<Architecture> ring;
    std::vector<std::size_t> hits;  // indices into ring
    for (const auto& a : frontier) {
      for (auto& next : base_->neighbours(a)) {
        has_neighbourhood = true;
        if (!visited.insert(next.spec.dump()).second) continue;
        const std::string hash = base_->canonical_hash(next);
        if (hash != own && hashes_.count(hash) != 0) hits.push_back(ring.size());
        ring.push_back(std::move(next));
      }
    }
    if (!hits.empty())
      return ring[hits[std::uniform_int_distribution<std::size_t>(0, hits.size() - 1)(rng)]];
    if (visited.size() > kMaxVisited) break;
    frontier = std::move(ring);
  }
  if (!has_neighbourhood) {
    for (int attempt = 0; attempt < kRejectionTries; ++attempt) {
      Architecture child = base_->mutate(arch, rng);
      const std::string hash = base_->canonical_hash(child);
      if (hash != own && hashes_.count(hash) != 0) return child;
    }
  }
  // Nothing nearby: a member of another class, uniformly over the member rows.
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (member_hashes_[i] != own) others.push_back(i);
  GHNAS_CHECK_AS(ArchError, !others.empty(), "cannot mutate in ", description(),
                 ": it holds no architecture other than the parent's");
  return members_[others[std::uniform_int_distribution<std::size_t>(0, others.size() - 1)(rng)]];
}

std::vector<Architecture> TableSpace::neighbours(const Architecture& arch) const {
  std::vector<Architecture> result;
  for (auto& next : base_->neighbours(arch))
    if (hashes_.count(base_->canonical_hash(next)) != 0) result.push_back(std::move(next));
  return result;
}

void TableSpace::validate(const Architecture& arch) const {
  base_->validate(arch);
  GHNAS_CHECK_AS(ArchError, hashes_.count(base_->canonical_hash(arch)) != 0, "architecture ",
                 arch.spec.dump(), " is not one of the architectures of ", source_);
}

std::string TableSpace::canonical_hash(const Architecture& arch) const {
  return base_->canonical_hash(arch);
}

ArchGraph TableSpace::build_graph(const Architecture& arch, const Task& task) const {
  validate(arch);
  return base_->build_graph(arch, task);
}

std::vector<Architecture> TableSpace::read_archs(const std::string& path) const {
  return base_->read_archs(path);
}

std::string TableSpace::write_archs(const std::vector<Architecture>& archs) const {
  return base_->write_archs(archs);
}

}  // namespace ghnas
