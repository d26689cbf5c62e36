#include "storage/results_reader.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "storage/schema.hpp"
#include "storage/sqlite.hpp"

namespace ghnas {

namespace {

using sqlite::Statement;

sqlite::Connection open_reader_connection(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      throw StorageError(SQLITE_CANTOPEN, detail::str_cat("database '", path, "' does not exist"));
    throw StorageError(SQLITE_CANTOPEN,
                       detail::str_cat("cannot open database '", path, "': ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode))
    throw StorageError(SQLITE_CANTOPEN,
                       detail::str_cat("'", path, "' is a directory, not a database file"));
  sqlite::Connection db(path, sqlite::OpenMode::kReadOnly);
  try {
    db.exec("PRAGMA query_only = ON");
    check_schema_readable(path, read_schema_version(db));
  } catch (const StorageError& e) {
    if (!e.is_busy()) throw;
    throw StorageError(e.code(), detail::str_cat("database '", path, "' is locked by another connection (waited ",
                                                 sqlite::kBusyTimeoutMs / 1000, " s): ", e.what()));
  }
  return db;
}

// Copies column `col` of the current row into `cell`, reusing its string's capacity (an
// export converts millions of cells). `json` marks columns that hold JSON documents.
void read_cell(const Statement& s, int col, Cell& cell, bool json = false) {
  switch (s.column_type(col)) {
    case SQLITE_NULL: cell.kind = Cell::Kind::kNull; return;
    case SQLITE_INTEGER:
      cell.kind = Cell::Kind::kInteger;
      cell.integer = s.column_int(col);
      return;
    case SQLITE_FLOAT:
      cell.kind = Cell::Kind::kReal;
      cell.real = s.column_double(col);
      return;
    case SQLITE_BLOB:
      cell.kind = Cell::Kind::kText;
      cell.text = detail::str_cat("<blob of ", sqlite3_column_bytes(s.get(), col), " bytes>");
      return;
    default: {
      cell.kind = json ? Cell::Kind::kJson : Cell::Kind::kText;
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), col));
      cell.text.assign(text, static_cast<std::size_t>(sqlite3_column_bytes(s.get(), col)));
    }
  }
}

// Streams every row of `s` (already bound) into `out`: column i of the statement is cell i.
void stream_rows(Statement& s, const std::vector<std::string>& columns,
                 const std::vector<int>& json_columns, RowSink& out) {
  out.begin(columns);
  std::vector<Cell> cells(columns.size());
  std::vector<bool> json(columns.size(), false);
  for (int c : json_columns) json[static_cast<std::size_t>(c)] = true;
  while (s.step()) {
    for (std::size_t c = 0; c < cells.size(); ++c) read_cell(s, static_cast<int>(c), cells[c], json[c]);
    out.row(cells);
  }
}

std::string join(const std::vector<std::string>& items, std::size_t max_items = 20) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max_items) out += ", ...";
  return out;
}

std::vector<std::string> column_strings(Statement& s) {
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.column_text(0));
  return out;
}

// Most faithful first: the order in which a Pareto query picks among several evaluations of
// one metric for one architecture.
constexpr std::string_view kFidelityPreference[] = {"table", "sgd", "predicted-parameters", "heads",
                                                    "proxy"};

int fidelity_preference(std::string_view fidelity) {
  for (int i = 0; i < 5; ++i)
    if (kFidelityPreference[i] == fidelity) return i;
  assert(false && "the CHECK constraint admits only the five fidelities");
  return 4;
}

bool is_arch_column(const std::string& metric) { return metric == "params" || metric == "flops"; }

// The queries whose speed matters name their index: the plan then does not depend on
// statistics someone may have gathered with ANALYZE (which can make the planner trade the
// fidelity index for one that avoids a sort: measured, 0.1 ms became 26-46 ms).
constexpr const char* kTopSelect =
    "SELECT e.arch_id, a.hash, e.value, e.fidelity, e.evaluator, a.params, a.flops, e.seconds, e.id ";
constexpr const char* kTopFrom =
    "FROM evaluations AS e INDEXED BY evaluations_top JOIN architectures a ON a.id = e.arch_id "
    "WHERE e.run_id = ?1 AND e.metric = ?2 AND e.value IS NOT NULL ";
constexpr const char* kTopFromFidelity =
    "FROM evaluations AS e INDEXED BY evaluations_top_fidelity JOIN architectures a ON a.id = e.arch_id "
    "WHERE e.run_id = ?1 AND e.metric = ?2 AND e.value IS NOT NULL AND e.fidelity = ?4 ";

}  // namespace

struct ResultsReader::Impl {
  explicit Impl(const std::string& path) : db(open_reader_connection(path)) {}

  // Throws ConfigError when run `id` does not exist, listing the runs that do.
  void require_run(std::int64_t id) {
    Statement exists(db, "SELECT 1 FROM runs WHERE id = ?1");
    exists.bind(id);
    if (exists.step()) {
      exists.reset();
      return;
    }
    Statement ids(db, "SELECT id FROM runs ORDER BY id LIMIT 21");
    const auto known = column_strings(ids.bind());
    throw ConfigError(detail::str_cat("run ", id, " does not exist in '", db.path(), "' (",
                                      known.empty() ? "it has no runs" : "runs: " + join(known), ")"));
  }

  // Called when a query found no ok value of `metric`: throws ConfigError when the run never
  // recorded that metric (at that fidelity), naming what it has; returns when the metric
  // exists but no evaluation of it succeeded (an empty result is then the right answer).
  void require_metric(std::int64_t run, const std::string& metric, const std::optional<Fidelity>& fidelity) {
    Statement any(db, "SELECT 1 FROM evaluations WHERE run_id = ?1 AND metric = ?2 LIMIT 1");
    if (!any.bind(run, metric).step()) {
      Statement metrics(db, "SELECT DISTINCT metric FROM evaluations WHERE run_id = ?1 ORDER BY metric");
      const auto known = column_strings(metrics.bind(run));
      throw ConfigError(detail::str_cat("run ", run, " has no evaluations of metric '", metric, "' (",
                                        known.empty() ? "it has no evaluations yet"
                                                      : "its metrics: " + join(known),
                                        ")"));
    }
    any.reset();
    if (!fidelity) return;
    Statement at(db,
                 "SELECT 1 FROM evaluations WHERE run_id = ?1 AND metric = ?2 AND fidelity = ?3 LIMIT 1");
    if (at.bind(run, metric, to_string(*fidelity)).step()) {
      at.reset();
      return;
    }
    Statement fidelities(
        db, "SELECT DISTINCT fidelity FROM evaluations WHERE run_id = ?1 AND metric = ?2 ORDER BY fidelity");
    throw ConfigError(detail::str_cat("run ", run, " has no evaluations of metric '", metric,
                                      "' at fidelity '", to_string(*fidelity), "' (it has: ",
                                      join(column_strings(fidelities.bind(run, metric))), ")"));
  }

  sqlite::Connection db;
};

ResultsReader::ResultsReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
ResultsReader::~ResultsReader() = default;
ResultsReader::ResultsReader(ResultsReader&&) noexcept = default;
ResultsReader& ResultsReader::operator=(ResultsReader&&) noexcept = default;

const std::string& ResultsReader::path() const { return impl_->db.path(); }

void ResultsReader::runs(RowSink& out) {
  // The count walks evaluations_top over the run's range: an index-only scan.
  Statement s(impl_->db,
              "SELECT r.id, r.space, r.task, r.strategy, r.status, r.seed, r.started_at, "
              "r.finished_at, (SELECT count(*) FROM evaluations AS e INDEXED BY evaluations_top "
              "WHERE e.run_id = r.id), "
              "r.ghnas_version, r.checkpoint_hash, r.config FROM runs r ORDER BY r.id");
  stream_rows(s.bind(),
              {"id", "space", "task", "strategy", "status", "seed", "started_at", "finished_at",
               "evaluations", "ghnas_version", "checkpoint_hash", "config"},
              {11}, out);
}

void ResultsReader::top(const TopQuery& q, RowSink& out) {
  GHNAS_CHECK_AS(ConfigError, !q.metric.empty(), "top needs a metric");
  GHNAS_CHECK_AS(ConfigError, q.k > 0, "top needs k >= 1");
  Impl& m = *impl_;
  sqlite::ReadSnapshot snapshot(m.db);
  m.require_run(q.run);
  // Ties are broken by architecture id, then evaluation id, in the value's direction: exactly
  // the order of the index, so SQLite reads k rows and sorts nothing, however many values tie.
  std::string sql = std::string(kTopSelect) + (q.fidelity ? kTopFromFidelity : kTopFrom);
  sql += q.descending ? "ORDER BY e.value DESC, e.arch_id DESC, e.id DESC LIMIT ?3"
                      : "ORDER BY e.value, e.arch_id, e.id LIMIT ?3";
  Statement s(m.db, sql);
  const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(q.k, INT64_MAX));
  if (q.fidelity) s.bind(q.run, q.metric, limit, to_string(*q.fidelity));
  else s.bind(q.run, q.metric, limit);

  ResultTable rows;
  stream_rows(s, {"arch_id", "hash", q.metric, "fidelity", "evaluator", "params", "flops", "seconds",
                  "evaluation_id"},
              {}, rows);
  if (rows.rows.empty()) m.require_metric(q.run, q.metric, q.fidelity);
  std::vector<std::string> columns = {"rank"};
  columns.insert(columns.end(), rows.columns.begin(), rows.columns.end());
  out.begin(columns);
  std::vector<Cell> cells;
  for (std::size_t i = 0; i < rows.rows.size(); ++i) {
    cells.assign(1, Cell::of(static_cast<std::int64_t>(i + 1)));
    cells.insert(cells.end(), rows.rows[i].begin(), rows.rows[i].end());
    out.row(cells);
  }
}

void ResultsReader::pareto(const ParetoQuery& q, RowSink& out) {
  GHNAS_CHECK_AS(ConfigError, !q.x.empty() && !q.y.empty(), "pareto needs an x and a y metric");
  GHNAS_CHECK_AS(ConfigError, q.x != q.y, "pareto needs two different metrics (both are '", q.x, "')");
  GHNAS_CHECK_AS(ConfigError, !(is_arch_column(q.x) && is_arch_column(q.y)),
                 "pareto needs at least one evaluation metric (params and flops are columns of "
                 "architectures)");
  Impl& m = *impl_;
  sqlite::ReadSnapshot snapshot(m.db);
  m.require_run(q.run);

  struct Picked {
    std::int64_t arch;
    double value;
    int preference;  // index into kFidelityPreference
    std::int64_t id;
  };
  // The best evaluation of `metric` per architecture (see ParetoQuery for "best"), sorted by
  // architecture id. The columns read are all in evaluations_top_fidelity, so a run's
  // 100,000s of rows come from that index alone, without a table lookup each; sorting a
  // vector beats a hash map here (fewer allocations, and the joins below become merges).
  const auto pick = [&](const std::string& metric) {
    std::string sql =
        "SELECT arch_id, value, fidelity, id FROM evaluations INDEXED BY evaluations_top_fidelity "
        "WHERE run_id = ?1 AND metric = ?2 AND value IS NOT NULL";
    if (q.fidelity) sql += " AND fidelity = ?3";
    Statement s(m.db, sql);
    if (q.fidelity) s.bind(q.run, metric, to_string(*q.fidelity));
    else s.bind(q.run, metric);
    std::vector<Picked> rows;
    while (s.step()) {
      const auto* fidelity = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 2));
      rows.push_back({s.column_int(0), s.column_double(1),
                      fidelity_preference(fidelity ? fidelity : ""), s.column_int(3)});
    }
    if (rows.empty()) m.require_metric(q.run, metric, q.fidelity);
    std::sort(rows.begin(), rows.end(), [](const Picked& a, const Picked& b) {
      if (a.arch != b.arch) return a.arch < b.arch;
      if (a.preference != b.preference) return a.preference < b.preference;
      return a.id > b.id;
    });
    rows.erase(std::unique(rows.begin(), rows.end(),
                           [](const Picked& a, const Picked& b) { return a.arch == b.arch; }),
               rows.end());
    return rows;
  };

  struct Point {
    std::int64_t arch = 0;
    double x = 0, y = 0;
    int x_preference = -1, y_preference = -1;  // -1: an architecture column
    std::optional<std::int64_t> params, flops;
  };
  const bool x_is_arch = is_arch_column(q.x), y_is_arch = is_arch_column(q.y);
  const std::vector<Picked> xs = x_is_arch ? std::vector<Picked>{} : pick(q.x);
  const std::vector<Picked> ys = y_is_arch ? std::vector<Picked>{} : pick(q.y);
  // The candidates, in architecture id order: those with a value on each metric axis.
  std::vector<Point> points;
  if (x_is_arch || y_is_arch) {
    for (const Picked& v : x_is_arch ? ys : xs) {
      Point p;
      p.arch = v.arch;
      (x_is_arch ? p.y : p.x) = v.value;
      (x_is_arch ? p.y_preference : p.x_preference) = v.preference;
      points.push_back(p);
    }
  } else {
    points.reserve(std::min(xs.size(), ys.size()));
    for (auto x = xs.begin(), y = ys.begin(); x != xs.end() && y != ys.end();) {
      if (x->arch < y->arch) {
        ++x;
      } else if (y->arch < x->arch) {
        ++y;
      } else {
        Point p;
        p.arch = x->arch;
        p.x = x->value;
        p.x_preference = x->preference;
        p.y = y->value;
        p.y_preference = y->preference;
        points.push_back(p);
        ++x, ++y;
      }
    }
  }
  // Sizes of every candidate when they are an axis; read in id order, so the architectures
  // B-tree is walked once instead of at random.
  Statement sizes(m.db, "SELECT params, flops FROM architectures WHERE id = ?1");
  const auto read_sizes = [&](Point& p) {
    sizes.bind(p.arch);
    if (sizes.step()) {
      p.params = sizes.column_optional_int(0);
      p.flops = sizes.column_optional_int(1);
    }
    sizes.reset();
  };
  if (x_is_arch || y_is_arch) {
    std::vector<Point> sized;
    sized.reserve(points.size());
    for (Point& p : points) {
      read_sizes(p);
      const auto& size = (x_is_arch ? q.x : q.y) == "params" ? p.params : p.flops;
      if (!size) continue;  // unknown size: not comparable
      (x_is_arch ? p.x : p.y) = static_cast<double>(*size);
      sized.push_back(p);
    }
    points.swap(sized);
  }

  // Non-dominated sweep, both objectives turned into costs: after sorting by (x cost, y cost),
  // a point is on the front when its y cost beats every point before it; a point equal to the
  // last front point in both is kept as well (two architectures, one position).
  const auto cost_x = [&](const Point& p) { return q.maximize_x ? -p.x : p.x; };
  const auto cost_y = [&](const Point& p) { return q.maximize_y ? -p.y : p.y; };
  std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
    if (cost_x(a) != cost_x(b)) return cost_x(a) < cost_x(b);
    if (cost_y(a) != cost_y(b)) return cost_y(a) < cost_y(b);
    return a.arch < b.arch;
  });
  std::vector<Point> front;
  for (const Point& p : points) {
    if (front.empty() || cost_y(p) < cost_y(front.back()) ||
        (cost_y(p) == cost_y(front.back()) && cost_x(p) == cost_x(front.back())))
      front.push_back(p);
  }
  std::sort(front.begin(), front.end(), [](const Point& a, const Point& b) {
    return a.x != b.x ? a.x < b.x : a.arch < b.arch;
  });

  std::vector<std::string> columns = {"arch_id", "hash", q.x, q.y};
  if (!x_is_arch) columns.push_back(q.x + "_fidelity");
  if (!y_is_arch) columns.push_back(q.y + "_fidelity");
  for (const char* c : {"params", "flops"})
    if (q.x != c && q.y != c) columns.push_back(c);
  out.begin(columns);
  Statement hash(m.db, "SELECT hash FROM architectures WHERE id = ?1");
  std::vector<Cell> cells;
  for (Point& p : front) {
    if (!x_is_arch && !y_is_arch) read_sizes(p);
    cells.clear();
    cells.push_back(Cell::of(p.arch));
    hash.bind(p.arch);
    cells.push_back(hash.step() ? Cell::of(hash.column_text(0)) : Cell::null());
    hash.reset();
    cells.push_back(x_is_arch ? Cell::of(static_cast<std::int64_t>(p.x)) : Cell::of(p.x));
    cells.push_back(y_is_arch ? Cell::of(static_cast<std::int64_t>(p.y)) : Cell::of(p.y));
    if (!x_is_arch) cells.push_back(Cell::of(std::string(kFidelityPreference[p.x_preference])));
    if (!y_is_arch) cells.push_back(Cell::of(std::string(kFidelityPreference[p.y_preference])));
    for (const char* c : {"params", "flops"}) {
      if (q.x == c || q.y == c) continue;
      const auto& v = std::string_view(c) == "params" ? p.params : p.flops;
      cells.push_back(v ? Cell::of(*v) : Cell::null());
    }
    out.row(cells);
  }
}

void ResultsReader::architecture(const std::string& hash, RowSink& out) {
  GHNAS_CHECK_AS(ConfigError, !hash.empty(), "give an architecture hash");
  Impl& m = *impl_;
  sqlite::ReadSnapshot snapshot(m.db);
  struct Found {
    std::int64_t id;
    std::string space, hash, spec;
    std::optional<std::int64_t> params, flops;
  };
  const auto read = [](Statement& s, std::vector<Found>& found) {
    found.push_back({s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(5),
                     s.column_optional_int(3), s.column_optional_int(4)});
  };
  std::vector<Found> found;
  Statement exact(m.db,
                  "SELECT id, space, hash, params, flops, spec FROM architectures WHERE hash = ?1 "
                  "ORDER BY space");
  exact.bind(hash);
  while (exact.step()) read(exact, found);
  if (found.empty()) {
    // A prefix: hashes sort as bytes, so the matches are the first rows at or after it.
    Statement after(m.db,
                    "SELECT id, space, hash, params, flops, spec FROM architectures WHERE hash >= ?1 "
                    "ORDER BY hash, space LIMIT 11");
    after.bind(hash);
    while (after.step() && after.column_text(2).compare(0, hash.size(), hash) == 0) read(after, found);
    after.reset();
    std::vector<std::string> hashes;
    for (const auto& f : found)
      if (hashes.empty() || hashes.back() != f.hash) hashes.push_back(f.hash);
    if (found.empty())
      throw ConfigError(detail::str_cat("no architecture with hash '", hash, "' in '", m.db.path(), "'"));
    if (hashes.size() > 1)
      throw ConfigError(detail::str_cat("hash prefix '", hash, "' matches several architectures (",
                                        join(hashes, 5), "); give more characters"));
  }

  out.begin({"arch_id", "space", "hash", "params", "flops", "run_id", "evaluator", "fidelity",
             "metric", "value", "status", "error", "seconds", "created_at", "spec"});
  Statement evals(m.db,
                  "SELECT run_id, evaluator, fidelity, metric, value, status, error, seconds, "
                  "created_at FROM evaluations WHERE arch_id = ?1 ORDER BY run_id, id");
  std::vector<Cell> cells(15);
  for (const Found& f : found) {
    cells[0] = Cell::of(f.id);
    cells[1] = Cell::of(f.space);
    cells[2] = Cell::of(f.hash);
    cells[3] = f.params ? Cell::of(*f.params) : Cell::null();
    cells[4] = f.flops ? Cell::of(*f.flops) : Cell::null();
    cells[14] = Cell::json(f.spec);
    evals.bind(f.id);
    bool any = false;
    while (evals.step()) {
      for (int c = 0; c < 9; ++c) read_cell(evals, c, cells[static_cast<std::size_t>(5 + c)]);
      out.row(cells);
      any = true;
    }
    if (!any) {
      for (std::size_t c = 5; c < 14; ++c) cells[c] = Cell::null();
      out.row(cells);
    }
  }
}

void ResultsReader::sql(const std::string& statement, RowSink& out) {
  Impl& m = *impl_;
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(m.db.get(), statement.c_str(), static_cast<int>(statement.size()),
                                    &raw, &tail);
  sqlite::StatementPtr owned(raw);
  if (rc != SQLITE_OK)
    throw StorageError(rc, detail::str_cat("SQL error: ", sqlite3_errmsg(m.db.get())));
  GHNAS_CHECK_AS(ConfigError, owned != nullptr, "empty SQL statement");
  // Anything after the first statement must be blank or comments.
  sqlite3_stmt* rest = nullptr;
  const char* end = statement.c_str() + statement.size();
  if (tail && tail < end) {
    const int rest_rc = sqlite3_prepare_v2(m.db.get(), tail, static_cast<int>(end - tail), &rest, nullptr);
    sqlite::StatementPtr rest_owned(rest);
    GHNAS_CHECK_AS(ConfigError, rest_rc == SQLITE_OK && rest == nullptr,
                   "give one SQL statement (found more after the first ';')");
  }
  Statement s(m.db, std::move(owned));
  if (!s.read_only())
    throw StorageError(SQLITE_READONLY,
                       "ghnas query sql only reads: this statement would change the database");
  std::vector<std::string> columns;
  for (int c = 0; c < s.column_count(); ++c) columns.push_back(s.column_name(c));
  stream_rows(s, columns, {}, out);
}

void ResultsReader::export_run(std::int64_t run, RowSink& out) {
  Impl& m = *impl_;
  sqlite::ReadSnapshot snapshot(m.db);
  m.require_run(run);
  // NOT INDEXED: walking the table in id order beats finding the run's rows through an index
  // and sorting them (2.8 s against 16.8 s for 840,000 rows; see results/storage_queries.md).
  Statement s(m.db,
              "SELECT e.id, e.run_id, e.arch_id, a.space, a.hash, a.params, a.flops, e.evaluator, "
              "e.fidelity, e.metric, e.value, e.status, e.error, e.seconds, e.created_at, a.spec "
              "FROM evaluations AS e NOT INDEXED JOIN architectures a ON a.id = e.arch_id "
              "WHERE e.run_id = ?1 ORDER BY e.id");
  stream_rows(s.bind(run),
              {"evaluation_id", "run_id", "arch_id", "space", "hash", "params", "flops", "evaluator",
               "fidelity", "metric", "value", "status", "error", "seconds", "created_at", "spec"},
              {15}, out);
}

}  // namespace ghnas
