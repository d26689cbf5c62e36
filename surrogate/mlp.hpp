#pragma once
// The small multilayer perceptrons of GHN-2 (reference ppuda/ghn/mlp.py): Linear layers with a
// ReLU after each, the last ReLU optional. Parameters are named as the reference names them
// (fc.0, fc.2, ...), so reference state dicts load by name.

#include <torch/torch.h>

#include <vector>

namespace ghnas {

class MlpImpl : public torch::nn::Module {
 public:
  /// in_features -> widths[0] -> ... -> widths.back(), ReLU after every layer except, when
  /// `last_relu` is false, the last one.
  MlpImpl(std::int64_t in_features, std::vector<std::int64_t> widths, bool last_relu);
  void reset();

  /// x: [..., in_features] -> [..., widths.back()].
  torch::Tensor forward(torch::Tensor x);

  /// Linear layers in order (fc.0, fc.2, ...).
  const std::vector<torch::nn::Linear>& layers() const { return layers_; }

  torch::nn::Sequential fc{nullptr};

 private:
  std::int64_t in_features_;
  std::vector<std::int64_t> widths_;
  bool last_relu_;
  std::vector<torch::nn::Linear> layers_;
};
TORCH_MODULE(Mlp);

}  // namespace ghnas
