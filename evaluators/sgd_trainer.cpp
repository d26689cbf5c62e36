#include "evaluators/sgd_trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "evaluators/cpu_runtime.hpp"

namespace ghnas {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The noisy test images must be the same for every network, whatever its training seed.
constexpr std::uint64_t kNoiseSeed = 0x6e6f697365ULL;

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

void set_lr(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

}  // namespace

torch::Device parse_device(const std::string& name) {
  c10::optional<torch::Device> device;
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    throw ConfigError("unknown device '" + name + "'; use cpu, cuda or cuda:N");
  }
  GHNAS_CHECK_AS(ConfigError, device->is_cpu() || device->is_cuda(), "unsupported device '", name,
                 "'; use cpu, cuda or cuda:N");
  if (device->is_cuda()) {
    GHNAS_CHECK_AS(ConfigError, torch::cuda::is_available(), "device '", name,
                   "' requested, but this LibTorch build or machine has no CUDA");
    GHNAS_CHECK_AS(ConfigError, !device->has_index() || device->index() < static_cast<int>(torch::cuda::device_count()),
                   "device '", name, "' does not exist: ", torch::cuda::device_count(), " CUDA device(s)");
  }
  return *device;
}

nlohmann::json TrainResult::to_json() const {
  return {{"clean_acc", number_or_null(clean_acc)},
          {"noisy_acc", number_or_null(noisy_acc)},
          {"val_acc", number_or_null(val_acc)},
          {"latency_ms", number_or_null(latency_ms)},
          {"convergence", number_or_null(convergence)},
          {"params", params},
          {"flops", flops},
          {"train_seconds", train_seconds},
          {"final_loss", number_or_null(final_loss)},
          {"steps", steps},
          {"noise_sigma", noise_sigma},
          {"status", status}};
}

double convergence_fraction(const std::vector<float>& losses, double threshold) {
  const auto steps = static_cast<std::int64_t>(losses.size());
  if (steps == 0) return kNaN;
  const std::int64_t w = std::max<std::int64_t>(5, std::llround(0.02 * static_cast<double>(steps)));
  // Walk backwards: the answer is one past the last step whose smoothed loss is not below.
  std::vector<double> prefix(static_cast<std::size_t>(steps) + 1, 0.0);
  for (std::int64_t t = 0; t < steps; ++t) prefix[t + 1] = prefix[t] + losses[t];
  std::int64_t first_below = 0;
  for (std::int64_t t = steps - 1; t >= 0; --t) {
    const std::int64_t from = std::max<std::int64_t>(0, t - w + 1);
    const double smoothed = (prefix[t + 1] - prefix[from]) / static_cast<double>(t + 1 - from);
    if (!(smoothed < threshold)) {
      first_below = t + 1;
      break;
    }
  }
  if (first_below >= steps) return 1.0;
  return static_cast<double>(first_below + 1) / static_cast<double>(steps);
}

double evaluate_accuracy(NetworkImpl& net, const ImageSet& set, const DatasetInfo& info,
                         std::int64_t batch_size, double noise_sigma, torch::Device device) {
  if (set.size() == 0) return kNaN;
  torch::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  std::mt19937_64 noise_rng(kNoiseSeed);
  std::vector<std::int64_t> order(static_cast<std::size_t>(set.size()));
  for (std::int64_t i = 0; i < set.size(); ++i) order[i] = i;
  BatchTransform transform;
  transform.noise_sigma = noise_sigma;
  std::int64_t correct = 0;
  for (const auto& indices : make_batches(order, batch_size, /*keep_last=*/true)) {
    Batch batch = make_batch(set, info, indices, transform, noise_rng);
    const torch::Tensor logits = net.forward(batch.images.to(device));
    correct += logits.argmax(1).cpu().eq(batch.labels).sum().item<std::int64_t>();
  }
  net.train(was_training);
  return 100.0 * static_cast<double>(correct) / static_cast<double>(set.size());
}

double measure_latency_ms(NetworkImpl& net, int batch, int warmup, int runs) {
  GHNAS_CHECK_AS(ConfigError, batch > 0 && runs > 0 && warmup >= 0,
                 "latency needs a positive batch and number of runs");
  torch::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  const Task& task = net.task();
  const torch::Device device = net.device();
  const torch::Tensor images = torch::randn({batch, task.channels, task.height, task.width},
                                            torch::TensorOptions().device(device));
  for (int i = 0; i < warmup; ++i) net.forward(images);
  synchronize(device);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    net.forward(images);
    synchronize(device);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  net.train(was_training);
  std::sort(times.begin(), times.end());
  const std::size_t m = times.size() / 2;
  return times.size() % 2 ? times[m] : 0.5 * (times[m - 1] + times[m]);
}

TrainResult train_and_evaluate(const ArchGraph& graph, const Dataset& data, const SgdConfig& config,
                               Network* trained) {
  GHNAS_CHECK_AS(ConfigError, config.epochs > 0, "epochs must be positive, got ", config.epochs);
  GHNAS_CHECK_AS(ConfigError, config.lr > 0, "learning rate must be positive, got ", config.lr);
  GHNAS_CHECK_AS(ConfigError, config.threads > 0, "threads must be positive, got ", config.threads);
  GHNAS_CHECK_AS(ConfigError, config.batch_size >= 2 && config.batch_size <= data.train.size(),
                 "batch size ", config.batch_size, " must be between 2 (batch norm needs two "
                 "samples) and the ", data.train.size(), " training samples");
  GHNAS_CHECK_AS(ConfigError, graph.task().channels == data.info.channels &&
                                  graph.task().height == data.info.height &&
                                  graph.task().width == data.info.width &&
                                  graph.task().classes == data.info.classes,
                 "the network is built for task '", graph.task().name, "' (", graph.task().channels,
                 "x", graph.task().height, "x", graph.task().width, ", ", graph.task().classes,
                 " classes), the data is ", data.info.name, " (", data.info.channels, "x",
                 data.info.height, "x", data.info.width, ", ", data.info.classes, " classes)");
  const torch::Device device = parse_device(config.device);
  configure_cpu_runtime(config.threads);
  torch::manual_seed(config.seed);  // dropout draws from torch's global generator

  TrainResult result;
  result.params = graph.num_params();
  result.flops = graph.flops();
  result.noise_sigma = config.noise_sigma >= 0 ? config.noise_sigma : data.info.noise_sigma;

  Network net(graph, device, config.seed);
  net->train();
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(config.lr)
                                                     .momentum(config.momentum)
                                                     .weight_decay(config.weight_decay)
                                                     .nesterov(config.nesterov));
  std::mt19937_64 rng(config.seed);
  const std::int64_t steps_per_epoch = data.train.size() / config.batch_size;
  const std::int64_t total_steps = steps_per_epoch * config.epochs;
  ProgressBar progress(static_cast<std::size_t>(total_steps), "train", config.progress ? -1 : 0);

  const auto start = std::chrono::steady_clock::now();
  std::int64_t step = 0;
  bool diverged = false;
  BatchTransform augment;
  augment.augment = true;
  for (int epoch = 0; epoch < config.epochs && !diverged; ++epoch) {
    const auto batches = make_batches(shuffled_indices(data.train.size(), rng), config.batch_size,
                                      /*keep_last=*/false);
    for (const auto& indices : batches) {
      // Cosine decay per step (SGDR without restarts, Loshchilov & Hutter 2017).
      set_lr(optimizer, 0.5 * config.lr * (1.0 + std::cos(M_PI * static_cast<double>(step) / total_steps)));
      Batch batch = make_batch(data.train, data.info, indices, augment, rng);
      optimizer.zero_grad();
      const torch::Tensor logits = net->forward(batch.images.to(device));
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch.labels.to(device));
      const float value = loss.item<float>();
      result.losses.push_back(value);
      ++step;
      if (!std::isfinite(value)) {
        diverged = true;
        result.diverged_step = step;
        break;
      }
      loss.backward();
      if (config.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), config.grad_clip);
      optimizer.step();
      char status[32];
      std::snprintf(status, sizeof(status), "loss %.3f", value);
      progress.tick(1, status);
    }
  }
  synchronize(device);
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  result.steps = step;

  if (trained) *trained = net;
  if (config.latency_device.empty() || parse_device(config.latency_device) == device) {
    result.latency_ms = measure_latency_ms(*net, config.latency_batch, config.latency_warmup, config.latency_runs);
  } else {
    // Latency does not depend on the weights: a fresh copy on the other device times the same work.
    Network timed(graph, parse_device(config.latency_device), config.seed);
    result.latency_ms = measure_latency_ms(*timed, config.latency_batch, config.latency_warmup, config.latency_runs);
  }
  if (diverged) {
    result.status = "diverged";
    result.clean_acc = result.noisy_acc = result.val_acc = kNaN;
    result.convergence = result.final_loss = kNaN;
    return result;
  }
  const std::size_t tail = std::max<std::size_t>(1, result.losses.size() / 50);
  double tail_sum = 0;
  for (std::size_t i = result.losses.size() - tail; i < result.losses.size(); ++i) tail_sum += result.losses[i];
  result.final_loss = tail_sum / static_cast<double>(tail);
  const double threshold = config.convergence_loss >= 0 ? config.convergence_loss
                                                        : 0.5 * std::log(static_cast<double>(data.info.classes));
  result.convergence = convergence_fraction(result.losses, threshold);
  result.clean_acc = evaluate_accuracy(*net, data.test, data.info, config.eval_batch_size, 0.0, device);
  result.noisy_acc = evaluate_accuracy(*net, data.test, data.info, config.eval_batch_size, result.noise_sigma, device);
  result.val_acc = config.evaluate_val
                       ? evaluate_accuracy(*net, data.val, data.info, config.eval_batch_size, 0.0, device)
                       : kNaN;
  return result;
}

}  // namespace ghnas
