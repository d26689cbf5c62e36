#include "space/nasbench201.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "core/json_io.hpp"

namespace ghnas {

namespace {

constexpr const char* kArchForm = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|";
constexpr int kStemChannels = 16;  // C of the benchmark's networks
constexpr int kCellsPerStage = 5;  // N
constexpr int kStages = 3;

const std::array<Nb201Op, kNb201NumOps>& all_ops() {
  static const std::array<Nb201Op, kNb201NumOps> ops = {
      Nb201Op::kNone, Nb201Op::kSkipConnect, Nb201Op::kNorConv1x1, Nb201Op::kNorConv3x3,
      Nb201Op::kAvgPool3x3};
  return ops;
}

std::string valid_op_names() {
  std::string names;
  for (Nb201Op op : all_ops()) names += (names.empty() ? "" : ", ") + std::string(nb201_op_name(op));
  return names;
}

// Splits on `sep`, keeping empty pieces so that "a++b" or a trailing '+' stay visible as errors.
std::vector<std::string> split_keep_empty(const std::string& text, char sep) {
  std::vector<std::string> pieces(1);
  for (char c : text) {
    if (c == sep)
      pieces.emplace_back();
    else
      pieces.back() += c;
  }
  return pieces;
}

[[noreturn]] void bad_arch(const std::string& arch_str, const std::string& why) {
  throw ArchError(detail::str_cat("nasbench201: bad arch string '", arch_str, "': ", why,
                                  " (expected the form ", kArchForm, ")"));
}

// Index of edge (from -> to) in nb201_edges() order.
int edge_index(int from, int to) { return to * (to - 1) / 2 + from; }

using Vertex = ArchGraph::Vertex;

// Builds the reference TinyNetwork op by op, in the order its forward pass runs, so that
// vertex order is topological and node parameters come out in named_parameters() order.
class Nb201NetworkBuilder {
 public:
  explicit Nb201NetworkBuilder(const Task& task) : graph_(task) {}

  ArchGraph build(const Nb201Cell& cell) {
    const Task& task = graph_.task();
    GHNAS_CHECK_AS(ConfigError, task.channels > 0 && task.height > 0 && task.width > 0 &&
                                    task.classes > 0,
                   "nasbench201: task '", task.name, "' needs positive channels, image size and "
                   "classes");
    OpNode input;
    input.kind = OpKind::kInput;
    input.out_shape = {task.channels, task.height, task.width};
    Vertex x = graph_.add(std::move(input));

    x = conv(x, "stem.0", kStemChannels, /*kernel=*/3, /*stride=*/1, /*pad=*/1);
    x = batch_norm(x, "stem.1");

    int channels = kStemChannels;
    int index = 0;
    for (int stage = 0; stage < kStages; ++stage) {
      if (stage > 0) {
        cell_ = index;
        x = reduction_block(x, "cells." + std::to_string(index), channels * 2);
        channels *= 2;
        ++index;
      }
      for (int i = 0; i < kCellsPerStage; ++i, ++index) {
        cell_ = index;
        x = normal_cell(x, cell, "cells." + std::to_string(index));
      }
    }
    cell_ = -1;

    x = batch_norm(x, "lastact.0");
    x = simple(OpKind::kReLU, x);
    OpNode pool;
    pool.kind = OpKind::kGlobalAvgPool;
    pool.out_shape = {channels, 1, 1};
    x = add(std::move(pool), {x});
    OpNode flatten;
    flatten.kind = OpKind::kFlatten;
    flatten.out_shape = {channels};
    x = add(std::move(flatten), {x});
    OpNode classifier;
    classifier.kind = OpKind::kLinear;
    classifier.module = "classifier";
    classifier.params = {{"classifier.weight", {task.classes, channels}},
                         {"classifier.bias", {task.classes}}};
    classifier.out_shape = {task.classes};
    graph_.set_output(add(std::move(classifier), {x}));
    return std::move(graph_);
  }

 private:
  const std::vector<std::int64_t>& shape(Vertex v) const { return graph_.node(v).out_shape; }

  Vertex add(OpNode node, const std::vector<Vertex>& inputs) {
    node.cell = cell_;
    return graph_.add(std::move(node), inputs);
  }

  // A parameter-free op that keeps the shape of its input (ReLU, zeros).
  Vertex simple(OpKind kind, Vertex x) {
    OpNode n;
    n.kind = kind;
    n.out_shape = shape(x);
    return add(std::move(n), {x});
  }

  Vertex conv(Vertex x, const std::string& module, std::int64_t c_out, int kernel, int stride,
              int pad) {
    const auto& in = shape(x);
    OpNode n;
    n.kind = OpKind::kConv2d;
    n.module = module;
    // Every convolution of the benchmark is followed by a BatchNorm and has no bias.
    n.params = {{module + ".weight", {c_out, in[0], kernel, kernel}}};
    n.kernel_h = n.kernel_w = kernel;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = pad;
    n.out_shape = {c_out, (in[1] + 2 * pad - kernel) / stride + 1,
                   (in[2] + 2 * pad - kernel) / stride + 1};
    GHNAS_CHECK_AS(ConfigError, n.out_shape[1] > 0 && n.out_shape[2] > 0, "nasbench201: ",
                   module, ": the image of task '", graph_.task().name, "' is too small");
    return add(std::move(n), {x});
  }

  Vertex batch_norm(Vertex x, const std::string& module) {
    OpNode n;
    n.kind = OpKind::kBatchNorm2d;
    n.module = module;
    const std::int64_t c = shape(x)[0];
    // affine=True everywhere in the benchmark's networks; running statistics are buffers.
    n.params = {{module + ".weight", {c}}, {module + ".bias", {c}}};
    n.out_shape = shape(x);
    return add(std::move(n), {x});
  }

  Vertex avg_pool(Vertex x, int kernel, int stride, int pad) {
    const auto& in = shape(x);
    OpNode n;
    n.kind = OpKind::kAvgPool2d;
    n.kernel_h = n.kernel_w = kernel;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = pad;
    n.out_shape = {in[0], (in[1] + 2 * pad - kernel) / stride + 1,
                   (in[2] + 2 * pad - kernel) / stride + 1};
    return add(std::move(n), {x});
  }

  Vertex relu_conv_bn(Vertex x, const std::string& module, std::int64_t c_out, int kernel,
                      int stride) {
    x = simple(OpKind::kReLU, x);
    x = conv(x, module + ".op.1", c_out, kernel, stride, /*pad=*/kernel / 2);
    return batch_norm(x, module + ".op.2");
  }

  Vertex sum(const std::vector<Vertex>& terms) {
    if (terms.size() == 1) return terms[0];
    OpNode n;
    n.kind = OpKind::kAdd;
    n.out_shape = shape(terms[0]);
    return add(std::move(n), terms);
  }

  // ResNet basic block with stride 2 between stages: ReLU-Conv3x3/2-BN, ReLU-Conv3x3-BN, plus a
  // shortcut AvgPool2d(2, 2) then Conv1x1 (no bias, no BN).
  Vertex reduction_block(Vertex x, const std::string& module, std::int64_t c_out) {
    Vertex body = relu_conv_bn(x, module + ".conv_a", c_out, /*kernel=*/3, /*stride=*/2);
    body = relu_conv_bn(body, module + ".conv_b", c_out, /*kernel=*/3, /*stride=*/1);
    Vertex shortcut = avg_pool(x, /*kernel=*/2, /*stride=*/2, /*pad=*/0);
    shortcut = conv(shortcut, module + ".downsample.1", c_out, /*kernel=*/1, /*stride=*/1,
                    /*pad=*/0);
    GHNAS_CHECK_AS(ConfigError, shape(shortcut) == shape(body), "nasbench201: ", module,
                   ": the shortcut and the body of the reduction block disagree on the image "
                   "of task '", graph_.task().name, "' (", shape(x)[1], "x", shape(x)[2],
                   " input); NAS-Bench-201 networks need even sizes at each reduction");
    return sum({shortcut, body});
  }

  // Node j sums the ops of its incoming edges; a none edge is dropped from the sum.
  Vertex normal_cell(Vertex input, const Nb201Cell& cell, const std::string& module) {
    const std::int64_t c = shape(input)[0];
    std::array<Vertex, 4> nodes{};
    nodes[0] = input;
    for (int to = 1; to <= 3; ++to) {
      std::vector<Vertex> terms;
      for (int from = 0; from < to; ++from) {
        const int k = edge_index(from, to);
        const std::string layer = module + ".layers." + std::to_string(k);
        switch (cell.ops[k]) {
          case Nb201Op::kNone:
            break;
          case Nb201Op::kSkipConnect:
            terms.push_back(nodes[from]);
            break;
          case Nb201Op::kNorConv1x1:
            terms.push_back(relu_conv_bn(nodes[from], layer, c, /*kernel=*/1, /*stride=*/1));
            break;
          case Nb201Op::kNorConv3x3:
            terms.push_back(relu_conv_bn(nodes[from], layer, c, /*kernel=*/3, /*stride=*/1));
            break;
          case Nb201Op::kAvgPool3x3:
            terms.push_back(avg_pool(nodes[from], /*kernel=*/3, /*stride=*/1, /*pad=*/1));
            break;
        }
      }
      // With every input edge none, the reference sums zero tensors: the node is an
      // all-zero tensor of the cell's shape, which later edges and cells still consume.
      nodes[to] = terms.empty() ? simple(OpKind::kZeros, input) : sum(terms);
    }
    return nodes[3];
  }

  ArchGraph graph_;
  int cell_ = -1;
};

}  // namespace

const char* nb201_op_name(Nb201Op op) {
  switch (op) {
    case Nb201Op::kNone: return "none";
    case Nb201Op::kSkipConnect: return "skip_connect";
    case Nb201Op::kNorConv1x1: return "nor_conv_1x1";
    case Nb201Op::kNorConv3x3: return "nor_conv_3x3";
    case Nb201Op::kAvgPool3x3: return "avg_pool_3x3";
  }
  return "?";
}

const std::array<Nb201Edge, kNb201NumEdges>& nb201_edges() {
  static const std::array<Nb201Edge, kNb201NumEdges> edges = {
      Nb201Edge{0, 1}, Nb201Edge{0, 2}, Nb201Edge{1, 2},
      Nb201Edge{0, 3}, Nb201Edge{1, 3}, Nb201Edge{2, 3}};
  return edges;
}

Nb201Cell parse_nb201_arch(const std::string& arch_str) {
  const std::vector<std::string> nodes = split_keep_empty(arch_str, '+');
  if (nodes.size() != 3)
    bad_arch(arch_str, detail::str_cat("it has ", nodes.size(), " node group(s) separated by '+', "
                                       "expected 3"));
  Nb201Cell cell;
  for (int to = 1; to <= 3; ++to) {
    const std::string& group = nodes[to - 1];
    if (group.size() < 2 || group.front() != '|' || group.back() != '|')
      bad_arch(arch_str, detail::str_cat("node ", to, " '", group, "' is not enclosed in '|'"));
    const std::vector<std::string> entries =
        split_keep_empty(group.substr(1, group.size() - 2), '|');
    if (static_cast<int>(entries.size()) != to)
      bad_arch(arch_str, detail::str_cat("node ", to, " has ", entries.size(),
                                         " edge(s), expected ", to));
    for (int from = 0; from < to; ++from) {
      const std::string& entry = entries[from];
      const auto tilde = entry.find('~');
      if (tilde == std::string::npos)
        bad_arch(arch_str, detail::str_cat("edge '", entry, "' of node ", to,
                                           " is not of the form op~input"));
      const std::string op_name = entry.substr(0, tilde);
      const std::string input = entry.substr(tilde + 1);
      const auto& ops = all_ops();
      const auto op = std::find_if(ops.begin(), ops.end(), [&](Nb201Op o) {
        return op_name == nb201_op_name(o);
      });
      if (op == ops.end())
        bad_arch(arch_str, detail::str_cat("unknown op '", op_name, "' on an edge into node ", to,
                                           "; valid ops: ", valid_op_names()));
      const bool numeric = !input.empty() && input.size() <= 3 &&
                           std::all_of(input.begin(), input.end(),
                                       [](unsigned char ch) { return std::isdigit(ch) != 0; });
      if (!numeric)
        bad_arch(arch_str, detail::str_cat("edge '", entry, "' of node ", to, ": input '", input,
                                           "' is not a node number"));
      // The edges of a node are fixed and listed by input, so position `from` must name
      // input `from`; accepting other orders would give one cell several spellings.
      if (std::stoi(input) != from)
        bad_arch(arch_str, detail::str_cat("edge '", entry, "' of node ", to, " has input ", input,
                                           ", expected ", from, " (node ", to,
                                           " lists inputs 0..", to - 1, " in order)"));
      cell.ops[edge_index(from, to)] = *op;
    }
  }
  return cell;
}

std::string format_nb201_arch(const Nb201Cell& cell) {
  std::string text;
  for (int to = 1; to <= 3; ++to) {
    if (to > 1) text += '+';
    text += '|';
    for (int from = 0; from < to; ++from) {
      text += nb201_op_name(cell.ops[edge_index(from, to)]);
      text += '~';
      text += std::to_string(from);
      text += '|';
    }
  }
  return text;
}

int nb201_cell_code(const Nb201Cell& cell) {
  int code = 0;
  for (Nb201Op op : cell.ops) code = code * kNb201NumOps + static_cast<int>(op);
  return code;
}

Nb201Cell nb201_cell_from_code(int code) {
  GHNAS_CHECK_AS(ArchError, code >= 0 && code < kNb201NumCells, "nasbench201: cell code ", code,
                 " is outside 0..", kNb201NumCells - 1);
  Nb201Cell cell;
  for (int k = kNb201NumEdges - 1; k >= 0; --k) {
    cell.ops[k] = static_cast<Nb201Op>(code % kNb201NumOps);
    code /= kNb201NumOps;
  }
  return cell;
}

std::string nb201_unique_str(const Nb201Cell& cell) {
  std::array<std::string, 4> nodes;
  nodes[0] = "0";
  for (int to = 1; to <= 3; ++to) {
    std::vector<std::string> terms;
    for (int from = 0; from < to; ++from) {
      const Nb201Op op = cell.ops[edge_index(from, to)];
      // Only a node that is exactly "#" counts as zero downstream; a sum of zero terms such as
      // "#+#" does not. That is the benchmark's rule, and its 6,466 classes depend on it.
      if (op == Nb201Op::kNone || nodes[from] == "#")
        terms.emplace_back("#");
      else if (op == Nb201Op::kSkipConnect)
        terms.push_back(nodes[from]);
      else
        terms.push_back("(" + nodes[from] + ")@" + nb201_op_name(op));
    }
    std::sort(terms.begin(), terms.end());
    std::string joined;
    for (const auto& t : terms) joined += (joined.empty() ? "" : "+") + t;
    nodes[to] = std::move(joined);
  }
  return nodes[3];
}

ArchGraph build_nb201_graph(const Nb201Cell& cell, const Task& task) {
  return Nb201NetworkBuilder(task).build(cell);
}

// -------------------------------------------------------------------------------------------------

NasBench201Space::NasBench201Space(const SpaceOptions& options) {
  resolve_options("nasbench201", param_specs(), options);
}

std::vector<ParamSpec> NasBench201Space::param_specs() { return {}; }

std::string NasBench201Space::description() const {
  return "NAS-Bench-201 / NATS-Bench topology (Dong & Yang 2020): 5 ops on the 6 edges of a "
         "4-node cell, 15,625 cells, in a C=16, N=5 three-stage network";
}

Nb201Cell NasBench201Space::cell_of(const Architecture& arch) const {
  GHNAS_CHECK_AS(ArchError, arch.space.empty() || arch.space == name(),
                 "nasbench201: the architecture belongs to space '", arch.space, "'");
  GHNAS_CHECK_AS(ArchError, arch.spec.is_string(),
                 "nasbench201: an architecture is an arch string such as '", kArchForm,
                 "', got ", arch.spec.dump());
  return parse_nb201_arch(arch.spec.get<std::string>());
}

Architecture NasBench201Space::make_arch(const Nb201Cell& cell) const {
  return {name(), format_nb201_arch(cell)};
}

Architecture NasBench201Space::sample(Rng& rng) const {
  // Uniform over cells is uniform and independent over the six edges' ops.
  std::uniform_int_distribution<int> code(0, kNb201NumCells - 1);
  return make_arch(nb201_cell_from_code(code(rng)));
}

Architecture NasBench201Space::mutate(const Architecture& arch, Rng& rng) const {
  // Only op mutations: the six edges of a NAS-Bench-201 cell are fixed, so the input
  // (hidden-state) mutation of regularized evolution has nothing to rewire here.
  Nb201Cell cell = cell_of(arch);
  const int edge = std::uniform_int_distribution<int>(0, kNb201NumEdges - 1)(rng);
  // Draw among the four other ops, so the result always differs.
  int op = std::uniform_int_distribution<int>(0, kNb201NumOps - 2)(rng);
  if (op >= static_cast<int>(cell.ops[edge])) ++op;
  cell.ops[edge] = static_cast<Nb201Op>(op);
  return make_arch(cell);
}

std::vector<Architecture> NasBench201Space::neighbours(const Architecture& arch) const {
  const Nb201Cell cell = cell_of(arch);
  std::vector<Architecture> result;
  result.reserve(kNb201NumEdges * (kNb201NumOps - 1));
  for (int k = 0; k < kNb201NumEdges; ++k) {
    for (Nb201Op op : all_ops()) {
      if (op == cell.ops[k]) continue;
      Nb201Cell next = cell;
      next.ops[k] = op;
      result.push_back(make_arch(next));
    }
  }
  return result;
}

void NasBench201Space::validate(const Architecture& arch) const {
  // Every well-formed cell is a member: nodes with only none inputs are zero tensors, which
  // the network (and the benchmark) handles.
  cell_of(arch);
}

std::string NasBench201Space::canonical_hash(const Architecture& arch) const {
  return nb201_unique_str(cell_of(arch));
}

ArchGraph NasBench201Space::build_graph(const Architecture& arch, const Task& task) const {
  return build_nb201_graph(cell_of(arch), task);
}

std::vector<Architecture> NasBench201Space::read_archs(const std::string& path) const {
  // read_text_lines drops blank and comment lines and with them the line numbers, which the
  // error messages need; the same skipping rules are applied here.
  const std::vector<std::string> lines = split_keep_empty(read_file(path), '\n');
  std::vector<Architecture> archs;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line = lines[i];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
    try {
      archs.push_back(make_arch(parse_nb201_arch(line)));
    } catch (const ArchError& e) {
      throw ArchError(detail::str_cat("'", path, "', line ", i + 1, ": ", e.what()));
    }
  }
  return archs;
}

std::string NasBench201Space::write_archs(const std::vector<Architecture>& archs) const {
  std::string text;
  for (const auto& arch : archs) {
    text += format_nb201_arch(cell_of(arch));
    text += '\n';
  }
  return text;
}

}  // namespace ghnas
