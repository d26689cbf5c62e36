#include "space/json_space.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "space/graph_builder.hpp"

namespace ghnas {

namespace {

enum class CellOpKind { kNone, kSkip, kConv, kSepConv, kDilConv, kAvgPool, kMaxPool };

struct CellOpInfo {
  const char* name;
  CellOpKind kind;
  int kernel;
  const char* canonical;  // the name used in hashes (aliases map to one spelling)
};

const std::vector<CellOpInfo>& op_table() {
  static const std::vector<CellOpInfo> table = {
      {"none", CellOpKind::kNone, 0, "none"},
      {"skip_connect", CellOpKind::kSkip, 0, "skip_connect"},
      {"conv_1x1", CellOpKind::kConv, 1, "conv_1x1"},
      {"conv_3x3", CellOpKind::kConv, 3, "conv_3x3"},
      {"conv_5x5", CellOpKind::kConv, 5, "conv_5x5"},
      {"nor_conv_1x1", CellOpKind::kConv, 1, "conv_1x1"},
      {"nor_conv_3x3", CellOpKind::kConv, 3, "conv_3x3"},
      {"sep_conv_3x3", CellOpKind::kSepConv, 3, "sep_conv_3x3"},
      {"sep_conv_5x5", CellOpKind::kSepConv, 5, "sep_conv_5x5"},
      {"dil_conv_3x3", CellOpKind::kDilConv, 3, "dil_conv_3x3"},
      {"dil_conv_5x5", CellOpKind::kDilConv, 5, "dil_conv_5x5"},
      {"avg_pool_3x3", CellOpKind::kAvgPool, 3, "avg_pool_3x3"},
      {"max_pool_3x3", CellOpKind::kMaxPool, 3, "max_pool_3x3"},
  };
  return table;
}

const CellOpInfo& op_info(const std::string& name) {
  for (const auto& op : op_table())
    if (name == op.name) return op;
  throw ConfigError("unknown op '" + name + "'");  // callers check names first
}

template <typename T>
std::string join(const std::vector<T>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + std::string(item);
  return out;
}

// ---- reading the space file: each reader names the field it reads.

class SpecReader {
 public:
  explicit SpecReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw ConfigError("json space '" + source_ + "': field '" + field + "' " + why);
  }

  void only_fields(const nlohmann::json& obj, const std::string& prefix,
                   const std::vector<std::string>& known) const {
    for (const auto& [key, value] : obj.items()) {
      (void)value;
      if (std::find(known.begin(), known.end(), key) == known.end())
        fail(prefix + key, "is not a field of a json space (valid here: " + join(known, ", ") + ")");
    }
  }

  const nlohmann::json& object(const nlohmann::json& parent, const std::string& key,
                               const std::string& field) const {
    if (!parent.contains(key)) fail(field, "is missing (it must be an object)");
    const auto& v = parent.at(key);
    if (!v.is_object()) fail(field, "must be an object, got " + v.dump());
    return v;
  }

  int integer(const nlohmann::json& parent, const std::string& key, const std::string& field,
              int fallback, int lo, int hi) const {
    if (!parent.contains(key)) return fallback;
    const auto& v = parent.at(key);
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
      fail(field, detail::str_cat("must be a whole number in ", lo, "..", hi, ", got ", v.dump()));
    return v.get<int>();
  }

  std::string text(const nlohmann::json& parent, const std::string& key, const std::string& field,
                   const std::string& fallback, const std::vector<std::string>& choices = {}) const {
    if (!parent.contains(key)) return fallback;
    const auto& v = parent.at(key);
    if (!v.is_string()) fail(field, "must be a string, got " + v.dump());
    const std::string s = v.get<std::string>();
    if (!choices.empty() && std::find(choices.begin(), choices.end(), s) == choices.end())
      fail(field, "must be one of " + join(choices, ", ") + ", not '" + s + "'");
    return s;
  }

 private:
  std::string source_;
};

using Vertex = ArchGraph::Vertex;

// Stem, stages of cells with a reduction between them, ReLU and the classifier. Module names:
// stem.conv/bn, reductions.i, cells.i.nJ.eK (edge K into node J), cells.i.proj after a concat.
class JsonNetworkBuilder {
 public:
  JsonNetworkBuilder(const JsonSpaceSpec& spec, const std::string& space_name, const Task& task)
      : spec_(spec), b_(task, space_name) {}

  ArchGraph build(const JsonCellGenotype& genotype, const std::vector<int>& outputs) {
    Vertex x = b_.input();
    x = b_.conv(x, "stem.conv", spec_.stem_channels, /*kernel=*/3, /*stride=*/1, /*pad=*/1);
    x = b_.batch_norm(x, "stem.bn");

    std::int64_t channels = spec_.stem_channels;
    int index = 0;
    for (int stage = 0; stage < spec_.stages; ++stage) {
      if (stage > 0) {
        channels *= spec_.channel_multiplier;
        x = reduction(x, "reductions." + std::to_string(stage - 1), channels);
      }
      for (int i = 0; i < spec_.cells_per_stage; ++i, ++index) {
        b_.set_cell(index);
        x = cell(x, genotype, outputs, "cells." + std::to_string(index));
      }
      b_.set_cell(-1);
    }

    x = b_.simple(OpKind::kReLU, x);
    b_.classifier(x);
    return b_.finish();
  }

 private:
  Vertex relu_conv_bn(Vertex x, const std::string& module, std::int64_t c_out, int kernel, int stride) {
    return b_.relu_conv_bn(x, module + ".conv", module + ".bn", c_out, kernel, stride);
  }

  Vertex reduction(Vertex x, const std::string& module, std::int64_t c_out) {
    if (spec_.reduction == JsonReduction::kConv) return relu_conv_bn(x, module, c_out, 3, 2);
    return b_.resnet_reduction(x, module, c_out, ".conv", ".bn", module + ".downsample");
  }

  Vertex cell_op(const std::string& op_name, Vertex x, const std::string& module) {
    const CellOpInfo& op = op_info(op_name);
    const std::int64_t c = b_.shape(x)[0];
    switch (op.kind) {
      case CellOpKind::kNone:
        break;
      case CellOpKind::kSkip:
        return x;
      case CellOpKind::kConv:
        return relu_conv_bn(x, module, c, op.kernel, 1);
      case CellOpKind::kSepConv:
      case CellOpKind::kDilConv: {
        const int dilation = op.kind == CellOpKind::kDilConv ? 2 : 1;
        x = b_.simple(OpKind::kReLU, x);
        x = b_.conv(x, module + ".dw", c, op.kernel, /*stride=*/1, /*pad=*/dilation * (op.kernel - 1) / 2, dilation,
                    /*groups=*/static_cast<int>(c));
        x = b_.conv(x, module + ".pw", c, /*kernel=*/1, /*stride=*/1, /*pad=*/0);
        return b_.batch_norm(x, module + ".bn");
      }
      case CellOpKind::kAvgPool:
        return b_.pool(OpKind::kAvgPool2d, x, 3, 1, 1);
      case CellOpKind::kMaxPool:
        return b_.pool(OpKind::kMaxPool2d, x, 3, 1, 1);
    }
    throw Error("json space: op '" + op_name + "' has no network");  // none is never built
  }

  Vertex cell(Vertex input, const JsonCellGenotype& g, const std::vector<int>& outputs,
              const std::string& module) {
    const int n = static_cast<int>(g.size());
    // Only nodes that feed the output through non-none edges are built.
    std::vector<bool> needed(n + 1, false);
    for (int j : outputs) needed[j] = true;
    for (int j = n; j >= 1; --j) {
      if (!needed[j]) continue;
      for (const auto& e : g[j - 1])
        if (op_info(spec_.ops[e.op]).kind != CellOpKind::kNone) needed[e.input] = true;
    }
    std::vector<Vertex> value(n + 1, input);
    for (int j = 1; j <= n; ++j) {
      if (!needed[j]) continue;
      std::vector<Vertex> terms;
      for (std::size_t e = 0; e < g[j - 1].size(); ++e) {
        const auto& edge = g[j - 1][e];
        const std::string& op = spec_.ops[edge.op];
        if (op_info(op).kind == CellOpKind::kNone) continue;
        terms.push_back(cell_op(op, value[edge.input],
                                detail::str_cat(module, ".n", j, ".e", e)));
      }
      // All terms none: the node is a zero tensor of the cell's shape.
      value[j] = terms.empty() ? b_.simple(OpKind::kZeros, input) : b_.sum(terms);
    }
    std::vector<Vertex> ends;
    for (int j : outputs) ends.push_back(value[j]);
    if (spec_.output != JsonCellOutput::kConcat || ends.size() == 1) return b_.sum(ends);
    OpNode cat;
    cat.kind = OpKind::kConcat;
    const auto& s = b_.shape(input);
    cat.out_shape = {s[0] * static_cast<std::int64_t>(ends.size()), s[1], s[2]};
    Vertex x = b_.add(std::move(cat), ends);
    return relu_conv_bn(x, module + ".proj", s[0], /*kernel=*/1, /*stride=*/1);
  }

  const JsonSpaceSpec& spec_;
  GraphBuilder b_;
};

}  // namespace

const std::vector<std::string>& json_space_op_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& op : op_table()) n.push_back(op.name);
    return n;
  }();
  return names;
}

JsonSpaceSpec parse_json_space_spec(const nlohmann::json& doc, const std::string& source) {
  const SpecReader r(source);
  if (!doc.is_object())
    throw ConfigError("json space '" + source + "': the document must be an object with fields "
                      "ops, cell and macro, got " + doc.dump().substr(0, 80));
  r.only_fields(doc, "", {"name", "description", "ops", "cell", "macro"});
  JsonSpaceSpec spec;
  spec.name = r.text(doc, "name", "name", "");
  spec.description = r.text(doc, "description", "description", "");

  if (!doc.contains("ops")) r.fail("ops", "is missing (a list of op names such as \"conv_3x3\")");
  const auto& ops = doc.at("ops");
  if (!ops.is_array() || ops.empty()) r.fail("ops", "must be a non-empty list of op names, got " + ops.dump());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::string field = detail::str_cat("ops[", i, "]");
    if (!ops[i].is_string()) r.fail(field, "must be an op name, got " + ops[i].dump());
    const std::string name = ops[i].get<std::string>();
    const auto& valid = json_space_op_names();
    if (std::find(valid.begin(), valid.end(), name) == valid.end())
      r.fail(field, "names unknown op '" + name + "'; valid ops: " + join(valid, ", "));
    if (std::find(spec.ops.begin(), spec.ops.end(), name) != spec.ops.end())
      r.fail(field, "repeats op '" + name + "'");
    spec.ops.push_back(name);
  }

  const auto& cell = r.object(doc, "cell", "cell");
  r.only_fields(cell, "cell.", {"nodes", "inputs_per_node", "output"});
  spec.nodes = r.integer(cell, "nodes", "cell.nodes", 4, 1, 12);
  spec.inputs_per_node = r.integer(cell, "inputs_per_node", "cell.inputs_per_node", 2, 1, 12);
  const std::string output = r.text(cell, "output", "cell.output", "sum", {"last", "sum", "concat"});
  spec.output = output == "last" ? JsonCellOutput::kLast
                : output == "sum" ? JsonCellOutput::kSum
                                  : JsonCellOutput::kConcat;

  const auto& macro = r.object(doc, "macro", "macro");
  r.only_fields(macro, "macro.",
                {"stem_channels", "stages", "cells_per_stage", "reduction", "channel_multiplier"});
  spec.stem_channels = r.integer(macro, "stem_channels", "macro.stem_channels", 16, 1, 4096);
  spec.stages = r.integer(macro, "stages", "macro.stages", 3, 1, 8);
  spec.cells_per_stage = r.integer(macro, "cells_per_stage", "macro.cells_per_stage", 2, 1, 64);
  const std::string reduction =
      r.text(macro, "reduction", "macro.reduction", "resblock", {"resblock", "conv"});
  spec.reduction = reduction == "conv" ? JsonReduction::kConv : JsonReduction::kResBlock;
  spec.channel_multiplier =
      r.integer(macro, "channel_multiplier", "macro.channel_multiplier", 2, 1, 8);
  return spec;
}

// -------------------------------------------------------------------------------------------------

JsonCellSpace::JsonCellSpace(JsonSpaceSpec spec, std::string path, const SpaceOptions& options)
    : spec_(std::move(spec)), path_(std::move(path)) {
  resolve_options(name(), {}, options);
}

std::string JsonCellSpace::description() const {
  static const char* outputs[] = {"last node", "sum of loose ends", "concat of loose ends"};
  std::string text = spec_.description.empty() ? "cell space from " + path_ : spec_.description;
  return text + detail::str_cat(" (json space '", spec_.name.empty() ? path_ : spec_.name, "': ",
                                spec_.ops.size(), " ops, ", spec_.nodes, " nodes x ",
                                spec_.inputs_per_node, " inputs, output ",
                                outputs[static_cast<int>(spec_.output)], "; stem ",
                                spec_.stem_channels, ", ", spec_.stages, " stages x ",
                                spec_.cells_per_stage, " cells)");
}

int JsonCellSpace::edges_into(int node) const { return std::min(spec_.inputs_per_node, node); }

JsonCellGenotype JsonCellSpace::genotype_of(const Architecture& arch) const {
  const std::string who = name();
  GHNAS_CHECK_AS(ArchError, arch.space.empty() || arch.space == who, who,
                 ": the architecture belongs to space '", arch.space, "'");
  const auto& spec = arch.spec;
  GHNAS_CHECK_AS(ArchError, spec.is_object() && spec.contains("nodes") && spec.at("nodes").is_array(),
                 who, ": an architecture is {\"nodes\": [[[op, input], ...], ...]}, got ",
                 spec.dump());
  const auto& nodes = spec.at("nodes");
  GHNAS_CHECK_AS(ArchError, static_cast<int>(nodes.size()) == spec_.nodes, who, ": the cell has ",
                 nodes.size(), " intermediate nodes, the space has ", spec_.nodes);
  JsonCellGenotype g(spec_.nodes);
  for (int j = 1; j <= spec_.nodes; ++j) {
    const auto& node = nodes[j - 1];
    GHNAS_CHECK_AS(ArchError, node.is_array() && static_cast<int>(node.size()) == edges_into(j),
                   who, ": node ", j, " must be a list of ", edges_into(j), " [op, input] edges, got ",
                   node.dump());
    std::set<int> inputs;
    for (std::size_t e = 0; e < node.size(); ++e) {
      const auto& edge = node[e];
      GHNAS_CHECK_AS(ArchError, edge.is_array() && edge.size() == 2 && edge[0].is_string() &&
                                    edge[1].is_number_integer(),
                     who, ": node ", j, " edge ", e, " must be [op name, input node], got ",
                     edge.dump());
      const std::string op = edge[0].get<std::string>();
      const auto it = std::find(spec_.ops.begin(), spec_.ops.end(), op);
      GHNAS_CHECK_AS(ArchError, it != spec_.ops.end(), who, ": node ", j, " edge ", e,
                     ": op '", op, "' is not in the space; its ops: ", join(spec_.ops, ", "));
      const long long input = edge[1].get<long long>();
      GHNAS_CHECK_AS(ArchError, input >= 0 && input < j, who, ": node ", j, " edge ", e,
                     ": input ", input, " is not an earlier node (0..", j - 1, ")");
      GHNAS_CHECK_AS(ArchError, inputs.insert(static_cast<int>(input)).second, who, ": node ", j,
                     " reads node ", input, " twice; the inputs of a node are distinct");
      g[j - 1].push_back({static_cast<int>(it - spec_.ops.begin()), static_cast<int>(input)});
    }
  }
  return g;
}

Architecture JsonCellSpace::make_arch(const JsonCellGenotype& g) const {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : g) {
    nlohmann::json edges = nlohmann::json::array();
    for (const auto& e : node) edges.push_back({spec_.ops[e.op], e.input});
    nodes.push_back(edges);
  }
  return {name(), {{"nodes", nodes}}};
}

Architecture JsonCellSpace::sample(Rng& rng) const {
  JsonCellGenotype g(spec_.nodes);
  std::uniform_int_distribution<int> op(0, static_cast<int>(spec_.ops.size()) - 1);
  for (int j = 1; j <= spec_.nodes; ++j) {
    std::vector<int> inputs(j);
    for (int i = 0; i < j; ++i) inputs[i] = i;
    // A uniform subset of edges_into(j) distinct inputs, kept in ascending order.
    std::shuffle(inputs.begin(), inputs.end(), rng);
    inputs.resize(edges_into(j));
    std::sort(inputs.begin(), inputs.end());
    for (int input : inputs) g[j - 1].push_back({op(rng), input});
  }
  return make_arch(g);
}

Architecture JsonCellSpace::mutate(const Architecture& arch, Rng& rng) const {
  JsonCellGenotype g = genotype_of(arch);
  const bool op_ok = spec_.ops.size() > 1;
  std::vector<int> rewirable;  // nodes with an earlier node they do not read yet
  for (int j = 1; j <= spec_.nodes; ++j)
    if (j > edges_into(j)) rewirable.push_back(j);
  GHNAS_CHECK_AS(ArchError, op_ok || !rewirable.empty(), name(),
                 ": the space holds a single architecture, which cannot be mutated");
  const bool op_mutation =
      op_ok && (rewirable.empty() || std::uniform_int_distribution<int>(0, 1)(rng) == 0);
  if (op_mutation) {
    const int j = std::uniform_int_distribution<int>(1, spec_.nodes)(rng);
    auto& edge = g[j - 1][std::uniform_int_distribution<std::size_t>(0, g[j - 1].size() - 1)(rng)];
    // Draw among the other ops, so the result differs.
    int op = std::uniform_int_distribution<int>(0, static_cast<int>(spec_.ops.size()) - 2)(rng);
    if (op >= edge.op) ++op;
    edge.op = op;
  } else {
    const int j = rewirable[std::uniform_int_distribution<std::size_t>(0, rewirable.size() - 1)(rng)];
    auto& node = g[j - 1];
    std::vector<int> unused;
    for (int i = 0; i < j; ++i)
      if (std::none_of(node.begin(), node.end(), [&](const JsonCellEdge& e) { return e.input == i; }))
        unused.push_back(i);
    auto& edge = node[std::uniform_int_distribution<std::size_t>(0, node.size() - 1)(rng)];
    edge.input = unused[std::uniform_int_distribution<std::size_t>(0, unused.size() - 1)(rng)];
  }
  return make_arch(g);
}

std::vector<Architecture> JsonCellSpace::neighbours(const Architecture& arch) const {
  const JsonCellGenotype g = genotype_of(arch);
  std::vector<Architecture> result;
  for (int j = 1; j <= spec_.nodes; ++j) {
    for (std::size_t e = 0; e < g[j - 1].size(); ++e) {
      for (int op = 0; op < static_cast<int>(spec_.ops.size()); ++op) {
        if (op == g[j - 1][e].op) continue;
        JsonCellGenotype next = g;
        next[j - 1][e].op = op;
        result.push_back(make_arch(next));
      }
      for (int i = 0; i < j; ++i) {
        const auto& node = g[j - 1];
        if (std::any_of(node.begin(), node.end(), [&](const JsonCellEdge& x) { return x.input == i; }))
          continue;
        JsonCellGenotype next = g;
        next[j - 1][e].input = i;
        result.push_back(make_arch(next));
      }
    }
  }
  return result;
}

void JsonCellSpace::validate(const Architecture& arch) const { genotype_of(arch); }

std::vector<int> JsonCellSpace::cell_outputs(const JsonCellGenotype& g) const {
  if (spec_.output == JsonCellOutput::kLast) return {spec_.nodes};
  std::vector<bool> read(spec_.nodes + 1, false);
  for (const auto& node : g)
    for (const auto& e : node)
      if (op_info(spec_.ops[e.op]).kind != CellOpKind::kNone) read[e.input] = true;
  std::vector<int> ends;
  for (int j = 1; j <= spec_.nodes; ++j)
    if (!read[j]) ends.push_back(j);
  return ends;  // never empty: the last node is read by no one
}

std::vector<std::string> JsonCellSpace::node_strings(const JsonCellGenotype& g) const {
  std::vector<std::string> s(spec_.nodes + 1);
  s[0] = "x";
  for (int j = 1; j <= spec_.nodes; ++j) {
    std::vector<std::string> terms;
    for (const auto& e : g[j - 1]) {
      const CellOpInfo& op = op_info(spec_.ops[e.op]);
      if (op.kind == CellOpKind::kNone) continue;
      terms.push_back(op.kind == CellOpKind::kSkip ? s[e.input]
                                                   : std::string(op.canonical) + "(" + s[e.input] + ")");
    }
    std::sort(terms.begin(), terms.end());
    s[j] = terms.empty() ? "0" : terms.size() == 1 ? terms[0] : "(" + join(terms, "+") + ")";
  }
  return s;
}

std::string JsonCellSpace::canonical_hash(const Architecture& arch) const {
  const JsonCellGenotype g = genotype_of(arch);
  const std::vector<std::string> s = node_strings(g);
  std::vector<std::string> ends;
  for (int j : cell_outputs(g)) ends.push_back(s[j]);
  if (ends.size() == 1) return ends[0];
  std::sort(ends.begin(), ends.end());
  return spec_.output == JsonCellOutput::kConcat ? "cat(" + join(ends, "|") + ")"
                                                 : "sum(" + join(ends, "+") + ")";
}

ArchGraph JsonCellSpace::build_graph(const Architecture& arch, const Task& task) const {
  const JsonCellGenotype g = genotype_of(arch);
  return JsonNetworkBuilder(spec_, name(), task).build(g, cell_outputs(g));
}

std::vector<Architecture> JsonCellSpace::read_archs(const std::string& path) const {
  const nlohmann::json doc = read_json_file(path);
  GHNAS_CHECK_AS(FileError, doc.is_array(), "'", path, "': expected a JSON list of ", name(),
                 " architectures");
  std::vector<Architecture> archs;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    Architecture arch{name(), doc[i]};
    try {
      validate(arch);
    } catch (const ArchError& e) {
      throw ArchError(detail::str_cat("'", path, "', architecture ", i, ": ", e.what()));
    }
    archs.push_back(std::move(arch));
  }
  return archs;
}

std::string JsonCellSpace::write_archs(const std::vector<Architecture>& archs) const {
  std::string text = "[";
  for (std::size_t i = 0; i < archs.size(); ++i) {
    validate(archs[i]);
    text += (i ? ",\n " : "\n ") + archs[i].spec.dump();
  }
  return text + "\n]\n";
}

std::unique_ptr<SearchSpace> make_json_space(const std::string& path, const SpaceOptions& options) {
  GHNAS_CHECK_AS(ConfigError, !path.empty(), "a json space needs a file: json:PATH");
  return std::make_unique<JsonCellSpace>(parse_json_space_spec(read_json_file(path), path), path,
                                         options);
}

}  // namespace ghnas
