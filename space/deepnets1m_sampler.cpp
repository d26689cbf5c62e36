// Sampling and mutating DeepNets-1M architectures. The sampler follows the published generator
// (Knyazev et al., NeurIPS 2021; ../shared/deepnets1m/README.md, "How the generator samples a
// net"): the same distributions, rejection rules and parameter budget, drawn with std::mt19937_64.
// Python's random stream cannot be reproduced, so the nets differ one by one but not in law.

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "space/deepnets1m.hpp"
#include "space/task.hpp"

namespace ghnas {

namespace {

// Positions in deepnets_genotype_ops() (the generator's PRIMITIVES_DARTS_EXT order) that the
// sampling rules refer to. check_op_order() guards them against a reordered list.
constexpr int kNoneOp = 0;
constexpr int kFirstLearnableOp = 4;  // sep_conv_3x3: only_pool cells draw from ops [0, 4)

// Logit weight of the generator's alphas (alpha = kAlphaScale * randn); near-uniform softmax.
constexpr double kAlphaScale = 1e-3;
// Logit the generator gives to forbidden ops (learnable ops in an only_pool reduction cell).
constexpr double kForbiddenLogit = -1000.0;

// Candidates drawn before giving up; the generator accepts well over one in ten.
constexpr int kMaxSampleAttempts = 1000000;
constexpr int kMaxMutationAttempts = 10000;

void check_op_order(const std::vector<std::string>& ops) {
  assert(ops.size() == 15 && ops[kNoneOp] == "none" && ops[3] == "skip_connect" &&
         ops[kFirstLearnableOp] == "sep_conv_3x3");
  (void)ops;
}

// The per-split settings at the top of the generator's main().
struct VariantSettings {
  int min_layers = 4;
  int max_layers = 18;
  std::vector<int> deep_thresholds = {7, 8, 9, 10};
  int min_steps = 1;
  int medium_steps = 2;
  int max_steps = 4;
  double max_params = 1e7;
  bool bn_free = false;
  int channels = 32;  // C written into the sampled net_args
};

VariantSettings settings_of(DeepNetsVariant variant) {
  VariantSettings s;
  switch (variant) {
    case DeepNetsVariant::kId:
      break;
    case DeepNetsVariant::kWide:
      // The wide split is the test split evaluated with four times the channels.
      s.channels = 128;
      break;
    case DeepNetsVariant::kDeep:
      s.min_layers = 10;
      s.max_layers = 36;
      s.deep_thresholds = {18};
      s.max_params = 1e8;
      break;
    case DeepNetsVariant::kDense:
      s.min_steps = 2;
      s.medium_steps = 6;
      s.max_steps = 10;
      s.max_params = 1e8;
      break;
    case DeepNetsVariant::kBnFree:
      s.bn_free = true;
      break;
  }
  return s;
}

int uniform_int(Rng& rng, int lo, int hi) {  // inclusive bounds
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

bool coin(Rng& rng, double p_true = 0.5) { return std::bernoulli_distribution(p_true)(rng); }

// One cell of sample_genotype: every intermediate node k looks at its k + 2 possible inputs,
// each with a softmax over near-zero logits; the two inputs whose best allowed op weighs most
// are kept (heavier first, as the reference's stable sort leaves them), each with that op.
std::vector<CellEdge> sample_cell(Rng& rng, int steps, bool allow_none, bool only_pool) {
  const auto& ops = deepnets_genotype_ops();
  const int num_ops = static_cast<int>(ops.size());
  std::normal_distribution<double> randn(0.0, 1.0);
  std::vector<CellEdge> edges;
  std::vector<double> logits(num_ops);
  for (int node = 0; node < steps; ++node) {
    const int num_inputs = node + 2;
    std::vector<int> best_op(num_inputs);
    std::vector<double> best_weight(num_inputs);
    for (int input = 0; input < num_inputs; ++input) {
      for (int op = 0; op < num_ops; ++op) {
        logits[op] = kAlphaScale * randn(rng);
        if (only_pool && op >= kFirstLearnableOp) logits[op] = kForbiddenLogit;
      }
      const double top = *std::max_element(logits.begin(), logits.end());
      double normaliser = 0.0;
      for (double l : logits) normaliser += std::exp(l - top);
      int arg = -1;
      for (int op = 0; op < num_ops; ++op) {
        if (op == kNoneOp && !allow_none) continue;
        if (arg < 0 || logits[op] > logits[arg]) arg = op;
      }
      best_op[input] = arg;
      best_weight[input] = std::exp(logits[arg] - top) / normaliser;
    }
    std::vector<int> order(num_inputs);
    for (int i = 0; i < num_inputs; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return best_weight[a] > best_weight[b]; });
    for (int k = 0; k < 2; ++k) edges.emplace_back(ops[best_op[order[k]]], order[k]);
  }
  return edges;
}

// The states concatenated into the cell output. With drop_concat, every node but the last
// joins with p = 0.5; the last always does so that earlier nodes are not all lost.
std::vector<int> sample_concat(Rng& rng, int steps, bool drop_concat) {
  std::vector<int> concat;
  for (int state = 2; state < steps + 2; ++state)
    if (!drop_concat || state == steps + 1 || coin(rng)) concat.push_back(state);
  return concat;
}

bool is_conv_like(const std::string& op) { return op.find("conv") != std::string::npos; }

// The generator's genotype rejection rules (step 4 of the README's recipe). Returns true when
// the genotype would be skipped.
bool genotype_rejected(const DeepNetsGenotype& g) {
  int cse = 0, msa = 0, conv = 0;
  for (const auto* cell : {&g.normal, &g.reduce}) {
    int cell_cse = 0, cell_large_conv = 0;
    for (const auto& [op, input] : *cell) {
      cell_cse += op == "cse";
      cell_large_conv += op == "conv_5x5" || op == "conv_7x7";
      msa += op == "msa";
      conv += is_conv_like(op);
    }
    // More than one cse per cell made GHN training diverge; large dense convs cost memory.
    if (cell_cse > 1 || cell_large_conv > 1) return true;
    cse += cell_cse;
  }
  if (cse > 0 && conv == 0) return true;
  return cse == 0 && msa == 0 && conv == 0;  // nothing learnable in the cells
}

// The budget check of the generator: the network for CIFAR-10 and for ImageNet-sized input must
// each stay within max_params, and must be buildable (a cell whose output is None is not).
// The generator builds both with num_classes = 10, so the ImageNet task keeps 10 classes here.
const Task& cifar10_task() {
  static const Task task = task_by_name("cifar10");
  return task;
}

bool network_rejected(const DeepNetsArch& arch, double max_params) {
  static const Task imagenet_input = [] {
    Task t = task_by_name("imagenet");
    t.classes = 10;
    return t;
  }();
  try {
    validate_deepnets_arch(arch);
    for (const Task* task : {&cifar10_task(), &imagenet_input}) {
      if (static_cast<double>(build_deepnets_graph(arch, *task).num_params()) > max_params)
        return true;
    }
  } catch (const ArchError&) {
    return true;
  }
  return false;
}

}  // namespace

DeepNetsVariant deepnets_variant_by_name(const std::string& name) {
  static const std::vector<std::pair<std::string, DeepNetsVariant>> kVariants = {
      {"id", DeepNetsVariant::kId},       {"wide", DeepNetsVariant::kWide},
      {"deep", DeepNetsVariant::kDeep},   {"dense", DeepNetsVariant::kDense},
      {"bnfree", DeepNetsVariant::kBnFree}};
  std::string valid;
  for (const auto& [known, variant] : kVariants) {
    if (known == name) return variant;
    valid += (valid.empty() ? "" : ", ") + known;
  }
  throw ConfigError("unknown deepnets1m variant '" + name + "'; valid variants: " + valid);
}

DeepNetsArch sample_deepnets_arch(Rng& rng, DeepNetsVariant variant) {
  check_op_order(deepnets_genotype_ops());
  const VariantSettings s = settings_of(variant);
  for (int attempt = 0; attempt < kMaxSampleAttempts; ++attempt) {
    DeepNetsArch arch;
    DeepNetsNetArgs& a = arch.net_args;
    a.n_cells = uniform_int(rng, s.min_layers, s.max_layers);
    const int deep_threshold =
        s.deep_thresholds[uniform_int(rng, 0, static_cast<int>(s.deep_thresholds.size()) - 1)];
    const int steps =
        uniform_int(rng, s.min_steps, a.n_cells <= deep_threshold ? s.max_steps : s.medium_steps);

    // The generator draws only_pool always but drop_concat only when there is something to drop.
    const bool only_pool = coin(rng);
    const bool drop_concat = steps > 1 && coin(rng);
    const bool allow_none = steps > 1;  // none only sparsifies cells with several nodes
    DeepNetsGenotype& g = arch.genotype;
    g.normal = sample_cell(rng, steps, allow_none, /*only_pool=*/false);
    g.reduce = sample_cell(rng, steps, allow_none, only_pool);
    g.normal_concat = sample_concat(rng, steps, drop_concat);
    g.reduce_concat = g.normal_concat;

    static const int kStemKernels[] = {3, 5, 7};
    a.ks = kStemKernels[uniform_int(rng, 0, 2)];
    if (genotype_rejected(g)) continue;

    const bool vit = arch.is_vit();
    a.C_mult = uniform_int(rng, 1, 2);
    // The generator keeps the 1x1 preprocessing except, for diversity, in single-node ViTs of
    // constant width, which go without it with p = 0.8. Non-ViTs always keep it.
    a.preproc = steps > 1 || a.C_mult > 1 || !vit || coin(rng, 0.2);
    a.glob_avg = vit || a.n_cells > deep_threshold || coin(rng, 0.9);
    if (s.bn_free) {
      a.norm = "";
    } else if (a.n_cells <= s.min_layers + 1 && steps <= s.medium_steps) {
      a.norm = coin(rng) ? "bnorm" : "";
    } else {
      a.norm = "bnorm";
    }
    a.stem_type = uniform_int(rng, 0, 1);
    a.stem_pool = a.stem_type == 0 && coin(rng);
    a.fc_layers = uniform_int(rng, 1, 2);
    a.fc_dim = 256;
    // The budget is checked at the generator's C = 32 for every split, wide included.
    a.C = 32;
    if (network_rejected(arch, s.max_params)) continue;
    a.C = s.channels;
    return arch;
  }
  throw Error("sample_deepnets_arch: no architecture accepted after " +
              std::to_string(kMaxSampleAttempts) + " candidates");
}

namespace {
// Whether a mutated or neighbouring genotype is still a member of the space.
bool acceptable_variation(const DeepNetsArch& child) {
  if (genotype_rejected(child.genotype)) return false;
  // The ViT stem keeps an 11x11 map that the reference's flatten head, sized for 8x8 or 4x4,
  // cannot take; that is why the generator forces glob_avg for ViTs.
  if (child.is_vit() && !child.net_args.glob_avg) return false;
  // Building also catches what validation alone cannot: a cell output left None.
  try {
    build_deepnets_graph(child, cifar10_task());
  } catch (const ArchError&) {
    return false;
  }
  return true;
}
}  // namespace

DeepNetsArch mutate_deepnets_arch(const DeepNetsArch& arch, Rng& rng) {
  validate_deepnets_arch(arch);
  const auto& ops = deepnets_genotype_ops();
  const int num_ops = static_cast<int>(ops.size());
  for (int attempt = 0; attempt < kMaxMutationAttempts; ++attempt) {
    DeepNetsArch child = arch;
    std::vector<CellEdge>& cell = coin(rng) ? child.genotype.reduce : child.genotype.normal;
    if (cell.empty()) continue;
    const int edge = uniform_int(rng, 0, static_cast<int>(cell.size()) - 1);
    const int node = edge / 2;
    const int steps = static_cast<int>(cell.size()) / 2;
    auto& [op, input] = cell[edge];
    if (coin(rng)) {
      // Op mutation: any other op, none excluded where the space forbids it.
      const int current = static_cast<int>(
          std::find(ops.begin(), ops.end(), op) - ops.begin());
      std::vector<int> choices;
      for (int o = 0; o < num_ops; ++o)
        if (o != current && (o != kNoneOp || steps > 1)) choices.push_back(o);
      op = ops[choices[uniform_int(rng, 0, static_cast<int>(choices.size()) - 1)]];
    } else {
      // Input (hidden-state) mutation: another earlier state; node k sees states 0 .. k + 1.
      int other = uniform_int(rng, 0, node);  // node + 1 states besides the current one
      if (other >= input) ++other;
      input = other;
    }
    if (acceptable_variation(child)) return child;
  }
  throw Error("mutate_deepnets_arch: no valid mutation found after " +
              std::to_string(kMaxMutationAttempts) + " tries");
}

std::vector<DeepNetsArch> deepnets_neighbours(const DeepNetsArch& arch) {
  validate_deepnets_arch(arch);
  const auto& ops = deepnets_genotype_ops();
  std::vector<DeepNetsArch> result;
  auto consider = [&](const DeepNetsArch& child) {
    if (acceptable_variation(child)) result.push_back(child);
  };
  for (const bool reduce : {false, true}) {
    const auto& cell = reduce ? arch.genotype.reduce : arch.genotype.normal;
    const int steps = static_cast<int>(cell.size()) / 2;
    for (std::size_t e = 0; e < cell.size(); ++e) {
      const int node = static_cast<int>(e) / 2;
      for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
        if (ops[o] == cell[e].first || (o == kNoneOp && steps == 1)) continue;
        DeepNetsArch child = arch;
        (reduce ? child.genotype.reduce : child.genotype.normal)[e].first = ops[o];
        consider(child);
      }
      for (int input = 0; input < 2 + node; ++input) {
        if (input == cell[e].second) continue;
        DeepNetsArch child = arch;
        (reduce ? child.genotype.reduce : child.genotype.normal)[e].second = input;
        consider(child);
      }
    }
  }
  return result;
}

}  // namespace ghnas
