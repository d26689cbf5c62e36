#include "space/ghn_graph.hpp"

#include <algorithm>
#include <functional>
#include <set>

#include "core/error.hpp"

namespace ghnas {

namespace {

constexpr const char* kTypeNames[kNumGhnNodeTypes] = {
    "max_pool", "avg_pool", "sep_conv", "dil_conv", "conv",  "msa",     "cse",     "sum",
    "concat",   "input",    "bias",     "bn",       "ln",    "pos_enc", "glob_avg"};

// ---------------------------------------------------------------------------------------------
// The reference builds its graph by tracing autograd: every backward function of the forward
// pass becomes a node (parameter tensors replace the function that consumes them), and a filter
// then drops what GHN-2 has no type for. Its filter keeps attention and squeeze-excitation nodes
// by looking at neighbours in a topological order, so which of them survive depends on the
// whole raw graph. To see the same graphs we rebuild that raw graph from the ArchGraph, one
// autograd function per tensor operation, and run the same traversal, sort and filter.

enum class Module : std::uint8_t { kNone, kConv2d, kLinear, kBatchNorm, kLayerNorm, kPosEnc };

struct RawFn {
  std::string name;   // autograd function ("ConvolutionBackward0") or parameter name
  bool leaf = false;  // a parameter (AccumulateGrad)
  Module module = Module::kNone;
  GhnNodeType type = GhnNodeType::kConv;  // for leaves
  std::vector<std::int64_t> shape;        // leaves, and {1, 1, k, k} for pools
  std::vector<int> next;                  // inputs in argument order; -1 for None
};

class RawGraph {
 public:
  int fn(std::string name, std::vector<int> next, std::vector<std::int64_t> shape = {}) {
    RawFn f;
    f.name = std::move(name);
    f.next = std::move(next);
    f.shape = std::move(shape);
    fns_.push_back(std::move(f));
    return static_cast<int>(fns_.size()) - 1;
  }
  int leaf(const ParamTensor& p, Module module, GhnNodeType type) {
    RawFn f;
    f.name = p.name;
    f.leaf = true;
    f.module = module;
    f.type = type;
    f.shape = p.shape;
    fns_.push_back(std::move(f));
    return static_cast<int>(fns_.size()) - 1;
  }
  const RawFn& operator[](int i) const { return fns_[i]; }
  std::size_t size() const { return fns_.size(); }

 private:
  std::vector<RawFn> fns_;
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The name before "Backward" decides how the filter treats a parameter-free node.
std::string op_base(const std::string& name) {
  const auto pos = name.find("Backward");
  return pos == std::string::npos ? name : name.substr(0, pos);
}

// Expands every ArchGraph node that the output depends on into autograd functions.
class Tracer {
 public:
  explicit Tracer(const ArchGraph& g) : g_(g), memo_(g.num_nodes(), -2) {}

  RawGraph raw;

  // The autograd function producing node v's output; -1 when it needs no gradient (the input).
  int trace(ArchGraph::Vertex v) {
    if (memo_[v] != -2) return memo_[v];
    std::vector<int> in;
    for (auto u : g_.inputs(v)) in.push_back(trace(u));
    return memo_[v] = expand(g_.node(v), in);
  }

 private:
  GhnNodeType conv_type(const OpNode& n) const {
    if (n.groups > 1) return n.dilation > 1 ? GhnNodeType::kDilConv : GhnNodeType::kSepConv;
    return GhnNodeType::kConv;
  }
  int weight(const OpNode& n, Module m, GhnNodeType t) { return raw.leaf(n.params.at(0), m, t); }
  int bias(const OpNode& n, Module m) {
    if (n.params.size() < 2) return -1;
    return raw.leaf(n.params[1], m, GhnNodeType::kBias);
  }
  int t(int w) { return raw.fn("TBackward0", {w}); }

  int expand(const OpNode& n, const std::vector<int>& in) {
    auto x = [&](std::size_t i = 0) { return in.at(i); };
    switch (n.kind) {
      case OpKind::kInput:
        return -1;
      case OpKind::kConv2d:
        return raw.fn("ConvolutionBackward0",
                      {x(), weight(n, Module::kConv2d, conv_type(n)), bias(n, Module::kConv2d)});
      case OpKind::kBatchNorm2d:
        return raw.fn("NativeBatchNormBackward0",
                      {x(), weight(n, Module::kBatchNorm, GhnNodeType::kBn),
                       bias(n, Module::kBatchNorm)});
      case OpKind::kLayerNorm:
        return raw.fn("NativeLayerNormBackward0",
                      {x(), weight(n, Module::kLayerNorm, GhnNodeType::kLn),
                       bias(n, Module::kLayerNorm)});
      case OpKind::kLinear: {
        const bool tokens = n.out_shape.size() > 1;  // F.linear on (B, N, C) folds the batch
        const int w = weight(n, Module::kLinear, GhnNodeType::kConv);
        const int b = bias(n, Module::kLinear);
        if (!tokens) {
          if (b >= 0) return raw.fn("AddmmBackward0", {b, x(), t(w)});
          return raw.fn("MmBackward0", {x(), t(w)});
        }
        const int flat = raw.fn("ViewBackward0", {x()});
        if (b >= 0) return raw.fn("ViewBackward0", {raw.fn("AddmmBackward0", {b, flat, t(w)})});
        return raw.fn("UnsafeViewBackward0", {raw.fn("MmBackward0", {flat, t(w)})});
      }
      case OpKind::kPosEnc:
        return raw.fn("AddBackward0", {x(), weight(n, Module::kPosEnc, GhnNodeType::kPosEnc)});
      case OpKind::kReLU:
        return raw.fn("ReluBackward0", {x()});
      case OpKind::kGELU:
        return raw.fn("GeluBackward0", {x()});
      case OpKind::kHardswish:
        return raw.fn("HardswishBackward0", {x()});
      case OpKind::kMaxPool2d:
        return raw.fn("MaxPool2DWithIndicesBackward0", {x()}, {1, 1, n.kernel_h, n.kernel_w});
      case OpKind::kAvgPool2d:
        return raw.fn("AvgPool2DBackward0", {x()}, {1, 1, n.kernel_h, n.kernel_w});
      case OpKind::kGlobalAvgPool:
        // adaptive_avg_pool2d(x, 1) runs as mean(dim=(-1, -2), keepdim=True).
        return raw.fn("MeanBackward1:keepdim", {x()});
      case OpKind::kAdd: {
        int acc = x(0);
        for (std::size_t i = 1; i < in.size(); ++i) acc = raw.fn("AddBackward0", {acc, x(i)});
        return acc;
      }
      case OpKind::kConcat:
        return raw.fn("CatBackward0", in);
      case OpKind::kSlice: {
        int y = x();
        if (n.offset != 0 || n.step != 1) {
          y = raw.fn("SliceBackward0", {y});  // dim 2
          y = raw.fn("SliceBackward0", {y});  // dim 3
        }
        if (n.pad_end > 0) y = raw.fn("ConstantPadNdBackward0", {y});
        return y;
      }
      case OpKind::kZeros:
        return raw.fn("MulBackward0", {x(), -1});
      case OpKind::kSpatialMean:
        return raw.fn("MeanBackward1", {raw.fn("ViewBackward0", {x()})});
      case OpKind::kChannelScale:
        return raw.fn("MulBackward0", {x(0), raw.fn("ViewBackward0", {x(1)})});
      case OpKind::kToTokens:
        return raw.fn("PermuteBackward0", {raw.fn("ViewBackward0", {x()})});
      case OpKind::kFromTokens:
        return raw.fn("ViewBackward0", {raw.fn("PermuteBackward0", {x()})});
      case OpKind::kAttention: {
        const int split = raw.fn("SplitBackward0", {x()});
        auto heads = [&] { return raw.fn("PermuteBackward0", {raw.fn("ViewBackward0", {split})}); };
        const int q = heads(), k = heads(), v = heads();
        // einsum('bhid,bhjd->bhij') as batched matrix products on views.
        auto bmm = [&](int a, int b) {
          const int prod = raw.fn("BmmBackward0", {raw.fn("ViewBackward0", {a}),
                                                    raw.fn("ViewBackward0", {b})});
          return raw.fn("ViewBackward0", {prod});
        };
        const int dots = raw.fn("MulBackward0", {bmm(q, raw.fn("PermuteBackward0", {k})), -1});
        const int attn = raw.fn("SoftmaxBackward0", {dots});
        const int out = bmm(attn, v);
        const int perm = raw.fn("PermuteBackward0", {out});
        return raw.fn("UnsafeViewBackward0", {raw.fn("CloneBackward0", {perm})});
      }
      case OpKind::kFlatten:
        return raw.fn("ViewBackward0", {x()});
      case OpKind::kDropout:
        // Dropout in training mode on CPU multiplies by a random mask.
        return n.dropout > 0 ? raw.fn("MulBackward0", {x(), -1}) : x();
    }
    throw ArchError(detail::str_cat("the GHN graph cannot represent op '", op_kind_name(n.kind),
                                    "'"));
  }

  const ArchGraph& g_;
  std::vector<int> memo_;
};

// A node of the reference's list: a parameter or a parameter-free autograd function.
struct ListNode {
  int fn = -1;        // index into RawGraph; -1 for the input and the pos_enc sum
  std::string name;   // parameter name or function name
  bool param = false;
};

struct AdjGraph {
  std::vector<std::set<int>> succ, pred;
  explicit AdjGraph(std::size_t n = 0) : succ(n), pred(n) {}
  void add(int a, int b) {
    if (a == b) return;
    succ[a].insert(b);
    pred[b].insert(a);
  }
  void clear_in(int b) {
    for (int a : pred[b]) succ[a].erase(b);
    pred[b].clear();
  }
};

class ReferenceGraphBuilder {
 public:
  explicit ReferenceGraphBuilder(const ArchGraph& g) : tracer_(g) {
    const int out = tracer_.trace(g.output());
    GHNAS_CHECK_AS(ArchError, out >= 0, "the network output does not depend on any parameter");
    traverse(out);
  }

  GhnGraph finish(int s_max);

 private:
  struct Seen {
    int link = -1;
    std::string name;
    bool done = false;
  };

  // Depth-first walk from the output, numbering nodes in the order the reference does.
  std::pair<int, std::string> traverse(int f) {
    if (seen_.size() < tracer_.raw.size()) seen_.resize(tracer_.raw.size());
    if (seen_[f].done) return {seen_[f].link, seen_[f].name};
    const RawFn& fn = tracer_.raw[f];
    int link = -1, start = -1;
    if (!fn.leaf) {
      std::vector<int> leaves;
      for (int u : fn.next) {
        if (u < 0 || !tracer_.raw[u].leaf) continue;
        const RawFn& p = tracer_.raw[u];
        // Biases of norm layers are predicted with their weights and get no node.
        if ((p.module == Module::kBatchNorm || p.module == Module::kLayerNorm) &&
            contains(p.name, ".bias"))
          continue;
        leaves.push_back(u);
      }
      if (leaves.empty()) leaves.push_back(f);
      for (int l : leaves) {
        link = static_cast<int>(list_.size());
        if (start < 0) start = link;
        list_.push_back({l, tracer_.raw[l].name, tracer_.raw[l].leaf});
        seen_[l] = {link, tracer_.raw[l].name, true};
      }
    }
    seen_[f] = {link, fn.leaf ? std::string("AccumulateGrad") : fn.name, true};
    if (fn.leaf && link < 0) seen_[f].link = -1;
    for (int u : fn.next) {
      if (u < 0) continue;
      auto [l, name] = traverse(u);
      if (l >= 0 && l != start)
        edges_.emplace_back(contains(name, "bias") ? std::make_pair(start, l)
                                                   : std::make_pair(l, start));
    }
    return {seen_[f].link, seen_[f].name};
  }

  Tracer tracer_;
  std::vector<Seen> seen_;
  std::vector<ListNode> list_;
  std::vector<std::pair<int, int>> edges_;
};

GhnGraph ReferenceGraphBuilder::finish(int s_max) {
  const auto& raw = tracer_.raw;
  const int n = static_cast<int>(list_.size());
  AdjGraph adj(n + 1);
  for (auto [a, b] : edges_) adj.add(a, b);

  // Linear layers: the weight takes the inputs of what it feeds (its bias), so the chain reads
  // input -> weight -> bias.
  for (int i = 0; i < n; ++i) {
    const ListNode& node = list_[i];
    if (!node.param || raw[node.fn].module != Module::kLinear || !contains(node.name, ".weight"))
      continue;
    const std::vector<int> outs(adj.succ[i].begin(), adj.succ[i].end());
    for (int o : outs) {
      const std::vector<int> preds(adj.pred[o].begin(), adj.pred[o].end());
      for (int p : preds) adj.add(p, i);
      adj.clear_in(o);
      adj.add(i, o);
    }
  }

  // The input node feeds the one node nothing else feeds.
  list_.push_back({-1, "input", false});
  {
    int sources = 0, first = -1;
    for (int i = 0; i < n; ++i)
      if (adj.pred[i].empty()) {
        ++sources;
        first = i;
      }
    GHNAS_CHECK_AS(ArchError, sources == 1, "the network has ", sources,
                   " entry points instead of one");
    adj.add(n, first);
  }

  // Topological order by generations (Kahn), children in index order: networkx's order.
  std::vector<int> order;
  {
    std::vector<int> indeg(n + 1);
    for (int i = 0; i <= n; ++i) indeg[i] = static_cast<int>(adj.pred[i].size());
    std::vector<int> gen;
    for (int i = 0; i <= n; ++i)
      if (indeg[i] == 0) gen.push_back(i);
    while (!gen.empty()) {
      std::vector<int> next;
      for (int v : gen) {
        order.push_back(v);
        for (int c : adj.succ[v])
          if (--indeg[c] == 0) next.push_back(c);
      }
      gen.swap(next);
    }
    GHNAS_CHECK_AS(ArchError, static_cast<int>(order.size()) == n + 1, "the network graph has a cycle");
  }

  // Working list in that order; a pos_enc node hands its edges to a new sum node right after it.
  struct Item {
    ListNode node;
    bool pos_sum = false;
  };
  std::vector<Item> items;
  std::vector<int> pos(n + 1);
  for (int i : order) {
    pos[i] = static_cast<int>(items.size());
    items.push_back({list_[i], false});
  }
  AdjGraph a(items.size());
  for (int i = 0; i <= n; ++i)
    for (int j : adj.succ[i]) a.add(pos[i], pos[j]);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ListNode& nd = items[i].node;
    if (!(nd.param && raw[nd.fn].module == Module::kPosEnc)) continue;
    // Shift everything after i by one, move i's edges to the new node i+1, link i -> i+1.
    const std::size_t m = items.size() + 1;
    AdjGraph b(m);
    auto remap = [&](int k) { return k < static_cast<int>(i) ? k : k + 1; };
    for (std::size_t u = 0; u < items.size(); ++u)
      for (int w : a.succ[u]) b.add(remap(static_cast<int>(u)), remap(w));
    b.add(static_cast<int>(i), static_cast<int>(i) + 1);
    items.insert(items.begin() + i + 1, Item{{-1, "AddBackward0", false}, true});
    a = std::move(b);
    ++i;
  }

  // The filter, pass by pass as the reference runs it.
  auto is_supported = [&](const Item& it) {
    if (it.node.param) return true;
    static const std::set<std::string> kKnown = {"input", "Mean", "AdaptiveAvgPool2D",
                                                 "MaxPool2DWithIndices", "AvgPool2D", "Clone",
                                                 "Mul", "Add", "Cat"};
    return kKnown.count(op_base(it.node.name)) > 0;
  };
  auto fn_name = [&](const Item& it) -> std::string {
    // The keepdim marker is ours; the reference reads it from the function's saved attributes.
    const std::string& s = it.node.name;
    const auto colon = s.find(':');
    return colon == std::string::npos ? s : s.substr(0, colon);
  };
  auto run_pass = [&](const std::function<bool(std::size_t)>& matches,
                      const std::function<bool(std::size_t)>& keep) {
    std::vector<char> kept(items.size(), 1);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!matches(i)) continue;
      if (keep(i)) continue;
      kept[i] = 0;
      const std::vector<int> outs(a.succ[i].begin(), a.succ[i].end());
      const std::vector<int> ins(a.pred[i].begin(), a.pred[i].end());
      for (int o : outs)
        for (int p : ins)
          if (o != p) a.add(p, o);
    }
    std::vector<int> index(items.size(), -1);
    std::vector<Item> next;
    for (std::size_t i = 0; i < items.size(); ++i)
      if (kept[i]) {
        index[i] = static_cast<int>(next.size());
        next.push_back(std::move(items[i]));
      }
    AdjGraph b(next.size());
    for (std::size_t u = 0; u < kept.size(); ++u)
      if (kept[u])
        for (int w : a.succ[u])
          if (kept[w]) b.add(index[u], index[w]);
    items = std::move(next);
    a = std::move(b);
  };
  auto at = [&](long i) -> const Item& {  // Python-style index: negative counts from the end
    const long size = static_cast<long>(items.size());
    return items[static_cast<std::size_t>(((i % size) + size) % size)];
  };
  auto name_has = [&](const char* pattern) {
    return [&, pattern](std::size_t i) {
      return !items[i].node.param && contains(fn_name(items[i]), pattern);
    };
  };
  // Squeeze-excitation: the product is kept when a Hardswish comes two places before it.
  run_pass(name_has("Mul"), [&](std::size_t i) {
    return starts_with(fn_name(items[i]), "Mul") &&
           starts_with(fn_name(at(static_cast<long>(i) - 2)), "Hard");
  });
  // Attention: the copy after the heads are merged is kept when a Softmax is 11 places before.
  run_pass(name_has("Clone"), [&](std::size_t i) {
    return starts_with(fn_name(items[i]), "Clone") &&
           starts_with(fn_name(at(static_cast<long>(i) - 11)), "Softmax");
  });
  // Everything GHN-2 has no type for; removing these in one pass or one name at a time gives
  // the same edges, since removal only reconnects predecessors to successors.
  run_pass([&](std::size_t i) { return !is_supported(items[i]); },
           [](std::size_t) { return false; });
  run_pass(name_has("Mean"), [&](std::size_t i) {
    return starts_with(fn_name(items[i]), "Mean") && contains(items[i].node.name, ":keepdim");
  });
  // Sums and concatenations are kept only with more than one distinct input.
  run_pass(name_has("Add"), [&](std::size_t i) { return a.pred[i].size() > 1; });
  run_pass(name_has("Cat"), [&](std::size_t i) { return a.pred[i].size() > 1; });

  // Final graph.
  GhnGraph out;
  out.s_max = s_max;
  out.nodes.reserve(items.size());
  for (const Item& it : items) {
    GhnNode node;
    if (it.node.param) {
      const RawFn& p = raw[it.node.fn];
      node.type = p.type;
      node.shape = p.shape;
      node.param = p.name;
    } else {
      const std::string base = op_base(fn_name(it));
      const RawFn* f = it.node.fn >= 0 ? &raw[it.node.fn] : nullptr;
      if (base == "input") node.type = GhnNodeType::kInput;
      else if (base == "Mean" || base == "AdaptiveAvgPool2D") node.type = GhnNodeType::kGlobAvg;
      else if (base == "MaxPool2DWithIndices") node.type = GhnNodeType::kMaxPool;
      else if (base == "AvgPool2D") node.type = GhnNodeType::kAvgPool;
      else if (base == "Clone") node.type = GhnNodeType::kMsa;
      else if (base == "Mul") node.type = GhnNodeType::kCse;
      else if (base == "Add") node.type = GhnNodeType::kSum;
      else if (base == "Cat") node.type = GhnNodeType::kConcat;
      else throw ArchError("the GHN graph has no node type for '" + base + "'");
      if (f && (node.type == GhnNodeType::kMaxPool || node.type == GhnNodeType::kAvgPool))
        node.shape = f->shape;
    }
    out.nodes.push_back(std::move(node));
  }
  for (std::size_t u = 0; u < items.size(); ++u)
    for (int w : a.succ[u]) out.edges.emplace_back(static_cast<int>(u), w);
  compute_shortest_paths(out, s_max);
  return out;
}

}  // namespace

const char* ghn_node_type_name(GhnNodeType type) { return kTypeNames[static_cast<int>(type)]; }

GhnNodeType ghn_node_type_by_name(const std::string& name) {
  for (int i = 0; i < kNumGhnNodeTypes; ++i)
    if (name == kTypeNames[i]) return static_cast<GhnNodeType>(i);
  throw Error("unknown GHN node type '" + name + "'");
}

std::size_t GhnGraph::num_virtual_edges() const {
  std::size_t n = 0;
  for (const auto& e : paths) n += e.dist >= 2;
  return n;
}

std::vector<int> GhnGraph::levels() const {
  std::vector<int> level(nodes.size(), 0);
  std::vector<std::vector<int>> succ(nodes.size());
  std::vector<int> indeg(nodes.size(), 0);
  for (auto [a, b] : edges) {
    succ[a].push_back(b);
    ++indeg[b];
  }
  std::vector<int> queue;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (indeg[i] == 0) queue.push_back(static_cast<int>(i));
  for (std::size_t h = 0; h < queue.size(); ++h) {
    const int v = queue[h];
    for (int c : succ[v]) {
      level[c] = std::max(level[c], level[v] + 1);
      if (--indeg[c] == 0) queue.push_back(c);
    }
  }
  return level;
}

void compute_shortest_paths(GhnGraph& g, int s_max) {
  g.s_max = s_max;
  g.paths.clear();
  const int n = static_cast<int>(g.nodes.size());
  // Compressed adjacency (CSR) keeps the BFS cache-friendly.
  std::vector<int> offset(n + 1, 0), target(g.edges.size());
  for (auto [a, b] : g.edges) ++offset[a + 1];
  for (int i = 0; i < n; ++i) offset[i + 1] += offset[i];
  {
    std::vector<int> fill(offset.begin(), offset.end() - 1);
    for (auto [a, b] : g.edges) target[fill[a]++] = b;
  }
  const int cutoff = std::max(s_max, 1);
  std::vector<int> dist(n, -1), frontier, next, touched;
  for (int src = 0; src < n; ++src) {
    frontier.assign(1, src);
    dist[src] = 0;
    touched.assign(1, src);
    for (int d = 1; d <= cutoff && !frontier.empty(); ++d) {
      next.clear();
      for (int u : frontier)
        for (int k = offset[u]; k < offset[u + 1]; ++k) {
          const int w = target[k];
          if (dist[w] >= 0) continue;
          dist[w] = d;
          touched.push_back(w);
          next.push_back(w);
          g.paths.push_back({src, w, d});
        }
      frontier.swap(next);
    }
    for (int t : touched) dist[t] = -1;
  }
  std::sort(g.paths.begin(), g.paths.end(), [](const VirtualEdge& x, const VirtualEdge& y) {
    return x.dst != y.dst ? x.dst < y.dst : x.src < y.src;
  });
}

GhnGraph build_ghn_graph(const ArchGraph& graph, int s_max) {
  return ReferenceGraphBuilder(graph).finish(s_max);
}

}  // namespace ghnas
