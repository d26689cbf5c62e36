#pragma once
// ArchGraph: the one architecture IR of ghnas. Every space builds it straight from an
// architecture and a task; the executor runs it, the GHN reads its graph view, and
// parameter and FLOP counts come from it. Nodes are operations at the granularity of one
// functional call (a convolution, a batch norm, a ReLU, an attention core); nodes that
// hold parameters name them the way the reference PyTorch network names its modules,
// so parameters can be exchanged with it.

#include <boost/graph/adjacency_list.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "space/task.hpp"

namespace ghnas {

enum class OpKind : std::uint8_t {
  kInput,          // the image batch
  kConv2d,         // weight (O, I/groups, kh, kw), optional bias (O)
  kBatchNorm2d,    // weight (C), bias (C); always batch statistics
  kLayerNorm,      // weight (C), bias (C) over the last dimension
  kLinear,         // weight (O, I), optional bias (O), over the last dimension
  kPosEnc,         // x + weight, weight (1, C, H, W)
  kReLU,
  kGELU,
  kHardswish,
  kMaxPool2d,      // kernel, stride, padding
  kAvgPool2d,      // kernel, stride, padding; count_include_pad = false
  kGlobalAvgPool,  // (C, H, W) -> (C, 1, 1)
  kAdd,            // sum of all inputs
  kConcat,         // channel concatenation, inputs in order
  kSlice,          // x[:, :, offset::step, offset::step], then pad_end zero rows/cols at the end
  kZeros,          // x * 0: a placeholder for a missing cell state
  kSpatialMean,    // (C, H, W) -> (C): squeeze of squeeze-and-excitation
  kChannelScale,   // inputs (x, gate): x * gate[:, :, None, None]
  kToTokens,       // (C, H, W) -> (H*W, C)
  kFromTokens,     // (H*W, C) -> (C, H, W)
  kAttention,      // qkv (N, 3*heads*dh) -> softmax(q k^T / sqrt(dh)) v, (N, heads*dh)
  kFlatten,        // (C, H, W) -> (C*H*W)
  kDropout,        // identity at evaluation
};

/// Name of an OpKind for printing ("conv2d", "batch_norm", ...).
const char* op_kind_name(OpKind kind);

/// One parameter tensor: its full reference name ("cells.2._ops.0.op.1.weight") and shape.
struct ParamTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel() const;
};

struct OpNode {
  OpKind kind = OpKind::kInput;
  /// Reference module path ("cells.2._ops.0.op.1"); empty for parameter-free ops.
  std::string module;
  std::vector<ParamTensor> params;
  /// Output shape without the batch dimension: (C, H, W), (N, C) tokens, or (F).
  std::vector<std::int64_t> out_shape;
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation = 1;
  int groups = 1;
  int heads = 0;               // kAttention
  int offset = 0, step = 1;    // kSlice
  int pad_end = 0;             // kSlice: zero padding after the slice (odd sizes, see deepnets1m)
  double dropout = 0.0;        // kDropout
  int cell = -1;               // cell index, -1 outside cells
  /// kReLU: the reference module runs in place (its input tensor is overwritten, so later
  /// readers of that input see the activated values; the builder wires them to this node).
  bool inplace = false;
};

/// Which input of its consumer an edge feeds (inputs are ordered: concat, channel scale).
struct InputSlot {
  int slot = 0;
};

class ArchGraph {
 public:
  /// The topology; node payloads live beside it (node(v)), so growing the graph moves
  /// OpNodes instead of copying them.
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS,
                                      boost::no_property, InputSlot, boost::no_property,
                                      boost::vecS>;
  using Vertex = Graph::vertex_descriptor;

  explicit ArchGraph(Task task = {});

  /// Appends a node fed by `inputs` (in order). Nodes are added after their inputs, so
  /// vertex order is a topological order.
  Vertex add(OpNode node, const std::vector<Vertex>& inputs = {});

  /// Marks the node whose value is the network output (the logits).
  void set_output(Vertex v) { output_ = v; }
  Vertex output() const { return output_; }

  const OpNode& node(Vertex v) const { return nodes_[v]; }
  OpNode& node(Vertex v) { return nodes_[v]; }
  std::vector<Vertex> inputs(Vertex v) const;
  std::vector<Vertex> outputs(Vertex v) const;
  std::size_t num_nodes() const { return boost::num_vertices(graph_); }
  std::size_t num_edges() const { return boost::num_edges(graph_); }
  const Graph& graph() const { return graph_; }
  const Task& task() const { return task_; }

  /// Parameters of modules that the network constructs but never applies (an op whose
  /// input state is missing). They count in num_params(), as they do in the reference.
  std::vector<ParamTensor>& detached_params() { return detached_; }
  const std::vector<ParamTensor>& detached_params() const { return detached_; }

  /// Every parameter tensor: node parameters in node order, then detached ones.
  std::vector<ParamTensor> all_params() const;
  std::int64_t num_params() const;

  /// Multiply-accumulate operations of one forward pass on one image (convolutions and
  /// linear layers, biases included as one add each; norms, pools and activations are
  /// not counted). This matches how NAS-Bench-201 reports FLOPs; see nasbench201.hpp.
  double flops() const;

  /// True when the node lies on a path from the input to the output.
  std::vector<bool> reaches_output() const;

 private:
  Graph graph_;
  std::vector<OpNode> nodes_;
  Task task_;
  Vertex output_ = 0;
  std::vector<ParamTensor> detached_;
};

/// One node's share of ArchGraph::flops().
double op_flops(const OpNode& node);

}  // namespace ghnas
