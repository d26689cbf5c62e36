#include "benchmarks/evaluators/handwritten_nets.hpp"

#include <map>
#include <set>

#include "core/error.hpp"

namespace ghnas::bench {

namespace nn = torch::nn;

namespace {

nn::AnyModule norm(int c, bool enabled) {
  // BatchNorm without running statistics (always batch statistics), or nothing.
  if (!enabled) return nn::AnyModule(nn::Identity());
  return nn::AnyModule(nn::BatchNorm2d(nn::BatchNorm2dOptions(c).track_running_stats(false)));
}

nn::Conv2d conv(int c_in, int c_out, int kh, int kw, int sh, int sw, int ph, int pw, int dilation = 1,
                int groups = 1) {
  return nn::Conv2d(nn::Conv2dOptions(c_in, c_out, {kh, kw})
                        .stride({sh, sw})
                        .padding({ph, pw})
                        .dilation(dilation)
                        .groups(groups)
                        .bias(false));
}

// nn::Sequential's forward is a template, which AnyModule cannot hold: this one takes a tensor.
class OpSequenceImpl : public nn::SequentialImpl {
 public:
  torch::Tensor forward(torch::Tensor x) { return nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(OpSequence);

OpSequence relu_conv_bn(int c_in, int c_out, int k, int stride, int pad, bool bn) {
  OpSequence s;
  s->push_back(nn::ReLU());
  s->push_back(conv(c_in, c_out, k, k, stride, stride, pad, pad));
  s->push_back(norm(c_out, bn));
  return s;
}

// ppuda's ReLUConvBN, SepConv, DilConv and Conv2 keep their layers in a Sequential named `op`.
class WrappedOpImpl : public nn::Module {
 public:
  explicit WrappedOpImpl(OpSequence sequence) { op_ = register_module("op", std::move(sequence)); }
  torch::Tensor forward(torch::Tensor x) { return op_->forward(std::move(x)); }

 private:
  OpSequence op_{nullptr};
};
TORCH_MODULE(WrappedOp);

// ppuda's FactorizedReduce: two stride-2 1x1 convs, the second on the image shifted by one pixel.
class FactorizedReduceImpl : public nn::Module {
 public:
  FactorizedReduceImpl(int c_in, int c_out, bool bn) {
    conv_1_ = register_module("conv_1", conv(c_in, c_out / 2, 1, 1, 2, 2, 0, 0));
    conv_2_ = register_module("conv_2", conv(c_in, c_out / 2, 1, 1, 2, 2, 0, 0));
    bn_ = norm(c_out, bn);
    register_module("bn", bn_.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(x);
    torch::Tensor shifted = x.slice(2, 1).slice(3, 1);
    if (x.size(2) % 2 == 1 || x.size(3) % 2 == 1)  // ghnas's odd-size rule (see README)
      shifted = nn::functional::pad(shifted, nn::functional::PadFuncOptions({0, 1, 0, 1}));
    return bn_.forward(torch::cat({conv_1_(x), conv_2_(shifted)}, 1));
  }

 private:
  nn::Conv2d conv_1_{nullptr}, conv_2_{nullptr};
  nn::AnyModule bn_;
};
TORCH_MODULE(FactorizedReduce);

class ChannelSEImpl : public nn::Module {
 public:
  ChannelSEImpl(int c, int stride) : stride_(stride) {
    fc1_ = register_module("fc1", nn::Linear(c, c / 2));
    fc2_ = register_module("fc2", nn::Linear(c / 2, c));
  }
  torch::Tensor forward(torch::Tensor x) {
    const torch::Tensor gate = torch::hardswish(fc2_(torch::relu(fc1_(x.mean({2, 3})))));
    torch::Tensor y = x * gate.unsqueeze(-1).unsqueeze(-1);
    if (stride_ > 1) y = y.slice(2, 0, y.size(2), stride_).slice(3, 0, y.size(3), stride_);
    return y;
  }

 private:
  int stride_;
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(ChannelSE);

class StrideImpl : public nn::Module {
 public:
  torch::Tensor forward(torch::Tensor x) { return x.slice(2, 0, x.size(2), 2).slice(3, 0, x.size(3), 2); }
};
TORCH_MODULE(Stride);

// ppuda's OPS table (ops.py), msa left out.
nn::AnyModule make_op(const std::string& op, int c_in, int c_out, int stride, bool bn) {
  if (op == "max_pool_3x3") return nn::AnyModule(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(stride).padding(1)));
  if (op == "avg_pool_3x3")
    return nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(stride).padding(1).count_include_pad(false)));
  if (op == "skip_connect")
    return stride == 1 ? nn::AnyModule(nn::Identity()) : nn::AnyModule(FactorizedReduce(c_in, c_out, bn));
  OpSequence s;
  if (op == "conv_1x1" || op == "conv_3x3" || op == "conv_5x5" || op == "conv_7x7") {
    const int k = op[5] - '0';
    return nn::AnyModule(WrappedOp(relu_conv_bn(c_in, c_out, k, stride, k / 2, bn)));
  }
  if (op == "conv_7x1_1x7") {
    s->push_back(nn::ReLU());
    s->push_back(conv(c_in, c_in, 1, 7, 1, stride, 0, 3));
    s->push_back(conv(c_in, c_out, 7, 1, stride, 1, 3, 0));
    s->push_back(norm(c_out, bn));
    return nn::AnyModule(WrappedOp(s));
  }
  if (op == "sep_conv_3x3" || op == "sep_conv_5x5") {
    const int k = op[9] - '0';
    s->push_back(nn::ReLU());
    s->push_back(conv(c_in, c_in, k, k, stride, stride, k / 2, k / 2, 1, c_in));
    s->push_back(conv(c_in, c_in, 1, 1, 1, 1, 0, 0));
    s->push_back(norm(c_in, bn));
    s->push_back(nn::ReLU());
    s->push_back(conv(c_in, c_in, k, k, 1, 1, k / 2, k / 2, 1, c_in));
    s->push_back(conv(c_in, c_out, 1, 1, 1, 1, 0, 0));
    s->push_back(norm(c_out, bn));
    return nn::AnyModule(WrappedOp(s));
  }
  if (op == "dil_conv_3x3" || op == "dil_conv_5x5") {
    const int k = op[9] - '0';
    s->push_back(nn::ReLU());
    s->push_back(conv(c_in, c_in, k, k, stride, stride, k - k % 2, k - k % 2, 2, c_in));
    s->push_back(conv(c_in, c_out, 1, 1, 1, 1, 0, 0));
    s->push_back(norm(c_out, bn));
    return nn::AnyModule(WrappedOp(s));
  }
  if (op == "cse") return nn::AnyModule(ChannelSE(c_in, stride));
  throw Error("hand-written DeepNets network: op '" + op + "' is not covered");
}

// ppuda's Cell: a missing state (None) is an undefined tensor.
class CellImpl : public nn::Module {
 public:
  CellImpl(const std::vector<CellEdge>& edges, const std::vector<int>& concat, int c_prev_prev, int c_prev,
           int c_in, int c_out, bool reduction, bool reduction_prev, bool preproc, bool bn)
      : edges_(edges), concat_(concat) {
    if (preproc) {
      preprocess0_ = reduction_prev ? nn::AnyModule(FactorizedReduce(c_prev_prev, c_out, bn))
                                    : nn::AnyModule(WrappedOp(relu_conv_bn(c_prev_prev, c_out, 1, 1, 0, bn)));
      preprocess1_ = nn::AnyModule(WrappedOp(relu_conv_bn(c_prev, c_out, 1, 1, 0, bn)));
    } else {
      preprocess0_ = reduction_prev ? nn::AnyModule(Stride()) : nn::AnyModule(nn::Identity());
      preprocess1_ = nn::AnyModule(nn::Identity());
    }
    register_module("preprocess0", preprocess0_.ptr());
    register_module("preprocess1", preprocess1_.ptr());
    auto ops = register_module("_ops", std::make_shared<nn::Module>());
    for (std::size_t j = 0; j < edges.size(); ++j) {
      const auto& [op, index] = edges[j];
      if (op == "none") {
        ops_.emplace_back();
        continue;
      }
      const int stride = reduction && index < 2 ? 2 : 1;
      ops_.push_back(make_op(op, index <= 1 ? c_in : c_out, c_out, stride, bn));
      ops->register_module(std::to_string(j), ops_.back().ptr());
    }
  }

  torch::Tensor forward(const torch::Tensor& s0, const torch::Tensor& s1) {
    std::vector<torch::Tensor> states = {s0.defined() ? preprocess0_.forward(s0) : torch::Tensor(),
                                         s1.defined() ? preprocess1_.forward(s1) : torch::Tensor()};
    for (std::size_t i = 0; i + 1 < edges_.size(); i += 2) {
      torch::Tensor sum;
      for (std::size_t j = i; j < i + 2; ++j) {
        const torch::Tensor& h = states[edges_[j].second];
        if (ops_[j].is_empty() || !h.defined()) continue;
        torch::Tensor y = ops_[j].forward(h);
        sum = sum.defined() ? sum + y : y;
      }
      states.push_back(sum);
    }
    torch::Tensor dummy;
    for (int i : concat_)
      if (states[i].defined()) {
        dummy = states[i] * 0;
        break;
      }
    if (!dummy.defined()) return {};
    std::vector<torch::Tensor> parts;
    for (int i : concat_) parts.push_back(states[i].defined() ? states[i] : dummy);
    return torch::cat(parts, 1);
  }

 private:
  std::vector<CellEdge> edges_;
  std::vector<int> concat_;
  nn::AnyModule preprocess0_, preprocess1_;
  std::vector<nn::AnyModule> ops_;
};
TORCH_MODULE(Cell);

}  // namespace

DeepNetsNetworkImpl::DeepNetsNetworkImpl(const DeepNetsArch& arch, const Task& task) {
  const DeepNetsNetArgs& a = arch.net_args;
  GHNAS_CHECK(!arch.is_vit() && a.stem_type == 0 && !task.imagenet_input,
              "hand-written DeepNets network: only stem_type 0 nets without msa are covered");
  const bool bn = !a.norm.empty();
  const int c_stem = a.C * (a.preproc ? 3 : 1);
  stem_ = nn::Sequential();
  stem_->push_back(conv(task.channels, c_stem, a.ks, a.ks, 1, 1, a.ks / 2, a.ks / 2));
  stem_->push_back(norm(c_stem, bn));
  if (a.stem_pool) stem_->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  register_module("stem", stem_);

  auto cells = register_module("cells", std::make_shared<nn::Module>());
  const int n = a.n_cells;
  auto is_reduction = [n](int k) { return k > 0 && (k == n / 3 || k == 2 * n / 3); };
  const int steps = static_cast<int>(arch.genotype.normal_concat.size());
  int c_prev_prev = c_stem, c_prev = c_stem, c_curr = a.C;
  bool reduction_prev = false;
  for (int k = 0; k < n; ++k) {
    const bool reduction = is_reduction(k);
    if (reduction) c_curr *= a.C_mult;
    const int c_in = a.preproc ? c_curr : c_prev;
    const int c_out = c_curr * ((is_reduction(k + 1) && steps == 1 && !a.preproc) ? a.C_mult : 1);
    const auto& g = arch.genotype;
    Cell cell(reduction ? g.reduce : g.normal, reduction ? g.reduce_concat : g.normal_concat, c_prev_prev,
              c_prev, c_in, c_out, reduction, reduction_prev, a.preproc, bn);
    cells->register_module(std::to_string(k), cell.ptr());
    cell_forward_.push_back([cell](const torch::Tensor& s0, const torch::Tensor& s1) mutable {
      return cell->forward(s0, s1);
    });
    reduction_prev = reduction;
    c_prev_prev = c_prev;
    c_prev = static_cast<int>((reduction ? g.reduce_concat : g.normal_concat).size()) * c_curr;
  }

  glob_avg_ = a.glob_avg;
  // The flattened size follows the actual map: run the stem and cells on a dummy image once.
  std::int64_t features = c_prev;
  if (!glob_avg_) {
    torch::NoGradGuard no_grad;
    features = forward_features(torch::zeros({2, task.channels, task.height, task.width})).size(1);
  }
  classifier_ = nn::Sequential();
  if (a.fc_layers <= 1) {
    classifier_->push_back(nn::Linear(features, task.classes));
  } else {
    classifier_->push_back(nn::Linear(features, a.fc_dim));
    classifier_->push_back(nn::ReLU());
    classifier_->push_back(nn::Dropout(0.5));
    classifier_->push_back(nn::Linear(a.fc_dim, task.classes));
  }
  register_module("classifier", classifier_);
}

torch::Tensor DeepNetsNetworkImpl::forward_features(torch::Tensor x) {
  torch::Tensor s0 = stem_->forward(x), s1 = s0;
  for (auto& cell : cell_forward_) {
    torch::Tensor out = cell(s0, s1);
    s0 = s1;
    s1 = out;
  }
  if (glob_avg_) s1 = nn::functional::adaptive_avg_pool2d(s1, nn::functional::AdaptiveAvgPool2dFuncOptions(1));
  return s1.flatten(1);
}

torch::Tensor DeepNetsNetworkImpl::forward(torch::Tensor x) { return classifier_->forward(forward_features(x)); }

namespace {

// NAS-Bench-201's InferCell: node j sums its incoming edges; none edges are left out.
class Nb201InferCellImpl : public nn::Module {
 public:
  Nb201InferCellImpl(const Nb201Cell& cell, int c) : cell_(cell) {
    auto layers = register_module("layers", std::make_shared<nn::Module>());
    for (int k = 0; k < kNb201NumEdges; ++k) {
      nn::AnyModule op;
      switch (cell.ops[k]) {
        case Nb201Op::kNone: break;
        case Nb201Op::kSkipConnect: op = nn::AnyModule(nn::Identity()); break;
        case Nb201Op::kNorConv1x1: op = nn::AnyModule(relu_conv_bn(c, c, 1, 1, 0, true)); break;
        case Nb201Op::kNorConv3x3: op = nn::AnyModule(relu_conv_bn(c, c, 3, 1, 1, true)); break;
        case Nb201Op::kAvgPool3x3:
          op = nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(1).padding(1).count_include_pad(false)));
          break;
      }
      if (!op.is_empty()) {
        // ReLUConvBN keeps its layers in `op`: "layers.k.op.1.weight".
        auto holder = std::make_shared<nn::Module>();
        holder->register_module("op", op.ptr());
        layers->register_module(std::to_string(k), holder);
      }
      ops_.push_back(op);
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::array<torch::Tensor, 4> nodes;
    nodes[0] = x;
    for (int to = 1; to <= 3; ++to) {
      torch::Tensor sum;
      for (int from = 0; from < to; ++from) {
        const int k = to * (to - 1) / 2 + from;
        if (ops_[k].is_empty()) continue;
        torch::Tensor y = ops_[k].forward(nodes[from]);
        sum = sum.defined() ? sum + y : y;
      }
      nodes[to] = sum.defined() ? sum : x.mul(0);
    }
    return nodes[3];
  }

 private:
  Nb201Cell cell_;
  std::vector<nn::AnyModule> ops_;
};
TORCH_MODULE(Nb201InferCell);

// NAS-Bench-201's ResNetBasicblock with stride 2.
class ResNetBlockImpl : public nn::Module {
 public:
  ResNetBlockImpl(int c_in, int c_out) {
    conv_a_ = register_module("conv_a", std::make_shared<nn::Module>());
    conv_b_ = register_module("conv_b", std::make_shared<nn::Module>());
    a_ = conv_a_->register_module("op", relu_conv_bn(c_in, c_out, 3, 2, 1, true));
    b_ = conv_b_->register_module("op", relu_conv_bn(c_out, c_out, 3, 1, 1, true));
    downsample_ = nn::Sequential(nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(2)),
                                 conv(c_in, c_out, 1, 1, 1, 1, 0, 0));
    register_module("downsample", downsample_);
  }
  torch::Tensor forward(const torch::Tensor& x) { return downsample_->forward(x) + b_->forward(a_->forward(x)); }

 private:
  std::shared_ptr<nn::Module> conv_a_, conv_b_;
  OpSequence a_{nullptr}, b_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(ResNetBlock);

}  // namespace

Nb201NetworkImpl::Nb201NetworkImpl(const Nb201Cell& cell, const Task& task) {
  stem_ = register_module("stem", nn::Sequential(conv(task.channels, 16, 3, 3, 1, 1, 1, 1),
                                                 nn::BatchNorm2d(nn::BatchNorm2dOptions(16).track_running_stats(false))));
  auto cells = register_module("cells", std::make_shared<nn::Module>());
  int c = 16, index = 0;
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) {
      ResNetBlock block(c, 2 * c);
      cells->register_module(std::to_string(index++), block.ptr());
      blocks_.push_back([block](const torch::Tensor& x) mutable { return block->forward(x); });
      c *= 2;
    }
    for (int i = 0; i < 5; ++i) {
      Nb201InferCell m(cell, c);
      cells->register_module(std::to_string(index++), m.ptr());
      blocks_.push_back([m](const torch::Tensor& x) mutable { return m->forward(x); });
    }
  }
  lastact_ = register_module("lastact", nn::Sequential(nn::BatchNorm2d(nn::BatchNorm2dOptions(c).track_running_stats(false)),
                                                       nn::ReLU()));
  classifier_ = register_module("classifier", nn::Linear(c, task.classes));
}

torch::Tensor Nb201NetworkImpl::forward(torch::Tensor x) {
  x = stem_->forward(x);
  for (auto& block : blocks_) x = block(x);
  x = lastact_->forward(x);
  x = nn::functional::adaptive_avg_pool2d(x, nn::functional::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  return classifier_(x);
}

void load_parameters(torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  auto named = module.named_parameters();
  std::set<std::string> mine, theirs;
  for (const auto& p : named) mine.insert(p.key());
  for (const auto& p : params) theirs.insert(p.first);
  for (const auto& name : theirs)
    GHNAS_CHECK(mine.count(name), "hand-written network lacks parameter '", name, "'");
  for (const auto& name : mine)
    GHNAS_CHECK(theirs.count(name), "hand-written network has an extra parameter '", name, "'");
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : params) {
    torch::Tensor& target = named[name];
    GHNAS_CHECK(target.sizes() == value.sizes(), "parameter '", name, "': hand-written shape ", target.sizes(),
                " vs ", value.sizes());
    target.copy_(value);
  }
}

}  // namespace ghnas::bench
