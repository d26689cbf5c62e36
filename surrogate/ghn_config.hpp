#pragma once
// The hyperparameters that fix a GHN-2's architecture (Knyazev et al. 2021, Sec. 4 and the
// reference's `GHN(...)` arguments). Two GHNs with equal configs have the same parameter tensors,
// so a config is what a checkpoint must match before its weights are loaded.

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace ghnas {

struct GhnConfig {
  /// Width of node embeddings and of the GNN (the paper's d = 32).
  int hid = 32;
  /// Largest tensor one decoder call produces: (out channels, in channels, kh, kw). Larger
  /// parameters are tiled from it. CIFAR-10: 64x64x11x11; ImageNet: 64x64x16x16.
  std::array<std::int64_t, 4> max_shape{64, 64, 11, 11};
  /// Classes of the task the GHN was trained for: sizes the classifier predictors and joins the
  /// channel vocabulary of the shape encoder.
  int num_classes = 10;
  /// Shortest-path virtual edges (GHN-2). Off: GHN-1 message passing along 1-hop edges only.
  bool ve = true;
  /// Longest shortest path that carries a virtual-edge message.
  int s_max = 50;
  /// LayerNorm on node embeddings after the GNN.
  bool layernorm = true;
  /// Fan-in scaling of predicted weights and squashing of norm weights and biases ("-n").
  bool weight_norm = true;

  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;

  /// {"hid", "max_shape", "num_classes", "ve", "s_max", "layernorm", "weight_norm"}.
  nlohmann::json to_json() const;
  /// Reads what to_json writes. Throws ConfigError naming a missing or bad field.
  static GhnConfig from_json(const nlohmann::json& j);
  /// Reads the reference's `config` dict (max_shape, num_classes, hypernet, decoder, weight_norm,
  /// ve, layernorm, hid). Only hypernet 'gatedgnn' with decoder 'conv' exist here; anything else
  /// throws ConfigError naming the value.
  static GhnConfig from_reference_json(const nlohmann::json& j);

  bool operator==(const GhnConfig& other) const;
  bool operator!=(const GhnConfig& other) const { return !(*this == other); }
};

}  // namespace ghnas
