#include "surrogate/ghn_trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "evaluators/compat.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/meta_batch_prefetcher.hpp"

namespace ghnas {

namespace {

// Independent generator streams of one run, each seeded per iteration (or epoch).
enum Stream : std::uint64_t { kArchs = 1, kAugment = 2, kDropout = 3, kImageOrder = 4 };

// SplitMix64 (Steele et al. 2014): decorrelates the seeds of neighbouring iterations.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t index, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (index + 1) + 0xD1B54A32D192ED03ULL * stream;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Applies the training-time width and depth overrides to a DeepNets-1M architecture.
void apply_overrides(Architecture& arch, const GhnTrainConfig& c) {
  if (c.train_channels <= 0 && c.max_cells <= 0) return;
  GHNAS_CHECK_AS(ConfigError, arch.spec.is_object() && arch.spec.contains("net_args"),
                 "train_channels / max_cells apply to DeepNets-1M architectures only, not space '", arch.space, "'");
  auto& args = arch.spec["net_args"];
  if (c.train_channels > 0) args["C"] = c.train_channels;
  if (c.max_cells > 0 && args.value("n_cells", 0) > c.max_cells) args["n_cells"] = c.max_cells;
}

// ---- Adam state, by parameter name
//
// LibTorch's own optimizer archive names each parameter by the TensorImpl address of the run
// that wrote it, as text in 1.13 ("0x55...") and as a number in 2.x: a state written by 1.13
// and read by 2.11 put moments on the wrong parameters (a 4096-element moment on a 32-element
// bias, seen on an H200). Keyed by parameter name, the file means the same to every version and
// device, and a shape mismatch is caught here instead of inside Adam::step.

constexpr const char* kAdamFormatKey = "ghnas_adam_state_v1";

// A run resumes from its last checkpoint, so the lines an interrupted run logged after that
// checkpoint describe steps that are about to be taken again. Dropping them keeps the log one
// line per iteration of the checkpoint's own history. A torn last line (the process died
// mid-write) goes too; any other line the trainer cannot read is kept as it is.
void trim_log_after(const std::string& path, std::int64_t iteration) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string kept;
  bool dropped = false;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find('\n', begin);
    const bool torn = end == std::string::npos;
    if (torn) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool readable = !j.is_discarded() && j.is_object() && j.contains("iteration") && j["iteration"].is_number();
    if (torn || (readable && j["iteration"].get<std::int64_t>() > iteration)) {
      dropped = true;
      continue;
    }
    kept += line + "\n";
  }
  if (!dropped) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kept;
    GHNAS_CHECK_AS(FileError, out.good(), "cannot rewrite the training log '", path, "' (via '", tmp, "')");
  }
  GHNAS_CHECK_AS(FileError, std::rename(tmp.c_str(), path.c_str()) == 0, "cannot replace the training log '", path,
                 "' with '", tmp, "'");
}

// Archive keys may not contain '.', which parameter names do.
std::string adam_key(const std::string& name, const char* field) {
  std::string key = name;
  std::replace(key.begin(), key.end(), '.', '|');
  return key + "|" + field;
}

void save_adam_state(torch::optim::Adam& adam, const torch::nn::Module& ghn, const std::string& path) {
  torch::serialize::OutputArchive archive;
  archive.write(kAdamFormatKey, torch::ones({1}));
  for (const auto& p : ghn.named_parameters()) {
    const auto found = adam.state().find(optimizer_state_key(adam.state(), p.value()));
    if (found == adam.state().end()) continue;  // not stepped yet
    const auto& st = static_cast<const torch::optim::AdamParamState&>(*found->second);
    archive.write(adam_key(p.key(), "exp_avg"), st.exp_avg());
    archive.write(adam_key(p.key(), "exp_avg_sq"), st.exp_avg_sq());
    archive.write(adam_key(p.key(), "step"), torch::tensor(static_cast<std::int64_t>(st.step())));
  }
  archive.save_to(path);
}

void check_adam_shapes(torch::optim::Adam& adam, const torch::nn::Module& ghn, const std::string& path) {
  for (const auto& p : ghn.named_parameters()) {
    const auto found = adam.state().find(optimizer_state_key(adam.state(), p.value()));
    if (found == adam.state().end()) continue;
    const auto& st = static_cast<const torch::optim::AdamParamState&>(*found->second);
    GHNAS_CHECK_AS(FileError, st.exp_avg().sizes() == p.value().sizes(), "optimizer state '", path,
                   "' does not fit the GHN: parameter '", p.key(), "' has shape ", p.value().sizes(),
                   ", its saved moment ", st.exp_avg().sizes());
  }
}

void load_adam_state(torch::optim::Adam& adam, const torch::nn::Module& ghn, const std::string& path,
                     torch::Device device) {
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  torch::Tensor marker;
  if (!archive.try_read(kAdamFormatKey, marker)) {
    adam.load(archive);  // written by LibTorch's own serializer (ghnas before this format)
    check_adam_shapes(adam, ghn, path);
    return;
  }
  for (const auto& p : ghn.named_parameters()) {
    torch::Tensor exp_avg, exp_avg_sq, step;
    if (!archive.try_read(adam_key(p.key(), "exp_avg"), exp_avg)) continue;
    GHNAS_CHECK_AS(FileError, archive.try_read(adam_key(p.key(), "exp_avg_sq"), exp_avg_sq) &&
                                  archive.try_read(adam_key(p.key(), "step"), step),
                   "optimizer state '", path, "' is incomplete for parameter '", p.key(), "'");
    auto st = std::make_unique<torch::optim::AdamParamState>();
    st->exp_avg(exp_avg.to(device));
    st->exp_avg_sq(exp_avg_sq.to(device));
    st->step(step.item<std::int64_t>());
    adam.state()[optimizer_state_key(adam.state(), p.value())] = std::move(st);
  }
  check_adam_shapes(adam, ghn, path);
}

}  // namespace

// ---- config

void GhnTrainConfig::validate() const {
  GHNAS_CHECK_AS(ConfigError, iterations > 0, "iterations must be positive, got ", iterations);
  GHNAS_CHECK_AS(ConfigError, meta_batch > 0, "meta-batch must be positive, got ", meta_batch);
  GHNAS_CHECK_AS(ConfigError, batch_size >= 2, "batch size must be at least 2 (batch norm), got ", batch_size);
  GHNAS_CHECK_AS(ConfigError, lr > 0, "lr must be positive, got ", lr);
  GHNAS_CHECK_AS(ConfigError, weight_decay >= 0, "weight decay must be >= 0, got ", weight_decay);
  GHNAS_CHECK_AS(ConfigError, grad_clip >= 0, "gradient clip must be >= 0, got ", grad_clip);
  GHNAS_CHECK_AS(ConfigError, lr_gamma > 0, "lr gamma must be positive, got ", lr_gamma);
  for (double m : lr_milestones)
    GHNAS_CHECK_AS(ConfigError, m > 0 && m < 1, "lr milestones are fractions of the run in (0, 1), got ", m);
  GHNAS_CHECK_AS(ConfigError, threads > 0, "threads must be positive, got ", threads);
  GHNAS_CHECK_AS(ConfigError, prefetch > 0, "prefetch must be positive, got ", prefetch);
  GHNAS_CHECK_AS(ConfigError, checkpoint_every >= 0, "checkpoint interval must be >= 0, got ", checkpoint_every);
  GHNAS_CHECK_AS(ConfigError, train_channels >= 0 && max_cells >= 0, "train_channels and max_cells must be >= 0");
  ghn.validate();
}

nlohmann::json GhnTrainConfig::to_json() const {
  return {{"space", space},
          {"space_options", space_options},
          {"task", task},
          {"ghn", ghn.to_json()},
          {"iterations", iterations},
          {"meta_batch", meta_batch},
          {"batch_size", batch_size},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"grad_clip", grad_clip},
          {"lr_milestones", lr_milestones},
          {"lr_gamma", lr_gamma},
          {"seed", seed},
          {"max_meta_nodes", max_meta_nodes},
          {"train_channels", train_channels},
          {"max_cells", max_cells},
          {"threads", threads},
          {"device", device},
          {"prefetch", prefetch},
          {"checkpoint_every", checkpoint_every}};
}

GhnTrainConfig GhnTrainConfig::from_json(const nlohmann::json& j) {
  GhnTrainConfig c;
  try {
    c.space = j.value("space", c.space);
    if (j.contains("space_options")) c.space_options = j.at("space_options").get<SpaceOptions>();
    c.task = j.value("task", c.task);
    if (j.contains("ghn")) c.ghn = GhnConfig::from_json(j.at("ghn"));
    c.iterations = j.value("iterations", c.iterations);
    c.meta_batch = j.value("meta_batch", c.meta_batch);
    c.batch_size = j.value("batch_size", c.batch_size);
    c.lr = j.value("lr", c.lr);
    c.weight_decay = j.value("weight_decay", c.weight_decay);
    c.grad_clip = j.value("grad_clip", c.grad_clip);
    c.lr_milestones = j.value("lr_milestones", c.lr_milestones);
    c.lr_gamma = j.value("lr_gamma", c.lr_gamma);
    c.seed = j.value("seed", c.seed);
    c.max_meta_nodes = j.value("max_meta_nodes", c.max_meta_nodes);
    c.train_channels = j.value("train_channels", c.train_channels);
    c.max_cells = j.value("max_cells", c.max_cells);
    c.threads = j.value("threads", c.threads);
    c.device = j.value("device", c.device);
    c.prefetch = j.value("prefetch", c.prefetch);
    c.checkpoint_every = j.value("checkpoint_every", c.checkpoint_every);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(std::string("bad GHN training config: ") + e.what());
  }
  c.validate();
  return c;
}

// ---- meta-batches

std::int64_t MetaBatch::num_nodes() const {
  std::int64_t n = 0;
  for (const auto& g : ghn_graphs) n += static_cast<std::int64_t>(g.num_nodes());
  return n;
}

MetaBatch sample_meta_batch(const SearchSpace& space, const Task& task, const GhnTrainConfig& config,
                            std::int64_t iteration, torch::Device device) {
  Rng rng(mix_seed(config.seed, static_cast<std::uint64_t>(iteration), kArchs));
  const auto n = static_cast<std::size_t>(config.meta_batch);
  MetaBatch m;
  m.iteration = iteration;
  for (int attempt = 0;; ++attempt) {
    m.archs.clear();
    for (std::size_t b = 0; b < n; ++b) {
      Architecture a = space.sample(rng);
      apply_overrides(a, config);
      m.archs.push_back(std::move(a));
    }
    m.graphs.assign(n, ArchGraph{});
    m.ghn_graphs.assign(n, GhnGraph{});
    m.params.assign(n, {});
    std::vector<std::string> errors(n);
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t b) {
      try {
        m.graphs[b] = space.build_graph(m.archs[b], task);
        m.ghn_graphs[b] = build_ghn_graph(m.graphs[b], config.ghn.s_max);
        m.params[b] = m.graphs[b].all_params();
      } catch (const std::exception& e) {
        errors[b] = e.what();
      }
    });
    for (std::size_t b = 0; b < n; ++b)
      if (!errors[b].empty())
        throw ArchError(detail::str_cat("training iteration ", iteration, ", sampled architecture ", b, " (",
                                        m.archs[b].spec.dump(), "): ", errors[b]));
    if (config.max_meta_nodes <= 0 || m.num_nodes() <= config.max_meta_nodes) break;
    GHNAS_CHECK(attempt < 1000, "no meta-batch of ", n, " architectures within ", config.max_meta_nodes,
                " GHN nodes after 1000 draws");
    ++m.redrawn;
  }
  m.nets.assign(n, Network{nullptr});
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t b) {
    // The executors' own weights are never used; a fixed seed keeps construction cheap to reason about.
    m.nets[b] = Network(m.graphs[b], device, /*seed=*/0);
    m.nets[b]->train();
  });
  return m;
}

// ---- the networks of one training step

namespace {

// What one network of a meta-batch contributes to a step: its loss and hits (on the device) and
// the gradients of the mean meta-batch loss with respect to its predicted tensors.
struct NetworkPass {
  torch::Tensor loss, hits;
  std::vector<torch::Tensor> outputs, grads;  // predicted tensors and their gradients
};

NetworkPass run_network_pass(Network& net, const PredictedParams& predicted, const torch::Tensor& images,
                             const torch::Tensor& labels, double meta_batch) {
  ParamMap params;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> leaves;
  for (const auto& [name, t] : predicted.tensors) {
    torch::Tensor leaf = t.detach().requires_grad_(true);
    params.emplace(name, leaf);
    leaves.emplace_back(t, leaf);
  }
  const torch::Tensor logits = net->forward(images, params);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels);
  (loss / meta_batch).backward();
  NetworkPass pass;
  pass.loss = loss.detach();
  pass.hits = logits.detach().argmax(1).eq(labels).sum();
  for (auto& [out, leaf] : leaves)
    if (leaf.grad().defined()) {
      pass.outputs.push_back(out);
      pass.grads.push_back(leaf.grad());
    }
  return pass;
}

// A network's relative cost: its parameter count, a proxy that orders a meta-batch's nets well
// enough for scheduling (their costs differ by 10x and more).
std::vector<double> network_costs(const MetaBatch& meta) {
  std::vector<double> costs;
  for (const auto& params : meta.params) {
    double c = 0.0;
    for (const auto& p : params) c += static_cast<double>(p.numel());
    costs.push_back(c);
  }
  return costs;
}

// Calls run(i) for i < n on `workers` threads with `intra_op` torch threads each, the costliest
// first and each worker taking the next when it is free, so that one large network does not
// leave the other workers idle at the end. The calling thread is one of the workers.
void run_concurrently(std::size_t n, int workers, int intra_op, const std::vector<double>& costs,
                      const std::function<void(std::size_t)>& run) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
  std::atomic<std::size_t> next{0};
  tbb::task_arena arena(workers);
  arena.execute([&] {
    tbb::parallel_for(0, workers, 1, [&](int) {
      IntraOpThreadsScope scope(intra_op);
      for (std::size_t i = next++; i < n; i = next++) run(order[i]);
    });
  });
}

}  // namespace

// ---- trainer

GhnTrainer::GhnTrainer(GhnTrainConfig config, Dataset data)
    : config_(std::move(config)), data_(std::move(data)), device_(torch::kCPU) {
  task_ = task_by_name(config_.task);
  config_.ghn.num_classes = task_.classes;
  config_.validate();
  GHNAS_CHECK_AS(ConfigError, data_.info.channels == task_.channels && data_.info.height == task_.height &&
                                  data_.info.width == task_.width && data_.info.classes == task_.classes,
                 "the data (", data_.info.name, ") does not match task '", task_.name, "'");
  GHNAS_CHECK_AS(ConfigError, data_.train.size() >= config_.batch_size, "batch size ", config_.batch_size,
                 " exceeds the ", data_.train.size(), " training images");
  device_ = parse_device(config_.device);
  configure_cpu_runtime(config_.threads);
  register_builtin_spaces();
  space_ = make_space(config_.space, config_.space_options);
  torch::manual_seed(config_.seed);  // the GHN's initial weights
  ghn_ = Ghn(config_.ghn);
  ghn_->to(device_);
  ghn_->train();
  optimizer_ = std::make_unique<torch::optim::Adam>(
      ghn_->parameters(), torch::optim::AdamOptions(config_.lr).weight_decay(config_.weight_decay));
}

std::unique_ptr<GhnTrainer> GhnTrainer::resume(const std::string& checkpoint, Dataset data, std::int64_t iterations,
                                               const std::string& device, int threads) {
  const nlohmann::json info = read_training_info(checkpoint);
  GHNAS_CHECK_AS(FileError, info.is_object(), "'", checkpoint,
                 "' holds no training state (it is not a train-ghn checkpoint); cannot resume from it");
  GhnTrainConfig config = GhnTrainConfig::from_json(info.at("config"));
  if (iterations > 0) config.iterations = iterations;
  if (!device.empty()) config.device = device;
  if (threads > 0) config.threads = threads;
  auto trainer = std::make_unique<GhnTrainer>(config, std::move(data));
  load_ghn_weights(trainer->ghn_, checkpoint);
  const std::string state = dir_of(checkpoint) + info.value("optimizer_state", std::string());
  try {
    load_adam_state(*trainer->optimizer_, *trainer->ghn_, state, trainer->device_);
  } catch (const FileError&) {
    throw;
  } catch (const std::exception& e) {
    throw FileError("'" + checkpoint + "': cannot read its optimizer state '" + state + "': " + e.what());
  }
  trainer->iteration_ = info.value("iteration", std::int64_t{0});
  trainer->skipped_ = info.value("skipped", std::int64_t{0});
  trainer->wall_seconds_ = info.value("wall_seconds", 0.0);
  trainer->last_state_file_ = state;
  return trainer;
}

double GhnTrainer::lr_at(std::int64_t iteration) const {
  double lr = config_.lr;
  for (double m : config_.lr_milestones)
    if (iteration >= static_cast<std::int64_t>(std::llround(m * static_cast<double>(config_.iterations))))
      lr *= config_.lr_gamma;
  return lr;
}

void GhnTrainer::set_lr(double lr) {
  for (auto& group : optimizer_->param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

Batch GhnTrainer::image_batch(std::int64_t iteration) const {
  const std::int64_t per_epoch = data_.train.size() / config_.batch_size;
  const std::int64_t epoch = iteration / per_epoch, pos = iteration % per_epoch;
  if (epoch != order_epoch_) {
    Rng order_rng(mix_seed(config_.seed, static_cast<std::uint64_t>(epoch), kImageOrder));
    order_ = shuffled_indices(data_.train.size(), order_rng);
    order_epoch_ = epoch;
  }
  const auto first = order_.begin() + pos * config_.batch_size;
  const std::vector<std::int64_t> indices(first, first + config_.batch_size);
  Rng augment_rng(mix_seed(config_.seed, static_cast<std::uint64_t>(iteration), kAugment));
  BatchTransform transform;
  transform.augment = true;
  return make_batch(data_.train, data_.info, indices, transform, augment_rng);
}

void GhnTrainer::set_network_workers(int workers) {
  GHNAS_CHECK_AS(ConfigError, workers >= 0, "network workers must be 0 (automatic) or positive, got ", workers);
  network_workers_ = workers;
}

int GhnTrainer::network_workers() const {
  if (device_.is_cuda()) return 1;
  const int workers = network_workers_ > 0 ? network_workers_ : config_.threads;
  return std::max(1, std::min(workers, config_.meta_batch));
}

GhnStepStats GhnTrainer::train_step(const MetaBatch& meta, const Batch& batch) {
  GhnStepStats stats;
  // With phase timing on, each phase ends by waiting for the device, so its seconds are its own.
  auto phase_start = std::chrono::steady_clock::now();
  auto end_phase = [&](double& seconds) {
    if (!phase_timing_) return;
    if (device_.is_cuda()) torch::cuda::synchronize();
    const auto now = std::chrono::steady_clock::now();
    seconds = std::chrono::duration<double>(now - phase_start).count();
    phase_start = now;
  };
  stats.lr = lr_at(meta.iteration);
  set_lr(stats.lr);
  ghn_->train();
  optimizer_->zero_grad();
  const auto predicted = ghn_->predict_parameters(graph_pointers(meta.ghn_graphs), meta.params);
  const torch::Tensor images = batch.images.to(device_), labels = batch.labels.to(device_);
  const auto n = meta.nets.size();
  end_phase(stats.predict_seconds);

  // Each network runs on detached copies of its predicted tensors and back-propagates into them
  // at once, so only one network's activations per worker are alive at a time; the GHN's own
  // backward pass then runs once for the whole meta-batch, fed with the gathered gradients. The
  // gradient is that of the mean loss over the meta-batch. Losses and hits stay on the device
  // until all networks have run: reading one back would make a GPU idle while the CPU waits.
  // (Running the networks on concurrent threads was tried on an H200: their phase took 0.19 s
  // against 0.15 s one after another, as autograd runs every CUDA backward op on one thread.)
  const std::uint64_t dropout_seed = mix_seed(config_.seed, static_cast<std::uint64_t>(meta.iteration), kDropout);
  std::vector<NetworkPass> passes(n);
  auto run_network = [&](std::size_t b) {
    Network net = meta.nets[b];  // a holder copy: forward is not const
    if (!device_.is_cuda()) net->set_dropout_generator(at::detail::createCPUGenerator(mix_seed(dropout_seed, b, kDropout)));
    passes[b] = run_network_pass(net, predicted[b], images, labels, static_cast<double>(n));
  };
  const int workers = network_workers();
  if (workers <= 1) {
    if (device_.is_cuda()) torch::manual_seed(dropout_seed);
    for (std::size_t b = 0; b < n; ++b) run_network(b);
  } else {
    run_concurrently(n, workers, std::max(1, config_.threads / workers), network_costs(meta), run_network);
  }
  std::vector<torch::Tensor> outputs, grads, losses;
  torch::Tensor correct = torch::zeros({}, labels.options().dtype(torch::kLong));
  for (auto& pass : passes) {
    losses.push_back(pass.loss);
    correct += pass.hits;
    outputs.insert(outputs.end(), pass.outputs.begin(), pass.outputs.end());
    grads.insert(grads.end(), pass.grads.begin(), pass.grads.end());
  }
  const auto values = torch::stack(losses).to(torch::kCPU, torch::kDouble);
  double loss_sum = 0.0;
  for (std::size_t b = 0; b < n && !stats.skipped; ++b) {
    const double value = values[static_cast<std::int64_t>(b)].item<double>();
    loss_sum += value;
    if (!std::isfinite(value)) {
      stats.loss = value;
      stats.skipped = true;
    }
  }
  end_phase(stats.networks_seconds);
  if (!stats.skipped) {
    stats.loss = loss_sum / static_cast<double>(n);
    stats.accuracy = 100.0 * static_cast<double>(correct.item<std::int64_t>()) / static_cast<double>(n * labels.size(0));
    if (!outputs.empty()) torch::autograd::backward(outputs, grads);
    end_phase(stats.ghn_backward_seconds);
    stats.grad_norm = config_.grad_clip > 0
                          ? torch::nn::utils::clip_grad_norm_(ghn_->parameters(), config_.grad_clip)
                          : std::numeric_limits<double>::quiet_NaN();
    // A finite loss can still give an overflowing gradient; that step is skipped too.
    if (config_.grad_clip > 0 && !std::isfinite(stats.grad_norm)) stats.skipped = true;
  }
  if (stats.skipped) {
    ++skipped_;
    optimizer_->zero_grad();
    return stats;
  }
  optimizer_->step();
  end_phase(stats.update_seconds);
  return stats;
}

double GhnTrainer::meta_batch_loss(const MetaBatch& meta, const Batch& batch) {
  torch::NoGradGuard no_grad;
  const auto predicted = ghn_->predict_parameters(graph_pointers(meta.ghn_graphs), meta.params);
  const torch::Tensor images = batch.images.to(device_), labels = batch.labels.to(device_);
  double sum = 0.0;
  for (std::size_t b = 0; b < meta.nets.size(); ++b) {
    const ParamMap params(predicted[b].tensors.begin(), predicted[b].tensors.end());
    Network net = meta.nets[b];
    sum += torch::nn::functional::cross_entropy(net->forward(images, params), labels).item<double>();
  }
  return sum / static_cast<double>(meta.nets.size());
}

void GhnTrainer::save(const std::string& out) {
  // The Adam state goes to a side file named after the iteration, written before the checkpoint
  // that names it and deleted only after a newer checkpoint names another: a kill at any point
  // leaves a checkpoint whose state file exists and matches it.
  const std::string state = out + ".adam-" + std::to_string(iteration_);
  const std::string tmp = state + ".tmp";
  try {
    save_adam_state(*optimizer_, *ghn_, tmp);
  } catch (const std::exception& e) {
    throw FileError("cannot write the optimizer state '" + tmp + "': " + e.what());
  }
  GHNAS_CHECK_AS(FileError, std::rename(tmp.c_str(), state.c_str()) == 0, "cannot rename '", tmp, "' to '", state,
                 "'");
  const nlohmann::json info = {{"training",
                                {{"config", config_.to_json()},
                                 {"iteration", iteration_},
                                 {"skipped", skipped_},
                                 {"wall_seconds", wall_seconds_},
                                 {"optimizer_state", base_name(state)}}}};
  save_ghn(ghn_, out, info);
  // Only the previous state of this same checkpoint path goes: a run resumed from one file and
  // saved to another leaves the first one resumable.
  if (last_state_file_ != state && last_state_file_.rfind(out + ".adam-", 0) == 0)
    std::remove(last_state_file_.c_str());
  last_state_file_ = state;
}

void GhnTrainer::run(const std::string& out, const std::string& log_path, std::int64_t stop_after) {
  const std::int64_t end =
      stop_after > 0 ? std::min(config_.iterations, iteration_ + stop_after) : config_.iterations;
  if (iteration_ >= end) {
    save(out);
    return;
  }
  std::ofstream log;
  if (!log_path.empty()) {
    trim_log_after(log_path, iteration_);
    log.open(log_path, std::ios::app);
    GHNAS_CHECK_AS(FileError, log.good(), "cannot write the training log '", log_path, "'");
  }
  MetaBatchPrefetcher prefetcher(
      [this](std::int64_t i) { return sample_meta_batch(*space_, task_, config_, i, device_); }, iteration_, end,
      config_.prefetch);
  ProgressBar progress(static_cast<std::size_t>(end - iteration_), "train-ghn");
  using Clock = std::chrono::steady_clock;
  auto last = Clock::now();
  const auto session_start = last;
  std::deque<std::pair<double, double>> recent;  // (loss, accuracy) of the last kWindow steps
  constexpr std::size_t kWindow = 50;
  double recent_loss = 0.0, recent_acc = 0.0;
  std::int64_t session_steps = 0;
  while (iteration_ < end) {
    MetaBatch meta = prefetcher.next();
    const Batch batch = image_batch(iteration_);
    const GhnStepStats s = train_step(meta, batch);
    ++iteration_;
    ++session_steps;
    const auto now = Clock::now();
    const double seconds = std::chrono::duration<double>(now - last).count();
    wall_seconds_ += seconds;
    last = now;
    if (!s.skipped) {
      recent.emplace_back(s.loss, s.accuracy);
      recent_loss += s.loss;
      recent_acc += s.accuracy;
      if (recent.size() > kWindow) {
        recent_loss -= recent.front().first;
        recent_acc -= recent.front().second;
        recent.pop_front();
      }
    }
    const double k = recent.empty() ? 1.0 : static_cast<double>(recent.size());
    if (log.is_open()) {
      nlohmann::json line = {{"iteration", iteration_},  {"loss", s.skipped ? nlohmann::json() : nlohmann::json(s.loss)},
                             {"acc", s.accuracy},         {"lr", s.lr},
                             {"grad_norm", s.grad_norm},  {"skipped", s.skipped},
                             {"nodes", meta.num_nodes()}, {"seconds", seconds}};
      log << line.dump() << "\n" << std::flush;
    }
    char status[96];
    std::snprintf(status, sizeof(status), "loss %.3f acc %.1f%% skipped %lld", recent_loss / k, recent_acc / k,
                  static_cast<long long>(skipped_));
    progress.tick(1, status);
    const bool checkpoint = config_.checkpoint_every > 0 && iteration_ % config_.checkpoint_every == 0;
    if (checkpoint || iteration_ == end) {
      save(out);
      // A plain line per checkpoint, for logs where the progress bar is not drawn.
      const double per_iter =
          std::chrono::duration<double>(Clock::now() - session_start).count() / static_cast<double>(session_steps);
      std::fprintf(stderr,
                   "train-ghn: iteration %lld/%lld, loss %.4f, train acc %.2f%% (mean of last %zu), lr %.2g, "
                   "skipped %lld, %.2f s/iteration, waited %.1f s for graphs; checkpoint %s\n",
                   static_cast<long long>(iteration_), static_cast<long long>(config_.iterations), recent_loss / k,
                   recent_acc / k, recent.size(), s.lr, static_cast<long long>(skipped_), per_iter,
                   prefetcher.wait_seconds(), out.c_str());
    }
  }
  progress.finish();
}

nlohmann::json read_training_info(const std::string& checkpoint) {
  const nlohmann::json header = read_ghn_checkpoint_header(checkpoint);
  const auto info = header.find("info");
  if (info == header.end() || !info->is_object() || !info->contains("training")) return nullptr;
  return info->at("training");
}

Dataset load_task_dataset(const std::string& task, const std::string& data_dir) {
  if (task == "fashion-mnist") return data_dir.empty() ? load_fashion_mnist() : load_fashion_mnist(data_dir);
  if (task == "cifar10") {
    GHNAS_CHECK_AS(ConfigError, !data_dir.empty(), "task cifar10 needs --data DIR (the CIFAR-10 binary batches)");
    return load_cifar10(data_dir);
  }
  throw ConfigError("no training data for task '" + task + "' (fashion-mnist or cifar10)");
}

}  // namespace ghnas
