#pragma once
// Random search: uniform samples from the space's own sampling distribution, each distinct
// architecture (canonical hash) proposed at most once.

#include <string>
#include <unordered_set>
#include <vector>

#include "search/search_strategy.hpp"

namespace ghnas {

/// The "random" strategy.
class RandomSearch : public SearchStrategy {
 public:
  /// Options: "max_retries" (see param_specs()).
  RandomSearch(const StrategyContext& context, const StrategyOptions& options);

  std::string name() const override { return "random"; }
  /// Up to `n` samples whose canonical hash has not been proposed before. A sample that
  /// repeats one is redrawn up to max_retries times; after that the strategy returns what it
  /// has, and an empty answer (the space looks exhausted) ends the search.
  std::vector<Architecture> propose(std::size_t n) override;
  /// Random search learns nothing from results.
  void observe(const std::vector<SearchRecord>& records) override;

  static std::vector<ParamSpec> param_specs();

 private:
  const SearchSpace& space_;
  Rng rng_;
  int max_retries_;
  std::unordered_set<std::string> proposed_;
};

}  // namespace ghnas
