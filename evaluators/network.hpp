#pragma once
// Network: an ArchGraph compiled into a LibTorch program. The graph is scheduled once (its
// vertex order is topological); a forward pass then runs one functional call per op on
// explicit tensors and frees every intermediate value as soon as its last consumer has run.
// The same code path runs the network's own trainable parameters and externally supplied
// ones (GHN predictions, which are non-leaf tensors: gradients flow back into them).

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "space/arch_graph.hpp"

namespace ghnas {

/// Parameter tensors by full reference name ("cells.2._ops.0.op.1.weight").
using ParamMap = std::unordered_map<std::string, torch::Tensor>;

/// Memory layout of the 4-D values (B, C, H, W) a network passes between its ops. Values are
/// the same in every layout up to float rounding; only speed differs.
enum class ActivationLayout {
  kAuto,           ///< channels-last on the CPU, channels-first elsewhere (the default)
  kChannelsFirst,  ///< NCHW: what the ops produce from NCHW images
  kChannelsLast,   ///< NHWC: every 4-D value is made channels-last once, where it is produced
};

/// "auto", "channels-first" or "channels-last" (command-line spellings); throws ConfigError
/// for anything else.
ActivationLayout activation_layout_from_name(const std::string& name);

/// One op of the compiled program.
struct NetworkStep {
  OpNode op;                    // kind, attributes and expected output shape
  std::vector<int> inputs;      // value slots read, in slot order
  int output = 0;               // value slot written (the vertex index)
  int first_param = 0;          // index into the flat parameter list (all_params order)
  std::vector<int> release;     // value slots whose last reader is this step
};

/// An ArchGraph as a torch::nn::Module. Every parameter of ArchGraph::all_params(), detached
/// ones included, is registered under its reference name (through a tree of submodules, so
/// named_parameters() yields "cells.2._ops.0.op.1.weight"), float32, on `device`, and
/// initialised like PyTorch's default for its module type: Kaiming-uniform (a = sqrt(5))
/// convolution and linear weights with U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases, batch and
/// layer norm weight 1 and bias 0, positional encodings N(0, 1). Initialisation draws from a
/// private generator seeded with `seed` (on the CPU, then moved), so it is the same for a seed
/// on every device and leaves torch's global generator alone.
///
/// Modes follow torch::nn::Module::train()/eval(): dropout runs only in training; batch norm
/// always normalises with the statistics of the current batch (DeepNets-1M keeps no running
/// statistics), in training and evaluation alike. Nodes that do not reach the output are
/// never run.
///
/// Example:
///   Network net(graph, torch::kCPU, /*seed=*/0);
///   torch::Tensor logits = net->forward(images);                    // own parameters
///   torch::Tensor logits2 = net->forward(images, predicted_params); // GHN's parameters
class NetworkImpl : public torch::nn::Module {
 public:
  explicit NetworkImpl(const ArchGraph& graph, torch::Device device = torch::kCPU,
                       std::uint64_t seed = 0);

  /// Logits (B, classes) of images (B, C, H, W) with the network's own parameters.
  torch::Tensor forward(const torch::Tensor& images);

  /// Logits with supplied parameters: every parameter of a node that runs must be in
  /// `params` with its reference shape (other names are ignored). Throws Error naming a
  /// missing or misshapen parameter.
  torch::Tensor forward(const torch::Tensor& images, const ParamMap& params);

  /// Logits with supplied parameters given in ArchGraph::all_params() order (one tensor per
  /// entry of param_specs(); detached ones may be undefined tensors).
  torch::Tensor forward_ordered(const torch::Tensor& images, const std::vector<torch::Tensor>& params);

  /// Called after every step with the step and its output (zero-cost proxies read activations
  /// through it); empty to turn off.
  using StepObserver = std::function<void(const NetworkStep&, const torch::Tensor&)>;
  void set_observer(StepObserver observer) { observer_ = std::move(observer); }

  /// Runs batch norm nodes as the identity. Only for synflow (Tanaka et al. 2020), which scores
  /// a network on one all-ones input where batch statistics are meaningless.
  void set_bypass_batch_norm(bool bypass) { bypass_batch_norm_ = bypass; }

  /// On the CPU, oneDNN convolves channels-last values as they are, while channels-first ones
  /// go through layout conversions around every call, forward and backward; kAuto therefore runs
  /// channels-last there (1.25-1.5x more images/s in SGD steps, results/executor_throughput.md).
  /// On a GPU it keeps channels-first (channels-last is not measured there yet).
  void set_activation_layout(ActivationLayout layout) { layout_ = layout; }
  ActivationLayout activation_layout() const { return layout_; }

  /// Dropout draws its masks from `generator` (a generator of the network's device) instead of
  /// torch's global one: networks that run at once on several threads then draw the same masks
  /// in every run, whichever thread gets there first.
  void set_dropout_generator(at::Generator generator) { dropout_generator_ = std::move(generator); }

  /// Indices into param_specs() of the weights of the convolutions and linear layers that run:
  /// the layers that zero-cost proxies sum over.
  std::vector<std::size_t> layer_weight_indices() const;

  /// Re-draws the own parameters as the constructor does.
  void reset_parameters(std::uint64_t seed);

  /// Parameter names and shapes, in ArchGraph::all_params() order.
  const std::vector<ParamTensor>& param_specs() const { return specs_; }
  /// The own parameter tensors, in param_specs() order.
  const std::vector<torch::Tensor>& ordered_parameters() const { return params_; }
  /// Sum of parameter elements, detached ones included (equals ArchGraph::num_params()).
  std::int64_t num_params() const;
  /// The compiled schedule: one step per op that reaches the output, in run order.
  const std::vector<NetworkStep>& steps() const { return steps_; }
  const Task& task() const { return task_; }
  torch::Device device() const { return device_; }

 private:
  torch::Tensor run(const torch::Tensor& images, const std::vector<torch::Tensor>& params) const;
  torch::Tensor run_step(const NetworkStep& step, std::vector<torch::Tensor>& values,
                         const std::vector<torch::Tensor>& params) const;
  void check_input(const torch::Tensor& images) const;

  Task task_;
  torch::Device device_;
  int input_slot_ = 0;
  int output_slot_ = 0;
  int num_slots_ = 0;
  std::vector<NetworkStep> steps_;
  std::vector<ParamTensor> specs_;
  std::vector<int> spec_owner_;        // vertex owning each spec, -1 for detached
  std::vector<bool> spec_used_;        // read by a step that runs
  std::vector<torch::Tensor> params_;  // own parameters, specs_ order
  StepObserver observer_;
  bool bypass_batch_norm_ = false;
  ActivationLayout layout_ = ActivationLayout::kAuto;
  std::optional<at::Generator> dropout_generator_;  // none: torch's global generator
};

TORCH_MODULE(Network);

}  // namespace ghnas
