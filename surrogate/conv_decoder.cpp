#include "surrogate/conv_decoder.hpp"

#include <cassert>

#include "surrogate/dense.hpp"

namespace ghnas {

ConvDecoderImpl::ConvDecoderImpl(const GhnConfig& config) : config_(config) { reset(); }

void ConvDecoderImpl::reset() {
  const std::int64_t hid = config_.hid;
  const auto& s = config_.max_shape;
  fc0 = torch::nn::Linear(hid, 4 * hid * s[2] * s[3]);
  fc = register_module("fc", torch::nn::Sequential(fc0, torch::nn::ReLU()));
  conv0 = torch::nn::Conv2d(torch::nn::Conv2dOptions(4 * hid, 8 * hid, 1));
  conv2 = torch::nn::Conv2d(torch::nn::Conv2dOptions(8 * hid, s[0] * s[1], 1));
  conv = register_module("conv", torch::nn::Sequential(conv0, torch::nn::ReLU(), conv2));
  class_conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(s[0], config_.num_classes, 1));
  class_layer_predictor =
      register_module("class_layer_predictor", torch::nn::Sequential(torch::nn::ReLU(), class_conv));
}

torch::Tensor ConvDecoderImpl::forward(const torch::Tensor& x, std::int64_t n_out, std::int64_t n_in,
                                       std::int64_t kh, std::int64_t kw) {
  const auto& s = config_.max_shape;
  assert(n_out <= s[0] && n_in <= s[1] && kh <= s[2] && kw <= s[3]);
  const std::int64_t n = x.size(0), c4 = fc0->weight.size(0) / (s[2] * s[3]), positions = kh * kw;

  // Channels-first throughout: features along dim 1, (position, node) pairs along dim 2, so the
  // three layers are 1x1 convolutions with no copies in between.
  // fc.0 rows are laid out (channel, row, column) over the s x s grid; keep the kh x kw corner.
  torch::Tensor w1 = fc0->weight, b1 = fc0->bias;
  if (kh < s[2] || kw < s[3]) {
    w1 = w1.view({c4, s[2], s[3], -1}).narrow(1, 0, kh).narrow(2, 0, kw).reshape({c4 * positions, -1});
    b1 = b1.view({c4, s[2], s[3]}).narrow(1, 0, kh).narrow(2, 0, kw).reshape({c4 * positions});
  }
  auto h = torch::relu(pointwise(x.t().reshape({1, x.size(1), n, 1}), w1, b1));  // [1, c4 * p, n, 1]
  h = torch::relu(pointwise(h.view({1, c4, positions * n, 1}), conv0->weight, conv0->bias));

  // conv.2's output channel o * max_in + i is kernel entry (o, i).
  torch::Tensor w2 = conv2->weight, b2 = conv2->bias;
  if (n_in == s[1]) {
    w2 = w2.narrow(0, 0, n_out * n_in);
    b2 = b2.narrow(0, 0, n_out * n_in);
  } else {
    w2 = w2.view({s[0], s[1], -1}).narrow(0, 0, n_out).narrow(1, 0, n_in).reshape({n_out * n_in, -1});
    b2 = b2.view({s[0], s[1]}).narrow(0, 0, n_out).narrow(1, 0, n_in).reshape({n_out * n_in});
  }
  // [1, n_out * n_in, p * n, 1] -> [n, n_out, n_in, kh, kw] (a view; callers copy what they keep).
  return pointwise(h, w2, b2).view({n_out, n_in, kh, kw, n}).permute({4, 0, 1, 2, 3});
}

torch::Tensor ConvDecoderImpl::classifier_weights(const torch::Tensor& x, std::int64_t n_in) {
  // [n, max_out, n_in, 1, 1] -> the max_out axis becomes channels, n_in the height.
  auto k = forward(x, config_.max_shape[0], n_in, 1, 1).squeeze(4);
  k = torch::conv2d(torch::relu(k), class_conv->weight, class_conv->bias);
  return k.squeeze(3);
}

}  // namespace ghnas
