#include "surrogate/ghn.hpp"

#include <algorithm>
#include <tuple>

#include <ATen/Parallel.h>

#include "core/error.hpp"
#include "surrogate/param_prediction.hpp"

namespace ghnas {

std::vector<const GhnGraph*> graph_pointers(const std::vector<GhnGraph>& graphs) {
  std::vector<const GhnGraph*> out;
  out.reserve(graphs.size());
  for (const auto& g : graphs) out.push_back(&g);
  return out;
}

GhnImpl::GhnImpl(GhnConfig config) : config_(config) {
  config_.validate();
  reset();
}

void GhnImpl::reset() {
  const std::int64_t hid = config_.hid;
  const std::int64_t max_ch = std::max(config_.max_shape[0], config_.max_shape[1]);
  if (config_.layernorm) ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hid})));
  op_embed = register_module("embed", torch::nn::Embedding(kNumGhnNodeTypes, hid));
  shape_enc = register_module("shape_enc", ShapeEncoder(config_));
  gnn = register_module("gnn", GatedGnn(hid, config_.ve));
  decoder = register_module("decoder", ConvDecoder(config_));
  decoder_1d = register_module("decoder_1d", Mlp(hid, std::vector<std::int64_t>{2 * hid, 2 * max_ch}, false));
  bias_class_fc = torch::nn::Linear(max_ch, config_.num_classes);
  bias_class = register_module("bias_class", torch::nn::Sequential(torch::nn::ReLU(), bias_class_fc));
}

torch::Device GhnImpl::device() const { return op_embed->weight.device(); }

std::int64_t GhnImpl::num_weights() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

GhnBatch GhnImpl::make_batch(const std::vector<const GhnGraph*>& graphs) const {
  // A batch that the CPU sweeps stays in host memory, and each thread sweeps its own shard.
  const bool host = device().is_cpu() || host_gnn_;
  GhnBatch batch = make_ghn_batch(graphs, config_, shape_enc->vocabulary(), host ? at::get_num_threads() : 1);
  return host ? batch : batch.to(device());
}

torch::Tensor GhnImpl::node_embeddings(const GhnBatch& batch) {
  const auto dev = device();
  auto x = op_embed(batch.node_types.to(dev)) + shape_enc(batch.shape_ids.to(dev));
  x = gnn(x, batch);
  if (config_.layernorm) x = ln(x);
  return x;
}

torch::Tensor GhnImpl::embed(const GhnBatch& batch) {
  const auto x = node_embeddings(batch);
  std::vector<torch::Tensor> means;
  means.reserve(batch.num_graphs());
  for (std::int64_t b = 0; b < batch.num_graphs(); ++b)
    means.push_back(x.narrow(0, batch.graph_begin[b], batch.graph_begin[b + 1] - batch.graph_begin[b]).mean(0));
  return torch::stack(means);
}

torch::Tensor GhnImpl::embed(const std::vector<const GhnGraph*>& graphs) { return embed(make_batch(graphs)); }

namespace {

torch::Tensor rows_tensor(const std::vector<std::int64_t>& rows, const torch::Device& device) {
  return torch::tensor(rows, torch::TensorOptions().dtype(torch::kLong)).to(device);
}

torch::Tensor scales_tensor(const std::vector<float>& scales, const torch::Device& device) {
  return torch::tensor(scales, torch::TensorOptions().dtype(torch::kFloat)).to(device);
}

}  // namespace

std::vector<PredictedParams> GhnImpl::predict_parameters(const std::vector<const GhnGraph*>& graphs,
                                                         const std::vector<std::vector<ParamTensor>>& params) {
  GHNAS_CHECK(graphs.size() == params.size(), "predict_parameters got ", graphs.size(), " graphs but ",
              params.size(), " parameter lists");
  const GhnBatch batch = make_batch(graphs);
  std::vector<PredictedParams> out(graphs.size());
  std::vector<PredictionTarget> targets;
  for (std::size_t b = 0; b < graphs.size(); ++b) {
    auto t = plan_targets(*graphs[b], params[b], static_cast<std::int64_t>(b), batch.graph_begin[b],
                          out[b].unpredicted);
    std::move(t.begin(), t.end(), std::back_inserter(targets));
  }
  const auto x = node_embeddings(batch);
  const auto dev = x.device();
  const auto& ms = config_.max_shape;
  const std::int64_t max_ch = std::max(ms[0], ms[1]);

  // Kernels are decoded in groups of equal corner size (n_out, n_in, kh, kw); classifier weights
  // by n_in. Larger kernels tile the s x s corner.
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, std::vector<std::size_t>> kernels;
  std::map<std::int64_t, std::vector<std::size_t>> class_weights;
  std::vector<std::size_t> vectors, class_biases;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& s = targets[i].shape;
    switch (targets[i].predictor) {
      case Predictor::kKernel: {
        const std::int64_t kh = s.size() == 4 ? std::min(s[2], ms[2]) : 1;
        const std::int64_t kw = s.size() == 4 ? std::min(s[3], ms[3]) : 1;
        kernels[{std::min(s[0], ms[0]), std::min(s[1], ms[1]), kh, kw}].push_back(i);
        break;
      }
      case Predictor::kClassWeight: class_weights[std::min(s[1], ms[1])].push_back(i); break;
      case Predictor::kVector: vectors.push_back(i); break;
      case Predictor::kClassBias: class_biases.push_back(i); break;
    }
  }
  auto store = [&](const PredictionTarget& t, const torch::Tensor& block) {
    out[t.graph].tensors[t.name] = tile_to(block, t.shape);
  };
  auto gather = [&](const std::vector<std::size_t>& members) {
    std::vector<std::int64_t> rows;
    for (auto i : members) rows.push_back(targets[i].row);
    return x.index_select(0, rows_tensor(rows, dev));
  };
  // Scales each decoded block by its fan-in factor; the result is contiguous, so every member's
  // block below is a plain view into it. Members are split off with unbind, whose backward stacks
  // their gradients in one op: indexing each member instead costs a zero-filled copy of the whole
  // group per member in the backward pass, quadratic in the group's size.
  auto fan_in_scaled = [&](const torch::Tensor& y, const std::vector<std::size_t>& members) {
    if (!config_.weight_norm) return y.contiguous();
    std::vector<float> scales;
    for (auto i : members) scales.push_back(static_cast<float>(fan_in_scale(targets[i].shape)));
    std::vector<std::int64_t> view(y.dim(), 1);
    view[0] = -1;
    return (y * scales_tensor(scales, dev).view(view)).contiguous();
  };

  for (const auto& [key, members] : kernels) {
    const auto [n_out, n_in, kh, kw] = key;
    const auto blocks = fan_in_scaled(decoder->forward(gather(members), n_out, n_in, kh, kw), members).unbind(0);
    for (std::size_t j = 0; j < members.size(); ++j) {
      const auto& t = targets[members[j]];
      const auto& block = blocks[j];
      store(t, t.shape.size() == 2 ? block.view({n_out, n_in}) : block);
    }
  }
  for (const auto& [n_in, members] : class_weights) {
    const auto blocks = fan_in_scaled(decoder->classifier_weights(gather(members), n_in), members).unbind(0);
    for (std::size_t j = 0; j < members.size(); ++j) store(targets[members[j]], blocks[j]);
  }

  // 1-D parameters: one decoder_1d pass per node gives the [weight, bias] pair.
  auto decode_pairs = [&](const std::vector<std::size_t>& members, bool classifier) {
    if (members.empty()) return;
    auto pairs = decoder_1d(gather(members)).view({static_cast<std::int64_t>(members.size()), 2, max_ch});
    if (classifier) pairs = bias_class->forward(pairs);
    auto weights = pairs.select(1, 0), biases = pairs.select(1, 1);
    if (config_.weight_norm) {
      weights = 2 * torch::sigmoid(0.5 * weights);
      biases = torch::tanh(0.2 * biases);
    }
    const auto weight_rows = weights.unbind(0), bias_rows = biases.unbind(0);
    for (std::size_t j = 0; j < members.size(); ++j) {
      const auto& t = targets[members[j]];
      store(t, (t.pair_row == 0 ? weight_rows : bias_rows)[j]);
    }
  };
  decode_pairs(vectors, false);
  decode_pairs(class_biases, true);
  return out;
}

}  // namespace ghnas
