#pragma once
// The SearchSpace interface and its registry. A space turns architectures (kept as JSON,
// so that any space, built-in or plugged in, can be stored, printed and sent around the
// same way) into ArchGraphs, and proposes new ones for search strategies.

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "space/arch_graph.hpp"
#include "space/task.hpp"

namespace ghnas {

using Rng = std::mt19937_64;

/// One architecture of a named space. `spec` is the space's own JSON form: for
/// deepnets1m {"genotype": ..., "net_args": ...}, for nasbench201 the arch string.
struct Architecture {
  std::string space;
  nlohmann::json spec;
};

/// A parameter of a space (or strategy), declared with its default, bounds and help text,
/// validated before a run and printed by --help.
struct ParamSpec {
  std::string name;
  std::string default_value;
  std::string help;
  std::vector<std::string> choices;  // empty: free value
};

/// Option values given to a space factory: name -> value, as typed on the command line.
using SpaceOptions = std::map<std::string, std::string>;

class SearchSpace {
 public:
  virtual ~SearchSpace() = default;

  virtual std::string name() const = 0;
  virtual std::string description() const = 0;

  /// A fresh architecture drawn from the space's sampling distribution.
  virtual Architecture sample(Rng& rng) const = 0;

  /// One random mutation (Real et al. 2019, regularized evolution): either an op mutation
  /// or an input (hidden-state) mutation, chosen at random. The result is valid and differs
  /// from `arch`.
  virtual Architecture mutate(const Architecture& arch, Rng& rng) const = 0;

  /// Architectures one mutation away, where the space has a natural neighbourhood.
  virtual std::vector<Architecture> neighbours(const Architecture& arch) const;
  /// `arch` with its stem width (channels of the first cell) set to `width` > 0, for spaces whose
  /// networks have one; std::nullopt (the default) for a space without. The cascade uses it to
  /// score a candidate with predicted parameters at the width the GHN was trained at: a
  /// hypernetwork's parameters are good only near the widths it saw.
  virtual std::optional<Architecture> at_width(const Architecture& arch, int width) const;
  /// The stem width of `arch`, for spaces whose networks have one; std::nullopt otherwise.
  virtual std::optional<int> width(const Architecture& arch) const;

  /// Throws ArchError naming the problem when `arch` is not a member of the space.
  virtual void validate(const Architecture& arch) const = 0;

  /// A stable key: equal for architectures that build the same network
  /// (isomorphic NAS-Bench-201 cells hash equal).
  virtual std::string canonical_hash(const Architecture& arch) const = 0;

  /// The network of `arch` for `task`. Validates first.
  virtual ArchGraph build_graph(const Architecture& arch, const Task& task) const = 0;

  /// Reads the space's architecture file format (JSON list for deepnets1m, one arch
  /// string per line for nasbench201). Errors name the file and the entry.
  virtual std::vector<Architecture> read_archs(const std::string& path) const = 0;

  /// Writes architectures in the format read_archs reads.
  virtual std::string write_archs(const std::vector<Architecture>& archs) const = 0;

  /// Parameters this space accepts (see ParamSpec).
  virtual std::vector<ParamSpec> params() const { return {}; }
};

using SpaceFactory = std::function<std::unique_ptr<SearchSpace>(const SpaceOptions&)>;

/// Registers a space under `name`. Throws ConfigError if the name is taken.
void register_space(const std::string& name, SpaceFactory factory);

/// Registers the built-in spaces (deepnets1m, nasbench201). Idempotent.
void register_builtin_spaces();

/// Creates a registered space, or for a name "json:PATH" the space declared in that JSON file
/// (space/json_space.hpp). Throws ConfigError listing the valid names for an unknown one,
/// or naming the option for an invalid option.
std::unique_ptr<SearchSpace> make_space(const std::string& name, const SpaceOptions& options = {});

/// Names of all registered spaces, sorted.
std::vector<std::string> list_spaces();

/// Checks `options` against `specs`: unknown names and values outside `choices` throw
/// ConfigError. Returns the options with defaults filled in.
SpaceOptions resolve_options(const std::string& owner, const std::vector<ParamSpec>& specs,
                             const SpaceOptions& options);

}  // namespace ghnas
