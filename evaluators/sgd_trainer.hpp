#pragma once
// Ground truth by SGD: train a network from scratch, then measure what the GHN's property heads
// learn to predict: clean accuracy, accuracy on noisy inputs, inference latency and how fast
// the training loss came down.

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "evaluators/datasets.hpp"
#include "evaluators/network.hpp"
#include "space/arch_graph.hpp"

namespace ghnas {

/// How a network is trained and measured. Defaults suit Fashion-MNIST on a CPU: one epoch of
/// batch 128 (429 steps over the 55,000 training images), lr 0.05 with momentum 0.9 and a
/// per-step cosine decay to 0, weight decay 3e-4 (DARTS / DeepNets-1M's value), gradient norm
/// clipped at 5 (as DARTS-style training does; it keeps BN-free nets from blowing up early).
struct SgdConfig {
  int epochs = 1;
  std::int64_t batch_size = 128;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 3e-4;
  bool nesterov = false;
  /// Largest gradient norm; 0 turns clipping off.
  double grad_clip = 5.0;
  /// Torch intra-op threads, set with configure_cpu_runtime (cpu_runtime.hpp) before training.
  int threads = 2;
  /// Seeds parameter initialisation, batch order, augmentation and dropout.
  std::uint64_t seed = 0;
  /// "cpu", "cuda" or "cuda:N".
  std::string device = "cpu";
  /// Test-noise sigma on [0, 1] pixels; negative: the dataset's own (DatasetInfo::noise_sigma:
  /// 0.08 CIFAR-10, 0.2 Fashion-MNIST, see datasets.hpp).
  double noise_sigma = -1.0;
  /// Batch size of the evaluation passes. Batch norm always uses batch statistics, so this
  /// is part of the measurement and must be the same for every network compared.
  std::int64_t eval_batch_size = 500;
  /// Latency: median of `latency_runs` forward passes of a batch of `latency_batch` random
  /// images after `latency_warmup` untimed ones, in evaluation mode without gradients.
  int latency_batch = 64;
  int latency_warmup = 3;
  int latency_runs = 10;
  /// Where latency is timed: "" (the training device) or another device, e.g. "cpu" when the
  /// networks train on a GPU but the latency a head should learn is the CPU's.
  std::string latency_device;
  /// Training loss level that defines convergence; negative: 0.5 * ln(classes), half the loss
  /// of a uniform guess (see convergence_fraction).
  double convergence_loss = -1.0;
  /// Also measure accuracy on the validation split (val_acc).
  bool evaluate_val = true;
  /// Draw a progress bar on stderr (only when it is a terminal).
  bool progress = true;
};

/// What one training run measured. Accuracies are percent (0-100); NaN when not measured.
struct TrainResult {
  /// "ok", or "diverged" when the training loss became NaN or infinite (accuracies and
  /// convergence are then NaN; latency, params and flops are still measured).
  std::string status = "ok";
  double clean_acc = 0.0;    // test set
  double noisy_acc = 0.0;    // test set with Gaussian pixel noise
  double val_acc = 0.0;      // held-out validation split of the training set
  double latency_ms = 0.0;
  double convergence = 0.0;  // see convergence_fraction
  double train_seconds = 0.0;
  double final_loss = 0.0;   // mean training loss over the last 2% of steps
  double noise_sigma = 0.0;
  std::int64_t params = 0;
  double flops = 0.0;
  std::int64_t steps = 0;         // optimiser steps taken
  std::int64_t diverged_step = -1;
  std::vector<float> losses;      // training loss of every step

  /// The public JSON form: clean_acc, noisy_acc, latency_ms, convergence, params, flops,
  /// train_seconds, status, plus val_acc, final_loss, steps, noise_sigma. NaN prints as null.
  nlohmann::json to_json() const;
};

/// Trains a fresh network of `graph` on `data.train` with SGD as `config` says and measures it.
/// A diverging loss is a result (status "diverged"), not an exception; bad configuration
/// (unknown device, CUDA missing, batch larger than the training set) throws ConfigError.
/// When `trained` is given it receives the trained network, for further measurements.
TrainResult train_and_evaluate(const ArchGraph& graph, const Dataset& data, const SgdConfig& config,
                               Network* trained = nullptr);

/// Accuracy (%) of `net` in evaluation mode on `set`, in batches of `batch_size`, with
/// Gaussian noise of `noise_sigma` on the [0, 1] pixels (clipped) when positive. The noise
/// is drawn from a fixed seed, so every network sees the same noisy images.
double evaluate_accuracy(NetworkImpl& net, const ImageSet& set, const DatasetInfo& info,
                         std::int64_t batch_size, double noise_sigma, torch::Device device);

/// Median wall time (ms) of a forward pass of `batch` random images on the network's device.
double measure_latency_ms(NetworkImpl& net, int batch, int warmup, int runs);

/// Convergence speed, as a fraction of the step budget: with the training loss smoothed by a
/// trailing mean over w = max(5, round(0.02 * steps)) steps, the index t (1-based) of the
/// first step from which the smoothed loss stays below `threshold` until the end, divided
/// by the number of steps. Lower is faster; 1 means the threshold was not held by the end
/// of training. The threshold is an absolute loss level, so the number compares
/// architectures trained with the same budget on the same task.
double convergence_fraction(const std::vector<float>& losses, double threshold);

/// Parses "cpu", "cuda", "cuda:N"; throws ConfigError for anything else or for CUDA on a
/// machine without it.
torch::Device parse_device(const std::string& name);

}  // namespace ghnas
