#include "space/nasbench201.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "space/graph_builder.hpp"

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

// The reference TinyNetwork: stem, three stages of normal cells with ResNet reductions between
// them, last BN-ReLU and the classifier; module names as its named_parameters() has them.
class Nb201NetworkBuilder {
 public:
  explicit Nb201NetworkBuilder(const Task& task) : b_(task, "nasbench201") {}

  ArchGraph build(const Nb201Cell& cell) {
    Vertex x = b_.input();
    x = b_.conv(x, "stem.0", kStemChannels, /*kernel=*/3, /*stride=*/1, /*pad=*/1);
    x = b_.batch_norm(x, "stem.1");

    int channels = kStemChannels;
    int index = 0;
    for (int stage = 0; stage < kStages; ++stage) {
      if (stage > 0) {
        b_.set_cell(index);
        const std::string module = "cells." + std::to_string(index);
        x = b_.resnet_reduction(x, module, channels * 2, ".op.1", ".op.2", module + ".downsample.1");
        channels *= 2;
        ++index;
      }
      for (int i = 0; i < kCellsPerStage; ++i, ++index) {
        b_.set_cell(index);
        x = normal_cell(x, cell, "cells." + std::to_string(index));
      }
    }
    b_.set_cell(-1);

    x = b_.batch_norm(x, "lastact.0");
    x = b_.simple(OpKind::kReLU, x);
    b_.classifier(x);
    return b_.finish();
  }

 private:
  // Node j sums the ops of its incoming edges; a none edge is dropped from the sum.
  Vertex normal_cell(Vertex input, const Nb201Cell& cell, const std::string& module) {
    const std::int64_t c = b_.shape(input)[0];
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
            terms.push_back(b_.relu_conv_bn(nodes[from], layer + ".op.1", layer + ".op.2", c, /*kernel=*/1, 1));
            break;
          case Nb201Op::kNorConv3x3:
            terms.push_back(b_.relu_conv_bn(nodes[from], layer + ".op.1", layer + ".op.2", c, /*kernel=*/3, 1));
            break;
          case Nb201Op::kAvgPool3x3:
            terms.push_back(b_.pool(OpKind::kAvgPool2d, nodes[from], /*kernel=*/3, /*stride=*/1, /*pad=*/1));
            break;
        }
      }
      // With every input edge none, the reference sums zero tensors: the node is an
      // all-zero tensor of the cell's shape, which later edges and cells still consume.
      nodes[to] = terms.empty() ? b_.simple(OpKind::kZeros, input) : b_.sum(terms);
    }
    return nodes[3];
  }

  GraphBuilder b_;
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
