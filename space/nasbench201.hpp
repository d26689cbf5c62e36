#pragma once
// The NAS-Bench-201 space (Dong & Yang, ICLR 2020), also the topology space of NATS-Bench
// (Dong et al., TPAMI 2021): one cell of 4 nodes whose 6 edges each carry one of 5 ops,
// 5^6 = 15,625 cells, stacked into a fixed 3-stage network (C=16, N=5).
// ../shared/nasbench201/README.md describes the published measurements the tests compare with.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// The cell ops, numbered in the benchmark's order (the arch strings spell them by name).
enum class Nb201Op : std::uint8_t {
  kNone,         // zero: the edge contributes nothing
  kSkipConnect,  // identity
  kNorConv1x1,   // ReLU, Conv 1x1 (no bias), BatchNorm
  kNorConv3x3,   // ReLU, Conv 3x3 pad 1 (no bias), BatchNorm
  kAvgPool3x3,   // AvgPool 3x3, stride 1, pad 1, count_include_pad = false
};

constexpr int kNb201NumOps = 5;
constexpr int kNb201NumEdges = 6;
/// 5^6 cells, duplicates under isomorphism included.
constexpr int kNb201NumCells = 15625;

/// The benchmark's name of an op: "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
/// "avg_pool_3x3".
const char* nb201_op_name(Nb201Op op);

/// One edge of the cell DAG, from node `from` to node `to` (node 0 is the cell input,
/// node 3 the cell output).
struct Nb201Edge {
  int from = 0;
  int to = 0;
};

/// The six edges in arch-string order: (0->1), (0->2), (1->2), (0->3), (1->3), (2->3).
/// Edge k is module `cells.<i>.layers.<k>` of the reference network.
const std::array<Nb201Edge, kNb201NumEdges>& nb201_edges();

/// A cell: the op on each edge, in nb201_edges() order.
struct Nb201Cell {
  std::array<Nb201Op, kNb201NumEdges> ops{};
  bool operator==(const Nb201Cell& other) const { return ops == other.ops; }
  bool operator!=(const Nb201Cell& other) const { return ops != other.ops; }
};

/// Parses an arch string such as
/// "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".
/// Node j lists its inputs 0..j-1 in order; anything else (another number of nodes or edges,
/// an unknown op, an input index out of place, stray characters) throws ArchError quoting
/// the string and saying what is wrong.
Nb201Cell parse_nb201_arch(const std::string& arch_str);

/// The arch string of `cell`; parse_nb201_arch(format_nb201_arch(c)) == c.
std::string format_nb201_arch(const Nb201Cell& cell);

/// Enumeration code 0..15624 of a cell: the op numbers as base-5 digits, edge 0 most
/// significant. This is NOT the benchmark's official index, which follows the order of its
/// data files and cannot be derived from the ops.
int nb201_cell_code(const Nb201Cell& cell);
/// Inverse of nb201_cell_code. Throws ArchError for a code outside 0..15624.
Nb201Cell nb201_cell_from_code(int code);

/// The benchmark's canonical form of a cell (the `unique_str` column of its tables): equal
/// for cells the benchmark treats as isomorphic, 6,466 classes over the 15,625 cells.
/// Recursively, node 0 is "0" and node j is the sorted, '+'-joined terms of its edges: "#"
/// (zero) for a none edge or an input node that is exactly "#", the input node's own string
/// for skip_connect, and "(<input>)@<op>" otherwise. Whatever does not feed node 3 drops
/// out, skip connections compose away and sums are order-free. Two quirks of the benchmark's
/// rule are kept, since its classes depend on them: zero terms stay in a sum ("skip + none" is
/// a class apart from "skip"; dropping them would merge the 6,466 classes into 5,390), and a
/// skipped-in node is one term, not flattened into the sum it joins.
std::string nb201_unique_str(const Nb201Cell& cell);

/// The NAS-Bench-201 network of `cell` for `task` (the reference TinyNetwork): stem
/// Conv3x3(task.channels -> 16) + BN; 5 cells at 16 channels; a ResNet basic block with
/// stride 2 to 32; 5 cells at 32; a block to 64; 5 cells at 64; BN + ReLU; global average
/// pool; Linear(64 -> task.classes). Parameters carry the reference names ("stem.0.weight",
/// "cells.3.layers.2.op.1.weight", "cells.5.downsample.1.weight", "classifier.bias").
/// Throws ConfigError when the task's image size makes the two paths of a reduction block
/// disagree (odd sizes at a reduction), as the reference network would fail on it.
///
/// Counts: num_params() equals the benchmark's params_M and flops() its flops_M (which counts
/// convolution and linear multiply-accumulates plus bias adds, and nothing for BN, pooling,
/// ReLU or sums) to the table's last digit on CIFAR-10, for all cells but 150 whose table
/// entries are off by exactly one conv edge (wrong cost entries of the benchmark, see
/// D-X-Y/NATS-Bench issue 36). Dead edges count, as the reference builds and runs them.
ArchGraph build_nb201_graph(const Nb201Cell& cell, const Task& task);

/// The "nasbench201" search space. Architecture.spec is the arch string as a JSON string;
/// canonical_hash is nb201_unique_str, so it joins with the benchmark's own tables.
class NasBench201Space : public SearchSpace {
 public:
  explicit NasBench201Space(const SpaceOptions& options = {});
  std::string name() const override { return "nasbench201"; }
  std::string description() const override;
  /// Uniform over the 15,625 cells.
  Architecture sample(Rng& rng) const override;
  /// The op of one random edge replaced by a different op.
  Architecture mutate(const Architecture& arch, Rng& rng) const override;
  /// All 24 single-op changes, edge by edge.
  std::vector<Architecture> neighbours(const Architecture& arch) const override;
  void validate(const Architecture& arch) const override;
  std::string canonical_hash(const Architecture& arch) const override;
  ArchGraph build_graph(const Architecture& arch, const Task& task) const override;
  /// One arch string per line; blank lines and lines starting with '#' are skipped.
  /// Errors name the file and the line number.
  std::vector<Architecture> read_archs(const std::string& path) const override;
  std::string write_archs(const std::vector<Architecture>& archs) const override;
  std::vector<ParamSpec> params() const override { return param_specs(); }
  /// The space takes no options yet.
  static std::vector<ParamSpec> param_specs();

  /// The cell of `arch`; throws ArchError when it is not a nasbench201 architecture.
  Nb201Cell cell_of(const Architecture& arch) const;
  Architecture make_arch(const Nb201Cell& cell) const;
};

}  // namespace ghnas
