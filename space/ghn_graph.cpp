#include "space/ghn_graph.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <functional>
#include <cstring>
#include <utility>

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

// What the reference's filter sees in a node's name. Only these distinctions matter to it.
enum class FnKind : std::uint8_t {
  kParam,        // a parameter tensor (AccumulateGrad)
  kUnsupported,  // any function GHN-2 has no type for (views, ReLU, matmuls, ...)
  kHardswish,    // unsupported, but the cse heuristic looks for it
  kSoftmax,      // unsupported, but the msa heuristic looks for it
  kMul,
  kClone,
  kMean,
  kAdd,
  kCat,
  kMaxPool,
  kAvgPool,
  kInput,
};

struct RawFn {
  const char* name = "";  // autograd function name (a string literal)
  FnKind kind = FnKind::kUnsupported;
  Module module = Module::kNone;
  GhnNodeType type = GhnNodeType::kConv;  // parameters
  bool keepdim = false;                   // kMean
  const ParamTensor* param = nullptr;     // parameters
  std::int64_t kernel_h = 0, kernel_w = 0;  // pools
  int next_begin = 0, next_count = 0;     // inputs in argument order (-1 for None)
};

FnKind classify(const char* name) {
  static const std::pair<const char*, FnKind> kKinds[] = {
      {"MulBackward0", FnKind::kMul},         {"CloneBackward0", FnKind::kClone},
      {"MeanBackward1", FnKind::kMean},       {"AddBackward0", FnKind::kAdd},
      {"CatBackward0", FnKind::kCat},         {"MaxPool2DWithIndicesBackward0", FnKind::kMaxPool},
      {"AvgPool2DBackward0", FnKind::kAvgPool}, {"HardswishBackward0", FnKind::kHardswish},
      {"SoftmaxBackward0", FnKind::kSoftmax}};
  for (const auto& [n, k] : kKinds)
    if (std::strcmp(n, name) == 0) return k;
  return FnKind::kUnsupported;
}

class RawGraph {
 public:
  int fn(const char* name, std::initializer_list<int> next) { return add_fn(name, next.begin(), next.size()); }
  int fn(const char* name, const std::vector<int>& next) { return add_fn(name, next.data(), next.size()); }
  int leaf(const ParamTensor& p, Module module, GhnNodeType type) {
    RawFn f;
    f.name = p.name.c_str();
    f.kind = FnKind::kParam;
    f.module = module;
    f.type = type;
    f.param = &p;
    fns_.push_back(f);
    return static_cast<int>(fns_.size()) - 1;
  }
  RawFn& operator[](int i) { return fns_[i]; }
  const RawFn& operator[](int i) const { return fns_[i]; }
  const int* next(int i) const { return next_.data() + fns_[i].next_begin; }
  int size() const { return static_cast<int>(fns_.size()); }

 private:
  int add_fn(const char* name, const int* next, std::size_t count) {
    RawFn f;
    f.name = name;
    f.kind = classify(name);
    f.next_begin = static_cast<int>(next_.size());
    f.next_count = static_cast<int>(count);
    next_.insert(next_.end(), next, next + count);
    fns_.push_back(f);
    return static_cast<int>(fns_.size()) - 1;
  }
  std::vector<RawFn> fns_;
  std::vector<int> next_;
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// A tensor of the traced forward pass (batch size 1, as the reference traces): the autograd
// function that produced it, and its sizes and strides. Strides matter because a reshape of a
// tensor that cannot be viewed records a copy (CloneBackward0), which the filter reads as msa.
struct Meta {
  int fn = -1;
  int nd = 0;
  std::array<std::int64_t, 6> size{};
  std::array<std::int64_t, 6> stride{};
};

using Dims = std::vector<std::int64_t>;

void set_contiguous(Meta& m) {
  std::int64_t z = 1;
  for (int d = m.nd - 1; d >= 0; --d) {
    m.stride[d] = z;
    z *= std::max<std::int64_t>(m.size[d], 1);
  }
}

Meta make_meta(int fn, const Dims& sizes) {
  Meta m;
  m.fn = fn;
  m.nd = static_cast<int>(sizes.size());
  for (int d = 0; d < m.nd; ++d) m.size[d] = sizes[d];
  set_contiguous(m);
  return m;
}

Dims sizes_of(const Meta& m) { return Dims(m.size.begin(), m.size.begin() + m.nd); }

bool is_contiguous(const Meta& m) {
  std::int64_t z = 1;
  for (int d = m.nd - 1; d >= 0; --d) {
    if (m.size[d] == 1) continue;
    if (m.stride[d] != z) return false;
    z *= m.size[d];
  }
  return true;
}

// PyTorch's channels-last test for a 4-D tensor that is not plainly contiguous.
bool is_channels_last(const Meta& m) {
  if (m.nd != 4 || is_contiguous(m)) return false;
  const std::int64_t c = m.size[1], h = m.size[2], w = m.size[3];
  const std::int64_t cl[4] = {h * w * c, 1, w * c, c};
  for (int d = 0; d < 4; ++d)
    if (m.size[d] != 1 && m.stride[d] != cl[d]) return false;
  return true;
}

// Dense strides keeping the dimension order of `m` (what elementwise ops allocate).
void set_dense_like(Meta& out, const Meta& m) {
  std::array<int, 6> order{};
  for (int d = 0; d < m.nd; ++d) order[d] = d;
  std::sort(order.begin(), order.begin() + m.nd, [&](int a, int b) {
    return m.stride[a] != m.stride[b] ? m.stride[a] < m.stride[b] : a > b;
  });
  std::int64_t z = 1;
  for (int k = 0; k < m.nd; ++k) {
    out.stride[order[k]] = z;
    z *= std::max<std::int64_t>(m.size[order[k]], 1);
  }
}

// ATen's computeStride: strides of `shape` as a view of `m`, or false when a copy is needed.
bool view_strides(const Meta& m, const Dims& shape, std::array<std::int64_t, 6>& out) {
  const int old_nd = m.nd, new_nd = static_cast<int>(shape.size());
  if (old_nd == 0) {
    for (int d = 0; d < new_nd; ++d) out[d] = 1;
    return true;
  }
  int view_d = new_nd - 1;
  std::int64_t chunk_base = m.stride[old_nd - 1], tensor_numel = 1, view_numel = 1;
  for (int td = old_nd - 1; td >= 0; --td) {
    tensor_numel *= m.size[td];
    if (td == 0 || (m.size[td - 1] != 1 && m.stride[td - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base = m.stride[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

// Expands every ArchGraph node that the output depends on into the autograd functions PyTorch
// 2.x records for the reference modules on CPU, in the argument order of each function.
class Tracer {
 public:
  explicit Tracer(const ArchGraph& g) : g_(g), memo_(g.num_nodes()) {}

  RawGraph raw;

  /// Expands every node the output depends on (vertex order is topological) and returns the
  /// output tensor.
  const Meta& trace_output() {
    const std::vector<bool> reach = g_.reaches_output();
    std::vector<Meta> in;
    for (std::size_t v = 0; v < g_.num_nodes(); ++v) {
      if (!reach[v]) continue;
      in.clear();
      for (auto u : g_.inputs(v)) in.push_back(memo_[u]);
      memo_[v] = expand(g_.node(v), in);
    }
    return memo_[g_.output()];
  }

 private:
  // ---- one recorded function per tensor operation
  Meta unary(const char* name, const Meta& x, bool dense_like) {
    Meta y = x;
    y.fn = raw.fn(name, {x.fn});
    if (dense_like) set_dense_like(y, x);
    else set_contiguous(y);
    return y;
  }
  Meta view(const Meta& x, const Dims& shape, const char* name = "ViewBackward0") {
    Meta y;
    y.nd = static_cast<int>(shape.size());
    for (int d = 0; d < y.nd; ++d) y.size[d] = shape[d];
    const bool ok = view_strides(x, shape, y.stride);
    assert(ok && "view of a tensor that needs a copy");
    (void)ok;
    y.fn = raw.fn(name, {x.fn});
    return y;
  }
  Meta reshape(const Meta& x, Dims shape) {
    std::int64_t numel = 1, known = 1;
    for (int d = 0; d < x.nd; ++d) numel *= x.size[d];
    for (auto s : shape) known *= s == -1 ? 1 : s;
    for (auto& s : shape)
      if (s == -1) s = numel / known;
    std::array<std::int64_t, 6> st{};
    if (view_strides(x, shape, st)) return view(x, shape);
    const int copy = raw.fn("CloneBackward0", {x.fn});
    Meta y = make_meta(raw.fn("UnsafeViewBackward0", {copy}), shape);
    return y;
  }
  Meta permute(const Meta& x, const std::vector<int>& perm) {
    Meta y;
    y.nd = x.nd;
    for (int d = 0; d < x.nd; ++d) {
      y.size[d] = x.size[perm[d]];
      y.stride[d] = x.stride[perm[d]];
    }
    y.fn = raw.fn("PermuteBackward0", {x.fn});
    return y;
  }
  Meta unsqueeze_last(const Meta& x) {
    Meta y = x;
    y.size[x.nd] = 1;
    y.stride[x.nd] = 1;
    y.nd = x.nd + 1;
    y.fn = raw.fn("UnsqueezeBackward0", {x.fn});
    return y;
  }
  Meta slice(const Meta& x, int dim, std::int64_t start, std::int64_t step) {
    Meta y = x;
    y.size[dim] = std::max<std::int64_t>(0, (x.size[dim] - start + step - 1) / step);
    y.stride[dim] = x.stride[dim] * step;
    y.fn = raw.fn("SliceBackward0", {x.fn});
    return y;
  }
  // x[:, :, start::step, start::step]: Python indexing records a slice for every dimension.
  Meta index4(const Meta& x, std::int64_t start, std::int64_t step) {
    return slice(slice(slice(slice(x, 0, 0, 1), 1, 0, 1), 2, start, step), 3, start, step);
  }
  Meta sum_dim(const Meta& x, int d) {
    Dims s = sizes_of(x);
    s[d] = 1;
    return make_meta(raw.fn("SumBackward1", {x.fn}), s);
  }
  Meta binary(const char* name, const Meta& a, int b_fn) {
    Meta y = a;
    y.fn = raw.fn(name, {a.fn, b_fn});
    set_dense_like(y, a);
    return y;
  }
  Meta conv_like(const char* name, const Meta& x, std::initializer_list<int> next, const OpNode& n) {
    Meta y = make_meta(raw.fn(name, next), {1, n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
    raw[y.fn].kernel_h = n.kernel_h;
    raw[y.fn].kernel_w = n.kernel_w;
    if (is_channels_last(x)) {
      const std::int64_t c = y.size[1], h = y.size[2], w = y.size[3];
      y.stride = {h * w * c, 1, w * c, c, 0, 0};
    }
    return y;
  }

  // torch.einsum with two operands, as ATen decomposes it (sumproduct_pair).
  Meta einsum2(const std::string& lhs_a, const std::string& lhs_b, const std::string& out_lbl,
               const Meta& a, const Meta& b) {
    std::string order = out_lbl;
    for (char c : lhs_a + lhs_b)
      if (out_lbl.find(c) == std::string::npos && order.find(c) == std::string::npos) order += c;
    const int nlab = static_cast<int>(order.size()), out_size = static_cast<int>(out_lbl.size());
    auto align = [&](Meta x, const std::string& lab) {
      std::vector<int> perm(nlab, -1);
      int j = 0;
      for (char c : lab) perm[order.find(c)] = j++;
      for (int i = 0; i < nlab; ++i)
        if (perm[i] == -1) {
          x = unsqueeze_last(x);
          perm[i] = j++;
        }
      return permute(x, perm);
    };
    Meta A = align(a, lhs_a), B = align(b, lhs_b);
    std::vector<int> sum_dims;
    for (int d = out_size; d < nlab; ++d)
      if (A.size[d] != 1 && B.size[d] != 1) sum_dims.push_back(d);
    for (int d = out_size; d < nlab; ++d) {
      if (std::find(sum_dims.begin(), sum_dims.end(), d) != sum_dims.end()) continue;
      if (A.size[d] != 1) A = sum_dim(A, d);
      else if (B.size[d] != 1) B = sum_dim(B, d);
    }
    Meta res = sumproduct_pair(A, B, sum_dims);
    if (nlab > out_size) res = view(res, Dims(res.size.begin(), res.size.begin() + out_size));
    return res;
  }
  Meta sumproduct_pair(Meta left, Meta right, const std::vector<int>& sum_dims) {
    const int dim = left.nd;
    std::vector<int> lro, lo, ro;
    std::int64_t sum_size = 1, lro_size = 1, lo_size = 1, ro_size = 1;
    auto is_sum = [&](int i) { return std::find(sum_dims.begin(), sum_dims.end(), i) != sum_dims.end(); };
    for (int i = 0; i < dim; ++i) {
      const bool sl = left.size[i] != 1, sr = right.size[i] != 1;
      if (is_sum(i)) {
        if (sl && sr) sum_size *= left.size[i];
        else if (sl) left = sum_dim(left, i);
        else if (sr) right = sum_dim(right, i);
      } else if (sl && sr) {
        lro.push_back(i);
        lro_size *= left.size[i];
      } else if (sl) {
        lo.push_back(i);
        lo_size *= left.size[i];
      } else {
        ro.push_back(i);
        ro_size *= right.size[i];
      }
    }
    Dims out_sz;
    for (int d : lro) out_sz.push_back(left.size[d]);
    for (int d : lo) out_sz.push_back(left.size[d]);
    for (std::size_t k = 0; k < sum_dims.size(); ++k) out_sz.push_back(1);
    for (int d : ro) out_sz.push_back(right.size[d]);
    auto cat = [](std::initializer_list<const std::vector<int>*> parts) {
      std::vector<int> out;
      for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
      return out;
    };
    const std::vector<int> lperm = cat({&lro, &lo, &sum_dims, &ro});
    const std::vector<int> rperm = cat({&lro, &sum_dims, &ro, &lo});
    std::vector<int> operm(out_sz.size(), -1);
    for (std::size_t i = 0; i < lperm.size(); ++i) operm[lperm[i]] = static_cast<int>(i);
    const Meta L = reshape(permute(left, lperm), {lro_size, lo_size, sum_size});
    const Meta R = reshape(permute(right, rperm), {lro_size, sum_size, ro_size});
    const Meta res = make_meta(raw.fn("BmmBackward0", {L.fn, R.fn}), {lro_size, lo_size, ro_size});
    return permute(view(res, out_sz), operm);
  }

  // ---- modules
  int leaf(const ParamTensor& p, Module m, GhnNodeType t) { return raw.leaf(p, m, t); }
  Meta linear(const Meta& x, const OpNode& n) {
    const int w = leaf(n.params.at(0), Module::kLinear, GhnNodeType::kConv);
    const int b = n.params.size() > 1 ? leaf(n.params[1], Module::kLinear, GhnNodeType::kBias) : -1;
    const int wt = raw.fn("TBackward0", {w});
    const std::int64_t out = n.params[0].shape[0], in = n.params[0].shape[1];
    if (x.nd == 2) {
      if (b >= 0) return make_meta(raw.fn("AddmmBackward0", {b, x.fn, wt}), {x.size[0], out});
      return make_meta(raw.fn("MmBackward0", {x.fn, wt}), {x.size[0], out});
    }
    // (B, N, C): bias and a contiguous input take the flattened addmm; otherwise matmul folds.
    const Meta flat = reshape(x, {x.size[0] * x.size[1], in});
    if (b >= 0 && is_contiguous(x)) {
      const Meta mm = make_meta(raw.fn("AddmmBackward0", {b, flat.fn, wt}), {flat.size[0], out});
      return view(mm, {x.size[0], x.size[1], out});
    }
    const int mm = raw.fn("MmBackward0", {flat.fn, wt});
    Meta y = make_meta(raw.fn("UnsafeViewBackward0", {mm}), {x.size[0], x.size[1], out});
    if (b >= 0) y.fn = raw.fn("AddBackward0", {y.fn, b});
    return y;
  }
  // einops.rearrange 'b n (h d) -> b h n d' and back (einops reshapes before and after).
  Meta split_heads(const Meta& x, std::int64_t heads) {
    Meta y = reshape(x, {x.size[0], x.size[1], heads, x.size[2] / heads});
    y = permute(y, {0, 2, 1, 3});
    return reshape(y, sizes_of(y));
  }
  Meta merge_heads(Meta x) {
    x = reshape(x, sizes_of(x));
    x = permute(x, {0, 2, 1, 3});
    return reshape(x, {x.size[0], x.size[1], x.size[2] * x.size[3]});
  }
  Meta attention(const Meta& qkv, int heads) {
    const int split = raw.fn("SplitBackward0", {qkv.fn});
    Meta part = qkv;  // each chunk keeps the parent's strides
    part.fn = split;
    part.size[2] = qkv.size[2] / 3;
    const Meta q = split_heads(part, heads), k = split_heads(part, heads),
               v = split_heads(part, heads);
    Meta dots = einsum2("bhid", "bhjd", "bhij", q, k);
    dots = binary("MulBackward0", dots, -1);  // * dim_head^-0.5
    const Meta attn = make_meta(raw.fn("SoftmaxBackward0", {dots.fn}), sizes_of(dots));
    return merge_heads(einsum2("bhij", "bhjd", "bhid", attn, v));
  }

  GhnNodeType conv_type(const OpNode& n) const {
    if (n.groups > 1) return n.dilation > 1 ? GhnNodeType::kDilConv : GhnNodeType::kSepConv;
    return GhnNodeType::kConv;
  }

  Meta expand(const OpNode& n, const std::vector<Meta>& in) {
    switch (n.kind) {
      case OpKind::kInput:
        return make_meta(-1, {1, n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
      case OpKind::kConv2d: {
        const int w = leaf(n.params.at(0), Module::kConv2d, conv_type(n));
        const int b = n.params.size() > 1 ? leaf(n.params[1], Module::kConv2d, GhnNodeType::kBias) : -1;
        return conv_like("ConvolutionBackward0", in[0], {in[0].fn, w, b}, n);
      }
      case OpKind::kBatchNorm2d: {
        Meta y = in[0];
        y.fn = raw.fn("NativeBatchNormBackward0",
                      {in[0].fn, leaf(n.params.at(0), Module::kBatchNorm, GhnNodeType::kBn),
                       leaf(n.params.at(1), Module::kBatchNorm, GhnNodeType::kBias)});
        if (!is_channels_last(in[0])) set_contiguous(y);
        return y;
      }
      case OpKind::kLayerNorm: {
        Meta y = in[0];
        y.fn = raw.fn("NativeLayerNormBackward0",
                      {in[0].fn, leaf(n.params.at(0), Module::kLayerNorm, GhnNodeType::kLn),
                       leaf(n.params.at(1), Module::kLayerNorm, GhnNodeType::kBias)});
        set_contiguous(y);
        return y;
      }
      case OpKind::kLinear:
        return linear(in[0], n);
      case OpKind::kPosEnc: {
        Meta y = in[0];
        y.fn = raw.fn("AddBackward0", {in[0].fn, leaf(n.params.at(0), Module::kPosEnc, GhnNodeType::kPosEnc)});
        set_contiguous(y);
        return y;
      }
      case OpKind::kReLU:
        if (n.inplace) {  // rebases the input's history, keeps its layout
          Meta y = in[0];
          y.fn = raw.fn("ReluBackward0", {in[0].fn});
          return y;
        }
        return unary("ReluBackward0", in[0], /*dense_like=*/true);
      case OpKind::kGELU:
        return unary("GeluBackward0", in[0], true);
      case OpKind::kHardswish:
        return unary("HardswishBackward0", in[0], true);
      case OpKind::kMaxPool2d:
        return conv_like("MaxPool2DWithIndicesBackward0", in[0], {in[0].fn}, n);
      case OpKind::kAvgPool2d:
        return conv_like("AvgPool2DBackward0", in[0], {in[0].fn}, n);
      case OpKind::kGlobalAvgPool:
        // adaptive_avg_pool2d(x, 1) runs as mean(dim=(-1, -2), keepdim=True).
      {
        const Meta y = make_meta(raw.fn("MeanBackward1", {in[0].fn}), {1, in[0].size[1], 1, 1});
        raw[y.fn].keepdim = true;
        return y;
      }
      case OpKind::kAdd: {
        Meta acc = in[0];
        for (std::size_t i = 1; i < in.size(); ++i) acc = binary("AddBackward0", acc, in[i].fn);
        return acc;
      }
      case OpKind::kConcat: {
        std::vector<int> next;
        bool channels_last = true;
        for (const Meta& m : in) {
          next.push_back(m.fn);
          channels_last = channels_last && is_channels_last(m);
        }
        Meta y = make_meta(raw.fn("CatBackward0", next),
                           {1, n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
        if (channels_last) {
          const std::int64_t c = y.size[1], h = y.size[2], w = y.size[3];
          y.stride = {h * w * c, 1, w * c, c, 0, 0};
        }
        return y;
      }
      case OpKind::kSlice: {
        Meta y = in[0];
        if (n.offset != 0 || n.step != 1) y = index4(y, n.offset, n.step);
        if (n.pad_end > 0)  // ghnas-only (odd sizes); the reference cannot build these nets
          y = make_meta(raw.fn("ConstantPadNdBackward0", {y.fn}),
                        {1, n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
        return y;
      }
      case OpKind::kZeros:
        return binary("MulBackward0", in[0], -1);
      case OpKind::kSpatialMean: {
        const Meta flat = reshape(in[0], {in[0].size[0], in[0].size[1], -1});
        return make_meta(raw.fn("MeanBackward1", {flat.fn}), {flat.size[0], flat.size[1]});
      }
      case OpKind::kChannelScale: {
        const Meta gate = view(in[1], {in[1].size[0], in[1].size[1], 1, 1});
        return binary("MulBackward0", in[0], gate.fn);
      }
      case OpKind::kToTokens: {
        const Meta flat = reshape(in[0], {in[0].size[0], in[0].size[1], -1});
        return permute(flat, {0, 2, 1});
      }
      case OpKind::kFromTokens:
        return view(permute(in[0], {0, 2, 1}),
                    {1, n.out_shape.at(0), n.out_shape.at(1), n.out_shape.at(2)});
      case OpKind::kAttention:
        return attention(in[0], n.heads);
      case OpKind::kFlatten:
        return reshape(in[0], {in[0].size[0], -1});
      case OpKind::kDropout:
        // Dropout in training mode on CPU multiplies by a random mask.
        return n.dropout > 0 ? binary("MulBackward0", in[0], -1) : in[0];
    }
    throw ArchError(detail::str_cat("the GHN graph cannot represent op '", op_kind_name(n.kind), "'"));
  }

  const ArchGraph& g_;
  std::vector<Meta> memo_;
};

// A sorted set of node ids with room for a few inline: almost every node has one to three
// neighbours, and a heap allocation per list dominated the build time.
class NodeSet {
 public:
  NodeSet() = default;
  NodeSet(const NodeSet& o) { *this = o; }
  NodeSet& operator=(const NodeSet& o) {
    if (this == &o) return *this;
    size_ = 0;
    for (int x : o) push_back(x);
    return *this;
  }
  NodeSet(NodeSet&& o) noexcept { *this = std::move(o); }
  NodeSet& operator=(NodeSet&& o) noexcept {
    heap_ = std::move(o.heap_);
    std::copy(o.inline_, o.inline_ + kInline, inline_);
    size_ = o.size_;
    o.size_ = 0;
    return *this;
  }
  const int* begin() const { return data(); }
  const int* end() const { return data() + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  void insert(int x) {
    const int* pos = std::lower_bound(begin(), end(), x);
    if (pos != end() && *pos == x) return;
    const std::size_t at = static_cast<std::size_t>(pos - begin());
    push_back(x);
    int* d = data();
    std::rotate(d + at, d + size_ - 1, d + size_);
  }
  void erase(int x) {
    int* d = data();
    int* pos = std::lower_bound(d, d + size_, x);
    if (pos == d + size_ || *pos != x) return;
    std::copy(pos + 1, d + size_, pos);
    --size_;
  }

 private:
  static constexpr std::size_t kInline = 6;
  int* data() { return size_ <= kInline && heap_.empty() ? inline_ : heap_.data(); }
  const int* data() const { return size_ <= kInline && heap_.empty() ? inline_ : heap_.data(); }
  void push_back(int x) {
    if (heap_.empty() && size_ < kInline) {
      inline_[size_++] = x;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    if (heap_.size() <= size_) heap_.resize(size_ + 1);
    heap_[size_++] = x;
  }
  int inline_[kInline] = {};
  std::vector<int> heap_;  // used once the set outgrows the inline room
  std::size_t size_ = 0;
};

struct AdjGraph {
  std::vector<NodeSet> succ, pred;
  void resize(std::size_t n) {
    succ.resize(n);
    pred.resize(n);
  }
  void add(int a, int b) {
    if (a == b) return;
    succ[a].insert(b);
    pred[b].insert(a);
  }
  void clear_in(int b) {
    for (int a : pred[b]) succ[a].erase(b);
    pred[b].clear();
  }
  void detach(int v) {
    clear_in(v);
    for (int b : succ[v]) pred[b].erase(v);
    succ[v].clear();
  }
};

// Runs the reference's graph construction on the emulated autograd graph: depth-first numbering
// from the output, the Linear rewiring, the input node, networkx's topological sort, the pos_enc
// sum, and the filter passes. Nodes keep stable ids; `order_` is the reference's list.
class ReferenceGraphBuilder {
 public:
  explicit ReferenceGraphBuilder(const ArchGraph& g) : tracer_(g) {
    const int out = tracer_.trace_output().fn;
    GHNAS_CHECK_AS(ArchError, out >= 0, "the network output does not depend on any parameter");
    link_.assign(tracer_.raw.size(), kUnseen);
    traverse(out);
  }

  GhnGraph finish(int s_max);

 private:
  static constexpr int kUnseen = -2;

  struct Node {
    int fn;  // raw function, or -1 for the input and the sum after pos_enc
    FnKind kind;
  };

  bool is_bias_name(int f) const {
    const RawFn& r = tracer_.raw[f];
    return r.kind == FnKind::kParam && contains(r.param->name, "bias");
  }

  // Numbers nodes in the reference's order. A function whose inputs include parameters is
  // represented by those parameters (norm biases excepted); its inputs link to the first of them
  // and its consumers to the last. Returns the node that consumers link from (-1: none).
  int traverse(int f) {
    if (link_[f] != kUnseen) return link_[f];
    const RawFn& fn = tracer_.raw[f];
    if (fn.kind == FnKind::kParam) return link_[f] = -1;  // a norm bias: no node
    int link = -1, start = -1;
    const int* next = tracer_.raw.next(f);
    for (int k = 0; k < fn.next_count; ++k) {
      const int u = next[k];
      if (u < 0 || tracer_.raw[u].kind != FnKind::kParam) continue;
      const RawFn& p = tracer_.raw[u];
      if ((p.module == Module::kBatchNorm || p.module == Module::kLayerNorm) &&
          contains(p.param->name, ".bias"))
        continue;
      link = add_node(u);
      if (start < 0) start = link;
      link_[u] = link;
    }
    if (link < 0) start = link = add_node(f);
    link_[f] = link;
    for (int k = 0; k < fn.next_count; ++k) {
      const int u = tracer_.raw.next(f)[k];
      if (u < 0) continue;
      const int l = traverse(u);
      if (l >= 0 && l != start)
        edges_.emplace_back(is_bias_name(u) ? std::make_pair(start, l) : std::make_pair(l, start));
    }
    return link;
  }
  int add_node(int fn) {
    nodes_.push_back({fn, fn >= 0 ? tracer_.raw[fn].kind : FnKind::kInput});
    return static_cast<int>(nodes_.size()) - 1;
  }

  // One filter pass over the current list: nodes that `matches` and not `keep(position)` are
  // removed, their predecessors linked to their successors. As in the reference, removed nodes
  // keep their edges until the pass ends (later keep() decisions in the pass still see them).
  template <typename Match, typename Keep>
  void filter_pass(Match matches, Keep keep) {
    removed_.clear();
    for (std::size_t i = 0; i < order_.size(); ++i) {
      const int v = order_[i];
      if (!matches(v) || keep(i)) continue;
      removed_.push_back(v);
      for (int o : adj_.succ[v])
        for (int p : adj_.pred[v])
          if (o != p) adj_.add(p, o);
    }
    if (removed_.empty()) return;
    for (int v : removed_) {
      adj_.detach(v);
      alive_[v] = 0;
    }
    order_.erase(std::remove_if(order_.begin(), order_.end(), [&](int v) { return !alive_[v]; }),
                 order_.end());
  }
  // The list element `offset` places before position i, with Python's negative indexing.
  FnKind kind_at(std::size_t i, long offset) const {
    const long size = static_cast<long>(order_.size());
    const long j = ((static_cast<long>(i) - offset) % size + size) % size;
    return nodes_[order_[j]].kind;
  }

  Tracer tracer_;
  std::vector<int> link_;
  std::vector<Node> nodes_;
  std::vector<std::pair<int, int>> edges_;
  AdjGraph adj_;
  std::vector<int> order_, removed_;
  std::vector<char> alive_;
};

GhnGraph ReferenceGraphBuilder::finish(int s_max) {
  const auto& raw = tracer_.raw;
  const int n = static_cast<int>(nodes_.size());
  adj_.resize(n + 2);  // + input, + a sum after pos_enc
  for (auto [a, b] : edges_) adj_.add(a, b);

  // Linear layers: the weight takes the inputs of what it feeds (its bias), so the chain reads
  // input -> weight -> bias.
  for (int i = 0; i < n; ++i) {
    const int f = nodes_[i].fn;
    if (raw[f].kind != FnKind::kParam || raw[f].module != Module::kLinear ||
        !contains(raw[f].param->name, ".weight"))
      continue;
    const NodeSet outs = adj_.succ[i];
    for (int o : outs) {
      const NodeSet preds = adj_.pred[o];
      for (int p : preds) adj_.add(p, i);
      adj_.clear_in(o);
      adj_.add(i, o);
    }
  }

  // The input node feeds the one node nothing else feeds.
  const int input = add_node(-1);
  {
    int sources = 0, first = -1;
    for (int i = 0; i < n; ++i)
      if (adj_.pred[i].empty()) {
        ++sources;
        first = i;
      }
    GHNAS_CHECK_AS(ArchError, sources == 1, "the network has ", sources, " entry points instead of one");
    adj_.add(input, first);
  }

  // Topological order by generations (Kahn), children in index order: networkx's order.
  {
    std::vector<int> indeg(n + 1);
    for (int i = 0; i <= n; ++i) indeg[i] = static_cast<int>(adj_.pred[i].size());
    std::vector<int> gen, next;
    for (int i = 0; i <= n; ++i)
      if (indeg[i] == 0) gen.push_back(i);
    while (!gen.empty()) {
      next.clear();
      for (int v : gen) {
        order_.push_back(v);
        for (int c : adj_.succ[v])
          if (--indeg[c] == 0) next.push_back(c);
      }
      gen.swap(next);
    }
    GHNAS_CHECK_AS(ArchError, static_cast<int>(order_.size()) == n + 1, "the network graph has a cycle");
  }

  // After pos_enc the reference inserts a sum that takes over pos_enc's edges; pos_enc then
  // feeds only that sum.
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const int v = order_[i];
    const int f = nodes_[v].fn;
    if (f < 0 || raw[f].kind != FnKind::kParam || raw[f].module != Module::kPosEnc) continue;
    const int sum = add_node(-1);
    nodes_[sum].kind = FnKind::kAdd;
    const NodeSet ins = adj_.pred[v], outs = adj_.succ[v];
    adj_.detach(v);
    for (int p : ins) adj_.add(p, sum);
    for (int o : outs) adj_.add(sum, o);
    adj_.add(v, sum);
    order_.insert(order_.begin() + static_cast<long>(i) + 1, sum);
    break;  // a network has at most one positional encoding
  }
  alive_.assign(nodes_.size(), 1);

  auto kind_is = [&](FnKind k) { return [this, k](int v) { return nodes_[v].kind == k; }; };
  // Squeeze-excitation: a product is kept when a Hardswish comes two places before it.
  filter_pass(kind_is(FnKind::kMul), [&](std::size_t i) { return kind_at(i, 2) == FnKind::kHardswish; });
  // Attention: the copy after the heads are merged is kept when a Softmax is 11 places before.
  filter_pass(kind_is(FnKind::kClone), [&](std::size_t i) { return kind_at(i, 11) == FnKind::kSoftmax; });
  // Everything GHN-2 has no type for. The reference removes these one name at a time; removal
  // only links predecessors to successors, so the order does not change the result.
  filter_pass([&](int v) { const FnKind k = nodes_[v].kind;
                           return k == FnKind::kUnsupported || k == FnKind::kHardswish || k == FnKind::kSoftmax; },
              [](std::size_t) { return false; });
  // Means are kept only as global pooling (keepdim=True).
  filter_pass(kind_is(FnKind::kMean), [&](std::size_t i) { return raw[nodes_[order_[i]].fn].keepdim; });
  // Sums and concatenations are kept only with more than one distinct input.
  filter_pass(kind_is(FnKind::kAdd), [&](std::size_t i) { return adj_.pred[order_[i]].size() > 1; });
  filter_pass(kind_is(FnKind::kCat), [&](std::size_t i) { return adj_.pred[order_[i]].size() > 1; });

  // The final graph, numbered in list order.
  GhnGraph out;
  std::vector<int> index(nodes_.size(), -1);
  out.nodes.reserve(order_.size());
  for (int v : order_) {
    index[v] = static_cast<int>(out.nodes.size());
    GhnNode node;
    const Node& nd = nodes_[v];
    const RawFn* f = nd.fn >= 0 ? &raw[nd.fn] : nullptr;
    switch (nd.kind) {
      case FnKind::kParam:
        node.type = f->type;
        node.shape = f->param->shape;
        node.param = f->param->name;
        break;
      case FnKind::kInput: node.type = GhnNodeType::kInput; break;
      case FnKind::kMean: node.type = GhnNodeType::kGlobAvg; break;
      case FnKind::kMaxPool: node.type = GhnNodeType::kMaxPool; break;
      case FnKind::kAvgPool: node.type = GhnNodeType::kAvgPool; break;
      case FnKind::kClone: node.type = GhnNodeType::kMsa; break;
      case FnKind::kMul: node.type = GhnNodeType::kCse; break;
      case FnKind::kAdd: node.type = GhnNodeType::kSum; break;
      case FnKind::kCat: node.type = GhnNodeType::kConcat; break;
      default:
        throw ArchError(detail::str_cat("the GHN graph has no node type for '", f ? f->name : "?", "'"));
    }
    if (nd.kind == FnKind::kMaxPool || nd.kind == FnKind::kAvgPool)
      node.shape = {1, 1, f->kernel_h, f->kernel_w};
    out.nodes.push_back(std::move(node));
  }
  for (int v : order_)
    for (int w : adj_.succ[v]) out.edges.emplace_back(index[v], index[w]);
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
  for (auto d : path_dist) n += d >= 2;
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
  g.path_offset.assign(1, 0);
  g.path_src.clear();
  g.path_dist.clear();
  const int n = static_cast<int>(g.nodes.size());
  if (n == 0) return;
  // Dynamic programming over the topological order: row v of `dist` holds the distance from
  // every node to v, the minimum over v's predecessors' rows plus one. Rows are bytes, so the
  // minimum runs over 32-64 nodes per instruction. Requires nodes in topological order (which
  // build_ghn_graph guarantees); distances saturate at 255.
  const int cutoff = std::min(std::max(s_max, 1), 254);
  std::vector<std::vector<int>> preds(n);
  for (auto [a, b] : g.edges) {
    assert(a < b && "nodes must be in topological order");
    preds[b].push_back(a);
  }
  thread_local std::vector<std::uint8_t> dist;
  dist.assign(static_cast<std::size_t>(n) * n, 255);
  std::size_t total = 0;
  for (int v = 0; v < n; ++v) {
    std::uint8_t* row = dist.data() + static_cast<std::size_t>(v) * n;
    for (int p : preds[v]) {
      const std::uint8_t* from = dist.data() + static_cast<std::size_t>(p) * n;
      // Only sources before p can reach p.
      for (int u = 0; u <= p; ++u) {
        const std::uint8_t d = static_cast<std::uint8_t>(from[u] + (from[u] < 255));
        row[u] = std::min(row[u], d);
      }
    }
    row[v] = 0;
    for (int u = 0; u < v; ++u) total += row[u] <= cutoff;
  }
  g.path_offset.assign(1, 0);
  g.path_offset.reserve(n + 1);
  g.path_src.reserve(total);
  g.path_dist.reserve(total);
  for (int v = 0; v < n; ++v) {
    const std::uint8_t* row = dist.data() + static_cast<std::size_t>(v) * n;
    for (int u = 0; u < v; ++u)
      if (row[u] <= cutoff) {
        g.path_src.push_back(u);
        g.path_dist.push_back(row[u]);
      }
    g.path_offset.push_back(static_cast<int>(g.path_src.size()));
  }
}

GhnGraph build_ghn_graph(const ArchGraph& graph, int s_max) {
  return ReferenceGraphBuilder(graph).finish(s_max);
}

}  // namespace ghnas
