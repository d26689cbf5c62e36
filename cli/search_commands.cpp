// `ghnas search`: a search against a tabular oracle, every proposal and result stored in the
// results database. The last stdout line is the public contract:
//   {"best_arch": ..., "best_value": ..., "queries_used": ...}

#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "search/oracle_search.hpp"
#include "storage/results_db.hpp"

namespace ghnas::cli {

namespace {

EvalStatus storage_status(CandidateStatus status) {
  switch (status) {
    case CandidateStatus::kOk: return EvalStatus::kOk;
    case CandidateStatus::kDiverged: return EvalStatus::kDiverged;
    case CandidateStatus::kOom: return EvalStatus::kOom;
    case CandidateStatus::kInvalid: return EvalStatus::kInvalid;
    default: return EvalStatus::kFailed;
  }
}

// Records the run, each distinct architecture and each charged lookup as it happens. Misses of
// a partial table and answers reused from an earlier proposal cost nothing and add no row.
class DbRecorder : public SearchObserver {
 public:
  /// Records into run `resume_run` when given (a resumed search replays its proposals and
  /// adds only what the interrupted run had not recorded), else into a new run.
  DbRecorder(ResultsDb& db, std::string oracle, RunSpec spec, std::optional<std::int64_t> resume_run)
      : db_(db), oracle_(std::move(oracle)), spec_(std::move(spec)), resume_(resume_run) {}

  void on_start(const SearchRunInfo& info) override {
    run_ = resume_ ? db_.resume_run(*resume_).id : db_.create_run(spec_);
    objectives_ = info.objectives;
  }
  void on_record(const SearchRecord& r) override {
    if (r.reused || r.screened || r.candidate.hash.empty()) return;
    if (r.evaluation.status == CandidateStatus::kUnknown) return;
    ArchRecord arch;
    arch.space = r.candidate.arch.space;
    arch.hash = r.candidate.hash;
    arch.spec = r.candidate.arch.spec;
    const std::int64_t arch_id = db_.upsert_architecture(arch);
    std::vector<Evaluation> rows;
    if (r.evaluation.status == CandidateStatus::kOk) {
      for (const auto& [metric, value] : r.evaluation.metrics)
        rows.push_back({arch_id, oracle_, Fidelity::kTable, metric, value, EvalStatus::kOk, "", {}});
    } else {
      for (const auto& o : objectives_)
        rows.push_back({arch_id, oracle_, Fidelity::kTable, o.metric, 0,
                        storage_status(r.evaluation.status), r.evaluation.message, {}});
    }
    if (!rows.empty()) db_.record_evaluations(run_, rows);
  }
  void on_finish(const SearchResult&) override { db_.finish_run(run_, RunStatus::kFinished); }
  std::int64_t run() const { return run_; }

 private:
  ResultsDb& db_;
  std::string oracle_;
  RunSpec spec_;
  std::optional<std::int64_t> resume_;
  std::vector<Objective> objectives_;
  std::int64_t run_ = 0;
};

}  // namespace

void add_search_commands(CLI::App& app, Actions& actions) {
  struct Args {
    OracleSearchConfig config;
    std::string objectives, db = kDefaultDbPath, task = "cifar10";
    std::vector<std::string> options;
    bool full_space = false;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "search",
      "Search a space against a tabular oracle (the standard way to benchmark NAS strategies on "
      "NAS-Bench-201), storing every query in the results database. The last line printed is a "
      "JSON object with best_arch, best_value and queries_used.");
  cmd->add_option("--space", a->config.space, "search space")->capture_default_str();
  cmd->add_option("--strategy", a->config.strategy, "random, evolution or pareto")->capture_default_str();
  cmd->add_option("--oracle", a->config.oracle,
                  "table:FILE.csv:COLUMN[,COLUMN...]: a table with an arch_str column; one charged "
                  "query per distinct architecture (isomorphic cells count once)")->required();
  cmd->add_option("--queries", a->config.queries, "budget: charged queries")->required();
  cmd->add_option("--seed", a->config.seed, "random seed")->capture_default_str();
  cmd->add_option("--objectives", a->objectives,
                  "metric[:max|:min],... (default: maximise the oracle's first column; pareto "
                  "takes two)");
  cmd->add_option("--option", a->options,
                  "strategy option NAME=VALUE (evolution: population, sample, ...), repeatable");
  cmd->add_option("--max-seconds", a->config.max_seconds, "wall-time budget");
  cmd->add_option("--batch-size", a->config.batch_size, "proposals per batch")->capture_default_str();
  cmd->add_flag("--full-space", a->full_space,
                "propose from the whole space; architectures missing from the table come back "
                "unknown and cost nothing (default: propose only the table's architectures)");
  cmd->add_flag("--charge-repeats", a->config.charge_repeats,
                "charge every evaluated proposal, repeats included (NAS-Bench-201's own accounting)");
  cmd->add_option("--task", a->task, "task the table's numbers were measured on")->capture_default_str();
  cmd->add_option("--db", a->db, "results database (SQLite, on a local disk)")->capture_default_str();
  cmd->add_flag("--resume", a->resume,
                "continue the latest run of this database with the same space, strategy, options, "
                "budget and seed (after a crash or kill): the search is replayed from its seed and "
                "only what the run had not recorded is added; starts a new run when there is none");
  actions.emplace_back(cmd, [a] {
    OracleSearchConfig config = a->config;
    config.restrict_to_table = !a->full_space;
    if (!a->objectives.empty()) config.objectives = parse_objectives(a->objectives);
    for (const auto& kv : a->options) {
      const auto eq = kv.find('=');
      GHNAS_CHECK_AS(ConfigError, eq != std::string::npos && eq > 0, "--option expects NAME=VALUE, got '",
                     kv, "'");
      config.strategy_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    ResultsDb db(a->db);
    nlohmann::json recorded = {{"oracle", config.oracle}, {"queries", config.queries},
                               {"strategy_options", config.strategy_options},
                               {"objectives", a->objectives}, {"full_space", a->full_space},
                               {"charge_repeats", config.charge_repeats}};
    RunSpec spec;
    spec.space = config.space;
    spec.task = a->task;  // a benchmark table's numbers belong to the task it was measured on
    spec.strategy = config.strategy;
    spec.seed = config.seed;
    spec.config = recorded;
    std::optional<std::int64_t> resume_run;
    if (a->resume) {
      resume_run = db.find_run(spec);
      if (resume_run) {
        std::cerr << "search: resuming run " << *resume_run << " of " << a->db << "\n";
      } else {
        std::cerr << "search: no earlier run of this search in " << a->db << "; starting one\n";
      }
    }
    DbRecorder recorder(db, config.oracle, spec, resume_run);
    const OracleSearchReport report = run_oracle_search(config, &recorder);
    nlohmann::json summary = report.summary;
    summary["run"] = recorder.run();
    summary["resumed"] = resume_run.has_value();
    summary["db"] = a->db;
    std::cout << summary.dump() << "\n";
    return 0;
  });
}

}  // namespace ghnas::cli
