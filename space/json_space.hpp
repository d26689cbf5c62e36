#pragma once
// A search space declared in a JSON file, for the common "cells of these ops" case: users
// describe the cell (op list, intermediate nodes, inputs per node, how the cell output is
// formed) and the macro skeleton (stem, stages, cells per stage, reductions), and get a
// space that samples, mutates, validates, hashes and builds ArchGraphs without compiling
// anything. It is named "json:<path>", so make_space("json:cells.json") (and
// `--space json:cells.json` on the command line) reads the file. Example and field
// reference: examples/json_space/.
//
// The cell, in the spirit of NAS-Bench-201 and DARTS cells: node 0 is the cell input;
// intermediate node j (1..nodes) picks min(inputs_per_node, j) distinct earlier nodes and
// applies one op to each; its value is the sum of those terms ("none" terms drop out, a node
// with no terms left is a zero tensor). The cell output is the last node ("last"), or the sum
// ("sum") or channel concatenation followed by ReLU-Conv1x1-BN back to the cell width
// ("concat") of the loose ends: the intermediate nodes no other node reads through a
// non-none op. Nodes that do not feed the cell output are not built.
//
// The network: stem Conv3x3(task channels -> stem_channels, no bias) + BN; `stages` stages of
// `cells_per_stage` cells with the same cell; between stages a reduction multiplies the
// width by channel_multiplier and halves the image ("resblock": the ResNet basic block with
// stride 2 and an AvgPool-Conv1x1 shortcut, as in NAS-Bench-201; "conv": ReLU-Conv3x3/2-BN);
// then ReLU, global average pool and Linear(width -> classes) with bias.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// Prefix of the space names that refer to a JSON space file.
constexpr const char* kJsonSpacePrefix = "json:";

/// Cell ops a JSON space may list, by name: none, skip_connect, conv_1x1, conv_3x3,
/// conv_5x5 (ReLU-Conv-BN; nor_conv_1x1 and nor_conv_3x3 are accepted as NAS-Bench-201
/// spellings), sep_conv_3x3, sep_conv_5x5 (ReLU, depthwise conv, pointwise conv, BN),
/// dil_conv_3x3, dil_conv_5x5 (the same with dilation 2), avg_pool_3x3, max_pool_3x3.
const std::vector<std::string>& json_space_op_names();

enum class JsonCellOutput { kLast, kSum, kConcat };
enum class JsonReduction { kResBlock, kConv };

/// The parsed space file.
struct JsonSpaceSpec {
  std::string name;         // "name" field (informational)
  std::string description;  // "description" field
  std::vector<std::string> ops;
  int nodes = 4;
  int inputs_per_node = 2;
  JsonCellOutput output = JsonCellOutput::kSum;
  int stem_channels = 16;
  int stages = 3;
  int cells_per_stage = 2;
  JsonReduction reduction = JsonReduction::kResBlock;
  int channel_multiplier = 2;
};

/// Parses a space document. `source` (the file) prefixes every message; errors are
/// ConfigError naming the field at fault ("cell.nodes", "ops[2]", ...).
JsonSpaceSpec parse_json_space_spec(const nlohmann::json& doc, const std::string& source);

/// One edge into an intermediate node: index into spec.ops, and the input node.
struct JsonCellEdge {
  int op = 0;
  int input = 0;
  bool operator==(const JsonCellEdge& o) const { return op == o.op && input == o.input; }
};

/// The edges of intermediate nodes 1..nodes (element j-1 for node j).
using JsonCellGenotype = std::vector<std::vector<JsonCellEdge>>;

/// The space. Architecture.spec is {"nodes": [[["conv_3x3", 0]], [["skip_connect", 0],
/// ["sep_conv_3x3", 1]], ...]}: for each intermediate node its [op, input] edges.
class JsonCellSpace : public SearchSpace {
 public:
  /// `path` is the file, used in the space's name and in messages.
  JsonCellSpace(JsonSpaceSpec spec, std::string path, const SpaceOptions& options = {});

  std::string name() const override { return kJsonSpacePrefix + path_; }
  std::string description() const override;
  /// Inputs uniform among the distinct choices, ops uniform.
  Architecture sample(Rng& rng) const override;
  /// An op mutation (one edge gets another op) or an input mutation (one edge reads another
  /// earlier node), chosen at random among those the space allows.
  Architecture mutate(const Architecture& arch, Rng& rng) const override;
  /// Every single op change and every single input change.
  std::vector<Architecture> neighbours(const Architecture& arch) const override;
  void validate(const Architecture& arch) const override;
  /// The cell output as an expression over the input "x", with terms sorted, none edges
  /// dropped, skip connections composed away and nodes that do not feed the output left out
  /// (in the manner of NAS-Bench-201's unique_str): cells that build the same network up to
  /// the order of the nodes and of each sum's terms hash equal.
  std::string canonical_hash(const Architecture& arch) const override;
  ArchGraph build_graph(const Architecture& arch, const Task& task) const override;
  /// A JSON list of architecture specs. Errors name the file and the entry.
  std::vector<Architecture> read_archs(const std::string& path) const override;
  /// A JSON list, one architecture per line.
  std::string write_archs(const std::vector<Architecture>& archs) const override;

  const JsonSpaceSpec& spec() const { return spec_; }
  /// The genotype of `arch`; throws ArchError naming the node and edge at fault.
  JsonCellGenotype genotype_of(const Architecture& arch) const;
  Architecture make_arch(const JsonCellGenotype& genotype) const;

 private:
  int edges_into(int node) const;  // node 1..nodes
  std::vector<std::string> node_strings(const JsonCellGenotype& g) const;
  std::vector<int> cell_outputs(const JsonCellGenotype& g) const;

  JsonSpaceSpec spec_;
  std::string path_;
};

/// Reads the space file at `path` (FileError when unreadable or not JSON, ConfigError naming
/// the field when the content is wrong) and makes the space.
std::unique_ptr<SearchSpace> make_json_space(const std::string& path,
                                             const SpaceOptions& options = {});

}  // namespace ghnas
