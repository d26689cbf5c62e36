#include "space/graph_builder.hpp"

#include <utility>

#include "core/error.hpp"

namespace ghnas {

GraphBuilder::GraphBuilder(const Task& task, std::string space) : graph_(task), space_(std::move(space)) {
  GHNAS_CHECK_AS(ConfigError, task.channels > 0 && task.height > 0 && task.width > 0 && task.classes > 0, space_,
                 ": task '", task.name, "' needs positive channels, image size and classes");
}

GraphBuilder::Vertex GraphBuilder::input() {
  const Task& t = task();
  OpNode n;
  n.kind = OpKind::kInput;
  n.out_shape = {t.channels, t.height, t.width};
  return graph_.add(std::move(n));
}

GraphBuilder::Vertex GraphBuilder::add(OpNode node, const std::vector<Vertex>& inputs) {
  node.cell = cell_;
  return graph_.add(std::move(node), inputs);
}

GraphBuilder::Vertex GraphBuilder::simple(OpKind kind, Vertex x) {
  OpNode n;
  n.kind = kind;
  n.out_shape = shape(x);
  return add(std::move(n), {x});
}

GraphBuilder::Vertex GraphBuilder::conv(Vertex x, const std::string& module, std::int64_t c_out, int kernel,
                                        int stride, int pad, int dilation, int groups) {
  const auto& in = shape(x);
  OpNode n;
  n.kind = OpKind::kConv2d;
  n.module = module;
  n.params = {{module + ".weight", {c_out, in[0] / groups, kernel, kernel}}};
  n.kernel_h = n.kernel_w = kernel;
  n.stride_h = n.stride_w = stride;
  n.pad_h = n.pad_w = pad;
  n.dilation = dilation;
  n.groups = groups;
  const int span = dilation * (kernel - 1) + 1;
  n.out_shape = {c_out, (in[1] + 2 * pad - span) / stride + 1, (in[2] + 2 * pad - span) / stride + 1};
  GHNAS_CHECK_AS(ConfigError, n.out_shape[1] > 0 && n.out_shape[2] > 0, space_, ": ", module,
                 ": the image of task '", task().name, "' is too small");
  return add(std::move(n), {x});
}

GraphBuilder::Vertex GraphBuilder::batch_norm(Vertex x, const std::string& module) {
  OpNode n;
  n.kind = OpKind::kBatchNorm2d;
  n.module = module;
  const std::int64_t c = shape(x)[0];
  n.params = {{module + ".weight", {c}}, {module + ".bias", {c}}};  // running statistics are buffers
  n.out_shape = shape(x);
  return add(std::move(n), {x});
}

GraphBuilder::Vertex GraphBuilder::pool(OpKind kind, Vertex x, int kernel, int stride, int pad) {
  const auto& in = shape(x);
  OpNode n;
  n.kind = kind;
  n.kernel_h = n.kernel_w = kernel;
  n.stride_h = n.stride_w = stride;
  n.pad_h = n.pad_w = pad;
  n.out_shape = {in[0], (in[1] + 2 * pad - kernel) / stride + 1, (in[2] + 2 * pad - kernel) / stride + 1};
  return add(std::move(n), {x});
}

GraphBuilder::Vertex GraphBuilder::relu_conv_bn(Vertex x, const std::string& conv_module,
                                                const std::string& bn_module, std::int64_t c_out, int kernel,
                                                int stride) {
  x = simple(OpKind::kReLU, x);
  x = conv(x, conv_module, c_out, kernel, stride, /*pad=*/(kernel - 1) / 2);
  return batch_norm(x, bn_module);
}

GraphBuilder::Vertex GraphBuilder::sum(const std::vector<Vertex>& terms) {
  if (terms.size() == 1) return terms[0];
  OpNode n;
  n.kind = OpKind::kAdd;
  n.out_shape = shape(terms[0]);
  return add(std::move(n), terms);
}

GraphBuilder::Vertex GraphBuilder::resnet_reduction(Vertex x, const std::string& module, std::int64_t c_out,
                                                    const std::string& conv_suffix, const std::string& bn_suffix,
                                                    const std::string& downsample) {
  const std::string a = module + ".conv_a", b = module + ".conv_b";
  Vertex body = relu_conv_bn(x, a + conv_suffix, a + bn_suffix, c_out, /*kernel=*/3, /*stride=*/2);
  body = relu_conv_bn(body, b + conv_suffix, b + bn_suffix, c_out, /*kernel=*/3, /*stride=*/1);
  Vertex shortcut = pool(OpKind::kAvgPool2d, x, /*kernel=*/2, /*stride=*/2, /*pad=*/0);
  shortcut = conv(shortcut, downsample, c_out, /*kernel=*/1, /*stride=*/1, /*pad=*/0);
  GHNAS_CHECK_AS(ConfigError, shape(shortcut) == shape(body), space_, ": ", module,
                 ": the shortcut and the body of the ResNet reduction disagree on the image of task '",
                 task().name, "' (", shape(x)[1], "x", shape(x)[2],
                 " input): the image needs an even size at every reduction");
  return sum({shortcut, body});
}

GraphBuilder::Vertex GraphBuilder::classifier(Vertex x) {
  const std::int64_t channels = shape(x)[0];
  OpNode pooled;
  pooled.kind = OpKind::kGlobalAvgPool;
  pooled.out_shape = {channels, 1, 1};
  x = add(std::move(pooled), {x});
  OpNode flat;
  flat.kind = OpKind::kFlatten;
  flat.out_shape = {channels};
  x = add(std::move(flat), {x});
  OpNode linear;
  linear.kind = OpKind::kLinear;
  linear.module = "classifier";
  linear.params = {{"classifier.weight", {task().classes, channels}}, {"classifier.bias", {task().classes}}};
  linear.out_shape = {task().classes};
  x = add(std::move(linear), {x});
  graph_.set_output(x);
  return x;
}

}  // namespace ghnas
