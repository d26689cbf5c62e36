#pragma once
// Multi-objective search in the style of NSGA-II (Deb et al., "A Fast and Elitist
// Multiobjective Genetic Algorithm: NSGA-II", IEEE TEC 2002): fast non-dominated sorting,
// crowding distance, binary tournaments on (rank, crowding), elitist selection from parents
// plus offspring. Variation is one space mutation per child (the SearchSpace interface has no
// crossover). The result is the Pareto front of everything evaluated.
//
// The free functions work on ORIENTED points: every coordinate is "larger is better" (see
// oriented() in search_strategy.hpp), so one rule serves any mix of max and min objectives.

#include <cstddef>
#include <string>
#include <unordered_set>
#include <vector>

#include "search/search_strategy.hpp"

namespace ghnas {

/// Whether oriented point `a` dominates `b`: no worse in every coordinate, better in one.
bool dominates(const std::vector<double>& a, const std::vector<double>& b);

/// Fast non-dominated sort (Deb et al. 2002, Sec. III-A). Returns the fronts, best first; each
/// front lists point indices in increasing order. Points of equal coordinates share a front.
std::vector<std::vector<std::size_t>> non_dominated_sort(
    const std::vector<std::vector<double>>& points);

/// Crowding distance of each member of `front` (Deb et al. 2002, Sec. III-B), in the order of
/// `front`: per objective, the members at either end get +infinity and each inner member adds
/// the gap between its two neighbours divided by the objective's range over the front (an
/// objective with zero range adds nothing).
std::vector<double> crowding_distance(const std::vector<std::vector<double>>& points,
                                      const std::vector<std::size_t>& front);

/// The "pareto" strategy (see the top of this file).
class ParetoEvolution : public SearchStrategy {
 public:
  struct Member {
    std::size_t id = 0;
    Architecture arch;
    std::string hash;
    std::vector<double> values;    // raw objective values
    std::vector<double> oriented;  // larger is better in every coordinate
    int rank = 0;                  // 0: first front, from the last selection
    double crowding = 0;
  };

  /// Two or more objectives. Options: "population" (N), "max_retries" (see param_specs()).
  ParetoEvolution(const StrategyContext& context, const StrategyOptions& options);

  std::string name() const override { return "pareto"; }
  /// First N distinct random samples; then each generation N children, each one mutation of
  /// the winner of a binary tournament (lower rank, then larger crowding distance). Returns at
  /// most what is left of the current generation, so a batch never spans two generations.
  std::vector<Architecture> propose(std::size_t n) override;
  /// Collects kOk results; once a generation is told, the next population is the best N of
  /// parents plus offspring by front, the last front cut by crowding distance.
  void observe(const std::vector<SearchRecord>& records) override;

  /// The non-dominated members among every architecture evaluated so far, in evaluation order.
  std::vector<Member> front() const;
  const std::vector<Member>& population() const { return population_; }
  int generation() const { return generation_; }

  static std::vector<ParamSpec> param_specs();

 private:
  const Member& binary_tournament();
  void select_next_population();
  void rank_population();

  const SearchSpace& space_;
  std::vector<Objective> objectives_;
  Rng rng_;
  int population_size_;
  int max_retries_;
  bool initialized_ = false;
  bool last_batch_children_ = false;
  int generation_ = 0;
  std::size_t proposed_in_generation_ = 0;
  std::size_t told_in_generation_ = 0;
  std::vector<Member> population_;
  std::vector<Member> offspring_;
  std::vector<Member> archive_;
  std::unordered_set<std::string> archive_hashes_;
  std::unordered_set<std::string> initial_hashes_;
};

}  // namespace ghnas
