#pragma once
// GHN-2's convolutional decoder (Knyazev et al. 2021, Sec. 4; reference ConvDecoder): a node
// embedding becomes a (4hid, s, s) map through a linear layer, then two 1x1 convolutions turn
// every spatial position into max_out x max_in kernel values, giving one max-sized tensor
// (max_out, max_in, s, s). Smaller parameters take its top-left corner; larger ones tile it.
//
// Because the 1x1 convolutions act on each position and channel independently, only the corner a
// parameter needs is computed: the positions up to (kh, kw) and the output channels of the first
// n_out x n_in kernel entries. The values equal the reference's full decoding, cropped.

#include <torch/torch.h>

#include "surrogate/ghn_config.hpp"

namespace ghnas {

class ConvDecoderImpl : public torch::nn::Module {
 public:
  explicit ConvDecoderImpl(const GhnConfig& config);
  void reset();

  /// Kernels for n nodes: x [n, hid] -> [n, n_out, n_in, kh, kw], the corner
  /// [:n_out, :n_in, :kh, :kw] of the max-sized tensor. Requires n_out <= max_shape[0],
  /// n_in <= max_shape[1], kh, kw <= s.
  torch::Tensor forward(const torch::Tensor& x, std::int64_t n_out, std::int64_t n_in, std::int64_t kh,
                        std::int64_t kw);

  /// Classifier weights (reference: class_pred=True): the 1x1 kernels [max_out, n_in] of each node
  /// go through ReLU and a 1x1 convolution over the max_out axis. x [n, hid] -> [n, num_classes, n_in].
  torch::Tensor classifier_weights(const torch::Tensor& x, std::int64_t n_in);

  /// Reference names: fc.0 (Linear hid -> 4hid*s*s), conv.0 (4hid -> 8hid), conv.2
  /// (8hid -> max_out*max_in), class_layer_predictor.1 (max_out -> num_classes).
  torch::nn::Sequential fc{nullptr}, conv{nullptr}, class_layer_predictor{nullptr};
  torch::nn::Linear fc0{nullptr};
  torch::nn::Conv2d conv0{nullptr}, conv2{nullptr}, class_conv{nullptr};

 private:
  GhnConfig config_;
};
TORCH_MODULE(ConvDecoder);

}  // namespace ghnas
