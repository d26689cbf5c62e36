#pragma once
// Zero-cost proxies: scores of an untrained network from one batch (or none), each as its paper
// defines it. They read the network's own, freshly initialised parameters and leave them and
// their gradients untouched. Higher is meant to be better for every score.

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>

#include "evaluators/datasets.hpp"
#include "evaluators/network.hpp"

namespace ghnas {

/// synflow (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
/// synaptic flow", NeurIPS 2020; as a NAS proxy: Abdelfattah et al., "Zero-Cost Proxies for
/// Lightweight NAS", ICLR 2021): with every parameter replaced by its absolute value, batch
/// norm left out and one all-ones input, R = sum of the outputs; the score is
/// sum over conv/linear weights of |theta * dR/dtheta|. Computed in float64, as the proxy's
/// products overflow float32 on deep nets. Still NaN when they overflow float64: DeepNets-1M's
/// cse gate is a Hardswish, about as large as its input once batch norm is gone, so every cse
/// squares the signal and a few of them leave float64's range.
double synflow(NetworkImpl& net);

/// NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021, Sec. 3):
/// each image's binary code c_i says which ReLU units of the network are active (> 0);
/// K[i][j] = N_A - hamming(c_i, c_j) with N_A the number of units; the score is log|det K|.
double naswot(NetworkImpl& net, const torch::Tensor& images);

/// snip (Lee et al., "SNIP: Single-shot network pruning based on connection sensitivity",
/// ICLR 2019; as a proxy: Abdelfattah et al. 2021): sum over conv/linear weights of
/// |dL/dtheta * theta| for the cross-entropy L of the batch.
double snip(NetworkImpl& net, const torch::Tensor& images, const torch::Tensor& labels);

/// grad_norm (Abdelfattah et al. 2021): sum over conv/linear weights of the Euclidean norm of
/// dL/dtheta for the cross-entropy L of the batch.
double grad_norm(NetworkImpl& net, const torch::Tensor& images, const torch::Tensor& labels);

/// jacov (Mellor et al., "Neural Architecture Search without Training", arXiv:2006.04647v1,
/// 2020, Sec. 3): J_i = d(sum of outputs of image i)/d(image i); with C the correlation matrix
/// of the rows J_i and v its eigenvalues, the score is -sum(log(v + k) + 1 / (v + k)), k = 1e-5.
double jacov(NetworkImpl& net, const torch::Tensor& images);

/// Every proxy of one architecture. NaN where a score is undefined (e.g. log of det 0).
struct ProxyScores {
  std::int64_t params = 0;
  double flops = 0;
  double synflow = 0, naswot = 0, snip = 0, grad_norm = 0, jacov = 0;
  /// {"params", "flops", "synflow", "naswot", "snip", "grad_norm", "jacov"}; NaN prints as null.
  nlohmann::json to_json() const;
};

/// Builds the network of `graph` with parameters drawn from `seed` (evaluation mode, so dropout
/// is off) and scores it on `batch`.
ProxyScores compute_proxies(const ArchGraph& graph, const Batch& batch, std::uint64_t seed = 0);

}  // namespace ghnas
