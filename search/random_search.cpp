#include "search/random_search.hpp"

namespace ghnas {

RandomSearch::RandomSearch(const StrategyContext& context, const StrategyOptions& options)
    : space_(*context.space),
      rng_(context.seed),
      max_retries_(int_option("strategy 'random'", options, "max_retries", 0, 1000000)) {}

std::vector<ParamSpec> RandomSearch::param_specs() {
  return {{"max_retries",
           "1000",
           "draws tried per proposal before a repeated architecture is taken as a sign that "
           "the space is exhausted (0..1000000)",
           {}}};
}

std::vector<Architecture> RandomSearch::propose(std::size_t n) {
  std::vector<Architecture> batch;
  while (batch.size() < n) {
    bool found = false;
    for (int attempt = 0; attempt <= max_retries_ && !found; ++attempt) {
      Architecture arch = space_.sample(rng_);
      if (proposed_.insert(space_.canonical_hash(arch)).second) {
        batch.push_back(std::move(arch));
        found = true;
      }
    }
    if (!found) break;
  }
  return batch;
}

void RandomSearch::observe(const std::vector<SearchRecord>&) {}

}  // namespace ghnas
