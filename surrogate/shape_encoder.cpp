#include "surrogate/shape_encoder.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace ghnas {

namespace {

// Maps every size in 1..largest-1 to the row of its nearest entry; ties go to the smaller entry
// (numpy argmin returns the first minimum). Entries map to themselves.
std::vector<std::int64_t> nearest_lookup(const std::vector<std::int64_t>& vocab) {
  std::vector<std::int64_t> lookup(static_cast<std::size_t>(vocab.back()) + 1, -1);
  for (std::size_t i = 0; i < vocab.size(); ++i) lookup[vocab[i]] = static_cast<std::int64_t>(i);
  for (std::int64_t c = 1; c < vocab.back(); ++c) {
    if (lookup[c] >= 0) continue;
    std::size_t best = 0;
    for (std::size_t i = 1; i < vocab.size(); ++i)
      if (std::llabs(vocab[i] - c) < std::llabs(vocab[best] - c)) best = i;
    lookup[c] = static_cast<std::int64_t>(best);
  }
  return lookup;
}

std::vector<std::int64_t> sorted_unique(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

ShapeVocabulary::ShapeVocabulary(const GhnConfig& config) {
  std::vector<std::int64_t> ch = {1, 3, config.num_classes};
  for (std::int64_t c = 8; c < 64; c += 8) ch.push_back(c);
  for (std::int64_t c = 64; c < 4096; c += 16) ch.push_back(c);
  for (std::int64_t c = 4096; c <= 8192; c += 32) ch.push_back(c);
  channels_ = sorted_unique(ch);

  std::vector<std::int64_t> sp = {14, 16};
  for (std::int64_t k = 1; k < std::max<std::int64_t>(12, config.max_shape[3]); k += 2) sp.push_back(k);
  spatial_ = sorted_unique(sp);

  // The reference first maps exact entries, then forces 4-7 channels onto 8 and a 2x2 kernel
  // onto 3x3 (overriding exact entries, e.g. num_classes = 5), then fills the gaps by nearest.
  std::vector<std::int64_t> exact_ch(static_cast<std::size_t>(channels_.back()) + 1, -1);
  for (std::size_t i = 0; i < channels_.size(); ++i) exact_ch[channels_[i]] = static_cast<std::int64_t>(i);
  const std::int64_t row8 = exact_ch[8];
  for (std::int64_t c = 4; c < 8; ++c) exact_ch[c] = row8;
  channel_lookup_ = nearest_lookup(channels_);
  for (std::size_t c = 0; c < exact_ch.size(); ++c)
    if (exact_ch[c] >= 0) channel_lookup_[c] = exact_ch[c];

  spatial_lookup_ = nearest_lookup(spatial_);
  const auto row3 = std::find(spatial_.begin(), spatial_.end(), 3) - spatial_.begin();
  spatial_lookup_[2] = row3;
}

std::int64_t ShapeVocabulary::channel_index(std::int64_t c) const {
  if (c >= 1 && c < static_cast<std::int64_t>(channel_lookup_.size())) return channel_lookup_[c];
  return static_cast<std::int64_t>(channels_.size()) - 1;
}

std::int64_t ShapeVocabulary::spatial_index(std::int64_t k) const {
  if (k >= 1 && k < static_cast<std::int64_t>(spatial_lookup_.size())) return spatial_lookup_[k];
  return static_cast<std::int64_t>(spatial_.size()) - 1;
}

std::array<std::int64_t, 4> ShapeVocabulary::to_4d(const std::vector<std::int64_t>& s) {
  switch (s.size()) {
    case 1: return {s[0], 1, 1, 1};
    case 2: return {s[0], s[1], 1, 1};
    case 3:
      if (s[0] == 1 && std::min(s[1], s[2]) > 1) {
        // A sequence of tokens, e.g. ViT's (1, 197, 768) position embedding: a 14x14 grid.
        const auto side = static_cast<std::int64_t>(std::floor(std::sqrt(static_cast<double>(s[1]))));
        return {1, s[2], side, side};
      }
      return {s[0], s[1], s[2], 1};
    case 4: return {s[0], s[1], s[2], s[3]};
    default: break;
  }
  std::string text;
  for (auto d : s) text += (text.empty() ? "" : "x") + std::to_string(d);
  throw ArchError("the GHN shape encoder cannot represent a parameter of shape " + text +
                  " (at most 4 dimensions)");
}

std::array<std::int64_t, 4> ShapeVocabulary::encode(const std::vector<std::int64_t>& shape) const {
  const auto n_ch = static_cast<std::int64_t>(channels_.size());
  const auto n_sp = static_cast<std::int64_t>(spatial_.size());
  if (shape.empty()) return {n_ch, n_ch, n_sp, n_sp};
  const auto s = to_4d(shape);
  return {channel_index(s[0]), channel_index(s[1]), spatial_index(s[2]), spatial_index(s[3])};
}

ShapeEncoderImpl::ShapeEncoderImpl(const GhnConfig& config) : config_(config), vocab_(config) { reset(); }

void ShapeEncoderImpl::reset() {
  const auto quarter = config_.hid / 4;
  // The reference registers the spatial table first; keeping its order keeps state dicts aligned.
  embed_spatial = register_module(
      "embed_spatial",
      torch::nn::Embedding(static_cast<std::int64_t>(vocab_.spatial().size()) + 1, quarter));
  embed_channel = register_module(
      "embed_channel",
      torch::nn::Embedding(static_cast<std::int64_t>(vocab_.channels().size()) + 1, quarter));
}

torch::Tensor ShapeEncoderImpl::forward(const torch::Tensor& ids) {
  return torch::cat({embed_channel(ids.select(1, 0)), embed_channel(ids.select(1, 1)),
                     embed_spatial(ids.select(1, 2)), embed_spatial(ids.select(1, 3))},
                    1);
}

}  // namespace ghnas
