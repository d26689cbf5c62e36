// Commands that run networks: train (SGD ground truth for one architecture), ground-truth (for
// a range of them) and proxies (zero-cost scores of untrained networks).
// Their JSON lines are the project's public contract: scripts parse them.

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/datasets.hpp"
#include "evaluators/proxies.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "space/search_space.hpp"

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

void add_training_options(CLI::App* cmd, TrainArgs& a) {
  cmd->add_option("--space", a.space, "search space: " + joined(list_spaces()))->required();
  cmd->add_option("--task", a.task, "fashion-mnist or cifar10")->capture_default_str();
  cmd->add_option("--archs", a.archs, "architecture file (as for describe)")->required();
  cmd->add_option("--data", a.data,
                  "dataset folder (default for fashion-mnist: " + std::string(kFashionMnistDir) +
                      "; required for cifar10: the binary batches)");
  cmd->add_option("--epochs", a.sgd.epochs, "training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a.sgd.seed, "seed of initialisation, batch order and augmentation")->capture_default_str();
  cmd->add_option("--device", a.sgd.device, "cpu, cuda or cuda:N")->capture_default_str();
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

  // ---- ground-truth
  struct RangeArgs : TrainArgs {
    std::size_t from = 0, to = 0;
  };
  auto ga = std::make_shared<RangeArgs>();
  auto* truth = app.add_subcommand(
      "ground-truth",
      std::string("Train architectures [--from, --to) of a file one after another and print one JSON "
                  "line each, as train does: index, ") + kResultFields +
          ". An architecture that does not build or whose training fails is a line with status "
          "invalid or failed and an error; the run goes on");
  add_training_options(truth, *ga);
  truth->add_option("--from", ga->from, "first index (0-based)")->capture_default_str();
  truth->add_option("--to", ga->to, "one past the last index (0: the end of the file)")->capture_default_str();
  actions.emplace_back(truth, [ga] {
    auto space = make_space(ga->space);
    const Task task = task_by_name(ga->task);
    const auto archs = space->read_archs(ga->archs);
    const std::size_t to = ga->to == 0 ? archs.size() : ga->to;
    GHNAS_CHECK_AS(ConfigError, ga->from < to && to <= archs.size(), "range [", ga->from, ", ", to,
                   ") does not fit '", ga->archs, "', which has ", archs.size(), " architectures");
    const Dataset data = load_training_data(*ga);
    SgdConfig sgd = ga->sgd;
    sgd.progress = false;  // one bar over the architectures instead
    ProgressBar progress(to - ga->from, "ground-truth");
    for (std::size_t i = ga->from; i < to; ++i) {
      nlohmann::json line = {{"index", i}};
      try {
        const ArchGraph graph = space->build_graph(archs[i], task);
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
      std::cout << line.dump() << std::endl;
      progress.tick(1, line["status"].get<std::string>());
    }
    progress.finish();
    return 0;
  });

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
}

}  // namespace ghnas::cli
