#include <memory>

#include "search/pareto.hpp"
#include "search/random_search.hpp"
#include "search/regularized_evolution.hpp"
#include "search/search_strategy.hpp"

namespace ghnas {

void register_builtin_strategies() {
  static const bool registered = [] {
    register_strategy("random",
                      {[](const StrategyContext& c, const StrategyOptions& o) {
                         return std::make_unique<RandomSearch>(c, o);
                       },
                       RandomSearch::param_specs(),
                       "uniform samples from the space, each distinct architecture once"});
    register_strategy("evolution",
                      {[](const StrategyContext& c, const StrategyOptions& o) {
                         return std::make_unique<RegularizedEvolution>(c, o);
                       },
                       RegularizedEvolution::param_specs(),
                       "regularized (aging) evolution, Real et al. 2019: tournament of S out of "
                       "a population of P, one mutation per child, the oldest member leaves"});
    register_strategy("pareto",
                      {[](const StrategyContext& c, const StrategyOptions& o) {
                         return std::make_unique<ParetoEvolution>(c, o);
                       },
                       ParetoEvolution::param_specs(),
                       "NSGA-II-style evolution over two objectives (non-dominated sorting, "
                       "crowding distance, binary tournaments, mutation); returns the Pareto "
                       "front"});
    return true;
  }();
  (void)registered;
}

}  // namespace ghnas
