#pragma once
// GHN-2's shape encoder (Knyazev et al. 2021, Sec. 4; reference ShapeEncoder): a parameter's
// shape, made 4-D, is looked up in a channel vocabulary (out and in channels) and a spatial
// vocabulary (kh and kw); the four hid/4 embeddings are concatenated and added to the op-type
// embedding. Sizes the vocabularies lack snap to the nearest entry, as the reference does.

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

#include "surrogate/ghn_config.hpp"

namespace ghnas {

/// The two vocabularies and the reference's snapping rules.
class ShapeVocabulary {
 public:
  explicit ShapeVocabulary(const GhnConfig& config);

  /// {1, 3, num_classes} and 8..56 step 8, 64..4080 step 16, 4096..8192 step 32, sorted.
  const std::vector<std::int64_t>& channels() const { return channels_; }
  /// Odd sizes 1..max(11, s-1) and {14, 16}, sorted (s = max_shape[3]).
  const std::vector<std::int64_t>& spatial() const { return spatial_; }

  /// Row of the channel embedding for a channel count: exact entries map to themselves, 4-7 to
  /// 8, other sizes below the largest entry to the nearest entry (the smaller one on a tie),
  /// anything else to the largest entry.
  std::int64_t channel_index(std::int64_t c) const;
  /// Row of the spatial embedding: 2 maps to 3, otherwise as for channels.
  std::int64_t spatial_index(std::int64_t k) const;

  /// The four embedding rows of a node's shape (out, in, kh, kw). Parameter-free nodes (an empty
  /// shape) get the extra "no shape" rows. Throws ArchError for a shape of more than 4 dims.
  std::array<std::int64_t, 4> encode(const std::vector<std::int64_t>& shape) const;

  /// A parameter shape made 4-D as the reference does: (c) -> (c,1,1,1), (o,i) -> (o,i,1,1),
  /// (1,N,C) with N,C > 1 -> (1,C,floor(sqrt N),floor(sqrt N)), other 3-D (a,b,c) -> (a,b,c,1).
  static std::array<std::int64_t, 4> to_4d(const std::vector<std::int64_t>& shape);

 private:
  std::vector<std::int64_t> channels_, spatial_;
  std::vector<std::int64_t> channel_lookup_, spatial_lookup_;  // size -> row, below the largest entry
};

class ShapeEncoderImpl : public torch::nn::Module {
 public:
  explicit ShapeEncoderImpl(const GhnConfig& config);
  void reset();

  /// shape_ids: [N, 4] int64 rows from ShapeVocabulary::encode. Returns [N, hid].
  torch::Tensor forward(const torch::Tensor& shape_ids);

  const ShapeVocabulary& vocabulary() const { return vocab_; }

  /// Reference names: embed_spatial (n_spatial + 1 rows), embed_channel (n_channels + 1 rows).
  torch::nn::Embedding embed_spatial{nullptr}, embed_channel{nullptr};

 private:
  GhnConfig config_;
  ShapeVocabulary vocab_;
};
TORCH_MODULE(ShapeEncoder);

}  // namespace ghnas
