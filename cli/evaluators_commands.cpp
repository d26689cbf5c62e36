// Commands that run networks: train (SGD ground truth for one architecture), ground-truth (for
// a range of them) and proxies (zero-cost scores of untrained networks).
// Their JSON lines are the project's public contract: scripts parse them.

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/datasets.hpp"
#include "evaluators/network.hpp"
#include "evaluators/proxies.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "space/search_space.hpp"
#ifdef GHNAS_WITH_STORAGE
#include "storage/results_db.hpp"
#endif

namespace ghnas::cli {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The dataset of a task: Fashion-MNIST from the Debian package's folder unless --data names
// another; CIFAR-10 only from a folder the user names.
Dataset load_task_data(const std::string& task, const std::string& dir, std::int64_t val_size,
                       std::uint64_t split_seed) {
  if (task == "fashion-mnist") return load_fashion_mnist(dir.empty() ? kFashionMnistDir : dir, val_size, split_seed);
  if (task == "cifar10") {
    GHNAS_CHECK_AS(ConfigError, !dir.empty(), "task cifar10 needs --data DIR, a folder holding the "
                   "CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)");
    return load_cifar10(dir, val_size, split_seed);
  }
  throw ConfigError("task '" + task + "' has no dataset to train on; train supports fashion-mnist and cifar10");
}

// Options shared by train and ground-truth: the data and the SGD recipe.
struct TrainArgs {
  std::string space, task = "fashion-mnist", archs, data;
  std::int64_t val_size = 5000, train_size = 0, test_size = 0;
  std::uint64_t split_seed = 0;
  SgdConfig sgd;
};

void add_training_options(CLI::App* cmd, TrainArgs& a, bool archs_required = true) {
  cmd->add_option("--space", a.space, "search space: " + joined(list_spaces()))->required();
  cmd->add_option("--task", a.task, "fashion-mnist or cifar10")->capture_default_str();
  cmd->add_option("--archs", a.archs, "architecture file (as for describe)")->required(archs_required);
  cmd->add_option("--data", a.data,
                  "dataset folder (default for fashion-mnist: " + std::string(kFashionMnistDir) +
                      "; required for cifar10: the binary batches)");
  cmd->add_option("--epochs", a.sgd.epochs, "training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a.sgd.seed, "seed of initialisation, batch order and augmentation")->capture_default_str();
  cmd->add_option("--device", a.sgd.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--latency-device", a.sgd.latency_device,
                  "time latency_ms on this device instead (e.g. cpu while training on cuda)");
  cmd->add_option("--lr", a.sgd.lr, "initial learning rate (cosine decay to 0)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", a.sgd.batch_size, "training batch size")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--weight-decay", a.sgd.weight_decay, "L2 weight decay")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--nesterov", a.sgd.nesterov, "Nesterov momentum");
  cmd->add_option("--grad-clip", a.sgd.grad_clip, "largest gradient norm, 0 for none")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", a.sgd.threads, "torch threads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--noise-sigma", a.sgd.noise_sigma,
                  "test-noise sigma on [0,1] pixels (default: 0.2 fashion-mnist, 0.08 cifar10)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-batch-size", a.sgd.eval_batch_size, "batch size of the accuracy passes")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--val-size", a.val_size, "training images held out for val_acc")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--split-seed", a.split_seed, "seed of the validation split")->capture_default_str();
  cmd->add_option("--train-size", a.train_size, "train on the first N training images only (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--test-size", a.test_size, "evaluate on the first N test images only (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
}

Dataset load_training_data(const TrainArgs& a) {
  Dataset data = load_task_data(a.task, a.data, a.val_size, a.split_seed);
  data.train = data.train.head(a.train_size);
  data.test = data.test.head(a.test_size);
  return data;
}

const char* kResultFields =
    "clean_acc, noisy_acc (test accuracy in %, clean and with Gaussian pixel noise), latency_ms, "
    "convergence, params, flops, train_seconds, status, plus val_acc, final_loss, steps, noise_sigma";

#ifdef GHNAS_WITH_STORAGE
struct GroundTruthArgs : TrainArgs {
  std::size_t from = 0, to = 0;
  int sample = 0;
  std::string variant, width, db = kDefaultDbPath, jsonl;
};

// The measurements a ground-truth run stores per architecture, besides params and flops (which
// belong to the architecture row). clean_acc is written last-or-never: its presence is what
// marks an architecture as measured.
const std::vector<std::string> kStoredMetrics = {"clean_acc",     "noisy_acc",   "val_acc",
                                                 "latency_ms",    "convergence", "final_loss",
                                                 "train_seconds", "steps"};

// Everything that changes what a ground-truth run measures: resuming with any of it changed
// would mix two experiments in one run, so a change starts a new run instead.
nlohmann::json ground_truth_config(const GroundTruthArgs& a, const DatasetInfo& info) {
  const SgdConfig& c = a.sgd;
  // The source of the architectures, not how many of them: a longer range or a larger sample
  // of the same source extends the run (samples of one seed are a prefix of a larger sample).
  nlohmann::json archs = a.sample > 0
      ? nlohmann::json{{"sample_seed", c.seed}, {"variant", a.variant}, {"width", a.width}}
      : nlohmann::json{{"file", a.archs}};
  nlohmann::json config = {
      {"archs", archs},
      {"data", a.data},
      {"train_size", a.train_size},
      {"val_size", a.val_size},
      {"test_size", a.test_size},
      {"split_seed", a.split_seed},
      {"sgd",
       {{"epochs", c.epochs}, {"batch_size", c.batch_size}, {"lr", c.lr}, {"momentum", c.momentum},
        {"weight_decay", c.weight_decay}, {"nesterov", c.nesterov}, {"grad_clip", c.grad_clip},
        {"noise_sigma", c.noise_sigma >= 0 ? c.noise_sigma : info.noise_sigma},
        {"eval_batch_size", c.eval_batch_size}, {"device", c.device}}}};
  // Only a latency device other than the training one changes what is measured; runs configured
  // before the option existed keep matching their spec, and so still resume.
  if (!c.latency_device.empty() && c.latency_device != c.device) config["sgd"]["latency_device"] = c.latency_device;
  return config;
}

EvalStatus eval_status(const std::string& status) {
  if (status == "ok") return EvalStatus::kOk;
  if (status == "diverged") return EvalStatus::kDiverged;
  if (status == "invalid") return EvalStatus::kInvalid;
  return EvalStatus::kFailed;
}

// The rows one measurement adds. A diverged network keeps what was still measured (latency,
// train time); its accuracies are stored as diverged so that they can never be ranked.
std::vector<Evaluation> measurement_rows(std::int64_t arch_id, const std::string& evaluator,
                                         const nlohmann::json& line) {
  const std::string status = line.at("status").get<std::string>();
  const EvalStatus st = eval_status(status);
  const std::string error = line.value("error", status == "diverged" ? "training loss became NaN or infinite" : "");
  const double seconds = line.value("train_seconds", 0.0);
  std::vector<Evaluation> rows;
  // clean_acc goes last: a reader who sees it knows the architecture's rows are all there.
  for (auto it = kStoredMetrics.rbegin(); it != kStoredMetrics.rend(); ++it) {
    const std::string& metric = *it;
    const auto v = line.find(metric);
    const bool have = v != line.end() && v->is_number() && std::isfinite(v->get<double>());
    if (have) {
      rows.push_back({arch_id, evaluator, Fidelity::kSgd, metric, v->get<double>(), EvalStatus::kOk, "", seconds});
    } else if (metric == "clean_acc" || metric == "noisy_acc" || metric == "convergence") {
      rows.push_back({arch_id, evaluator, Fidelity::kSgd, metric, 0,
                      st == EvalStatus::kOk ? EvalStatus::kFailed : st, error.empty() ? "not measured" : error,
                      seconds});
    }
  }
  return rows;
}

// Writes the run's measurements, one JSON line per architecture in input order, to `path`
// through a temporary file and a rename, so the file is always whole.
void write_ground_truth_jsonl(const std::string& path, const std::vector<Architecture>& archs,
                              const std::vector<std::string>& hashes, const std::vector<std::size_t>& indices,
                              const std::map<std::string, std::int64_t>& arch_ids, ResultsDb& db,
                              std::int64_t run) {
  std::map<std::int64_t, nlohmann::json> measured;  // arch id -> metric fields
  for (const StoredEvaluation& e : db.run_evaluations(run)) {
    nlohmann::json& m = measured[e.arch_id];
    if (e.value) {
      m[e.metric] = *e.value;
    } else {
      m[e.metric] = nullptr;
      m["status"] = to_string(e.status);
      if (!e.error.empty()) m["error"] = e.error;
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", tmp, "'");
    std::set<std::string> written;
    for (std::size_t i = 0; i < archs.size(); ++i) {
      const auto id = arch_ids.find(hashes[i]);
      if (id == arch_ids.end() || !written.insert(hashes[i]).second) continue;
      const auto m = measured.find(id->second);
      if (m == measured.end() || !m->second.contains("clean_acc")) continue;
      nlohmann::json line = {{"index", indices[i]}, {"hash", hashes[i]}};
      if (archs[i].spec.is_object()) {
        line.update(archs[i].spec);
      } else {
        line["arch"] = archs[i].spec;
      }
      const ArchRecord rec = db.architecture(id->second);
      line["params"] = rec.params ? nlohmann::json(*rec.params) : nlohmann::json();
      line["flops"] = rec.flops ? nlohmann::json(*rec.flops) : nlohmann::json();
      if (!m->second.contains("status")) line["status"] = "ok";
      line.update(m->second);
      out << line.dump() << "\n";
    }
    GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", tmp, "'");
  }
  GHNAS_CHECK_AS(FileError, std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp,
                 "' to '", path, "'");
}

int run_ground_truth(const GroundTruthArgs& a) {
  GHNAS_CHECK_AS(ConfigError, a.sample > 0 || !a.archs.empty(), "ground-truth needs --archs FILE or --sample N");
  SpaceOptions options;
  if (a.sample > 0) {
    if (!a.variant.empty()) options["variant"] = a.variant;
    if (!a.width.empty()) options["width"] = a.width;
  } else {
    GHNAS_CHECK_AS(ConfigError, a.variant.empty() && a.width.empty(),
                   "--variant and --width apply to --sample; edit the file given to --archs instead");
  }
  auto space = make_space(a.space, options);
  const Task task = task_by_name(a.task);

  // The architectures, in the order they are measured, with their index in the input.
  std::vector<Architecture> archs;
  std::vector<std::size_t> indices;
  if (a.sample > 0) {
    Rng rng(a.sgd.seed);
    for (int i = 0; i < a.sample; ++i) {
      archs.push_back(space->sample(rng));
      indices.push_back(static_cast<std::size_t>(i));
    }
  } else {
    auto all = space->read_archs(a.archs);
    const std::size_t to = a.to == 0 ? all.size() : a.to;
    GHNAS_CHECK_AS(ConfigError, a.from < to && to <= all.size(), "range [", a.from, ", ", to,
                   ") does not fit '", a.archs, "', which has ", all.size(), " architectures");
    for (std::size_t i = a.from; i < to; ++i) {
      archs.push_back(std::move(all[i]));
      indices.push_back(i);
    }
  }
  std::vector<std::string> hashes(archs.size());
  for (std::size_t i = 0; i < archs.size(); ++i) {
    try {
      hashes[i] = space->canonical_hash(archs[i]);
    } catch (const ArchError&) {
      // Left empty: reported as invalid below, never stored (there is no identity to store).
    }
  }

  const Dataset data = load_training_data(a);
  SgdConfig sgd = a.sgd;
  sgd.progress = false;  // one bar over the architectures instead
  const std::string evaluator = detail::str_cat("sgd-", sgd.epochs, "ep");

  ResultsDb db(a.db);
  RunSpec spec{a.space, a.task, "ground-truth", ground_truth_config(a, data.info), sgd.seed, ""};
  std::int64_t run = 0;
  if (auto found = db.find_run(spec)) {
    run = db.resume_run(*found).id;
  } else {
    run = db.create_run(spec);
  }

  // What is already measured, by architecture id.
  std::set<std::int64_t> done;
  for (const StoredEvaluation& e : db.run_evaluations(run))
    if (e.metric == "clean_acc") done.insert(e.arch_id);
  std::map<std::string, std::int64_t> arch_ids;
  for (const auto& h : hashes) {
    if (h.empty() || arch_ids.count(h)) continue;
    if (auto id = db.find_architecture(a.space, h)) arch_ids[h] = *id;
  }
  std::size_t already = 0;
  {
    std::set<std::string> seen;
    for (const auto& h : hashes)
      if (!h.empty() && seen.insert(h).second && arch_ids.count(h) && done.count(arch_ids[h])) ++already;
  }
  std::cerr << "ground-truth: run " << run << " in " << a.db << ": " << already << " of " << archs.size()
            << " architectures already measured\n";
  if (!a.jsonl.empty()) write_ground_truth_jsonl(a.jsonl, archs, hashes, indices, arch_ids, db, run);

  ProgressBar progress(archs.size(), "ground-truth");
  progress.tick(already);
  std::set<std::string> handled;
  try {
    for (std::size_t i = 0; i < archs.size(); ++i) {
      const std::string& hash = hashes[i];
      if (!hash.empty()) {
        if (!handled.insert(hash).second) continue;  // a repeat of an earlier entry
        const auto id = arch_ids.find(hash);
        if (id != arch_ids.end() && done.count(id->second)) continue;
      }
      nlohmann::json line = {{"index", indices[i]}, {"hash", hash}};
      ArchGraph graph;
      bool built = false;
      try {
        graph = space->build_graph(archs[i], task);
        built = true;
        line.update(train_and_evaluate(graph, data, sgd).to_json());
      } catch (const ConfigError&) {
        throw;  // a bad option fails every architecture alike
      } catch (const ArchError& e) {
        line["status"] = "invalid";
        line["error"] = e.what();
      } catch (const std::exception& e) {
        line["status"] = "failed";
        line["error"] = e.what();
      }
      if (!hash.empty()) {
        ArchRecord rec{a.space, hash, archs[i].spec, std::nullopt, std::nullopt};
        if (built) {
          rec.params = graph.num_params();
          rec.flops = static_cast<std::int64_t>(std::llround(graph.flops()));
        }
        auto batch = db.begin_batch();
        const std::int64_t arch_id = db.upsert_architecture(rec);
        arch_ids[hash] = arch_id;
        db.record_evaluations(run, measurement_rows(arch_id, evaluator, line));
        batch.commit();
        if (!a.jsonl.empty()) write_ground_truth_jsonl(a.jsonl, archs, hashes, indices, arch_ids, db, run);
      }
      std::cout << line.dump() << std::endl;
      progress.tick(1, line["status"].get<std::string>());
    }
  } catch (...) {
    db.finish_run(run, RunStatus::kFailed);
    throw;
  }
  progress.finish();
  db.finish_run(run, RunStatus::kFinished);
  return 0;
}
#endif

}  // namespace

void add_evaluators_commands(CLI::App& app, Actions& actions) {
  register_builtin_spaces();

  // ---- train
  struct OneArgs : TrainArgs {
    std::size_t index = 0;
  };
  auto ta = std::make_shared<OneArgs>();
  auto* train = app.add_subcommand(
      "train", std::string("Train one architecture from scratch with SGD and print one JSON line: index, ") +
                   kResultFields + " (status ok or diverged)");
  add_training_options(train, *ta);
  train->add_option("--index", ta->index, "which architecture of the file (0-based)")->capture_default_str();
  actions.emplace_back(train, [ta] {
    auto space = make_space(ta->space);
    const Task task = task_by_name(ta->task);
    const auto archs = space->read_archs(ta->archs);
    GHNAS_CHECK_AS(ConfigError, ta->index < archs.size(), "--index ", ta->index, " is out of range: '",
                   ta->archs, "' has ", archs.size(), " architectures");
    ArchGraph graph;
    try {
      graph = space->build_graph(archs[ta->index], task);
    } catch (const ArchError& e) {
      throw ArchError(detail::str_cat("architecture ", ta->index, ": ", e.what()));
    }
    const Dataset data = load_training_data(*ta);
    nlohmann::json line = {{"index", ta->index}};
    line.update(train_and_evaluate(graph, data, ta->sgd).to_json());
    std::cout << line.dump() << "\n";
    return 0;
  });

#ifdef GHNAS_WITH_STORAGE
  // ---- ground-truth
  auto ga = std::make_shared<GroundTruthArgs>();
  auto* truth = app.add_subcommand(
      "ground-truth",
      std::string("Train many architectures with SGD, storing each measurement in the results "
                  "database as soon as it finishes; run the same command again to resume (nothing "
                  "is measured twice). Prints one JSON line per architecture measured, as train "
                  "does: index, hash, ") + kResultFields +
          ". An architecture that does not build or whose training fails is a line with status "
          "invalid or failed and an error; the run goes on");
  add_training_options(truth, *ga, /*archs_required=*/false);
  truth->add_option("--from", ga->from, "with --archs: first index (0-based)")->capture_default_str();
  truth->add_option("--to", ga->to, "with --archs: one past the last index (0: the end of the file)")
      ->capture_default_str();
  auto* sample_opt = truth->add_option("--sample", ga->sample,
                                       "measure N architectures drawn from the space with --seed "
                                       "instead of --archs")->check(CLI::PositiveNumber);
  truth->add_option("--variant", ga->variant, "with --sample, deepnets1m: id, wide, deep, dense, bnfree");
  truth->add_option("--width", ga->width, "with --sample, deepnets1m: stem width C of the networks drawn");
  truth->add_option("--db", ga->db, "results database (SQLite, on a local disk)")->capture_default_str();
  truth->add_option("--jsonl", ga->jsonl,
                    "also keep this file up to date after every architecture: one JSON line per "
                    "measured architecture of the run (the spec's fields, then the measurements)");
  sample_opt->excludes(truth->get_option("--archs"));
  actions.emplace_back(truth, [ga] { return run_ground_truth(*ga); });
#endif

  // ---- proxies
  struct ProxyArgs {
    std::string space, task = "fashion-mnist", archs, data;
    std::int64_t batch_size = 64;
    std::uint64_t seed = 0;
    int threads = 2;
  };
  auto pa = std::make_shared<ProxyArgs>();
  auto* proxies = app.add_subcommand(
      "proxies",
      "Score untrained architectures with zero-cost proxies and print one JSON line per "
      "architecture: index, params, flops, synflow, naswot, snip, grad_norm, jacov (null where "
      "a score is undefined)");
  proxies->add_option("--space", pa->space, "search space: " + joined(list_spaces()))->required();
  proxies->add_option("--task", pa->task, "fashion-mnist or cifar10")->capture_default_str();
  proxies->add_option("--archs", pa->archs, "architecture file (as for describe)")->required();
  proxies->add_option("--data", pa->data, "dataset folder (as for train)");
  proxies->add_option("--batch-size", pa->batch_size, "training images the data-dependent proxies see")
      ->capture_default_str()->check(CLI::Range(2, 1 << 16));
  proxies->add_option("--seed", pa->seed, "seed of the parameters and of the batch drawn")->capture_default_str();
  proxies->add_option("--threads", pa->threads, "torch threads")->capture_default_str()->check(CLI::PositiveNumber);
  actions.emplace_back(proxies, [pa] {
    auto space = make_space(pa->space);
    const Task task = task_by_name(pa->task);
    const auto archs = space->read_archs(pa->archs);
    configure_cpu_runtime(pa->threads);
    const Dataset data = load_task_data(pa->task, pa->data, /*val_size=*/0, /*split_seed=*/0);
    // One batch of training images, the same for every architecture.
    std::mt19937_64 rng(pa->seed);
    auto order = shuffled_indices(data.train.size(), rng);
    order.resize(static_cast<std::size_t>(std::min<std::int64_t>(pa->batch_size, data.train.size())));
    const Batch batch = make_batch(data.train, data.info, order, BatchTransform{}, rng);
    ProgressBar progress(archs.size(), "proxies");
    for (std::size_t i = 0; i < archs.size(); ++i) {
      ArchGraph graph;
      try {
        graph = space->build_graph(archs[i], task);
      } catch (const ArchError& e) {
        throw ArchError(detail::str_cat("architecture ", i, ": ", e.what()));
      }
      nlohmann::json line = {{"index", i}};
      line.update(compute_proxies(graph, batch, pa->seed).to_json());
      std::cout << line.dump() << std::endl;
      progress.tick();
    }
    progress.finish();
    return 0;
  });

  // ---- latency
  // Inference time alone, as ground-truth measures it after training (weights do not change the
  // work): re-times a measured set on one machine, e.g. rows trained on a GPU whose latency
  // should be the CPU's, or rows timed while other jobs competed for the cores.
  struct LatencyArgs {
    std::string space, task = "fashion-mnist", archs, device = "cpu";
    std::size_t from = 0, to = 0;
    int threads = 1;
    SgdConfig timing;
  };
  auto la = std::make_shared<LatencyArgs>();
  auto* latency = app.add_subcommand(
      "latency",
      "Time inference of untrained architectures and print one JSON line per architecture: index, "
      "hash, latency_ms (median of --runs forward passes of a batch of --batch random images after "
      "--warmup untimed ones, evaluation mode, no gradients: ground-truth's latency_ms), params, flops");
  latency->add_option("--space", la->space, "search space: " + joined(list_spaces()))->required();
  latency->add_option("--task", la->task, "task the networks are built for")->capture_default_str();
  latency->add_option("--archs", la->archs, "architecture file (as for describe)")->required();
  latency->add_option("--from", la->from, "first index (0-based)")->capture_default_str();
  latency->add_option("--to", la->to, "one past the last index (0: the end of the file)")->capture_default_str();
  latency->add_option("--device", la->device, "cpu, cuda or cuda:N")->capture_default_str();
  latency->add_option("--threads", la->threads, "torch threads")->capture_default_str()->check(CLI::PositiveNumber);
  latency->add_option("--batch", la->timing.latency_batch, "images per forward pass")
      ->capture_default_str()->check(CLI::Range(1, 1 << 16));
  latency->add_option("--warmup", la->timing.latency_warmup, "untimed passes first")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  latency->add_option("--runs", la->timing.latency_runs, "timed passes")->capture_default_str()->check(CLI::PositiveNumber);
  actions.emplace_back(latency, [la] {
    auto space = make_space(la->space);
    const Task task = task_by_name(la->task);
    const auto archs = space->read_archs(la->archs);
    const std::size_t to = la->to == 0 ? archs.size() : la->to;
    GHNAS_CHECK_AS(ConfigError, la->from < to && to <= archs.size(), "range [", la->from, ", ", to,
                   ") does not fit '", la->archs, "', which has ", archs.size(), " architectures");
    const torch::Device device = parse_device(la->device);
    configure_cpu_runtime(la->threads);
    ProgressBar progress(to - la->from, "latency");
    for (std::size_t i = la->from; i < to; ++i) {
      ArchGraph graph;
      try {
        graph = space->build_graph(archs[i], task);
      } catch (const ArchError& e) {
        throw ArchError(detail::str_cat("architecture ", i, ": ", e.what()));
      }
      Network net(graph, device, /*seed=*/0);
      const double ms = measure_latency_ms(*net, la->timing.latency_batch, la->timing.latency_warmup,
                                           la->timing.latency_runs);
      const nlohmann::json line = {{"index", i}, {"hash", space->canonical_hash(archs[i])}, {"latency_ms", ms},
                                   {"params", graph.num_params()},
                                   {"flops", static_cast<std::int64_t>(std::llround(graph.flops()))}};
      std::cout << line.dump() << std::endl;
      progress.tick();
    }
    progress.finish();
    return 0;
  });
}

}  // namespace ghnas::cli
