#pragma once
// Small hand-built ArchGraphs for the evaluator tests: each op added with its shape and
// parameter names, so a test can compute the expected output by hand.

#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/task.hpp"

namespace ghnas::test {

/// Appends ops to an ArchGraph, tracking the shape of the last value.
class GraphBuilder {
 public:
  using Vertex = ArchGraph::Vertex;

  explicit GraphBuilder(Task task) : graph_(task) {
    OpNode in;
    in.kind = OpKind::kInput;
    in.out_shape = {task.channels, task.height, task.width};
    input_ = graph_.add(in);
  }

  Vertex input() const { return input_; }
  const std::vector<std::int64_t>& shape(Vertex v) const { return graph_.node(v).out_shape; }

  Vertex conv(Vertex x, const std::string& module, std::int64_t c_out, int k, int stride = 1,
              int pad = -1, bool bias = false) {
    if (pad < 0) pad = k / 2;
    const auto in = shape(x);
    OpNode n;
    n.kind = OpKind::kConv2d;
    n.module = module;
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = pad;
    n.params.push_back({module + ".weight", {c_out, in[0], k, k}});
    if (bias) n.params.push_back({module + ".bias", {c_out}});
    n.out_shape = {c_out, (in[1] + 2 * pad - k) / stride + 1, (in[2] + 2 * pad - k) / stride + 1};
    return graph_.add(n, {x});
  }
  Vertex batch_norm(Vertex x, const std::string& module) {
    OpNode n;
    n.kind = OpKind::kBatchNorm2d;
    n.module = module;
    n.params = {{module + ".weight", {shape(x)[0]}}, {module + ".bias", {shape(x)[0]}}};
    n.out_shape = shape(x);
    return graph_.add(n, {x});
  }
  Vertex linear(Vertex x, const std::string& module, std::int64_t out, bool bias = true) {
    auto s = shape(x);
    OpNode n;
    n.kind = OpKind::kLinear;
    n.module = module;
    n.params.push_back({module + ".weight", {out, s.back()}});
    if (bias) n.params.push_back({module + ".bias", {out}});
    s.back() = out;
    n.out_shape = s;
    return graph_.add(n, {x});
  }
  Vertex unary(OpKind kind, Vertex x, std::vector<std::int64_t> out = {}) {
    OpNode n;
    n.kind = kind;
    n.out_shape = out.empty() ? shape(x) : out;
    return graph_.add(n, {x});
  }
  Vertex pool(OpKind kind, Vertex x, int k, int stride, int pad) {
    const auto in = shape(x);
    OpNode n;
    n.kind = kind;
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = pad;
    n.out_shape = {in[0], (in[1] + 2 * pad - k) / stride + 1, (in[2] + 2 * pad - k) / stride + 1};
    return graph_.add(n, {x});
  }
  Vertex node(OpNode n, const std::vector<Vertex>& inputs) { return graph_.add(n, inputs); }
  Vertex flatten(Vertex x) {
    std::int64_t f = 1;
    for (auto d : shape(x)) f *= d;
    return unary(OpKind::kFlatten, x, {f});
  }

  ArchGraph& graph() { return graph_; }
  ArchGraph finish(Vertex output) {
    graph_.set_output(output);
    return std::move(graph_);
  }

 private:
  ArchGraph graph_;
  Vertex input_ = 0;
};

/// A small CNN for Fashion-MNIST: two Conv3x3-BN-ReLU-MaxPool2 stages (16 and 32 channels),
/// flatten, linear to the classes. About 1 million multiply-accumulates per image.
inline ArchGraph small_cnn(const Task& task) {
  GraphBuilder b(task);
  auto x = b.conv(b.input(), "features.0", 16, 3);
  x = b.batch_norm(x, "features.1");
  x = b.unary(OpKind::kReLU, x);
  x = b.pool(OpKind::kMaxPool2d, x, 2, 2, 0);
  x = b.conv(x, "features.4", 32, 3);
  x = b.batch_norm(x, "features.5");
  x = b.unary(OpKind::kReLU, x);
  x = b.pool(OpKind::kMaxPool2d, x, 2, 2, 0);
  x = b.flatten(x);
  x = b.linear(x, "classifier", task.classes);
  return b.finish(x);
}

}  // namespace ghnas::test
