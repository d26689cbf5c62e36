#pragma once
// The DeepNets-1M and NAS-Bench-201 networks written the usual way: a torch::nn::Module per
// block, composed as the reference PyTorch code composes them (ppuda's Network/Cell/ops,
// NAS-Bench-201's TinyNetwork). Parameters carry the reference names, so the executor's
// parameters load into them by name. The throughput benchmark compares the executor with these.
// Covered: every DeepNets-1M op but msa, stem_type 0 (with or without stem_pool), both heads.

#include <torch/torch.h>

#include "space/deepnets1m.hpp"
#include "space/nasbench201.hpp"

namespace ghnas::bench {

class DeepNetsNetworkImpl : public torch::nn::Module {
 public:
  DeepNetsNetworkImpl(const DeepNetsArch& arch, const Task& task);
  torch::Tensor forward(torch::Tensor x);
  /// Stem, cells and pooling, flattened: what the classifier reads.
  torch::Tensor forward_features(torch::Tensor x);

 private:
  torch::nn::Sequential stem_{nullptr};
  std::vector<std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>> cell_forward_;
  bool glob_avg_ = true;
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(DeepNetsNetwork);

class Nb201NetworkImpl : public torch::nn::Module {
 public:
  Nb201NetworkImpl(const Nb201Cell& cell, const Task& task);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential stem_{nullptr};
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> blocks_;
  torch::nn::Sequential lastact_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(Nb201Network);

/// Copies tensors into `module`'s parameters by name; throws when the name sets differ.
void load_parameters(torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& params);

}  // namespace ghnas::bench
