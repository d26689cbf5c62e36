#pragma once
// ResultsDb: the one writer of a results database. A search opens it once, creates a run,
// and records what it evaluates in batches; `ghnas query` reads the same file through
// ResultsReader while the search writes (WAL mode).
//
//   ResultsDb db("ghnas.db");
//   const auto run = db.create_run({"nasbench201", "fashion-mnist", "regularized_evolution",
//                                   config, /*seed=*/0, checkpoint_hash});
//   auto batch = db.begin_batch();               // one transaction for the whole batch
//   const auto arch = db.upsert_architecture({space, hash, spec, params, flops});
//   db.record_evaluations(run, {{arch, "ghn-heads", Fidelity::kHeads, "clean_acc", 91.3}});
//   batch.commit();                              // all of it is on disk, or none of it
//   db.finish_run(run, RunStatus::kFinished);
//
// The database file must be on a local disk: WAL needs shared memory between the processes
// that open it, and the locks it relies on are unreliable on network file systems (NFS, SMB).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite.hpp"
#include "storage/vocabulary.hpp"

namespace ghnas {

/// The database file `ghnas` commands use when --db is not given (in the working directory).
inline constexpr const char* kDefaultDbPath = "ghnas.db";

/// What defines a run: enough to reproduce it, or to check that a resume continues it.
struct RunSpec {
  std::string space;     ///< search space name, e.g. "nasbench201"
  std::string task;      ///< task the networks are evaluated on, e.g. "fashion-mnist"
  std::string strategy;  ///< search strategy, e.g. "regularized_evolution"
  nlohmann::json config = nlohmann::json::object();  ///< the run's full configuration
  std::uint64_t seed = 0;                            ///< at most 2^63-1
  std::string checkpoint_hash;  ///< hash of the GHN checkpoint used; empty when none
};

/// A run as stored.
struct RunRecord {
  std::int64_t id = 0;
  RunSpec spec;
  RunStatus status = RunStatus::kRunning;
  std::string started_at;   ///< ISO-8601 UTC, e.g. "2024-05-01T12:00:00.123Z"
  std::string finished_at;  ///< empty while running, and for runs found interrupted
  std::string ghnas_version;
};

/// An architecture: its identity in its space and what it costs.
struct ArchRecord {
  std::string space;
  std::string hash;     ///< SearchSpace::canonical_hash; equal hashes are the same network
  nlohmann::json spec;  ///< Architecture::spec (enough to rebuild the network)
  std::optional<std::int64_t> params;  ///< number of parameters, when known
  std::optional<std::int64_t> flops;   ///< multiply-accumulates for one input, when known
};

/// One number an evaluator produced for one architecture in one run.
struct Evaluation {
  std::int64_t arch_id = 0;  ///< from upsert_architecture
  std::string evaluator;     ///< which evaluator and setting, e.g. "ghn-heads", "sgd-12ep"
  Fidelity fidelity = Fidelity::kHeads;
  std::string metric;  ///< e.g. "clean_acc" (percent), "latency" (ms); see storage/SCHEMA.md
  double value = 0;    ///< stored only when status is ok (then it must be finite)
  EvalStatus status = EvalStatus::kOk;
  std::string error;              ///< why it is not ok; empty when ok
  std::optional<double> seconds;  ///< wall time this evaluation took, when measured
};

/// An evaluation as stored, as a resumed search reads it back.
struct StoredEvaluation {
  std::int64_t id = 0;
  std::int64_t arch_id = 0;
  std::string evaluator;
  Fidelity fidelity = Fidelity::kHeads;
  std::string metric;
  std::optional<double> value;  ///< set exactly when status is ok
  EvalStatus status = EvalStatus::kOk;
  std::string error;
  std::optional<double> seconds;
  std::string created_at;
};

/// The writer. Opening it creates the file if needed, brings the schema up to date, switches
/// the file to WAL, and takes the database's writer lock: a second ResultsDb on the same file,
/// in this process or another, fails with StorageError (is_busy()) until this one is
/// destroyed or its process dies. Use it from one thread.
///
/// Durability: every method commits before it returns (or, inside begin_batch(), when the
/// batch commits), with synchronous=FULL: a committed batch survives kill -9 and power loss;
/// an uncommitted one disappears whole.
class ResultsDb {
 public:
  /// Opens or creates `path`. Throws StorageError when the path cannot be opened, is not a
  /// ghnas database, has a newer schema (nothing is written then), or has another writer.
  /// Runs still marked `running` belong to a writer that died; they are marked `interrupted`.
  explicit ResultsDb(const std::string& path);
  ~ResultsDb();
  ResultsDb(ResultsDb&&) noexcept;
  ResultsDb& operator=(ResultsDb&&) noexcept;

  const std::string& path() const;

  /// Starts a transaction that groups the calls made until commit(); destroying it without
  /// commit() undoes them all. Calls nest: each method below is atomic on its own as well.
  sqlite::Transaction begin_batch();

  // ---- runs

  /// Records a new run with status `running`; returns its id.
  std::int64_t create_run(const RunSpec& spec);
  /// The run `id`; throws ConfigError when there is none.
  RunRecord run(std::int64_t id) const;
  /// The latest run with the same space, task, strategy, config and seed as `spec`, if any:
  /// what a command that resumes its own work (ground-truth) continues.
  std::optional<std::int64_t> find_run(const RunSpec& spec) const;
  /// Marks run `id` running again (after an interruption, or to extend it) and returns it.
  RunRecord resume_run(std::int64_t id);
  /// Ends run `id` with `status` (finished, failed or interrupted) and its finish time.
  void finish_run(std::int64_t id, RunStatus status);

  // ---- architectures

  /// The id of the architecture (arch.space, arch.hash), inserting it if new. The first spec
  /// stored for a hash is kept; params/flops fill in values that were unknown.
  std::int64_t upsert_architecture(const ArchRecord& arch);
  /// The id of (space, hash), if stored.
  std::optional<std::int64_t> find_architecture(const std::string& space, const std::string& hash) const;
  /// The architecture `id`; throws ConfigError when there is none.
  ArchRecord architecture(std::int64_t id) const;

  // ---- evaluations

  /// Records `evaluations` of run `run_id` in one transaction and returns their ids in order.
  /// An evaluation whose (arch_id, run, evaluator, metric) is already recorded is not
  /// written again: the stored one is kept and its id returned, so replaying a batch after a
  /// crash duplicates nothing. Throws (recording nothing) when the run is not `running`, an
  /// architecture id is unknown, a name is empty, or an ok value is not finite.
  std::vector<std::int64_t> record_evaluations(std::int64_t run_id,
                                               const std::vector<Evaluation>& evaluations);
  /// Whether (arch_id, run_id, evaluator, metric) is recorded (any status): the resume check.
  bool is_recorded(std::int64_t run_id, std::int64_t arch_id, const std::string& evaluator,
                   const std::string& metric) const;
  /// Every evaluation of run `run_id`, in the order recorded (to rebuild a search's state).
  std::vector<StoredEvaluation> run_evaluations(std::int64_t run_id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ghnas
