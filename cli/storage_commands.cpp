// Commands that read a results database: query (runs, top, pareto, arch, sql) and export.
// They open the database read-only, so they can run while a search writes it. Their output
// is the project's public contract: scripts parse the json and csv formats.

#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "storage/result_table.hpp"
#include "storage/results_db.hpp"
#include "storage/results_reader.hpp"
#include "storage/vocabulary.hpp"

namespace ghnas::cli {

namespace {

struct OutputArgs {
  std::string db = kDefaultDbPath;
  std::string format = "table";
};

void add_db_option(CLI::App* command, OutputArgs& args) {
  command->add_option("--db", args.db, "results database file (SQLite, on a local disk)")
      ->capture_default_str();
}

void add_output_options(CLI::App* command, OutputArgs& args) {
  add_db_option(command, args);
  command
      ->add_option("--format", args.format,
                   "table (aligned columns for people), json (one object per line) or csv "
                   "(with a header line)")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
}

std::string fidelity_help() {
  std::string names;
  for (const auto& n : fidelity_names()) names += (names.empty() ? "" : ", ") + n;
  return "only evaluations of this fidelity: " + names;
}

std::optional<Fidelity> optional_fidelity(const std::string& name) {
  if (name.empty()) return std::nullopt;
  return parse_fidelity(name);
}

// Opens the database read-only, runs `query` into the chosen format, and flushes.
template <typename Query>
int print_query(const OutputArgs& args, Query&& query) {
  ResultsReader reader(args.db);
  FormattedOutput out(std::cout, parse_output_format(args.format));
  query(reader, out);
  out.finish();
  return 0;
}

}  // namespace

void add_storage_commands(CLI::App& app, Actions& actions) {
  auto* query = app.add_subcommand(
      "query",
      "Read a results database (read-only; works while a search writes it): runs, top, pareto, "
      "arch, sql");
  query->require_subcommand(1);

  // ---- query runs
  auto runs_args = std::make_shared<OutputArgs>();
  auto* runs = query->add_subcommand("runs", "List the runs: id, space, task, strategy, status, "
                                             "times, number of evaluations, configuration");
  add_output_options(runs, *runs_args);
  actions.emplace_back(runs, [runs_args] {
    return print_query(*runs_args, [](ResultsReader& r, RowSink& out) { r.runs(out); });
  });

  // ---- query top
  struct TopArgs : OutputArgs {
    std::int64_t run = 0;
    std::string metric, fidelity;
    std::size_t k = 10;
    bool asc = false, desc = false;
  };
  auto ta = std::make_shared<TopArgs>();
  auto* top = query->add_subcommand(
      "top", "The best k evaluations of a run by one metric (ok evaluations only)");
  top->add_option("--run", ta->run, "run id (see 'ghnas query runs')")->required();
  top->add_option("--by", ta->metric, "metric to rank by, e.g. clean_acc")->required();
  top->add_option("-k", ta->k, "number of rows")->capture_default_str()->check(CLI::PositiveNumber);
  top->add_option("--fidelity", ta->fidelity, fidelity_help())
      ->check(CLI::IsMember(fidelity_names()));
  auto* desc = top->add_flag("--desc", ta->desc, "highest values first (the default)");
  top->add_flag("--asc", ta->asc, "lowest values first (e.g. for latency)")->excludes(desc);
  add_output_options(top, *ta);
  actions.emplace_back(top, [ta] {
    return print_query(*ta, [&](ResultsReader& r, RowSink& out) {
      r.top({ta->run, ta->metric, ta->k, optional_fidelity(ta->fidelity), !ta->asc}, out);
    });
  });

  // ---- query pareto
  struct ParetoArgs : OutputArgs {
    ParetoQuery q;
    std::string fidelity;
    bool maximize_x = false, minimize_y = false;
  };
  auto pa = std::make_shared<ParetoArgs>();
  auto* pareto = query->add_subcommand(
      "pareto",
      "The architectures of a run that no other beats on both metrics (minimise x, maximise y "
      "by default); params and flops name the architecture's columns");
  pareto->add_option("--run", pa->q.run, "run id")->required();
  pareto->add_option("--x", pa->q.x, "metric on the x axis (minimised)")->capture_default_str();
  pareto->add_option("--y", pa->q.y, "metric on the y axis (maximised)")->capture_default_str();
  pareto->add_flag("--maximize-x", pa->maximize_x, "maximise x instead");
  pareto->add_flag("--minimize-y", pa->minimize_y, "minimise y instead");
  pareto->add_option("--fidelity", pa->fidelity, fidelity_help())
      ->check(CLI::IsMember(fidelity_names()));
  add_output_options(pareto, *pa);
  actions.emplace_back(pareto, [pa] {
    ParetoQuery q = pa->q;
    q.maximize_x = pa->maximize_x;
    q.maximize_y = !pa->minimize_y;
    q.fidelity = optional_fidelity(pa->fidelity);
    return print_query(*pa, [&](ResultsReader& r, RowSink& out) { r.pareto(q, out); });
  });

  // ---- query arch
  struct ArchArgs : OutputArgs {
    std::string hash;
  };
  auto aa = std::make_shared<ArchArgs>();
  auto* arch = query->add_subcommand(
      "arch", "One architecture (by canonical hash or a unique prefix of it): its spec and every "
              "evaluation of it in every run");
  arch->add_option("hash", aa->hash, "canonical hash, or a unique prefix")->required();
  add_output_options(arch, *aa);
  actions.emplace_back(arch, [aa] {
    return print_query(*aa, [&](ResultsReader& r, RowSink& out) { r.architecture(aa->hash, out); });
  });

  // ---- query sql
  struct SqlArgs : OutputArgs {
    std::string statement;
  };
  auto sa = std::make_shared<SqlArgs>();
  auto* sql = query->add_subcommand(
      "sql", "Run one read-only SQL statement (tables: runs, architectures, evaluations, "
             "schema_version; see storage/SCHEMA.md); statements that write are refused");
  sql->add_option("statement", sa->statement, "e.g. \"SELECT metric, count(*) FROM evaluations GROUP BY metric\"")
      ->required();
  add_output_options(sql, *sa);
  actions.emplace_back(sql, [sa] {
    return print_query(*sa, [&](ResultsReader& r, RowSink& out) { r.sql(sa->statement, out); });
  });

  // ---- export
  struct ExportArgs : OutputArgs {
    std::int64_t run = 0;
  };
  auto ea = std::make_shared<ExportArgs>();
  ea->format = "csv";
  auto* exp = app.add_subcommand(
      "export",
      "Write every evaluation of a run with its architecture (hash, params, flops, JSON spec) to "
      "standard output, in recording order");
  exp->add_option("--run", ea->run, "run id (see 'ghnas query runs')")->required();
  exp->add_option("--format", ea->format, "csv (with a header line) or json (one object per line)")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  add_db_option(exp, *ea);
  actions.emplace_back(exp, [ea] {
    return print_query(*ea, [&](ResultsReader& r, RowSink& out) { r.export_run(ea->run, out); });
  });
}

}  // namespace ghnas::cli
