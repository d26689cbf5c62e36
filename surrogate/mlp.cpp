#include "surrogate/mlp.hpp"

#include "surrogate/dense.hpp"

namespace ghnas {

MlpImpl::MlpImpl(std::int64_t in_features, std::vector<std::int64_t> widths, bool last_relu)
    : in_features_(in_features), widths_(std::move(widths)), last_relu_(last_relu) {
  reset();
}

void MlpImpl::reset() {
  layers_.clear();
  fc = torch::nn::Sequential();
  std::int64_t in = in_features_;
  for (std::size_t j = 0; j < widths_.size(); ++j) {
    layers_.emplace_back(torch::nn::Linear(in, widths_[j]));
    fc->push_back(layers_.back());
    // The reference puts an Identity where the last activation is off; it holds no parameters,
    // so leaving it out keeps the names (fc.0, fc.2, ...) the same.
    if (j + 1 < widths_.size() || last_relu_) fc->push_back(torch::nn::ReLU());
    in = widths_[j];
  }
  fc = register_module("fc", fc);
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  for (std::size_t j = 0; j < layers_.size(); ++j) {
    x = dense(x, layers_[j]->weight, layers_[j]->bias);
    if (j + 1 < layers_.size() || last_relu_) x = torch::relu(x);
  }
  return x;
}

}  // namespace ghnas
