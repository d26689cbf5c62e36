// Commands of the GHN-2 surrogate: import-ghn2 (reference weights -> checkpoint), embed (graph
// embeddings, one JSON line per architecture), predict-params (every parameter of one network,
// exported for PyTorch), train-ghn (GHN-2 training on an image task, resumable) and eval-ghn
// (test accuracy of predicted parameters, or of random initialisation as the baseline). Their
// output is the project's public contract.

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "space/ghn_graph.hpp"
#include "space/search_space.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/ghn_trainer.hpp"
#include "surrogate/predicted_accuracy.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/datasets.hpp"
#include "evaluators/network.hpp"

namespace ghnas::cli {

namespace {

std::string names_help(const std::string& what, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return what + ": " + out;
}

torch::Device parse_device(const std::string& name) {
  try {
    const torch::Device device(name);
    GHNAS_CHECK_AS(ConfigError, device.is_cpu() || device.is_cuda(), "--device must be cpu, cuda or cuda:N, got '",
                   name, "'");
    GHNAS_CHECK_AS(ConfigError, device.is_cpu() || torch::cuda::is_available(), "--device ", name,
                   ": no CUDA device is available");
    return device;
  } catch (const c10::Error&) {
    throw ConfigError("--device must be cpu, cuda or cuda:N, got '" + name + "'");
  }
}

// Options every GHN command shares.
struct GhnRun {
  std::string checkpoint, space, task = "cifar10", archs, device = "cpu";
  int threads = 2;
};

void add_ghn_options(CLI::App* cmd, GhnRun& r) {
  register_builtin_spaces();
  cmd->add_option("--checkpoint", r.checkpoint, "GHN checkpoint (from import-ghn2 or training)")->required();
  cmd->add_option("--space", r.space, names_help("search space", list_spaces()))->required();
  cmd->add_option("--task", r.task, names_help("task the networks are built for", task_names()))->capture_default_str();
  cmd->add_option("--archs", r.archs, "architecture file (as for describe)")->required();
  cmd->add_option("--threads", r.threads, "CPU threads (torch and graph building)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", r.device, "cpu, cuda or cuda:N")->capture_default_str();
}

// Loaded GHN in evaluation mode, threads set, ready for inference.
Ghn open_ghn(const GhnRun& r) {
  torch::set_num_threads(r.threads);
  Ghn ghn = load_ghn(r.checkpoint, parse_device(r.device));
  ghn->eval();
  return ghn;
}

std::string wrap_error(std::size_t index, const std::exception& e) {
  return detail::str_cat("architecture ", index, ": ", e.what());
}

// The float32 blob next to the JSON index: FILE.json -> FILE.f32, FILE -> FILE.f32.
std::string blob_path(const std::string& index_path) {
  const std::string ext = ".json";
  if (index_path.size() > ext.size() && index_path.compare(index_path.size() - ext.size(), ext.size(), ext) == 0)
    return index_path.substr(0, index_path.size() - ext.size()) + ".f32";
  return index_path + ".f32";
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

namespace {

// ---- train-ghn and eval-ghn

struct TrainGhnArgs {
  GhnTrainConfig config;
  std::string out, log, data, variant = "id";
  std::int64_t iterations = 0, stop_after = 0;
  double epochs = 0;
  bool resume = false;
  int network_workers = 0;
};

void add_train_ghn(CLI::App& app, Actions& actions) {
  auto ta = std::make_shared<TrainGhnArgs>();
  GhnTrainConfig& c = ta->config;
  auto* cmd = app.add_subcommand(
      "train-ghn",
      "Train GHN-2 (Knyazev et al. 2021): meta-batches of architectures sampled from the space, their "
      "parameters predicted by the GHN, one shared image batch, mean cross-entropy, Adam; checkpoints "
      "with optimizer state, resumable");
  register_builtin_spaces();
  cmd->add_option("--space", c.space, names_help("search space", list_spaces()))->required();
  cmd->add_option("--task", c.task, "task: fashion-mnist (Debian package dataset-fashion-mnist) or cifar10 (--data)")
      ->capture_default_str();
  cmd->add_option("--out", ta->out, "checkpoint to write (and to continue with --resume)")->required();
  auto* device_opt = cmd->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  auto* iters = cmd->add_option("--iterations", ta->iterations, "length of the run in iterations (default 1000)")
                    ->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", ta->epochs, "length of the run in epochs of the training images")
      ->check(CLI::PositiveNumber)->excludes(iters);
  cmd->add_flag("--resume", ta->resume,
                "continue the run saved in --out when that file exists (its stored settings win; "
                "--iterations/--epochs can change the length, --device the device, --threads the threads); "
                "start afresh otherwise");
  cmd->add_option("--stop-after", ta->stop_after, "stop (with a checkpoint) after this many iterations of this call")
      ->check(CLI::PositiveNumber);
  auto* threads_opt = cmd->add_option("--threads", c.threads, "torch threads (graph building runs on its own thread)")
                          ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--network-workers", ta->network_workers,
                  "on a CPU, how many of a meta-batch's networks run at once, each with threads/N torch threads "
                  "(0: as many as --threads; the step is the same up to float rounding)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", c.seed, "seeds the GHN, the architectures, images and augmentation")->capture_default_str();
  cmd->add_option("--meta-batch", c.meta_batch, "architectures per iteration")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", c.batch_size, "training images per iteration")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", c.weight_decay, "Adam L2 weight decay")->capture_default_str();
  cmd->add_option("--grad-clip", c.grad_clip, "largest gradient norm (0: off)")->capture_default_str();
  cmd->add_option("--lr-steps", c.lr_milestones, "lr x0.1 at these fractions of the run")->capture_default_str()
      ->delimiter(',');
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "iterations between checkpoints (0: only at the end)")
      ->capture_default_str();
  cmd->add_option("--variant", ta->variant, "deepnets1m sampling variant: id, wide, deep, dense, bnfree")
      ->capture_default_str();
  cmd->add_option("--hid", c.ghn.hid, "GHN width (the paper's d)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--train-channels", c.train_channels,
                  "train on DeepNets-1M nets of this width C instead of the sampled 32 (0: as sampled)")
      ->capture_default_str();
  cmd->add_option("--max-cells", c.max_cells, "cap the cells of sampled DeepNets-1M nets (0: no cap)")
      ->capture_default_str();
  cmd->add_option("--max-meta-nodes", c.max_meta_nodes, "redraw meta-batches with more GHN nodes (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--prefetch", c.prefetch, "meta-batches built ahead of the trainer")->capture_default_str();
  cmd->add_option("--log", ta->log, "append one JSON line per iteration (loss, acc, lr, ...) to this file");
  cmd->add_option("--data", ta->data, "dataset folder (default: the Debian package's for fashion-mnist)");
  actions.emplace_back(cmd, [ta, device_opt, threads_opt] {
    Dataset data = load_task_dataset(ta->config.task, ta->data);
    const std::int64_t per_epoch = data.train.size() / std::max<std::int64_t>(1, ta->config.batch_size);
    auto length = [&](std::int64_t stored) -> std::int64_t {
      if (ta->epochs > 0) return std::max<std::int64_t>(1, std::llround(ta->epochs * static_cast<double>(per_epoch)));
      return ta->iterations > 0 ? ta->iterations : stored;
    };
    std::unique_ptr<GhnTrainer> trainer;
    if (ta->resume && std::filesystem::exists(ta->out)) {
      // Only what the command line names overrides the stored run (a run trained on a GPU
      // continues on a CPU with --device cpu).
      const std::string device = device_opt->count() > 0 ? ta->config.device : "";
      const int threads = threads_opt->count() > 0 ? ta->config.threads : 0;
      trainer = GhnTrainer::resume(ta->out, std::move(data), length(0), device, threads);
      std::cerr << "train-ghn: resuming '" << ta->out << "' at iteration " << trainer->iteration() << " of "
                << trainer->config().iterations << "\n";
    } else {
      GhnTrainConfig config = ta->config;
      if (config.space == "deepnets1m") config.space_options["variant"] = ta->variant;
      config.iterations = length(config.iterations);
      trainer = std::make_unique<GhnTrainer>(config, std::move(data));
      std::cerr << "train-ghn: " << trainer->ghn()->num_weights() << " GHN weights, " << config.iterations
                << " iterations (" << per_epoch << " per epoch), config " << trainer->config().to_json().dump()
                << "\n";
    }
    trainer->set_network_workers(ta->network_workers);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(std::max(2, trainer->config().threads)));
    trainer->run(ta->out, ta->log, ta->stop_after);
    std::cerr << "train-ghn: done at iteration " << trainer->iteration() << "/" << trainer->config().iterations
              << ", " << trainer->skipped() << " skipped, " << trainer->wall_seconds() << " s of training in total\n";
    return 0;
  });
}

struct EvalGhnArgs {
  std::string checkpoint, space, task = "fashion-mnist", archs, device = "cpu", baseline, data;
  int threads = 2;
  std::size_t limit = 0;
  std::int64_t test_images = 10000, batch = 64;
  std::uint64_t seed = 0;
};

void add_eval_ghn(CLI::App& app, Actions& actions) {
  auto ea = std::make_shared<EvalGhnArgs>();
  auto* cmd = app.add_subcommand(
      "eval-ghn",
      "Test accuracy (%) of networks running GHN-predicted parameters (or, with --baseline random, their "
      "default random initialisation): one JSON line per architecture, then a summary line");
  register_builtin_spaces();
  cmd->add_option("--checkpoint", ea->checkpoint, "GHN checkpoint (not needed with --baseline random)");
  cmd->add_option("--space", ea->space, names_help("search space", list_spaces()))->required();
  cmd->add_option("--task", ea->task, "fashion-mnist or cifar10 (--data)")->capture_default_str();
  cmd->add_option("--archs", ea->archs, "architecture file (as for describe)")->required();
  cmd->add_option("--limit", ea->limit, "evaluate only the first N architectures (0: all)")->capture_default_str();
  cmd->add_option("--test-images", ea->test_images, "the first M test images")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", ea->batch, "test batch size (batch norm uses batch statistics; the paper's 64)")
      ->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("--baseline", ea->baseline, "random: the networks' own Kaiming initialisation instead of the GHN")
      ->check(CLI::IsMember({"random"}));
  cmd->add_option("--seed", ea->seed, "seed of the random baseline's initialisation (network i uses seed + i)")
      ->capture_default_str();
  cmd->add_option("--threads", ea->threads, "CPU threads")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", ea->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--data", ea->data, "dataset folder (default: the Debian package's for fashion-mnist)");
  actions.emplace_back(cmd, [ea] {
    const bool random = ea->baseline == "random";
    GHNAS_CHECK_AS(ConfigError, random || !ea->checkpoint.empty(), "eval-ghn needs --checkpoint (or --baseline random)");
    const torch::Device device = parse_device(ea->device);
    configure_cpu_runtime(ea->threads);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(ea->threads));
    Ghn ghn{nullptr};
    if (!random) {
      ghn = load_ghn(ea->checkpoint, device);
      ghn->eval();
    }
    auto space = make_space(ea->space);
    const Task task = task_by_name(ea->task);
    auto archs = space->read_archs(ea->archs);
    if (ea->limit > 0 && archs.size() > ea->limit) archs.resize(ea->limit);
    const Dataset data = load_task_dataset(ea->task, ea->data);
    const ImageSet test = data.test.head(ea->test_images);
    const std::vector<Batch> batches = evaluation_batches(test, data.info, ea->batch);

    std::vector<double> accs;
    for (std::size_t i = 0; i < archs.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      double acc = 0.0;
      std::int64_t params = 0;
      try {
        const ArchGraph g = space->build_graph(archs[i], task);
        params = g.num_params();
        acc = predicted_parameter_accuracy(ghn, g, batches, ea->seed + i, device);
      } catch (const ArchError& e) {
        throw ArchError(wrap_error(i, e));
      }
      accs.push_back(acc);
      const nlohmann::ordered_json line = {
          {"index", i},
          {"acc", acc},
          {"params", params},
          {"method", random ? "random" : "ghn"},
          {"test_images", test.size()},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
      std::cout << line.dump() << "\n" << std::flush;
    }
    double mean = 0.0, var = 0.0;
    for (double a : accs) mean += a;
    mean /= std::max<std::size_t>(1, accs.size());
    for (double a : accs) var += (a - mean) * (a - mean);
    const double std_dev = accs.size() > 1 ? std::sqrt(var / static_cast<double>(accs.size() - 1)) : 0.0;
    const nlohmann::ordered_json summary = {{"summary", true},
                                            {"method", random ? "random" : "ghn"},
                                            {"mean", mean},
                                            {"std", std_dev},
                                            {"n", accs.size()},
                                            {"test_images", test.size()},
                                            {"archs", ea->archs},
                                            {"checkpoint", random ? "" : ea->checkpoint}};
    std::cout << summary.dump() << "\n";
    return 0;
  });
}

}  // namespace

void add_surrogate_commands(CLI::App& app, Actions& actions) {
  // ---- import-ghn2
  struct ImportArgs {
    std::string weights, meta, out;
  };
  auto ia = std::make_shared<ImportArgs>();
  auto* imp = app.add_subcommand(
      "import-ghn2",
      "Convert a reference (ppuda) GHN-2 state dict, stored as raw float32 plus a JSON description "
      "(the layout of ../shared/reference/ghn2_fixture), into a ghnas GHN checkpoint");
  imp->add_option("--weights", ia->weights, "raw little-endian float32 tensors (.f32)")->required();
  imp->add_option("--meta", ia->meta, "JSON with config, n_params and tensors (name, shape, offset, numel)")
      ->required();
  imp->add_option("--out", ia->out, "checkpoint to write")->required();
  actions.emplace_back(imp, [ia] {
    Ghn ghn = import_reference_ghn(ia->weights, ia->meta);
    save_ghn(ghn, ia->out, {{"imported_from", ia->weights}});
    std::cerr << "wrote " << ia->out << ": GHN-2 with " << ghn->num_weights() << " weights, config "
              << ghn->config().to_json().dump() << "\n";
    return 0;
  });

  // ---- average-ghn
  struct AverageArgs {
    std::vector<std::string> checkpoints;
    std::string out;
  };
  auto aa = std::make_shared<AverageArgs>();
  auto* avg = app.add_subcommand(
      "average-ghn",
      "Write a GHN whose weights are the mean of several checkpoints of one config, e.g. the "
      "snapshots of one train-ghn run at a small learning rate (Polyak averaging). The result "
      "predicts parameters and embeds like any checkpoint but holds no optimizer state: "
      "train-ghn --resume continues from the last snapshot, not from the average");
  avg->add_option("checkpoints", aa->checkpoints, "GHN checkpoints to average (one config)")->required();
  avg->add_option("--out", aa->out, "checkpoint to write")->required();
  actions.emplace_back(avg, [aa] {
    Ghn ghn = average_ghn_checkpoints(aa->checkpoints);
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& path : aa->checkpoints) {
      const nlohmann::json info = read_ghn_checkpoint_header(path).value("info", nlohmann::json::object());
      nlohmann::json source = {{"checkpoint", base_name(path)}};
      if (info.contains("training")) source["iteration"] = info.at("training").value("iteration", std::int64_t{0});
      sources.push_back(source);
    }
    save_ghn(ghn, aa->out, {{"averaged_from", sources}});
    std::cerr << "wrote " << aa->out << ": the mean of " << aa->checkpoints.size() << " GHN checkpoints\n";
    return 0;
  });

  // ---- embed
  struct EmbedArgs {
    GhnRun run;
    int batch = 64;
  };
  auto ea = std::make_shared<EmbedArgs>();
  auto* embed = app.add_subcommand(
      "embed",
      "Print one JSON line per architecture: index and embedding (the mean of the GHN's node "
      "embeddings after its GNN and layer norm, what property heads read)");
  add_ghn_options(embed, ea->run);
  embed->add_option("--batch", ea->batch, "architectures per GHN call")->capture_default_str()->check(CLI::PositiveNumber);
  actions.emplace_back(embed, [ea] {
    Ghn ghn = open_ghn(ea->run);
    auto space = make_space(ea->run.space);
    const Task task = task_by_name(ea->run.task);
    const auto archs = space->read_archs(ea->run.archs);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(ea->run.threads));
    torch::NoGradGuard no_grad;
    const auto batch = static_cast<std::size_t>(ea->batch);
    for (std::size_t b0 = 0; b0 < archs.size(); b0 += batch) {
      const std::size_t n = std::min(batch, archs.size() - b0);
      std::vector<GhnGraph> graphs(n);
      std::vector<std::optional<std::string>> errors(n);
      tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
        try {
          graphs[i] = build_ghn_graph(space->build_graph(archs[b0 + i], task), ghn->config().s_max);
        } catch (const std::exception& e) {
          errors[i] = wrap_error(b0 + i, e);
        }
      });
      for (const auto& e : errors)
        if (e) throw ArchError(*e);
      const auto emb = ghn->embed(graph_pointers(graphs)).to(torch::kCPU).contiguous();
      for (std::size_t i = 0; i < n; ++i) {
        const float* row = emb.data_ptr<float>() + static_cast<std::int64_t>(i) * emb.size(1);
        const nlohmann::ordered_json line = {{"index", b0 + i},
                                             {"embedding", std::vector<float>(row, row + emb.size(1))}};
        std::cout << line.dump() << "\n";
      }
    }
    return 0;
  });

  // ---- predict-params
  struct PredictArgs {
    GhnRun run;
    std::size_t index = 0;
    std::string out;
  };
  auto pa = std::make_shared<PredictArgs>();
  auto* predict = app.add_subcommand(
      "predict-params",
      "Predict every parameter of one network and export them for PyTorch: a JSON index (--export) "
      "and the float32 data beside it (.f32), tensors named as the reference network names them");
  add_ghn_options(predict, pa->run);
  predict->add_option("--index", pa->index, "which architecture of the file (0-based)")->capture_default_str();
  predict->add_option("--export", pa->out, "JSON index to write; the data goes to the same name with .f32")
      ->required();
  actions.emplace_back(predict, [pa] {
    Ghn ghn = open_ghn(pa->run);
    auto space = make_space(pa->run.space);
    const auto archs = space->read_archs(pa->run.archs);
    GHNAS_CHECK_AS(ConfigError, pa->index < archs.size(), "--index ", pa->index, " is out of range: '",
                   pa->run.archs, "' has ", archs.size(), " architectures");
    torch::NoGradGuard no_grad;
    std::vector<ParamTensor> params;
    PredictedParams predicted;
    try {
      const ArchGraph g = space->build_graph(archs[pa->index], task_by_name(pa->run.task));
      const GhnGraph ghn_graph = build_ghn_graph(g, ghn->config().s_max);
      params = g.all_params();
      predicted = std::move(ghn->predict_parameters({&ghn_graph}, {params})[0]);
    } catch (const ArchError& e) {
      throw ArchError(wrap_error(pa->index, e));
    }

    // Network order, as the reference's named_parameters() lists them.
    const std::string data_path = blob_path(pa->out);
    std::ofstream data(data_path, std::ios::binary | std::ios::trunc);
    GHNAS_CHECK_AS(FileError, data.good(), "cannot write '", data_path, "'");
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    std::int64_t offset = 0;
    for (const auto& p : params) {
      const auto it = predicted.tensors.find(p.name);
      if (it == predicted.tensors.end()) continue;
      const auto t = it->second.to(torch::kCPU, torch::kFloat).contiguous();
      data.write(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<std::streamsize>(4 * t.numel()));
      tensors.push_back({{"name", p.name}, {"shape", p.shape}, {"offset", offset}, {"numel", t.numel()}});
      offset += t.numel();
    }
    data.flush();
    GHNAS_CHECK_AS(FileError, data.good(), "failed writing '", data_path, "'");
    const nlohmann::ordered_json index = {{"format", "ghnas-predicted-params"},
                                  {"version", 1},
                                  {"space", pa->run.space},
                                  {"task", pa->run.task},
                                  {"archs", pa->run.archs},
                                  {"index", pa->index},
                                  {"checkpoint", pa->run.checkpoint},
                                  {"ghn_config", ghn->config().to_json()},
                                  {"data_file", base_name(data_path)},
                                  {"dtype", "float32"},
                                  {"byte_order", "little"},
                                  {"n_params", offset},
                                  {"tensors", tensors},
                                  {"unpredicted", predicted.unpredicted}};
    std::ofstream out(pa->out, std::ios::trunc);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", pa->out, "'");
    out << index.dump() << "\n";
    GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", pa->out, "'");
    std::cerr << "wrote " << pa->out << " and " << data_path << ": " << tensors.size() << " tensors, " << offset
              << " parameters";
    if (!predicted.unpredicted.empty())
      std::cerr << " (" << predicted.unpredicted.size() << " parameters have no GHN node and were not predicted)";
    std::cerr << "\n";
    return 0;
  });

  add_train_ghn(app, actions);
  add_eval_ghn(app, actions);
}

}  // namespace ghnas::cli
