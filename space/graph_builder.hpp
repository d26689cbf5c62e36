#pragma once
// The vocabulary cell-based spaces build their networks with: a stem convolution, ReLU-Conv-BN
// blocks, pools, sums, a ResNet reduction block and the pooled linear classifier. A space's
// builder (nasbench201.cpp, json_space.cpp) calls these in the order its network's forward pass
// runs, so vertex order is topological and parameters come out in named_parameters() order; it
// keeps only what is its own: which ops a cell has and how its modules are named.

#include <cstdint>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/task.hpp"

namespace ghnas {

class GraphBuilder {
 public:
  using Vertex = ArchGraph::Vertex;

  /// `space` names the space in error messages. Throws ConfigError for a task without positive
  /// channels, image size and classes.
  GraphBuilder(const Task& task, std::string space);

  /// The network's input image.
  Vertex input();

  /// Adds `node` fed by `inputs`, tagged with the current cell.
  Vertex add(OpNode node, const std::vector<Vertex>& inputs);
  /// A parameter-free op that keeps its input's shape (ReLU, zeros).
  Vertex simple(OpKind kind, Vertex x);
  /// A convolution without bias (every one here feeds a batch norm or a sum into one). Throws
  /// ConfigError naming `module` when the image has become too small for it.
  Vertex conv(Vertex x, const std::string& module, std::int64_t c_out, int kernel, int stride, int pad,
              int dilation = 1, int groups = 1);
  /// BatchNorm2d with affine weight and bias.
  Vertex batch_norm(Vertex x, const std::string& module);
  Vertex pool(OpKind kind, Vertex x, int kernel, int stride, int pad);
  /// ReLU, then a "same"-padded convolution named `conv_module`, then a batch norm named `bn_module`.
  Vertex relu_conv_bn(Vertex x, const std::string& conv_module, const std::string& bn_module, std::int64_t c_out,
                      int kernel, int stride);
  /// The sum of `terms` (one term is itself).
  Vertex sum(const std::vector<Vertex>& terms);
  /// NAS-Bench-201's ResNet reduction: ReLU-Conv3x3/2-BN and ReLU-Conv3x3-BN (modules
  /// `module`.conv_a / .conv_b, each `conv_suffix` and `bn_suffix`), plus a shortcut AvgPool2d(2, 2)
  /// then Conv1x1 named `downsample`. Throws ConfigError when the two paths disagree on an odd size.
  Vertex resnet_reduction(Vertex x, const std::string& module, std::int64_t c_out, const std::string& conv_suffix,
                          const std::string& bn_suffix, const std::string& downsample);
  /// Global average pool, flatten and the linear layer "classifier"; the graph's output.
  Vertex classifier(Vertex x);

  /// The cell that ops added from now on belong to (-1: none).
  void set_cell(int cell) { cell_ = cell; }
  const std::vector<std::int64_t>& shape(Vertex v) const { return graph_.node(v).out_shape; }
  const Task& task() const { return graph_.task(); }
  /// The finished graph; the builder is spent.
  ArchGraph finish() { return std::move(graph_); }

 private:
  ArchGraph graph_;
  std::string space_;
  int cell_ = -1;
};

}  // namespace ghnas
