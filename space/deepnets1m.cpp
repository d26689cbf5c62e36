#include "space/deepnets1m.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/json_io.hpp"

namespace ghnas {

namespace {

using Vertex = ArchGraph::Vertex;
using Shape = std::vector<std::int64_t>;

const std::vector<std::string> kGenotypeOps = {
    "none",         "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "conv_1x1",     "conv_7x1_1x7",
    "conv_3x3",     "conv_5x5",     "conv_7x7",     "msa",          "cse"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

// Output size of a convolution or pooling window along one axis.
std::int64_t window_out(std::int64_t in, int kernel, int stride, int pad, int dilation = 1) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// ---------------------------------------------------------------------------------------------
// JSON parsing with errors that say which field is wrong.

template <typename T>
T get_field(const nlohmann::json& obj, const char* key, const std::string& where, T fallback,
            bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    GHNAS_CHECK_AS(ArchError, !required, where, ": missing field '", key, "'");
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ArchError(detail::str_cat(where, ".", key, ": unexpected value ", it->dump()));
  }
}

// JSON booleans are sometimes written as 0/1 by Python tools.
bool get_flag(const nlohmann::json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number_integer()) return it->get<int>() != 0;
  throw ArchError(detail::str_cat("net_args.", key, ": expected true/false, got ", it->dump()));
}

std::vector<CellEdge> parse_cell(const nlohmann::json& genotype, const char* key) {
  const std::string where = std::string("genotype.") + key;
  auto it = genotype.find(key);
  GHNAS_CHECK_AS(ArchError, it != genotype.end() && it->is_array(), where,
                 ": missing or not a list");
  std::vector<CellEdge> edges;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& e = (*it)[i];
    GHNAS_CHECK_AS(ArchError, e.is_array() && e.size() == 2 && e[0].is_string() &&
                                  e[1].is_number_integer(),
                   where, "[", i, "]: expected [op, input], got ", e.dump());
    edges.emplace_back(e[0].get<std::string>(), e[1].get<int>());
  }
  return edges;
}

std::vector<int> parse_concat(const nlohmann::json& genotype, const char* key) {
  const std::string where = std::string("genotype.") + key;
  auto it = genotype.find(key);
  GHNAS_CHECK_AS(ArchError, it != genotype.end() && it->is_array(), where,
                 ": missing or not a list");
  std::vector<int> concat;
  for (const auto& v : *it) {
    GHNAS_CHECK_AS(ArchError, v.is_number_integer(), where, ": expected integers, got ",
                   it->dump());
    concat.push_back(v.get<int>());
  }
  return concat;
}

void validate_cell(const std::vector<CellEdge>& edges, const std::vector<int>& concat,
                   const char* name) {
  GHNAS_CHECK_AS(ArchError, !edges.empty() && edges.size() % 2 == 0, "genotype.", name,
                 ": needs an even, non-zero number of edges (two per node), got ", edges.size());
  const int steps = static_cast<int>(edges.size()) / 2;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const auto& [op, input] = edges[i];
    GHNAS_CHECK_AS(ArchError,
                   std::find(kGenotypeOps.begin(), kGenotypeOps.end(), op) != kGenotypeOps.end(),
                   "genotype.", name, "[", i, "]: unknown op '", op, "'; valid ops: ",
                   join(kGenotypeOps));
    const int node = static_cast<int>(i) / 2;
    GHNAS_CHECK_AS(ArchError, input >= 0 && input < 2 + node, "genotype.", name, "[", i,
                   "]: input ", input, " out of range: node ", node, " can read states 0..",
                   1 + node);
  }
  GHNAS_CHECK_AS(ArchError, !concat.empty(), "genotype.", name, "_concat: is empty");
  for (int c : concat)
    GHNAS_CHECK_AS(ArchError, c >= 0 && c < 2 + steps, "genotype.", name, "_concat: state ", c,
                   " does not exist (the cell has states 0..", 1 + steps, ")");
}

// ---------------------------------------------------------------------------------------------
// Network construction, module by module, as the reference Network class wires it.

class Builder {
 public:
  Builder(const DeepNetsArch& arch, const Task& task) : arch_(arch), args_(arch.net_args),
      task_(task), graph_(task) {
    norm_ = !args_.norm.empty();
  }

  ArchGraph build();

 private:
  struct Value {  // a tensor in the forward pass; nullopt plays the role of Python's None
    Vertex v;
    Shape shape;
  };
  using State = std::optional<Value>;

  Vertex add(OpNode node, std::vector<Vertex> inputs) {
    node.cell = cell_;
    return g().add(std::move(node), inputs);
  }
  ArchGraph& g() { return scratch_ ? *scratch_ : graph_; }
  const Shape& shape(Vertex v) { return g().node(v).out_shape; }

  Vertex param_free(OpKind kind, Vertex x, const std::string& module, Shape out) {
    OpNode n;
    n.kind = kind;
    n.module = module;
    n.out_shape = std::move(out);
    return add(std::move(n), {x});
  }
  Vertex relu(Vertex x, const std::string& module, bool inplace = false) {
    const Vertex y = param_free(OpKind::kReLU, x, module, shape(x));
    g().node(y).inplace = inplace;
    return y;
  }
  Vertex conv(Vertex x, const std::string& module, int c_out, int kh, int kw, int sh, int sw,
              int ph, int pw, int dilation = 1, int groups = 1) {
    const Shape in = shape(x);
    GHNAS_CHECK_AS(ArchError, in.size() == 3, module, ": convolution needs an image input");
    OpNode n;
    n.kind = OpKind::kConv2d;
    n.module = module;
    n.kernel_h = kh;
    n.kernel_w = kw;
    n.stride_h = sh;
    n.stride_w = sw;
    n.pad_h = ph;
    n.pad_w = pw;
    n.dilation = dilation;
    n.groups = groups;
    n.params.push_back({module + ".weight", {c_out, in[0] / groups, kh, kw}});
    n.out_shape = {c_out, window_out(in[1], kh, sh, ph, dilation),
                   window_out(in[2], kw, sw, pw, dilation)};
    GHNAS_CHECK_AS(ArchError, n.out_shape[1] > 0 && n.out_shape[2] > 0, module,
                   ": input ", shape_str(in), " is too small for this convolution");
    return add(std::move(n), {x});
  }
  // BatchNorm2d, or nothing when the network has no normalisation (the reference's Identity).
  Vertex bn(Vertex x, const std::string& module) {
    if (!norm_) return x;
    const std::int64_t c = shape(x)[0];
    OpNode n;
    n.kind = OpKind::kBatchNorm2d;
    n.module = module;
    n.params = {{module + ".weight", {c}}, {module + ".bias", {c}}};
    n.out_shape = shape(x);
    return add(std::move(n), {x});
  }
  Vertex layer_norm(Vertex x, const std::string& module) {
    const std::int64_t c = shape(x).back();
    OpNode n;
    n.kind = OpKind::kLayerNorm;
    n.module = module;
    n.params = {{module + ".weight", {c}}, {module + ".bias", {c}}};
    n.out_shape = shape(x);
    return add(std::move(n), {x});
  }
  Vertex linear(Vertex x, const std::string& module, std::int64_t out, bool bias = true) {
    Shape s = shape(x);
    OpNode n;
    n.kind = OpKind::kLinear;
    n.module = module;
    n.params.push_back({module + ".weight", {out, s.back()}});
    if (bias) n.params.push_back({module + ".bias", {out}});
    s.back() = out;
    n.out_shape = s;
    return add(std::move(n), {x});
  }
  Vertex pool(OpKind kind, Vertex x, const std::string& module, int k, int stride) {
    const Shape in = shape(x);
    OpNode n;
    n.kind = kind;
    n.module = module;
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = k / 2;
    n.out_shape = {in[0], window_out(in[1], k, stride, k / 2), window_out(in[2], k, stride, k / 2)};
    return add(std::move(n), {x});
  }
  // x[:, :, offset::step, offset::step]
  Vertex slice(Vertex x, int offset, int step, int pad_end = 0) {
    const Shape in = shape(x);
    OpNode n;
    n.kind = OpKind::kSlice;
    n.offset = offset;
    n.step = step;
    n.pad_end = pad_end;
    auto len = [&](std::int64_t d) { return (d - offset + step - 1) / step + pad_end; };
    n.out_shape = {in[0], len(in[1]), len(in[2])};
    return add(std::move(n), {x});
  }
  Vertex sum(const std::vector<Vertex>& xs, const std::string& where) {
    for (Vertex x : xs)
      GHNAS_CHECK_AS(ArchError, shape(x) == shape(xs[0]), where, ": cannot add tensors of shapes ",
                     shape_str(shape(xs[0])), " and ", shape_str(shape(x)));
    OpNode n;
    n.kind = OpKind::kAdd;
    n.out_shape = shape(xs[0]);
    return add(std::move(n), xs);
  }

  Vertex relu_conv_bn(Vertex x, const std::string& m, int c_out, int k, int stride, int pad) {
    x = relu(x, m + ".op.0");
    x = conv(x, m + ".op.1", c_out, k, k, stride, stride, pad, pad);
    return bn(x, m + ".op.2");
  }
  Vertex factorized_reduce(Vertex x, const std::string& m, int c_out);
  Vertex apply_op(const std::string& op, Vertex x, const std::string& m, int c_in, int c_out,
                  int stride);
  Vertex transformer(Vertex x, const std::string& m, int c_out, int stride);
  Vertex channel_se(Vertex x, const std::string& m, int c_out, int stride);

  // Constructs a module whose input is missing: its parameters exist in the network but it never
  // runs, so they are recorded as detached.
  void detached(const Shape& in_shape, const std::function<void(Vertex)>& make) {
    ArchGraph scratch(task_);
    OpNode input;
    input.kind = OpKind::kInput;
    input.out_shape = in_shape;
    ArchGraph* saved = scratch_;
    scratch_ = &scratch;
    make(scratch.add(input));
    scratch_ = saved;
    for (const auto& p : scratch.all_params()) graph_.detached_params().push_back(p);
  }

  State cell(int k, const State& s0_in, const State& s1_in, std::int64_t c_prev_prev,
             std::int64_t c_prev, int c_in, int c_out, bool reduction, bool reduction_prev);

  const DeepNetsArch& arch_;
  const DeepNetsNetArgs& args_;
  Task task_;
  ArchGraph graph_;
  ArchGraph* scratch_ = nullptr;
  bool norm_ = true;
  int cell_ = -1;
};

Vertex Builder::factorized_reduce(Vertex x, const std::string& m, int c_out) {
  GHNAS_CHECK_AS(ArchError, c_out % 2 == 0, m, ": FactorizedReduce needs an even channel count");
  x = relu(x, m + ".relu");
  const Vertex a = conv(x, m + ".conv_1", c_out / 2, 1, 1, 2, 2, 0, 0);
  // The second path sees the image shifted by one pixel. On odd sizes (28x28 Fashion-MNIST
  // reaches 7x7) the reference cannot concatenate the two paths; one zero row/column at the end
  // makes both halves ceil(H/2) tall, which leaves even sizes exactly as the reference has them.
  const Shape in = shape(x);
  const int pad_end = (in[1] % 2 == 1 || in[2] % 2 == 1) ? 1 : 0;
  const Vertex shifted = slice(x, /*offset=*/1, /*step=*/1, pad_end);
  const Vertex b = conv(shifted, m + ".conv_2", c_out / 2, 1, 1, 2, 2, 0, 0);
  GHNAS_CHECK_AS(ArchError, shape(a) == shape(b), m, ": FactorizedReduce paths disagree: ",
                 shape_str(shape(a)), " vs ", shape_str(shape(b)));
  OpNode cat;
  cat.kind = OpKind::kConcat;
  cat.out_shape = {c_out, shape(a)[1], shape(a)[2]};
  const Vertex y = add(std::move(cat), {a, b});
  return bn(y, m + ".bn");
}

Vertex Builder::transformer(Vertex x, const std::string& m, int c_out, int stride) {
  // Pre-LN transformer block on the H*W tokens: 8 heads of C/8 channels, FF width = C_out.
  const Shape in = shape(x);
  const std::int64_t c = in[0];
  GHNAS_CHECK_AS(ArchError, c % 8 == 0 && c >= 8, m, ": msa needs channels divisible by 8, got ",
                 c);
  GHNAS_CHECK_AS(ArchError, c_out == c, m, ": msa needs C_in == C_out, got ", c, " and ", c_out);
  const Vertex tokens = param_free(OpKind::kToTokens, x, "", {in[1] * in[2], c});
  Vertex h = layer_norm(tokens, m + ".ln1");
  h = linear(h, m + ".to_qkv", 3 * 8 * (c / 8), /*bias=*/false);
  OpNode attention;
  attention.kind = OpKind::kAttention;
  attention.heads = 8;
  attention.out_shape = {in[1] * in[2], 8 * (c / 8)};
  h = add(std::move(attention), {h});
  h = linear(h, m + ".to_out.0", c_out);
  const Vertex attn_out = sum({h, tokens}, m);
  Vertex f = layer_norm(attn_out, m + ".ln2");
  f = linear(f, m + ".ff.net.0", c_out);
  f = param_free(OpKind::kGELU, f, m + ".ff.net.1", shape(f));
  f = linear(f, m + ".ff.net.3", c);
  const Vertex out = sum({f, attn_out}, m);
  Vertex y = param_free(OpKind::kFromTokens, out, "", in);
  if (stride > 1) y = slice(y, 0, stride);
  return y;
}

Vertex Builder::channel_se(Vertex x, const std::string& m, int c_out, int stride) {
  // Squeeze-and-excitation with reduction 2 whose gate is a Hardswish (the reference's choice).
  const Shape in = shape(x);
  GHNAS_CHECK_AS(ArchError, c_out == in[0], m, ": cse needs C_in == C_out, got ", in[0], " and ",
                 c_out);
  Vertex s = param_free(OpKind::kSpatialMean, x, "", {in[0]});
  s = linear(s, m + ".fc1", in[0] / 2);
  s = param_free(OpKind::kReLU, s, m + ".relu", shape(s));
  s = linear(s, m + ".fc2", in[0]);
  s = param_free(OpKind::kHardswish, s, m + ".sigmoid", shape(s));
  OpNode scale;
  scale.kind = OpKind::kChannelScale;
  scale.out_shape = in;
  Vertex y = add(std::move(scale), {x, s});
  if (stride > 1) y = slice(y, 0, stride);
  return y;
}

Vertex Builder::apply_op(const std::string& op, Vertex x, const std::string& m, int c_in,
                         int c_out, int stride) {
  const std::int64_t actual = shape(x)[0];
  GHNAS_CHECK_AS(ArchError, actual == c_in, m, " (", op, "): expects ", c_in,
                 " input channels, the state has ", actual);
  if (op == "max_pool_3x3") return pool(OpKind::kMaxPool2d, x, m, 3, stride);
  if (op == "avg_pool_3x3") return pool(OpKind::kAvgPool2d, x, m, 3, stride);
  if (op == "skip_connect") return stride == 1 ? x : factorized_reduce(x, m, c_out);
  if (op == "conv_1x1" || op == "conv_3x3" || op == "conv_5x5" || op == "conv_7x7") {
    const int k = op[5] - '0';
    return relu_conv_bn(x, m, c_out, k, stride, k / 2);
  }
  if (op == "conv_7x1_1x7") {
    Vertex y = relu(x, m + ".op.0");
    y = conv(y, m + ".op.1", c_in, 1, 7, 1, stride, 0, 3);
    y = conv(y, m + ".op.2", c_out, 7, 1, stride, 1, 3, 0);
    return bn(y, m + ".op.3");
  }
  if (op == "sep_conv_3x3" || op == "sep_conv_5x5") {
    const int k = op[9] - '0';
    Vertex y = relu(x, m + ".op.0");
    y = conv(y, m + ".op.1", c_in, k, k, stride, stride, k / 2, k / 2, 1, c_in);
    y = conv(y, m + ".op.2", c_in, 1, 1, 1, 1, 0, 0);
    y = bn(y, m + ".op.3");
    y = relu(y, m + ".op.4");
    y = conv(y, m + ".op.5", c_in, k, k, 1, 1, k / 2, k / 2, 1, c_in);
    y = conv(y, m + ".op.6", c_out, 1, 1, 1, 1, 0, 0);
    return bn(y, m + ".op.7");
  }
  if (op == "dil_conv_3x3" || op == "dil_conv_5x5") {
    const int k = op[9] - '0';
    const int pad = k - k % 2;
    Vertex y = relu(x, m + ".op.0");
    y = conv(y, m + ".op.1", c_in, k, k, stride, stride, pad, pad, /*dilation=*/2, c_in);
    y = conv(y, m + ".op.2", c_out, 1, 1, 1, 1, 0, 0);
    return bn(y, m + ".op.3");
  }
  if (op == "msa") return transformer(x, m, c_out, stride);
  if (op == "cse") return channel_se(x, m, c_out, stride);
  throw ArchError("unknown op '" + op + "'");
}

Builder::State Builder::cell(int k, const State& s0_in, const State& s1_in,
                             std::int64_t c_prev_prev, std::int64_t c_prev, int c_in, int c_out,
                             bool reduction, bool reduction_prev) {
  cell_ = k;
  const std::string m = "cells." + std::to_string(k);
  const bool vit = arch_.is_vit();
  const auto& g = arch_.genotype;
  const auto& edges = reduction ? g.reduce : g.normal;
  const auto& concat = reduction ? g.reduce_concat : g.normal_concat;

  // Preprocessing of the two cell inputs.
  auto preprocess0 = [&](Vertex x) {
    if (args_.preproc) {
      if (reduction_prev && !vit) return factorized_reduce(x, m + ".preprocess0", c_out);
      return relu_conv_bn(x, m + ".preprocess0", c_out, 1, 1, 0);
    }
    if (reduction_prev && !vit) return slice(x, 0, 2);
    return x;
  };
  auto preprocess1 = [&](Vertex x) {
    return args_.preproc ? relu_conv_bn(x, m + ".preprocess1", c_out, 1, 1, 0) : x;
  };
  auto run = [&](const State& s, const std::function<Vertex(Vertex)>& f,
                 std::int64_t channels) -> State {
    if (s) {
      const Vertex y = f(s->v);
      return Value{y, shape(y)};
    }
    if (args_.preproc) detached({channels, 8, 8}, [&](Vertex x) { f(x); });
    return std::nullopt;
  };
  std::vector<State> states;
  states.push_back(run(s0_in, preprocess0, c_prev_prev));
  states.push_back(run(s1_in, preprocess1, c_prev));

  const int steps = static_cast<int>(edges.size()) / 2;
  for (int i = 0; i < steps; ++i) {
    std::vector<Vertex> terms;
    for (int j = 2 * i; j < 2 * i + 2; ++j) {
      const auto& [op, index] = edges[j];
      const std::string om = m + "._ops." + std::to_string(j);
      const int stride = (reduction && index < 2 && !vit) ? 2 : 1;
      const int op_c_in = index <= 1 ? c_in : c_out;
      if (op == "none") continue;  // Zero: skipped, adds nothing
      const State& h = states[index];
      if (!h) {
        // The op exists but its input is None: keep its parameters, run nothing.
        detached({op_c_in, 8, 8}, [&](Vertex x) { apply_op(op, x, om, op_c_in, c_out, stride); });
        continue;
      }
      terms.push_back(apply_op(op, h->v, om, op_c_in, c_out, stride));
    }
    if (terms.empty()) {
      states.push_back(std::nullopt);
    } else if (terms.size() == 1) {
      states.push_back(Value{terms[0], shape(terms[0])});
    } else {
      const Vertex s = sum(terms, m + " node " + std::to_string(i));
      states.push_back(Value{s, shape(s)});
    }
  }

  // Concatenate the listed states. Missing ones become zeros shaped like the first present one
  // (the reference's states[i] * 0); if none is present the cell has no output.
  std::optional<Vertex> dummy;
  std::vector<Vertex> parts;
  for (int i : concat) {
    if (states[i]) continue;
    for (int j : concat)
      if (states[j] && !dummy) {
        OpNode z;
        z.kind = OpKind::kZeros;
        z.out_shape = states[j]->shape;
        dummy = add(std::move(z), {states[j]->v});
      }
    if (!dummy) return std::nullopt;
  }
  for (int i : concat) parts.push_back(states[i] ? states[i]->v : *dummy);
  std::int64_t channels = 0;
  for (Vertex p : parts) {
    GHNAS_CHECK_AS(ArchError, shape(p).size() == 3 && shape(p)[1] == shape(parts[0])[1] &&
                                  shape(p)[2] == shape(parts[0])[2],
                   m, ": cannot concatenate states of shapes ", shape_str(shape(parts[0])),
                   " and ", shape_str(shape(p)));
    channels += shape(p)[0];
  }
  OpNode cat;
  cat.kind = OpKind::kConcat;
  cat.out_shape = {channels, shape(parts[0])[1], shape(parts[0])[2]};
  const Vertex out = add(std::move(cat), parts);
  return Value{out, shape(out)};
}

ArchGraph Builder::build() {
  const bool imagenet = task_.imagenet_input;
  const int C = args_.C;
  OpNode input;
  input.kind = OpKind::kInput;
  input.out_shape = {task_.channels, task_.height, task_.width};
  const Vertex x = add(std::move(input), {});

  State s0, s1;
  std::int64_t c_prev_prev = C, c_prev = C;
  int c_curr = C;
  if (arch_.is_vit()) {
    // ViT stem: patchify with a strided conv, then add a learned positional encoding.
    const int k = imagenet ? 16 : 3;
    const Vertex stem = conv(x, "stem0", C, k, k, k, k, k < 4 ? 1 : 0, k < 4 ? 1 : 0);
    OpNode pe;
    pe.kind = OpKind::kPosEnc;
    pe.module = "pos_enc";
    pe.out_shape = shape(stem);
    pe.params.push_back({"pos_enc.weight", {1, C, shape(stem)[1], shape(stem)[2]}});
    const Vertex p = add(std::move(pe), {stem});
    s0 = s1 = Value{p, shape(p)};
  } else if (args_.stem_type == 0) {
    const int c_stem = C * ((args_.preproc && !imagenet) ? 3 : 1);
    Vertex y = conv(x, "stem.0", c_stem, args_.ks, args_.ks, imagenet ? 4 : 1, imagenet ? 4 : 1,
                    args_.ks / 2, args_.ks / 2);
    y = bn(y, "stem.1");
    if (args_.stem_pool) y = pool(OpKind::kMaxPool2d, y, "stem.2", 3, 2);
    s0 = s1 = Value{y, shape(y)};
    c_prev_prev = c_prev = c_stem;
  } else {
    const int st = imagenet ? 2 : 1;
    Vertex y = conv(x, "stem0.0", C / 2, args_.ks, args_.ks, st, st, args_.ks / 2, args_.ks / 2);
    y = bn(y, "stem0.1");
    y = relu(y, "stem0.2", /*inplace=*/true);
    y = conv(y, "stem0.3", C, 3, 3, st, st, 1, 1);
    y = bn(y, "stem0.4");
    // stem1 starts with an in-place ReLU, which overwrites stem0's output: the first cell's
    // s0 is therefore the activated tensor, not the batch norm's output.
    const Vertex activated = relu(y, "stem1.0", /*inplace=*/true);
    s0 = Value{activated, shape(activated)};
    Vertex z = conv(activated, "stem1.1", C, 3, 3, 2, 2, 1, 1);
    z = bn(z, "stem1.2");
    s1 = Value{z, shape(z)};
  }

  const int n = args_.n_cells;
  auto is_reduction = [n](int k) { return k > 0 && (k == n / 3 || k == 2 * n / 3); };
  const int steps = static_cast<int>(arch_.genotype.normal_concat.size());
  bool reduction_prev = args_.stem_type == 1;
  for (int k = 0; k < n; ++k) {
    const bool reduction = is_reduction(k);
    if (reduction) c_curr *= args_.C_mult;
    const bool reduction_next = is_reduction(k + 1);
    const int c_in = args_.preproc ? c_curr : static_cast<int>(c_prev);
    const int c_out =
        c_curr * ((reduction_next && steps == 1 && !args_.preproc) ? args_.C_mult : 1);
    State out = cell(k, s0, s1, c_prev_prev, c_prev, c_in, c_out, reduction, reduction_prev);
    reduction_prev = reduction;
    const auto& concat = reduction ? arch_.genotype.reduce_concat : arch_.genotype.normal_concat;
    c_prev_prev = c_prev;
    c_prev = static_cast<std::int64_t>(concat.size()) * c_curr;
    s0 = s1;
    s1 = out;
  }
  cell_ = -1;
  GHNAS_CHECK_AS(ArchError, s1.has_value(),
                 "the network has no path from the input to the output (every state feeding the "
                 "last cell's output is missing)");

  Vertex h = s1->v;
  if (args_.glob_avg) {
    const Shape s = shape(h);
    h = param_free(OpKind::kGlobalAvgPool, h, "global_pooling", {s[0], 1, 1});
  }
  const Shape s = shape(h);
  h = param_free(OpKind::kFlatten, h, "", {s[0] * s[1] * s[2]});
  const int classes = task_.classes;
  if (args_.fc_layers <= 1) {
    h = linear(h, "classifier.0", classes);
  } else {
    h = linear(h, "classifier.0", args_.fc_dim);
    for (int i = 0; i < args_.fc_layers - 1; ++i) {
      const int base = 1 + 3 * i;
      h = relu(h, "classifier." + std::to_string(base), /*inplace=*/true);
      OpNode drop;
      drop.kind = OpKind::kDropout;
      drop.module = "classifier." + std::to_string(base + 1);
      drop.dropout = 0.5;
      drop.out_shape = shape(h);
      h = add(std::move(drop), {h});
      const bool last = i == args_.fc_layers - 2;
      h = linear(h, "classifier." + std::to_string(base + 2), last ? classes : args_.fc_dim);
    }
  }
  graph_.set_output(h);
  return std::move(graph_);
}

}  // namespace

// -------------------------------------------------------------------------------------------------

bool DeepNetsArch::is_vit() const {
  for (const auto* cell : {&genotype.normal, &genotype.reduce})
    for (const auto& e : *cell)
      if (e.first == "msa") return true;
  return false;
}

const std::vector<std::string>& deepnets_genotype_ops() { return kGenotypeOps; }

DeepNetsArch parse_deepnets_arch(const nlohmann::json& spec) {
  GHNAS_CHECK_AS(ArchError, spec.is_object(),
                 "expected an object with 'genotype' and 'net_args', got ", spec.dump().substr(0, 80));
  auto g = spec.find("genotype");
  GHNAS_CHECK_AS(ArchError, g != spec.end() && g->is_object(), "missing object 'genotype'");
  auto a = spec.find("net_args");
  GHNAS_CHECK_AS(ArchError, a != spec.end() && a->is_object(), "missing object 'net_args'");

  DeepNetsArch arch;
  arch.genotype.normal = parse_cell(*g, "normal");
  arch.genotype.normal_concat = parse_concat(*g, "normal_concat");
  arch.genotype.reduce = parse_cell(*g, "reduce");
  arch.genotype.reduce_concat = parse_concat(*g, "reduce_concat");

  DeepNetsNetArgs& n = arch.net_args;
  const DeepNetsNetArgs defaults;
  n.C = get_field<int>(*a, "C", "net_args", defaults.C, false);
  n.n_cells = get_field<int>(*a, "n_cells", "net_args", defaults.n_cells, true);
  n.ks = get_field<int>(*a, "ks", "net_args", defaults.ks, false);
  n.stem_type = get_field<int>(*a, "stem_type", "net_args", defaults.stem_type, false);
  n.stem_pool = get_flag(*a, "stem_pool", defaults.stem_pool);
  auto norm = a->find("norm");
  if (norm == a->end()) {
    n.norm = defaults.norm;
  } else if (norm->is_null()) {
    n.norm = "";
  } else {
    GHNAS_CHECK_AS(ArchError, norm->is_string(), "net_args.norm: expected \"bnorm\" or null, got ",
                   norm->dump());
    n.norm = norm->get<std::string>();
    if (n.norm == "none") n.norm = "";
  }
  n.preproc = get_flag(*a, "preproc", defaults.preproc);
  n.C_mult = get_field<int>(*a, "C_mult", "net_args", defaults.C_mult, false);
  n.fc_layers = get_field<int>(*a, "fc_layers", "net_args", defaults.fc_layers, false);
  n.fc_dim = get_field<int>(*a, "fc_dim", "net_args", defaults.fc_dim, false);
  n.glob_avg = get_flag(*a, "glob_avg", defaults.glob_avg);
  n.num_classes = get_field<int>(*a, "num_classes", "net_args", defaults.num_classes, false);
  n.is_imagenet_input = get_flag(*a, "is_imagenet_input", defaults.is_imagenet_input);
  validate_deepnets_arch(arch);
  return arch;
}

nlohmann::json deepnets_arch_to_json(const DeepNetsArch& arch) {
  auto cell = [](const std::vector<CellEdge>& edges) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [op, input] : edges) out.push_back({op, input});
    return out;
  };
  const auto& n = arch.net_args;
  return {{"genotype",
           {{"normal", cell(arch.genotype.normal)},
            {"normal_concat", arch.genotype.normal_concat},
            {"reduce", cell(arch.genotype.reduce)},
            {"reduce_concat", arch.genotype.reduce_concat}}},
          {"net_args",
           {{"C", n.C},
            {"n_cells", n.n_cells},
            {"ks", n.ks},
            {"stem_type", n.stem_type},
            {"stem_pool", n.stem_pool},
            {"norm", n.norm.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.norm)},
            {"preproc", n.preproc},
            {"C_mult", n.C_mult},
            {"fc_layers", n.fc_layers},
            {"fc_dim", n.fc_dim},
            {"glob_avg", n.glob_avg},
            {"num_classes", n.num_classes},
            {"is_imagenet_input", n.is_imagenet_input}}}};
}

void validate_deepnets_arch(const DeepNetsArch& arch) {
  validate_cell(arch.genotype.normal, arch.genotype.normal_concat, "normal");
  validate_cell(arch.genotype.reduce, arch.genotype.reduce_concat, "reduce");
  const auto& n = arch.net_args;
  GHNAS_CHECK_AS(ArchError, n.C >= 2 && n.C % 2 == 0, "net_args.C: must be an even number >= 2, got ",
                 n.C);
  GHNAS_CHECK_AS(ArchError, n.n_cells >= 1 && n.n_cells <= 1000, "net_args.n_cells: must be in 1..1000, got ",
                 n.n_cells);
  GHNAS_CHECK_AS(ArchError, n.ks >= 1 && n.ks % 2 == 1, "net_args.ks: must be odd and >= 1, got ",
                 n.ks);
  GHNAS_CHECK_AS(ArchError, n.stem_type == 0 || n.stem_type == 1,
                 "net_args.stem_type: must be 0 or 1, got ", n.stem_type);
  GHNAS_CHECK_AS(ArchError, n.norm.empty() || n.norm == "bnorm",
                 "net_args.norm: must be \"bnorm\" or null, got \"", n.norm, "\"");
  GHNAS_CHECK_AS(ArchError, n.C_mult >= 1 && n.C_mult <= 4, "net_args.C_mult: must be in 1..4, got ",
                 n.C_mult);
  GHNAS_CHECK_AS(ArchError, n.fc_layers >= 1 && n.fc_layers <= 4,
                 "net_args.fc_layers: must be in 1..4, got ", n.fc_layers);
  GHNAS_CHECK_AS(ArchError, n.fc_layers == 1 || n.fc_dim >= 1,
                 "net_args.fc_dim: must be positive with fc_layers > 1");
  const bool needs_preproc = arch.genotype.normal_concat.size() > 1 || n.C_mult > 1;
  GHNAS_CHECK_AS(ArchError, n.preproc || !needs_preproc,
                 "net_args.preproc: must be true when normal_concat has more than one state or "
                 "C_mult > 1 (the cell inputs would not match in channels)");
}

ArchGraph build_deepnets_graph(const DeepNetsArch& arch, const Task& task) {
  validate_deepnets_arch(arch);
  return Builder(arch, task).build();
}

// -------------------------------------------------------------------------------------------------

DeepNets1mSpace::DeepNets1mSpace(const SpaceOptions& options) {
  const SpaceOptions o = resolve_options("deepnets1m", param_specs(), options);
  variant_ = deepnets_variant_by_name(o.at("variant"));
  const std::string& width = o.at("width");
  try {
    std::size_t used = 0;
    width_ = std::stoi(width, &used);
    GHNAS_CHECK_AS(ConfigError, used == width.size() && width_ >= 0, "");
  } catch (const std::exception&) {
    throw ConfigError("deepnets1m option width must be a whole number >= 0, got '" + width + "'");
  }
}

std::vector<ParamSpec> DeepNets1mSpace::param_specs() {
  return {{"variant", "id",
           "sampling distribution: id (in-distribution) or the out-of-distribution variants",
           {"id", "wide", "deep", "dense", "bnfree"}},
          {"width", "0",
           "stem width C of sampled networks; 0 keeps the variant's (32; wide: 128). Narrow "
           "networks make SGD ground truth affordable on a CPU",
           {}}};
}

std::vector<ParamSpec> DeepNets1mSpace::params() const { return param_specs(); }

std::string DeepNets1mSpace::description() const {
  return "DeepNets-1M (Knyazev et al. 2021): DARTS-style cells over 15 ops, varied stems, depth, "
         "width, normalisation and heads";
}

Architecture DeepNets1mSpace::sample(Rng& rng) const {
  DeepNetsArch arch = sample_deepnets_arch(rng, variant_);
  if (width_ > 0) arch.net_args.C = width_;
  return {name(), deepnets_arch_to_json(arch)};
}

Architecture DeepNets1mSpace::mutate(const Architecture& arch, Rng& rng) const {
  return {name(), deepnets_arch_to_json(mutate_deepnets_arch(parse_deepnets_arch(arch.spec), rng))};
}

std::optional<Architecture> DeepNets1mSpace::at_width(const Architecture& arch, int width) const {
  GHNAS_CHECK_AS(ConfigError, width > 0, "deepnets1m: a network width must be positive, got ", width);
  DeepNetsArch a = parse_deepnets_arch(arch.spec);
  a.net_args.C = width;
  return Architecture{name(), deepnets_arch_to_json(a)};
}

std::optional<int> DeepNets1mSpace::width(const Architecture& arch) const {
  return parse_deepnets_arch(arch.spec).net_args.C;
}

std::vector<Architecture> DeepNets1mSpace::neighbours(const Architecture& arch) const {
  std::vector<Architecture> result;
  for (const auto& n : deepnets_neighbours(parse_deepnets_arch(arch.spec)))
    result.push_back({name(), deepnets_arch_to_json(n)});
  return result;
}

void DeepNets1mSpace::validate(const Architecture& arch) const {
  // Building is the complete check: shapes must agree and the output must be reachable.
  build_deepnets_graph(parse_deepnets_arch(arch.spec), task_by_name("cifar10"));
}

std::string DeepNets1mSpace::canonical_hash(const Architecture& arch) const {
  // The normalised JSON (fixed key order, defaults filled in) identifies the network.
  const std::string text = deepnets_arch_to_json(parse_deepnets_arch(arch.spec)).dump();
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a, 64 bit
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ArchGraph DeepNets1mSpace::build_graph(const Architecture& arch, const Task& task) const {
  return build_deepnets_graph(parse_deepnets_arch(arch.spec), task);
}

std::vector<Architecture> DeepNets1mSpace::read_archs(const std::string& path) const {
  const nlohmann::json doc = read_json_file(path);
  GHNAS_CHECK_AS(FileError, doc.is_array(), "'", path,
                 "': expected a JSON list of {genotype, net_args} objects");
  std::vector<Architecture> archs;
  archs.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    try {
      // Entries of ../shared/deepnets1m files carry extra fields (index, params_cifar10); keep
      // only what defines the network.
      archs.push_back({name(), deepnets_arch_to_json(parse_deepnets_arch(doc[i]))});
    } catch (const ArchError& e) {
      throw ArchError(detail::str_cat("'", path, "', architecture ", i, ": ", e.what()));
    }
  }
  return archs;
}

std::string DeepNets1mSpace::write_archs(const std::vector<Architecture>& archs) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : archs) out.push_back(a.spec);
  return out.dump(1) + "\n";
}

}  // namespace ghnas
