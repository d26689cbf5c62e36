#pragma once
// The DeepNets-1M space (Knyazev et al., NeurIPS 2021): DARTS-style networks whose normal and
// reduction cells draw from 15 operations, with varied stems, depth, width, preprocessing,
// normalisation and classifier heads. ../shared/deepnets1m/README.md documents every op and
// wiring rule this file implements.

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/search_space.hpp"

namespace ghnas {

/// One cell edge: (genotype op name, input state index).
using CellEdge = std::pair<std::string, int>;

struct DeepNetsGenotype {
  std::vector<CellEdge> normal;   // pairs 2k, 2k+1 feed intermediate node k
  std::vector<int> normal_concat;
  std::vector<CellEdge> reduce;
  std::vector<int> reduce_concat;
};

struct DeepNetsNetArgs {
  int C = 32;
  int n_cells = 8;
  int ks = 3;               // kernel of the first stem conv
  int stem_type = 0;        // 0 simple, 1 DARTS ImageNet-style
  bool stem_pool = false;
  std::string norm = "bnorm";  // "bnorm" or "" (no normalisation)
  bool preproc = true;
  int C_mult = 2;
  int fc_layers = 1;
  int fc_dim = 256;
  bool glob_avg = true;
  int num_classes = 10;
  bool is_imagenet_input = false;
};

struct DeepNetsArch {
  DeepNetsGenotype genotype;
  DeepNetsNetArgs net_args;
  /// True when any cell op is msa: the network then uses the ViT stem and never downsamples.
  bool is_vit() const;
};

/// The 15 genotype ops, in the order of the reference generator's PRIMITIVES_DARTS_EXT.
const std::vector<std::string>& deepnets_genotype_ops();

/// Parses {"genotype": ..., "net_args": ...}. Throws ArchError naming the field at fault.
DeepNetsArch parse_deepnets_arch(const nlohmann::json& spec);
nlohmann::json deepnets_arch_to_json(const DeepNetsArch& arch);

/// Checks the wiring rules (ops known, input indices in range, concat states exist,
/// a path from the cell inputs to the output). Throws ArchError.
void validate_deepnets_arch(const DeepNetsArch& arch);

/// Builds the network for `task`. net_args.num_classes and is_imagenet_input are taken from
/// the task, so the same architecture can be built for CIFAR-10 and Fashion-MNIST.
ArchGraph build_deepnets_graph(const DeepNetsArch& arch, const Task& task);

/// Variants of the generator: in-distribution and the four out-of-distribution splits.
enum class DeepNetsVariant { kId, kWide, kDeep, kDense, kBnFree };
DeepNetsVariant deepnets_variant_by_name(const std::string& name);

/// Draws one architecture with the generator's distribution and rejection rules for `variant`.
DeepNetsArch sample_deepnets_arch(Rng& rng, DeepNetsVariant variant);

/// Op mutation or input mutation of one edge of the normal or reduction cell (Real et al. 2019),
/// retried until the result is valid and different.
DeepNetsArch mutate_deepnets_arch(const DeepNetsArch& arch, Rng& rng);

/// Every valid architecture one mutation away: each edge of either cell with another op or
/// another input, filtered by the same rules as mutate_deepnets_arch.
std::vector<DeepNetsArch> deepnets_neighbours(const DeepNetsArch& arch);

/// The "deepnets1m" search space. Option `variant` (id, wide, deep, dense, bnfree) picks the
/// sampling distribution; option `width` (> 0) overrides the stem width C of sampled networks.
class DeepNets1mSpace : public SearchSpace {
 public:
  explicit DeepNets1mSpace(const SpaceOptions& options = {});
  std::string name() const override { return "deepnets1m"; }
  std::string description() const override;
  Architecture sample(Rng& rng) const override;
  Architecture mutate(const Architecture& arch, Rng& rng) const override;
  std::vector<Architecture> neighbours(const Architecture& arch) const override;
  /// net_args.C set to `width`.
  std::optional<Architecture> at_width(const Architecture& arch, int width) const override;
  std::optional<int> width(const Architecture& arch) const override;
  void validate(const Architecture& arch) const override;
  std::string canonical_hash(const Architecture& arch) const override;
  ArchGraph build_graph(const Architecture& arch, const Task& task) const override;
  std::vector<Architecture> read_archs(const std::string& path) const override;
  std::string write_archs(const std::vector<Architecture>& archs) const override;
  std::vector<ParamSpec> params() const override;
  static std::vector<ParamSpec> param_specs();

 private:
  DeepNetsVariant variant_;
  int width_ = 0;  // 0: the sampler's C
};

}  // namespace ghnas
