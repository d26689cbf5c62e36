// `ghnas search`: a search against a tabular oracle, every proposal and result stored in the
// results database. The last stdout line is the public contract:
//   {"best_arch": ..., "best_value": ..., "queries_used": ...}

#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "search/oracle_search.hpp"
#include "storage/results_db.hpp"
#ifdef GHNAS_WITH_DISTRIBUTED
#include "distributed/mpi_evaluator.hpp"
#include "distributed/mpi_session.hpp"
#include "distributed/worker.hpp"
#endif
#if defined(GHNAS_WITH_SURROGATE) && defined(GHNAS_WITH_EVALUATORS) && defined(GHNAS_WITH_HEADS)
#define GHNAS_CASCADE 1
#include <tbb/global_control.h>

#include "cli/cascade_evaluators.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "search/cascade.hpp"
#include "search/replay_evaluator.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/feature_table.hpp"
#include "surrogate/ghn_trainer.hpp"
#include "surrogate/predicted_accuracy.hpp"
#endif

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


struct SearchArgs {
  OracleSearchConfig config;
  std::string objectives, db = kDefaultDbPath, task;
  std::vector<std::string> options, space_options;
  bool full_space = false;
  bool resume = false;
  // GHN + heads (the cascade, or screening in front of an oracle)
  std::string checkpoint, heads, data;
  int candidates = 0, predict_top = 32, verify_top = 3, epochs = 1, threads = 2, batch = 64;
  int screen_factor = 4;
  int predict_width = -1;  // -1: the GHN's training width where the space has widths
  std::int64_t val_images = 1000, train_size = 0, test_size = 0;
  // --distributed mpi: rank 0 searches and records, the other ranks evaluate
  std::string distributed = "none";
  double worker_timeout = 600;
};

// Where a mode's evaluations run. Empty: here. Otherwise it wraps this process's evaluator
// named `name` (the fallback) into one whose work runs on MPI workers holding the same
// evaluator under the same name.
using Distribute = std::function<std::unique_ptr<SearchEvaluator>(const std::string& name, SearchEvaluator* local)>;

// The oracle as the workers of a distributed --oracle search hold it: the table over the full
// space, charging nothing that counts (rank 0 charges, see OracleSearchConfig::lookups).
constexpr const char* kTableOracleName = "table-oracle";
std::unique_ptr<TabularOracle> table_oracle_copy(const SearchArgs& a, std::unique_ptr<SearchSpace>& space) {
  const TableOracleSpec spec = parse_table_oracle_spec(a.config.oracle);
  space = make_space(a.config.space, a.config.space_options);
  return std::make_unique<TabularOracle>(*space, spec.path, spec.columns, a.config.charge_repeats);
}

// The run this invocation records into: a new one, or with --resume the latest matching one.
std::optional<std::int64_t> run_to_resume(ResultsDb& db, const RunSpec& spec, bool resume, const std::string& path) {
  if (!resume) return std::nullopt;
  auto found = db.find_run(spec);
  if (found) {
    std::cerr << "search: resuming run " << *found << " of " << path << "\n";
  } else {
    std::cerr << "search: no earlier run of this search in " << path << "; starting one\n";
  }
  return found;
}

#ifdef GHNAS_CASCADE
// Scores candidates by the heads' prediction of one metric, for screening before an oracle.
class HeadsScreen : public CandidateScreen {
 public:
  HeadsScreen(cli::HeadsEvaluator& heads, Objective objective) : heads_(heads), objective_(std::move(objective)) {}
  std::vector<double> score(const std::vector<Candidate>& batch) override {
    std::vector<double> scores;
    for (const auto& e : heads_.evaluate(batch)) {
      const auto it = e.metrics.find(objective_.metric);
      scores.push_back(it == e.metrics.end() ? std::nan("") : oriented(it->second, objective_.direction));
    }
    return scores;
  }

 private:
  cli::HeadsEvaluator& heads_;
  Objective objective_;
};

// Loads the GHN and its heads and checks that the heads were fitted on this GHN's embeddings.
std::pair<Ghn, PropertyHeads> load_ghn_and_heads(const SearchArgs& a, const std::string& space,
                                                 const std::string& task) {
  GHNAS_CHECK_AS(ConfigError, !a.checkpoint.empty(), "--heads needs --checkpoint, the GHN the heads were fitted on");
  Ghn ghn = load_ghn(a.checkpoint);
  ghn->eval();
  PropertyHeads heads = PropertyHeads::load(a.heads);
  heads.check_provenance(embedding_provenance(a.checkpoint, ghn, task, space));
  return {ghn, std::move(heads)};
}
#endif

int run_oracle_mode(const SearchArgs& a, const Distribute& distribute = {}) {
  OracleSearchConfig config = a.config;
  GHNAS_CHECK_AS(ConfigError, config.queries > 0, "search: --oracle needs --queries N, a positive number of queries, got ",
                 config.queries);
  config.restrict_to_table = !a.full_space;
  if (!a.objectives.empty()) config.objectives = parse_objectives(a.objectives);
  for (const auto& kv : a.options) {
    const auto eq = kv.find('=');
    GHNAS_CHECK_AS(ConfigError, eq != std::string::npos && eq > 0, "--option expects NAME=VALUE, got '", kv, "'");
    config.strategy_options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const std::string task = a.task.empty() ? "cifar10" : a.task;
#ifdef GHNAS_CASCADE
  std::unique_ptr<cli::HeadsEvaluator> heads;
  std::unique_ptr<HeadsScreen> screen;
  std::unique_ptr<tbb::global_control> limit;
  if (!a.heads.empty()) {
    configure_cpu_runtime(a.threads);
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<std::size_t>(a.threads));
    auto [ghn, fitted] = load_ghn_and_heads(a, config.space, task);
    auto space = make_space(config.space, config.space_options);
    static std::unique_ptr<SearchSpace> keep_space;  // outlives the evaluator
    keep_space = std::move(space);
    heads = std::make_unique<cli::HeadsEvaluator>(ghn, std::move(fitted), *keep_space, task_by_name(task));
    const Objective screened_by = config.objectives.empty()
        ? Objective{parse_table_oracle_spec(config.oracle).columns.front(), Direction::kMaximize}
        : config.objectives.front();
    screen = std::make_unique<HeadsScreen>(*heads, screened_by);
    config.screen = screen.get();
    config.screen_factor = a.screen_factor;
  }
#else
  GHNAS_CHECK_AS(ConfigError, a.heads.empty(), "this ghnas was built without the GHN surrogate: --heads is unavailable");
#endif
  // Distributed: the lookups run on the workers, rank 0 keeps a copy of the table for chunks
  // no worker answers (and for the charges, inside run_oracle_search).
  std::unique_ptr<SearchSpace> copy_space;
  std::unique_ptr<TabularOracle> table_copy;
  std::unique_ptr<SearchEvaluator> lookups;
  if (distribute) {
    table_copy = table_oracle_copy(a, copy_space);
    lookups = distribute(kTableOracleName, table_copy.get());
    config.lookups = lookups.get();
  }
  ResultsDb db(a.db);
  nlohmann::json recorded = {{"oracle", config.oracle}, {"queries", config.queries},
                             {"strategy_options", config.strategy_options},
                             {"objectives", a.objectives}, {"full_space", a.full_space},
                             {"charge_repeats", config.charge_repeats}};
  if (!a.heads.empty()) recorded["screen"] = {{"heads", a.heads}, {"factor", a.screen_factor}};
  RunSpec spec;
  spec.space = config.space;
  spec.task = task;  // a benchmark table's numbers belong to the task it was measured on
  spec.strategy = config.strategy;
  spec.seed = config.seed;
  spec.config = recorded;
  const std::optional<std::int64_t> resume_run = run_to_resume(db, spec, a.resume, a.db);
  DbRecorder recorder(db, config.oracle, spec, resume_run);
  const OracleSearchReport report = run_oracle_search(config, &recorder);
  nlohmann::json summary = report.summary;
  summary["run"] = recorder.run();
  summary["resumed"] = resume_run.has_value();
  summary["db"] = a.db;
  std::cout << summary.dump() << "\n";
  return 0;
}

#ifdef GHNAS_CASCADE
// Records the cascade: the first stage's answers as heads predictions, each later stage's under
// its own evaluator and fidelity. Repeats and screened proposals add nothing.
class CascadeRecorder : public CascadeObserver {
 public:
  CascadeRecorder(ResultsDb& db, RunSpec spec, std::optional<std::int64_t> resume, std::string first_evaluator)
      : db_(db), spec_(std::move(spec)), resume_(resume), first_(std::move(first_evaluator)) {}
  void on_start(const SearchRunInfo&) override {
    run_ = resume_ ? db_.resume_run(*resume_).id : db_.create_run(spec_);
  }
  // The heads stage records a whole batch in one transaction: thousands of per-candidate
  // commits (each an fsync) would cost more than ranking the candidates. A batch lost to a
  // crash is simply replayed by --resume.
  void on_proposals(const std::vector<Candidate>&) override {
    commit_pending();
    pending_.emplace(db_.begin_batch());
  }
  void on_record(const SearchRecord& r) override {
    if (r.reused || r.screened || r.candidate.hash.empty()) return;
    record(r.candidate, r.evaluation, first_, Fidelity::kHeads);
  }
  void on_finish(const SearchResult&) override { commit_pending(); }
  // Later stages are slow: each of their results is committed as soon as it exists.
  void on_stage_start(std::size_t, const CascadeStage&, std::size_t) override { commit_pending(); }
  void on_stage_record(std::size_t, const CascadeStage& stage, const StageRecord& r) override {
    record(r.candidate, r.evaluation, stage.evaluator, parse_fidelity(stage.fidelity));
  }
  std::int64_t run() const { return run_; }
  void finish(RunStatus status) {
    if (status == RunStatus::kFinished) commit_pending();
    pending_.reset();  // a failed run keeps what was committed, not a half batch
    db_.finish_run(run_, status);
  }

 private:
  void record(const Candidate& c, const CandidateEvaluation& e, const std::string& evaluator, Fidelity fidelity) {
    if (e.status == CandidateStatus::kUnknown) return;
    auto batch = db_.begin_batch();
    const std::int64_t arch = db_.upsert_architecture({c.arch.space, c.hash, c.arch.spec, std::nullopt, std::nullopt});
    std::vector<Evaluation> rows;
    if (e.status == CandidateStatus::kOk) {
      for (const auto& [metric, value] : e.metrics)
        if (std::isfinite(value)) rows.push_back({arch, evaluator, fidelity, metric, value, EvalStatus::kOk, "", {}});
    } else {
      rows.push_back({arch, evaluator, fidelity, "clean_acc", 0, storage_status(e.status), e.message, {}});
    }
    if (!rows.empty()) db_.record_evaluations(run_, rows);
    batch.commit();
  }
  void commit_pending() {
    if (pending_) pending_->commit();
    pending_.reset();
  }
  ResultsDb& db_;
  RunSpec spec_;
  std::optional<std::int64_t> resume_;
  std::string first_;
  std::int64_t run_ = 0;
  std::optional<sqlite::Transaction> pending_;
};

// What an interrupted run recorded for `evaluator`, by hash, to replay on --resume.
std::map<std::string, CandidateEvaluation> recorded_answers(ResultsDb& db, std::optional<std::int64_t> run,
                                                             const std::string& evaluator) {
  std::map<std::string, CandidateEvaluation> out;
  if (!run) return out;
  std::map<std::int64_t, std::string> hashes;
  for (const StoredEvaluation& e : db.run_evaluations(*run)) {
    if (e.evaluator != evaluator) continue;
    auto h = hashes.find(e.arch_id);
    if (h == hashes.end()) h = hashes.emplace(e.arch_id, db.architecture(e.arch_id).hash).first;
    CandidateEvaluation& answer = out[h->second];
    if (e.status == EvalStatus::kOk && e.value) {
      answer.metrics[e.metric] = *e.value;
    } else {
      answer.status = e.status == EvalStatus::kDiverged ? CandidateStatus::kDiverged
                      : e.status == EvalStatus::kOom    ? CandidateStatus::kOom
                                                        : CandidateStatus::kFailed;
      answer.message = e.error;
    }
  }
  return out;
}

// What every rank of a cascade builds from the same command line: the space, the data and the
// three stages' evaluators. Held behind a pointer: the evaluators keep references to the space
// and the data.
struct CascadeSetup {
  std::string task_name;
  std::unique_ptr<SearchSpace> space;
  Task task;
  std::vector<Objective> objectives;
  Dataset data;
  std::string sgd_name;
  std::unique_ptr<cli::HeadsEvaluator> heads;
  std::unique_ptr<cli::PredictedParamsEvaluator> params;
  std::unique_ptr<cli::SgdEvaluator> sgd;
  int predict_width = 0;  // 0: candidates are scored at their own width
};

// The width the predicted-parameter stage builds candidates at: --predict-width, or by default
// the width of the networks the GHN was trained on (those its training space samples, or
// train-ghn --train-channels), for a space whose networks have a width. Trained at C=32, the
// shipped GHN's parameters for C=8 networks score at chance (results/surrogate_quality.md), so
// scoring at the training width is what makes this stage rank anything.
int predict_width(const SearchArgs& a, const SearchSpace& space) {
  Rng rng(0);
  const bool has_width = space.width(space.sample(rng)).has_value();
  if (a.predict_width >= 0) {
    GHNAS_CHECK_AS(ConfigError, a.predict_width == 0 || has_width, "--predict-width: space '", space.name(),
                   "' has no network width to set");
    return a.predict_width;
  }
  const nlohmann::json training = read_training_info(a.checkpoint);
  if (!has_width || !training.is_object()) return 0;  // an imported GHN: its widths are unknown
  const GhnTrainConfig trained = GhnTrainConfig::from_json(training.at("config"));
  if (trained.train_channels > 0) return trained.train_channels;
  const auto training_space = make_space(trained.space, trained.space_options);
  return training_space->width(training_space->sample(rng)).value_or(0);
}

std::unique_ptr<CascadeSetup> build_cascade(const SearchArgs& a) {
  GHNAS_CHECK_AS(ConfigError, !a.heads.empty() && !a.checkpoint.empty(),
                 "search needs either --oracle table:FILE:COLUMN (benchmark a strategy on a table) or "
                 "--checkpoint CK --heads H (rank candidates with the GHN and verify the best with SGD)");
  GHNAS_CHECK_AS(ConfigError, a.config.queries == 0, "--queries is the budget of an --oracle search; the cascade's is --candidates");
  GHNAS_CHECK_AS(ConfigError, a.candidates > 0, "search: --candidates must be a positive number, got ", a.candidates);
  auto s = std::make_unique<CascadeSetup>();
  s->task_name = a.task.empty() ? "fashion-mnist" : a.task;
  s->space = make_space(a.config.space, a.config.space_options);
  s->task = task_by_name(s->task_name);
  auto [ghn, heads] = load_ghn_and_heads(a, a.config.space, s->task_name);
  s->objectives =
      a.objectives.empty() ? std::vector<Objective>{{"clean_acc", Direction::kMaximize}} : parse_objectives(a.objectives);
  const Objective& objective = s->objectives.front();
  bool head_found = false;
  for (const auto& h : heads.heads) head_found = head_found || h.target == objective.metric;
  GHNAS_CHECK_AS(ConfigError, head_found, "search: the heads in '", a.heads, "' do not predict '", objective.metric, "'");

  // Images: a validation split for predicted-parameter accuracy (the test set is for the final
  // SGD numbers only), the training rest for SGD.
  s->data = s->task_name == "fashion-mnist"
                ? load_fashion_mnist(a.data.empty() ? kFashionMnistDir : a.data, std::max<std::int64_t>(a.val_images, 64), 0)
                : load_cifar10(a.data, std::max<std::int64_t>(a.val_images, 64), 0);
  s->data.train = s->data.train.head(a.train_size);
  s->data.test = s->data.test.head(a.test_size);
  std::vector<Batch> val_batches = evaluation_batches(s->data.val, s->data.info, 64);
  s->predict_width = predict_width(a, *s->space);

  SgdConfig sgd;
  sgd.epochs = a.epochs;
  sgd.threads = a.threads;
  sgd.seed = a.config.seed;
  s->sgd_name = "sgd-" + std::to_string(a.epochs) + "ep";
  s->heads = std::make_unique<cli::HeadsEvaluator>(ghn, std::move(heads), *s->space, s->task);
  s->params = std::make_unique<cli::PredictedParamsEvaluator>(ghn, *s->space, s->task, std::move(val_batches),
                                                              s->predict_width);
  s->sgd = std::make_unique<cli::SgdEvaluator>(*s->space, s->task, s->data, sgd);
  return s;
}

// `stage_batch`: candidates per call of the later stages; 1 commits each result as soon as it
// exists, a distributed run passes its number of workers so that they train side by side.
int run_cascade_mode(const SearchArgs& a, const Distribute& distribute = {}, std::size_t stage_batch = 1) {
  configure_cpu_runtime(a.threads);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(a.threads));
  const std::unique_ptr<CascadeSetup> setup = build_cascade(a);
  const std::string& task_name = setup->task_name;
  const std::string& sgd_name = setup->sgd_name;
  SearchSpace* space = setup->space.get();
  const std::vector<Objective>& objectives = setup->objectives;
  const Objective& objective = objectives.front();
  StrategyOptions strategy_options;
  for (const auto& kv : a.options) {
    const auto eq = kv.find('=');
    GHNAS_CHECK_AS(ConfigError, eq != std::string::npos && eq > 0, "--option expects NAME=VALUE, got '", kv, "'");
    strategy_options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }

  ResultsDb db(a.db);
  RunSpec spec;
  spec.space = a.config.space;
  spec.task = task_name;
  spec.strategy = a.config.strategy;
  spec.seed = a.config.seed;
  spec.checkpoint_hash = file_hash(a.checkpoint);
  spec.config = {{"cascade", {{"candidates", a.candidates}, {"predict_top", a.predict_top},
                              {"verify_top", a.verify_top}, {"epochs", a.epochs}, {"val_images", a.val_images},
                              {"train_size", a.train_size}, {"test_size", a.test_size},
                              {"predict_width", setup->predict_width}}},
                 {"heads", a.heads}, {"checkpoint", a.checkpoint}, {"objectives", a.objectives},
                 {"strategy_options", strategy_options}, {"space_options", a.config.space_options}};
  const std::optional<std::int64_t> resume_run = run_to_resume(db, spec, a.resume, a.db);

  // Distributed: every stage runs on the workers, with this process's evaluators as fallback.
  SearchEvaluator* heads_eval = setup->heads.get();
  SearchEvaluator* ghn_eval = setup->params.get();
  SearchEvaluator* sgd_eval = setup->sgd.get();
  std::unique_ptr<SearchEvaluator> remote_heads, remote_ghn, remote_sgd;
  if (distribute) {
    heads_eval = (remote_heads = distribute("ghn-heads", heads_eval)).get();
    ghn_eval = (remote_ghn = distribute("ghn-params", ghn_eval)).get();
    sgd_eval = (remote_sgd = distribute(sgd_name, sgd_eval)).get();
  }
  // A resumed run replays the search; what it already predicted or trained is not redone.
  ReplayEvaluator ghn_replay(*ghn_eval, recorded_answers(db, resume_run, "ghn-params"));
  ReplayEvaluator sgd_replay(*sgd_eval, recorded_answers(db, resume_run, sgd_name));
  std::vector<CascadeStage> stages = {
      {"ghn-heads", "heads", heads_eval, 0, objective},
      {"ghn-params", "predicted-parameters", &ghn_replay, static_cast<std::size_t>(a.predict_top),
       {"clean_acc", Direction::kMaximize}},
      {sgd_name, "sgd", &sgd_replay, static_cast<std::size_t>(a.verify_top), {"clean_acc", Direction::kMaximize}}};
  if (a.verify_top == 0) stages.pop_back();
  if (a.predict_top == 0) stages.resize(1);

  SearchOptions options;
  options.strategy = a.config.strategy;
  options.strategy_options = strategy_options;
  options.objectives = objectives;
  options.seed = a.config.seed;
  options.max_evaluations = a.candidates;
  options.max_seconds = a.config.max_seconds;
  options.batch_size = a.batch;
  options.progress = a.config.progress;

  CascadeRecorder recorder(db, spec, resume_run, "ghn-heads");
  CascadeResult result;
  try {
    result = run_cascade(*space, options, stages, &recorder, stage_batch);
  } catch (...) {
    if (recorder.run() != 0) recorder.finish(RunStatus::kFailed);
    throw;
  }
  recorder.finish(RunStatus::kFinished);

  // The winners: the last stage's order, each with what every stage said about it.
  std::map<std::string, std::map<std::string, double>> heads_of;
  for (const SearchRecord& r : result.search.history)
    if (r.evaluation.status == CandidateStatus::kOk) heads_of[r.candidate.hash] = r.evaluation.metrics;
  std::map<std::string, double> predicted_of;
  if (result.stages.size() >= 1)
    for (const StageRecord& r : result.stages[0])
      if (r.evaluation.status == CandidateStatus::kOk) predicted_of[r.candidate.hash] = r.evaluation.metrics.at("clean_acc");
  nlohmann::json winners = nlohmann::json::array();
  const std::vector<StageRecord>* last = result.stages.empty() ? nullptr : &result.stages.back();
  if (last) {
    for (std::size_t i = 0; i < last->size(); ++i) {
      const StageRecord& r = (*last)[i];
      nlohmann::json w = {{"rank", i + 1}, {"hash", r.candidate.hash}, {"arch", r.candidate.arch.spec},
                          {"status", candidate_status_name(r.evaluation.status)}};
      w["heads"] = heads_of[r.candidate.hash];
      if (predicted_of.count(r.candidate.hash)) w["predicted_params_acc"] = predicted_of[r.candidate.hash];
      if (stages.size() == 3) w["sgd"] = r.evaluation.metrics;
      std::cout << w.dump() << "\n";
      winners.push_back(std::move(w));
    }
  }
  const SearchRecord* best = result.search.best_record();
  nlohmann::json summary = {{"candidates_ranked", result.search.charged},
                            {"proposals", result.search.history.size()},
                            {"predicted_params_evaluated", result.stages.empty() ? 0 : result.stages[0].size()},
                            {"sgd_trained", stages.size() == 3 ? result.stages.back().size() : 0},
                            {"seconds", result.seconds},
                            {"run", recorder.run()},
                            {"resumed", resume_run.has_value()},
                            {"db", a.db}};
  if (!winners.empty() && winners[0]["status"] == "ok") {
    summary["best_arch"] = winners[0]["arch"];
    summary["best_value"] = stages.size() == 3 ? winners[0]["sgd"]["clean_acc"] : winners[0]["predicted_params_acc"];
    summary["best_fidelity"] = stages.back().fidelity;
  } else if (best) {
    summary["best_arch"] = best->candidate.arch.spec;
    summary["best_value"] = best->objectives[0];
    summary["best_fidelity"] = "heads";
  } else {
    summary["best_arch"] = nullptr;
    summary["best_value"] = nullptr;
  }
  std::cout << summary.dump() << "\n";
  std::cerr << "search: ranked " << result.search.charged << " candidates by the heads, "
            << summary["predicted_params_evaluated"] << " by predicted-parameter accuracy, trained "
            << summary["sgd_trained"] << " with SGD in " << result.seconds << " s; results in " << a.db
            << " (run " << recorder.run() << ": ghnas query top --run " << recorder.run()
            << " --by clean_acc --db " << a.db << ")\n";
  return 0;
}
#endif

#ifdef GHNAS_WITH_DISTRIBUTED
// A worker of `mpirun -np K ghnas search ... --distributed mpi`: builds the evaluators rank 0
// builds, from the same command line, and serves chunks until rank 0 is done.
int serve_search(const SearchArgs& a) {
  if (!a.config.oracle.empty()) {
    std::unique_ptr<SearchSpace> space;
    const std::unique_ptr<TabularOracle> oracle = table_oracle_copy(a, space);
    distributed::serve_chunks({{kTableOracleName, oracle.get()}});
    return 0;
  }
#ifdef GHNAS_CASCADE
  configure_cpu_runtime(a.threads);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(a.threads));
  const std::unique_ptr<CascadeSetup> setup = build_cascade(a);
  distributed::serve_chunks({{"ghn-heads", setup->heads.get()},
                             {"ghn-params", setup->params.get()},
                             {setup->sgd_name, setup->sgd.get()}});
  return 0;
#else
  throw ConfigError("search needs --oracle table:FILE:COLUMN (this ghnas was built without the GHN "
                    "surrogate, evaluators and heads that the cascade uses)");
#endif
}

// Rank 0 runs the mode as a single process would, its evaluations on the workers; every other
// rank serves them. Only rank 0 opens the database.
int run_distributed(const SearchArgs& a) {
  distributed::MpiSession mpi;
  if (mpi.rank() != 0) return serve_search(a);
  // Declared after the session: stops the workers before MPI is finalised, also when the
  // search throws.
  distributed::WorkerPool workers(a.worker_timeout);
  if (mpi.size() == 1) std::cerr << "search: --distributed mpi with one process: no workers, rank 0 evaluates everything\n";
  const Distribute distribute = [&workers](const std::string& name, SearchEvaluator* local) {
    return std::unique_ptr<SearchEvaluator>(std::make_unique<distributed::MpiEvaluator>(workers, name, local));
  };
  if (!a.config.oracle.empty()) return run_oracle_mode(a, distribute);
#ifdef GHNAS_CASCADE
  return run_cascade_mode(a, distribute, static_cast<std::size_t>(std::max(1, mpi.size() - 1)));
#else
  throw ConfigError("search needs --oracle table:FILE:COLUMN (this ghnas was built without the GHN "
                    "surrogate, evaluators and heads that the cascade uses)");
#endif
}
#endif

}  // namespace

void add_search_commands(CLI::App& app, Actions& actions) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand(
      "search",
      "Search a space and store every candidate and score in the results database. Two modes: "
      "with --oracle, benchmark a strategy against a tabular oracle (NAS-Bench-201), optionally "
      "screening candidates with GHN heads before a query is spent; the last line is a JSON object "
      "with best_arch, best_value and queries_used. Without --oracle, the cascade: --candidates "
      "ranked by the property heads (--checkpoint, --heads), the best --predict-top by "
      "predicted-parameter accuracy, the best --verify-top trained with SGD for --epochs; it prints "
      "one JSON line per winner, then a summary line.");
  cmd->add_option("--space", a->config.space, "search space")->capture_default_str();
  cmd->add_option("--task", a->task, "task (default: cifar10 with --oracle, the table's task; fashion-mnist otherwise)");
  cmd->add_option("--strategy", a->config.strategy, "random, evolution or pareto")->capture_default_str();
  cmd->add_option("--oracle", a->config.oracle,
                  "table:FILE.csv:COLUMN[,COLUMN...]: a table with an arch_str column; one charged "
                  "query per distinct architecture (isomorphic cells count once)");
  cmd->add_option("--queries", a->config.queries, "budget of an --oracle search: charged queries");
  cmd->add_option("--seed", a->config.seed, "random seed")->capture_default_str();
  cmd->add_option("--objectives", a->objectives,
                  "metric[:max|:min],... (default: maximise the oracle's first column, or the heads' "
                  "clean_acc; pareto takes two)");
  cmd->add_option("--option", a->options,
                  "strategy option NAME=VALUE (evolution: population, sample, ...), repeatable");
  cmd->add_option("--space-option", a->space_options,
                  "space option NAME=VALUE (deepnets1m: variant=id|wide|..., width=C), repeatable");
  cmd->add_option("--max-seconds", a->config.max_seconds, "wall-time budget");
  cmd->add_option("--batch-size", a->config.batch_size, "proposals per batch of an --oracle search")->capture_default_str();
  cmd->add_flag("--full-space", a->full_space,
                "propose from the whole space; architectures missing from the table come back "
                "unknown and cost nothing (default: propose only the table's architectures)");
  cmd->add_flag("--charge-repeats", a->config.charge_repeats,
                "charge every evaluated proposal, repeats included (NAS-Bench-201's own accounting)");
  cmd->add_option("--db", a->db, "results database (SQLite, on a local disk)")->capture_default_str();
  cmd->add_flag("--resume", a->resume,
                "continue the latest run of this database with the same space, strategy, options, "
                "budget and seed (after a crash or kill): the search is replayed from its seed and "
                "only what the run had not recorded is added; starts a new run when there is none");
  cmd->add_option("--checkpoint", a->checkpoint, "GHN checkpoint (the heads' embeddings)");
  cmd->add_option("--heads", a->heads, "property heads fitted on that GHN (fit-heads)");
  cmd->add_option("--screen-factor", a->screen_factor,
                  "with --oracle and --heads: candidates the heads look at per query spent")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--candidates", a->candidates, "cascade budget: candidates ranked by the heads");
  cmd->add_option("--predict-top", a->predict_top, "cascade: best candidates scored with GHN-predicted parameters")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--verify-top", a->verify_top, "cascade: best of those trained with SGD (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--epochs", a->epochs, "cascade: SGD epochs of the verification")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--predict-width", a->predict_width,
                  "cascade: stem width at which the predicted-parameter stage builds each candidate (spaces "
                  "with a width, e.g. deepnets1m); a GHN predicts good parameters only near the widths it was "
                  "trained at. Default: the checkpoint's training width (32 unless train-ghn --train-channels "
                  "set one); 0: each candidate's own width")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-images", a->val_images, "cascade: held-out training images for predicted-parameter accuracy")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--train-size", a->train_size, "cascade: SGD on the first N training images (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--test-size", a->test_size, "cascade: SGD accuracy on the first N test images (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--data", a->data, "dataset folder (default: the Debian package's Fashion-MNIST)");
  cmd->add_option("--threads", a->threads, "CPU threads (torch and graph building)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--heads-batch", a->batch, "cascade: candidates per GHN call")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--distributed", a->distributed,
                  "none, or mpi: run under `mpirun -np K`; rank 0 searches and writes the database, "
                  "ranks 1..K-1 evaluate (the table lookups, or every cascade stage)")
      ->capture_default_str()->check(CLI::IsMember({"none", "mpi"}));
  cmd->add_option("--worker-timeout", a->worker_timeout,
                  "with --distributed mpi: seconds a worker may take for one chunk before the chunk "
                  "is given to another worker (once) and then evaluated by rank 0")
      ->capture_default_str()->check(CLI::PositiveNumber);
  actions.emplace_back(cmd, [a] {
    for (const auto& kv : a->space_options) {
      const auto eq = kv.find('=');
      GHNAS_CHECK_AS(ConfigError, eq != std::string::npos && eq > 0, "--space-option expects NAME=VALUE, got '", kv, "'");
      a->config.space_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (a->distributed == "mpi") {
#ifdef GHNAS_WITH_DISTRIBUTED
      return run_distributed(*a);
#else
      throw ConfigError("search: --distributed mpi is unavailable: this ghnas was built without MPI "
                        "(install libopenmpi-dev and reconfigure with cmake)");
#endif
    }
    if (!a->config.oracle.empty()) return run_oracle_mode(*a);
#ifdef GHNAS_CASCADE
    return run_cascade_mode(*a);
#else
    throw ConfigError("search needs --oracle table:FILE:COLUMN (this ghnas was built without the GHN "
                      "surrogate, evaluators and heads that the cascade uses)");
#endif
  });
}

}  // namespace ghnas::cli
