#include "evaluators/network.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"

namespace ghnas {

namespace F = torch::nn::functional;

namespace {

std::string shape_text(c10::IntArrayRef s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

std::string node_label(const OpNode& n) {
  return detail::str_cat(op_kind_name(n.kind), n.module.empty() ? "" : " '", n.module,
                         n.module.empty() ? "" : "'");
}

std::int64_t fan_in(const std::vector<std::int64_t>& weight_shape) {
  std::int64_t f = 1;
  for (std::size_t d = 1; d < weight_shape.size(); ++d) f *= weight_shape[d];
  return f;
}

// How PyTorch's default reset_parameters() fills a tensor of each module type.
enum class InitRule { kFanInUniform, kOnes, kZeros, kNormal };

struct InitPlan {
  InitRule rule = InitRule::kZeros;
  std::int64_t fan_in = 1;
};

// A parameter of a node that runs: its module type is the node's kind.
InitPlan plan_for_node(const OpNode& node, std::size_t index) {
  switch (node.kind) {
    case OpKind::kConv2d:
    case OpKind::kLinear:
      // nn.Conv2d / nn.Linear: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), +), and the
      // bias uses the same bound with the weight's fan-in.
      return {InitRule::kFanInUniform, fan_in(node.params.at(0).shape)};
    case OpKind::kBatchNorm2d:
    case OpKind::kLayerNorm:
      return {index == 0 ? InitRule::kOnes : InitRule::kZeros, 1};
    case OpKind::kPosEnc:
      return {InitRule::kNormal, 1};  // the reference's torch.randn
    default:
      throw Error(detail::str_cat("parameter '", node.params.at(index).name, "' belongs to a ",
                                  op_kind_name(node.kind), " node, which takes no parameters"));
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A detached parameter comes without its module type; the name and shape tell it: weights of
// two or more dimensions are convolutions or linear layers, one-dimensional weights are norms,
// and a bias follows its sibling weight.
InitPlan plan_for_detached(const ParamTensor& p, const std::map<std::string, const ParamTensor*>& by_name) {
  if (p.name == "pos_enc.weight") return {InitRule::kNormal, 1};
  if (ends_with(p.name, ".weight"))
    return p.shape.size() >= 2 ? InitPlan{InitRule::kFanInUniform, fan_in(p.shape)}
                               : InitPlan{InitRule::kOnes, 1};
  if (ends_with(p.name, ".bias")) {
    const auto it = by_name.find(p.name.substr(0, p.name.size() - 4) + "weight");
    if (it != by_name.end() && it->second->shape.size() >= 2)
      return {InitRule::kFanInUniform, fan_in(it->second->shape)};
    return {InitRule::kZeros, 1};
  }
  throw Error("detached parameter '" + p.name + "' is neither a weight nor a bias");
}

torch::Tensor initial_value(const ParamTensor& p, const InitPlan& plan, at::Generator& gen) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  switch (plan.rule) {
    case InitRule::kFanInUniform: {
      const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<std::int64_t>(plan.fan_in, 1)));
      return torch::empty(p.shape, opts).uniform_(-bound, bound, gen);
    }
    case InitRule::kOnes: return torch::ones(p.shape, opts);
    case InitRule::kZeros: return torch::zeros(p.shape, opts);
    case InitRule::kNormal: return torch::randn(p.shape, gen, opts);
  }
  return {};
}

// "cells.2._ops.0.op.1.weight" -> ({"cells", "2", "_ops", "0", "op", "1"}, "weight")
std::pair<std::vector<std::string>, std::string> split_name(const std::string& name) {
  std::vector<std::string> parts(1);
  for (char c : name) {
    if (c == '.') parts.emplace_back();
    else parts.back() += c;
  }
  for (const auto& p : parts)
    GHNAS_CHECK(!p.empty(), "parameter name '", name, "' has an empty component");
  std::string leaf = parts.back();
  parts.pop_back();
  return {parts, leaf};
}

}  // namespace

ActivationLayout activation_layout_from_name(const std::string& name) {
  if (name == "auto") return ActivationLayout::kAuto;
  if (name == "channels-first") return ActivationLayout::kChannelsFirst;
  if (name == "channels-last") return ActivationLayout::kChannelsLast;
  throw ConfigError("unknown activation layout '" + name + "' (auto, channels-first or channels-last)");
}

NetworkImpl::NetworkImpl(const ArchGraph& graph, torch::Device device, std::uint64_t seed)
    : task_(graph.task()), device_(device) {
  const std::size_t n = graph.num_nodes();
  GHNAS_CHECK(n > 0, "cannot compile an empty ArchGraph");
  num_slots_ = static_cast<int>(n);
  output_slot_ = static_cast<int>(graph.output());
  const std::vector<bool> reach = graph.reaches_output();

  // Flat parameter list in all_params() order: node parameters by vertex, then detached ones.
  std::vector<int> first_param(n, 0);
  for (std::size_t v = 0; v < n; ++v) {
    first_param[v] = static_cast<int>(specs_.size());
    for (const auto& p : graph.node(v).params) {
      specs_.push_back(p);
      spec_owner_.push_back(static_cast<int>(v));
      spec_used_.push_back(reach[v]);
    }
  }
  for (const auto& p : graph.detached_params()) {
    specs_.push_back(p);
    spec_owner_.push_back(-1);
    spec_used_.push_back(false);
  }

  // The schedule: vertex order is topological; a value is freed after its last reader.
  int inputs_found = 0;
  std::vector<int> last_reader(n, -1);
  for (std::size_t v = 0; v < n; ++v) {
    if (!reach[v]) continue;
    if (graph.node(v).kind == OpKind::kInput) {
      input_slot_ = static_cast<int>(v);
      ++inputs_found;
    }
    for (auto u : graph.inputs(v)) last_reader[u] = static_cast<int>(v);
  }
  GHNAS_CHECK(inputs_found == 1, "the network must read exactly one input image, found ",
              inputs_found, " input nodes on paths to the output");
  for (std::size_t v = 0; v < n; ++v) {
    if (!reach[v] || graph.node(v).kind == OpKind::kInput) continue;
    NetworkStep step;
    step.op = graph.node(v);
    for (auto u : graph.inputs(v)) step.inputs.push_back(static_cast<int>(u));
    GHNAS_CHECK(!step.inputs.empty(), "node ", v, " (", node_label(step.op), ") has no input");
    step.output = static_cast<int>(v);
    step.first_param = first_param[v];
    std::vector<int> readers = step.inputs;
    std::sort(readers.begin(), readers.end());
    readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
    for (int u : readers)
      if (last_reader[u] == static_cast<int>(v) && u != output_slot_) step.release.push_back(u);
    steps_.push_back(std::move(step));
  }

  // Own parameters, registered in a module tree that mirrors the reference names.
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  auto module_at = [&](const std::vector<std::string>& path) -> torch::nn::Module& {
    torch::nn::Module* parent = this;
    std::string key;
    for (const auto& part : path) {
      key += "." + part;
      auto it = modules.find(key);
      if (it == modules.end()) {
        auto child = parent->register_module(part, std::make_shared<torch::nn::Module>());
        it = modules.emplace(key, child).first;
      }
      parent = it->second.get();
    }
    return *parent;
  };
  for (const auto& p : specs_) {
    auto [path, leaf] = split_name(p.name);
    torch::nn::Module& owner = module_at(path);
    GHNAS_CHECK(!owner.named_parameters(/*recurse=*/false).contains(leaf),
                "parameter '", p.name, "' appears twice in the network");
    params_.push_back(owner.register_parameter(leaf, torch::zeros(p.shape, torch::kFloat32)));
  }
  reset_parameters(seed);
}

void NetworkImpl::reset_parameters(std::uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::map<std::string, const ParamTensor*> by_name;
  for (const auto& p : specs_) by_name[p.name] = &p;
  torch::NoGradGuard no_grad;
  // Plans come from the graph's node kinds; the steps hold the nodes that run, the rest
  // (unreached nodes and detached modules) are planned from their names.
  std::map<int, const OpNode*> owner_nodes;
  for (const auto& s : steps_) owner_nodes[s.output] = &s.op;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const ParamTensor& p = specs_[i];
    InitPlan plan;
    const auto it = owner_nodes.find(spec_owner_[i]);
    if (it != owner_nodes.end()) {
      const OpNode& node = *it->second;
      std::size_t index = 0;
      while (node.params.at(index).name != p.name) ++index;
      plan = plan_for_node(node, index);
    } else {
      plan = plan_for_detached(p, by_name);
    }
    torch::Tensor value = initial_value(p, plan, gen).to(device_);
    params_[i].set_data(value);
  }
}

std::int64_t NetworkImpl::num_params() const {
  std::int64_t total = 0;
  for (const auto& p : specs_) total += p.numel();
  return total;
}

std::vector<std::size_t> NetworkImpl::layer_weight_indices() const {
  std::vector<std::size_t> indices;
  for (const auto& step : steps_)
    if (step.op.kind == OpKind::kConv2d || step.op.kind == OpKind::kLinear)
      indices.push_back(static_cast<std::size_t>(step.first_param));
  return indices;
}

void NetworkImpl::check_input(const torch::Tensor& images) const {
  GHNAS_CHECK(images.defined() && images.dim() == 4, "network input must be a (B, C, H, W) batch, got ",
              images.defined() ? shape_text(images.sizes()) : std::string("an undefined tensor"));
  GHNAS_CHECK(images.size(1) == task_.channels && images.size(2) == task_.height &&
                  images.size(3) == task_.width,
              "network built for task '", task_.name, "' expects images of ", task_.channels, "x",
              task_.height, "x", task_.width, ", got ", shape_text(images.sizes()));
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& images) { return run(images, params_); }

torch::Tensor NetworkImpl::forward(const torch::Tensor& images, const ParamMap& params) {
  std::vector<torch::Tensor> ordered(specs_.size());
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (!spec_used_[i]) continue;
    const auto it = params.find(specs_[i].name);
    GHNAS_CHECK(it != params.end(), "parameter '", specs_[i].name,
                "' is missing from the supplied parameters");
    ordered[i] = it->second;
  }
  return forward_ordered(images, ordered);
}

torch::Tensor NetworkImpl::forward_ordered(const torch::Tensor& images,
                                           const std::vector<torch::Tensor>& params) {
  GHNAS_CHECK(params.size() == specs_.size(), "expected ", specs_.size(),
              " parameter tensors in all_params() order, got ", params.size());
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (!spec_used_[i]) continue;
    const torch::Tensor& t = params[i];
    GHNAS_CHECK(t.defined(), "parameter '", specs_[i].name, "' is undefined");
    GHNAS_CHECK(t.sizes() == c10::IntArrayRef(specs_[i].shape), "parameter '", specs_[i].name,
                "' has shape ", shape_text(t.sizes()), ", the network needs ",
                shape_text(specs_[i].shape));
  }
  return run(images, params);
}

torch::Tensor NetworkImpl::run(const torch::Tensor& images, const std::vector<torch::Tensor>& params) const {
  check_input(images);
  const bool channels_last = layout_ == ActivationLayout::kChannelsLast ||
                             (layout_ == ActivationLayout::kAuto && images.device().is_cpu());
  std::vector<torch::Tensor> values(num_slots_);
  values[input_slot_] = images;
  for (const NetworkStep& step : steps_) {
    torch::Tensor out = run_step(step, values, params);
    // Converting every 4-D output (a no-op for those already channels-last) rather than only
    // the input: a stem convolution of 1-channel images cannot tell NCHW from NHWC and answers
    // NCHW, and token ops reshape back to NCHW.
    if (channels_last && out.dim() == 4) out = out.contiguous(torch::MemoryFormat::ChannelsLast);
    // A mismatch means the graph builder and the executor disagree on an op: fail loudly
    // instead of training a different network than the one described.
    const auto& expected = step.op.out_shape;
    GHNAS_CHECK(out.dim() == static_cast<std::int64_t>(expected.size()) + 1 &&
                    out.sizes().slice(1) == c10::IntArrayRef(expected),
                "node ", step.output, " (", node_label(step.op), ") produced ",
                shape_text(out.sizes()), ", the graph says (B, ", shape_text(expected).substr(1));
    if (observer_) observer_(step, out);
    values[step.output] = std::move(out);
    for (int r : step.release) values[r] = torch::Tensor();
  }
  return values[output_slot_];
}

torch::Tensor NetworkImpl::run_step(const NetworkStep& step, std::vector<torch::Tensor>& values,
                                    const std::vector<torch::Tensor>& params) const {
  const OpNode& n = step.op;
  const torch::Tensor& x = values[step.inputs[0]];
  auto param = [&](std::size_t i) -> const torch::Tensor& { return params[step.first_param + i]; };
  auto optional_bias = [&]() { return n.params.size() > 1 ? param(1) : torch::Tensor(); };
  switch (n.kind) {
    case OpKind::kConv2d:
      return F::conv2d(x, param(0),
                       F::Conv2dFuncOptions()
                           .bias(optional_bias())
                           .stride({n.stride_h, n.stride_w})
                           .padding({n.pad_h, n.pad_w})
                           .dilation(n.dilation)
                           .groups(n.groups));
    case OpKind::kBatchNorm2d:
      if (bypass_batch_norm_) return x;
      // No running statistics: the batch's own statistics, in training and evaluation.
      return F::batch_norm(x, torch::Tensor(), torch::Tensor(),
                           F::BatchNormFuncOptions().weight(param(0)).bias(param(1)).training(true));
    case OpKind::kLayerNorm:
      return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(param(0)).bias(param(1)));
    case OpKind::kLinear:
      return F::linear(x, param(0), optional_bias());
    case OpKind::kPosEnc:
      return x + param(0);
    case OpKind::kReLU:
      // In-place ReLUs of the reference already have their readers wired to this node, so an
      // out-of-place ReLU computes the same values and keeps autograd simple.
      return torch::relu(x);
    case OpKind::kGELU:
      return F::gelu(x);
    case OpKind::kHardswish:
      return torch::hardswish(x);
    case OpKind::kMaxPool2d:
      return F::max_pool2d(x, F::MaxPool2dFuncOptions({n.kernel_h, n.kernel_w})
                                  .stride({n.stride_h, n.stride_w})
                                  .padding({n.pad_h, n.pad_w}));
    case OpKind::kAvgPool2d:
      return F::avg_pool2d(x, F::AvgPool2dFuncOptions({n.kernel_h, n.kernel_w})
                                  .stride({n.stride_h, n.stride_w})
                                  .padding({n.pad_h, n.pad_w})
                                  .count_include_pad(false));
    case OpKind::kGlobalAvgPool:
      return F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
    case OpKind::kAdd: {
      torch::Tensor sum = x + values[step.inputs[1]];
      for (std::size_t i = 2; i < step.inputs.size(); ++i) sum = sum + values[step.inputs[i]];
      return sum;
    }
    case OpKind::kConcat: {
      std::vector<torch::Tensor> parts;
      parts.reserve(step.inputs.size());
      for (int u : step.inputs) parts.push_back(values[u]);
      return torch::cat(parts, /*dim=*/1);
    }
    case OpKind::kSlice: {
      using torch::indexing::None;
      using torch::indexing::Slice;
      torch::Tensor y = x.index({Slice(), Slice(), Slice(n.offset, None, n.step),
                                 Slice(n.offset, None, n.step)});
      if (n.pad_end > 0) y = F::pad(y, F::PadFuncOptions({0, n.pad_end, 0, n.pad_end}));
      return y;
    }
    case OpKind::kZeros:
      return x.mul(0);  // the reference's states[i] * 0 (keeps NaN/inf visible)
    case OpKind::kSpatialMean:
      return x.mean({2, 3});
    case OpKind::kChannelScale:
      return x * values[step.inputs[1]].unsqueeze(-1).unsqueeze(-1);
    case OpKind::kToTokens:
      return x.flatten(/*start_dim=*/2).transpose(1, 2);
    case OpKind::kFromTokens:
      return x.transpose(1, 2).reshape({x.size(0), n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
    case OpKind::kAttention: {
      // qkv (B, N, 3*heads*dh) -> chunks q, k, v along the last dim, each 'b n (h d) -> b h n d'.
      const std::int64_t batch = x.size(0), tokens = x.size(1);
      const std::int64_t heads = n.heads;
      GHNAS_CHECK(heads > 0 && x.size(2) % (3 * heads) == 0, "attention node ", step.output,
                  ": qkv width ", x.size(2), " is not 3 * heads (", heads, ") * head size");
      const std::int64_t dh = x.size(2) / (3 * heads);
      auto split_heads = [&](const torch::Tensor& t) {
        return t.reshape({batch, tokens, heads, dh}).permute({0, 2, 1, 3});
      };
      const auto qkv = x.chunk(3, /*dim=*/-1);
      const torch::Tensor q = split_heads(qkv[0]), k = split_heads(qkv[1]), v = split_heads(qkv[2]);
      const torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * std::pow(static_cast<double>(dh), -0.5);
      const torch::Tensor out = torch::matmul(torch::softmax(scores, /*dim=*/-1), v);
      return out.permute({0, 2, 1, 3}).reshape({batch, tokens, heads * dh});
    }
    case OpKind::kFlatten:
      return x.flatten(/*start_dim=*/1);
    case OpKind::kDropout:
      if (dropout_generator_ && is_training() && n.dropout > 0) {
        // F::dropout's computation (keep with probability 1 - p, scale by 1 / (1 - p)) with the
        // masks from this network's own generator.
        const double keep = 1.0 - n.dropout;
        if (keep <= 0.0) return x.mul(0);
        return x * torch::empty_like(x).bernoulli_(keep, *dropout_generator_).div_(keep);
      }
      return F::dropout(x, F::DropoutFuncOptions().p(n.dropout).training(is_training()));
    case OpKind::kInput:
      break;
  }
  throw Error(detail::str_cat("node ", step.output, ": op ", op_kind_name(n.kind), " cannot run"));
}

}  // namespace ghnas
