// "tiny": an example search space shipped as a plugin (see README.md beside this file).
//
// Networks are chains of blocks in three stages of width C, 2C and 4C (C = the `width`
// option, default 16): stem Conv3x3(C) + BN + ReLU, then per stage 1 to 3 blocks, the first
// block of stages 2 and 3 with stride 2, then global average pooling and Linear(4C -> classes).
// Each block is one of
//   res3  ResNet basic block: Conv3x3-BN-ReLU-Conv3x3-BN plus a shortcut (Conv1x1-BN when the
//         stride or width changes, identity otherwise), then ReLU;
//   mb3   MobileNetV2 inverted residual, expansion 3: Conv1x1(3 c_in)-BN-ReLU, depthwise
//         Conv3x3-BN-ReLU, Conv1x1(c_out)-BN, plus the input when stride 1 and c_in == c_out;
//   mb5   the same with a depthwise Conv5x5.
// An architecture is a string of three stages separated by '|', blocks by '-':
// "res3-mb3|mb5|res3-res3-mb3". 39^3 = 59,319 networks.

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "space/plugin_api.hpp"

namespace tiny {

using ghnas::ArchError;
using ghnas::ArchGraph;
using ghnas::Architecture;
using ghnas::OpKind;
using ghnas::OpNode;
using Vertex = ArchGraph::Vertex;

const std::vector<std::string> kBlocks = {"res3", "mb3", "mb5"};
constexpr int kStages = 3;
constexpr int kMaxDepth = 3;
constexpr int kExpansion = 3;

using Stages = std::vector<std::vector<int>>;  // block indices into kBlocks, per stage

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> pieces(1);
  for (char c : text) {
    if (c == sep) pieces.emplace_back();
    else pieces.back() += c;
  }
  return pieces;
}

Stages parse(const std::string& text) {
  const auto stages = split(text, '|');
  if (stages.size() != kStages)
    throw ArchError("tiny: '" + text + "' must have 3 stages separated by '|'");
  Stages result;
  for (const auto& stage : stages) {
    const auto blocks = split(stage, '-');
    if (blocks.size() > kMaxDepth)
      throw ArchError("tiny: '" + text + "': a stage has 1 to 3 blocks, '" + stage + "' has " +
                      std::to_string(blocks.size()));
    result.emplace_back();
    for (const auto& b : blocks) {
      const auto it = std::find(kBlocks.begin(), kBlocks.end(), b);
      if (it == kBlocks.end())
        throw ArchError("tiny: '" + text + "': unknown block '" + b + "' (valid: res3, mb3, mb5)");
      result.back().push_back(static_cast<int>(it - kBlocks.begin()));
    }
  }
  return result;
}

std::string format(const Stages& stages) {
  std::string text;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    if (s) text += '|';
    for (std::size_t b = 0; b < stages[s].size(); ++b) text += (b ? "-" : "") + kBlocks[stages[s][b]];
  }
  return text;
}

// Builds the ArchGraph in forward order (vertex order is then topological).
class Builder {
 public:
  explicit Builder(const ghnas::Task& task) : g_(task) {}

  ArchGraph build(const Stages& stages, int width) {
    const auto& task = g_.task();
    OpNode input;
    input.kind = OpKind::kInput;
    input.out_shape = {task.channels, task.height, task.width};
    Vertex x = g_.add(std::move(input));
    x = conv(x, "stem.conv", width, 3, 1, 1);
    x = bn(x, "stem.bn");
    x = unary(OpKind::kReLU, x);
    std::int64_t c = width;
    for (int s = 0; s < kStages; ++s) {
      const std::int64_t c_out = static_cast<std::int64_t>(width) << s;
      for (std::size_t b = 0; b < stages[s].size(); ++b) {
        const int stride = (s > 0 && b == 0) ? 2 : 1;
        const std::string m = "stages." + std::to_string(s) + "." + std::to_string(b);
        x = stages[s][b] == 0 ? res_block(x, m, c_out, stride)
                              : mb_block(x, m, c_out, stride, stages[s][b] == 1 ? 3 : 5);
        c = c_out;
      }
    }
    OpNode pool;
    pool.kind = OpKind::kGlobalAvgPool;
    pool.out_shape = {c, 1, 1};
    x = g_.add(std::move(pool), {x});
    OpNode flat;
    flat.kind = OpKind::kFlatten;
    flat.out_shape = {c};
    x = g_.add(std::move(flat), {x});
    OpNode fc;
    fc.kind = OpKind::kLinear;
    fc.module = "fc";
    fc.params = {{"fc.weight", {task.classes, c}}, {"fc.bias", {task.classes}}};
    fc.out_shape = {task.classes};
    g_.set_output(g_.add(std::move(fc), {x}));
    return std::move(g_);
  }

 private:
  const std::vector<std::int64_t>& shape(Vertex v) const { return g_.node(v).out_shape; }

  Vertex unary(OpKind kind, Vertex x) {
    OpNode n;
    n.kind = kind;
    n.out_shape = shape(x);
    return g_.add(std::move(n), {x});
  }

  Vertex conv(Vertex x, const std::string& module, std::int64_t c_out, int k, int stride,
              int groups) {
    const auto& in = shape(x);
    OpNode n;
    n.kind = OpKind::kConv2d;
    n.module = module;
    n.params = {{module + ".weight", {c_out, in[0] / groups, k, k}}};  // no bias: BN follows
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad_h = n.pad_w = k / 2;
    n.groups = groups;
    n.out_shape = {c_out, (in[1] + 2 * (k / 2) - k) / stride + 1, (in[2] + 2 * (k / 2) - k) / stride + 1};
    GHNAS_CHECK_AS(ghnas::ConfigError, n.out_shape[1] > 0 && n.out_shape[2] > 0, "tiny: ", module,
                   ": the task's image is too small");
    return g_.add(std::move(n), {x});
  }

  Vertex bn(Vertex x, const std::string& module) {
    OpNode n;
    n.kind = OpKind::kBatchNorm2d;
    n.module = module;
    const std::int64_t c = shape(x)[0];
    n.params = {{module + ".weight", {c}}, {module + ".bias", {c}}};
    n.out_shape = shape(x);
    return g_.add(std::move(n), {x});
  }

  Vertex sum(Vertex a, Vertex b) {
    OpNode n;
    n.kind = OpKind::kAdd;
    n.out_shape = shape(a);
    return g_.add(std::move(n), {a, b});
  }

  Vertex res_block(Vertex x, const std::string& m, std::int64_t c_out, int stride) {
    Vertex y = bn(conv(x, m + ".conv1", c_out, 3, stride, 1), m + ".bn1");
    y = unary(OpKind::kReLU, y);
    y = bn(conv(y, m + ".conv2", c_out, 3, 1, 1), m + ".bn2");
    Vertex shortcut = x;
    if (stride != 1 || shape(x)[0] != c_out)
      shortcut = bn(conv(x, m + ".down.conv", c_out, 1, stride, 1), m + ".down.bn");
    return unary(OpKind::kReLU, sum(y, shortcut));
  }

  Vertex mb_block(Vertex x, const std::string& m, std::int64_t c_out, int stride, int k) {
    const std::int64_t c_in = shape(x)[0], hidden = kExpansion * c_in;
    Vertex y = unary(OpKind::kReLU, bn(conv(x, m + ".expand", hidden, 1, 1, 1), m + ".bn1"));
    y = unary(OpKind::kReLU,
              bn(conv(y, m + ".dw", hidden, k, stride, static_cast<int>(hidden)), m + ".bn2"));
    y = bn(conv(y, m + ".project", c_out, 1, 1, 1), m + ".bn3");
    return (stride == 1 && c_in == c_out) ? sum(y, x) : y;
  }

  ArchGraph g_;
};

class TinySpace : public ghnas::SearchSpace {
 public:
  explicit TinySpace(const ghnas::SpaceOptions& options) {
    const auto resolved = ghnas::resolve_options("tiny", param_specs(), options);
    width_ = std::stoi(resolved.at("width"));
  }

  static std::vector<ghnas::ParamSpec> param_specs() {
    return {{"width", "16", "channels of the first stage (doubled at each later stage)",
             {"8", "16", "32"}}};
  }

  std::string name() const override { return "tiny"; }
  std::string description() const override {
    return "example plugin: 3 stages of 1-3 blocks (res3, mb3, mb5), 59,319 networks";
  }

  Architecture sample(ghnas::Rng& rng) const override {
    Stages stages(kStages);
    for (auto& stage : stages) {
      stage.resize(std::uniform_int_distribution<int>(1, kMaxDepth)(rng));
      for (auto& b : stage) b = std::uniform_int_distribution<int>(0, 2)(rng);
    }
    return make(stages);
  }

  // Half the time a block changes kind; otherwise a stage gains or loses its last block.
  Architecture mutate(const Architecture& arch, ghnas::Rng& rng) const override {
    Stages stages = stages_of(arch);
    auto& stage = stages[std::uniform_int_distribution<int>(0, kStages - 1)(rng)];
    if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
      auto& b = stage[std::uniform_int_distribution<std::size_t>(0, stage.size() - 1)(rng)];
      b = (b + std::uniform_int_distribution<int>(1, 2)(rng)) % 3;
    } else if (stage.size() == kMaxDepth || (stage.size() > 1 && rng() % 2 == 0)) {
      stage.pop_back();
    } else {
      stage.push_back(std::uniform_int_distribution<int>(0, 2)(rng));
    }
    return make(stages);
  }

  std::vector<Architecture> neighbours(const Architecture& arch) const override {
    const Stages stages = stages_of(arch);
    std::vector<Architecture> result;
    for (int s = 0; s < kStages; ++s) {
      for (std::size_t b = 0; b < stages[s].size(); ++b)
        for (int k = 0; k < 3; ++k) {
          if (k == stages[s][b]) continue;
          Stages next = stages;
          next[s][b] = k;
          result.push_back(make(next));
        }
      if (stages[s].size() > 1) {
        Stages next = stages;
        next[s].pop_back();
        result.push_back(make(next));
      }
      if (stages[s].size() < kMaxDepth)
        for (int k = 0; k < 3; ++k) {
          Stages next = stages;
          next[s].push_back(k);
          result.push_back(make(next));
        }
    }
    return result;
  }

  void validate(const Architecture& arch) const override { stages_of(arch); }

  // The string is canonical: each spelling builds a different network.
  std::string canonical_hash(const Architecture& arch) const override {
    return format(stages_of(arch));
  }

  ArchGraph build_graph(const Architecture& arch, const ghnas::Task& task) const override {
    return Builder(task).build(stages_of(arch), width_);
  }

  std::vector<Architecture> read_archs(const std::string& path) const override {
    std::vector<Architecture> archs;
    const auto lines = ghnas::read_text_lines(path);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      try {
        archs.push_back(make(parse(lines[i])));
      } catch (const ArchError& e) {
        throw ArchError("'" + path + "', architecture " + std::to_string(i) + ": " + e.what());
      }
    }
    return archs;
  }

  std::string write_archs(const std::vector<Architecture>& archs) const override {
    std::string text;
    for (const auto& a : archs) text += format(stages_of(a)) + "\n";
    return text;
  }

  std::vector<ghnas::ParamSpec> params() const override { return param_specs(); }

 private:
  Architecture make(const Stages& stages) const { return {name(), format(stages)}; }

  Stages stages_of(const Architecture& arch) const {
    GHNAS_CHECK_AS(ArchError, arch.spec.is_string(), "tiny: an architecture is a string such as "
                   "'res3-mb3|mb5|res3', got ", arch.spec.dump());
    return parse(arch.spec.get<std::string>());
  }

  int width_ = 16;
};

void register_spaces(ghnas::PluginHost& host) {
  host.register_space("tiny", [](const ghnas::SpaceOptions& options) {
    return std::make_unique<TinySpace>(options);
  });
}

}  // namespace tiny

GHNAS_DEFINE_PLUGIN("tiny-space", tiny::register_spaces)
