#pragma once
// Regularized (aging) evolution, Real et al., "Regularized Evolution for Image Classifier
// Architecture Search", AAAI 2019, Algorithm 1: a population of P architectures; each child is
// one mutation of the best of S members drawn at random (a tournament); the child joins the
// population and the OLDEST member leaves, whatever its fitness. The first P members are
// random samples.

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "search/search_strategy.hpp"

namespace ghnas {

/// The "evolution" strategy (see the top of this file).
class RegularizedEvolution : public SearchStrategy {
 public:
  /// One member of the population.
  struct Member {
    std::size_t id = 0;  // the candidate id it was evaluated under
    Architecture arch;
    std::string hash;
    double fitness = 0;  // raw objective value
  };

  /// Exactly one objective. Options: "population" (P), "sample" (S), "sample_replacement"
  /// (see param_specs()).
  RegularizedEvolution(const StrategyContext& context, const StrategyOptions& options);

  std::string name() const override { return "evolution"; }
  /// While the population holds fewer than P members: up to P - size random samples.
  /// Afterwards: `n` children, each space.mutate() of a tournament winner.
  std::vector<Architecture> propose(std::size_t n) override;
  /// Appends every kOk record to the population, removing the oldest member whenever the
  /// population exceeds P. Other records (failed, unknown, ...) never join.
  void observe(const std::vector<SearchRecord>& records) override;

  /// The population, oldest first.
  const std::deque<Member>& population() const { return population_; }
  int population_size() const { return population_size_; }
  int sample_size() const { return sample_size_; }

  static std::vector<ParamSpec> param_specs();

 private:
  const Member& tournament();

  const SearchSpace& space_;
  Objective objective_;
  Rng rng_;
  int population_size_;
  int sample_size_;
  bool with_replacement_;
  std::deque<Member> population_;
};

}  // namespace ghnas
