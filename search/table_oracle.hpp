#pragma once
// A tabular benchmark (NAS-Bench-201's published measurements, or any CSV with an arch_str
// column) as the search's evaluator, and the search space restricted to the table's cells.
//
// Charging: one query per distinct architecture. Architectures with the same canonical hash
// (isomorphic NAS-Bench-201 cells, nb201_unique_str) are one architecture: the first query of
// the class is charged, every later one is answered free. An architecture the table has no
// row for is an "unknown" result: not charged, and the search goes on.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "search/evaluation.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// The parts of an oracle spec "table:FILE.csv:COLUMN[,COLUMN...]".
struct TableOracleSpec {
  std::string path;
  std::vector<std::string> columns;
};

/// Parses "table:FILE.csv:COLUMN" (several columns separated by commas; the path may contain
/// ':' since the columns follow the last one). Throws ConfigError saying what is malformed.
TableOracleSpec parse_table_oracle_spec(const std::string& spec);

/// A tabular benchmark as a SearchEvaluator (see the top of this file for the charging).
class TabularOracle : public SearchEvaluator {
 public:
  /// Reads `path`: a CSV file with a header row, an `arch_str` column holding `space`'s
  /// architecture strings, and every column of `columns` holding numbers. A row whose value in
  /// one of `columns` is empty or "nan" has no measurement and is left out. Isomorphic rows
  /// (same canonical hash) are one architecture whose value is the mean of their rows (they
  /// are separately trained copies of the same network). Throws FileError for a missing or
  /// malformed file (naming the line and column), ConfigError for a column the file lacks
  /// (listing those it has), ArchError for a row that is not an architecture of `space`.
  /// With `charge_repeats`, every query of an architecture in the table is charged, repeats
  /// included: the accounting of NAS-Bench-201's own search code, where each evaluated child
  /// costs its simulated training time (the search loop must then not reuse results either).
  TabularOracle(const SearchSpace& space, const std::string& path, std::vector<std::string> columns,
                bool charge_repeats = false);

  /// kOk with every column's value for architectures in the table (charged on the first query
  /// of each canonical hash only, unless charge_repeats), kUnknown (uncharged) for the others.
  /// Not thread-safe: the search loop calls it from one thread.
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override;

  /// Sets each kOk answer's `charged` by this oracle's accounting, as if this oracle had
  /// answered `batch`: for lookups made by other copies of the table (MPI workers), so the
  /// charges, which depend on everything queried before, are made in one place.
  void charge(const std::vector<Candidate>& batch, std::vector<CandidateEvaluation>& answers);

  /// Charged queries so far: distinct architectures, or every query with charge_repeats.
  std::size_t queries_charged() const { return queries_charged_; }
  /// Distinct architectures queried so far.
  std::size_t distinct_queried() const { return charged_.size(); }
  /// Rows with a measurement (architectures of the table, isomorphic copies included).
  std::size_t num_rows() const { return rows_.size(); }
  /// Distinct canonical hashes among the rows.
  std::size_t num_classes() const { return classes_.size(); }
  /// The rows' architectures, in file order.
  const std::vector<Architecture>& row_archs() const { return rows_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const std::string& path() const { return path_; }
  bool contains(const std::string& hash) const { return classes_.count(hash) != 0; }
  /// The table's value of `column` for a canonical hash, without charging anything. For
  /// reports after a search (e.g. the test accuracy of the cell a validation-driven search
  /// picked), never for choosing candidates.
  std::optional<double> value(const std::string& hash, const std::string& column) const;

 private:
  struct ArchClass {
    std::vector<double> values;  // per column, mean over rows
    int rows = 0;
  };
  std::string path_;
  std::vector<std::string> columns_;
  std::vector<Architecture> rows_;
  std::unordered_map<std::string, ArchClass> classes_;
  std::unordered_set<std::string> charged_;
  bool charge_repeats_ = false;
  std::size_t queries_charged_ = 0;
};

/// A space restricted to a set of member architectures (e.g. the cells of a tabular oracle
/// that covers only part of the space), wrapping the full space. Membership is by canonical
/// hash, so a cell isomorphic to a member is a member.
///   - sample: uniform over the member rows (the full space's uniform sampling, conditioned
///     on membership).
///   - mutate: one of the nearest members of another class, uniformly over the cells of the
///     full space's neighbourhood at the smallest distance (1, then 2, ...) that holds one.
///     At distance 1 this is exactly the full space's single mutation conditioned on landing
///     in a member: the same distribution rejection sampling would give, without the loop.
///     For a full space without neighbours(), rejection sampling over mutate(), then a
///     uniform member of another class.
///   - neighbours: the full space's neighbours that are members.
/// Every other operation is the full space's; name() is too, so architectures stay
/// interchangeable with the full space's.
class TableSpace : public SearchSpace {
 public:
  /// `members` must hold at least one architecture of `base`; `source` names where they come
  /// from (for description()). Throws ArchError for a member that `base` rejects.
  TableSpace(std::shared_ptr<const SearchSpace> base, std::vector<Architecture> members,
             std::string source);

  std::string name() const override { return base_->name(); }
  std::string description() const override;
  Architecture sample(Rng& rng) const override;
  /// Throws ArchError when the members hold no other class than `arch`'s.
  Architecture mutate(const Architecture& arch, Rng& rng) const override;
  std::vector<Architecture> neighbours(const Architecture& arch) const override;
  /// The full space's checks, then membership (ArchError naming the source).
  void validate(const Architecture& arch) const override;
  std::string canonical_hash(const Architecture& arch) const override;
  ArchGraph build_graph(const Architecture& arch, const Task& task) const override;
  std::vector<Architecture> read_archs(const std::string& path) const override;
  std::string write_archs(const std::vector<Architecture>& archs) const override;
  std::vector<ParamSpec> params() const override { return base_->params(); }

  bool contains(const std::string& hash) const { return hashes_.count(hash) != 0; }
  std::size_t num_members() const { return members_.size(); }
  std::size_t num_classes() const { return hashes_.size(); }

 private:
  std::shared_ptr<const SearchSpace> base_;
  std::vector<Architecture> members_;
  std::vector<std::string> member_hashes_;  // canonical hash of members_[i]
  std::unordered_set<std::string> hashes_;
  std::string source_;
};

}  // namespace ghnas
