#include "search/regularized_evolution.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace ghnas {

namespace {
const char* kOwner = "strategy 'evolution'";

const Objective& single_objective(const StrategyContext& context) {
  GHNAS_CHECK_AS(ConfigError, context.objectives.size() == 1, kOwner,
                 " optimises exactly one objective, got ", context.objectives.size(),
                 " (use 'pareto' for two)");
  return context.objectives.front();
}
}  // namespace

RegularizedEvolution::RegularizedEvolution(const StrategyContext& context,
                                           const StrategyOptions& options)
    : space_(*context.space),
      objective_(single_objective(context)),
      rng_(context.seed),
      population_size_(int_option(kOwner, options, "population", 1, 1000000)),
      sample_size_(int_option(kOwner, options, "sample", 1, 1000000)),
      with_replacement_(options.at("sample_replacement") == "true") {
  GHNAS_CHECK_AS(ConfigError, sample_size_ <= population_size_, kOwner, ": option 'sample' (",
                 sample_size_, ") must not exceed option 'population' (", population_size_, ")");
}

std::vector<ParamSpec> RegularizedEvolution::param_specs() {
  return {
      {"population", "100", "P: members kept; the oldest leaves when a child joins (>= 1)", {}},
      {"sample", "25", "S: members drawn for each tournament; the best is the parent (1..P)", {}},
      {"sample_replacement",
       "false",
       "draw the S tournament members with replacement (as the reference code of Real et al. "
       "and NAS-Bench-201 do) instead of S distinct members",
       {"false", "true"}},
  };
}

const RegularizedEvolution::Member& RegularizedEvolution::tournament() {
  const std::size_t size = population_.size();
  std::uniform_int_distribution<std::size_t> pick(0, size - 1);
  const Member* best = nullptr;
  auto consider = [&](const Member& m) {
    // The first of equally fit members wins; sample order is random, so ties are too.
    if (best == nullptr || better(m.fitness, best->fitness, objective_.direction)) best = &m;
  };
  if (with_replacement_) {
    for (int i = 0; i < sample_size_; ++i) consider(population_[pick(rng_)]);
  } else {
    // Partial Fisher-Yates shuffle: the first S slots become a uniform S-subset.
    std::vector<std::size_t> order(size);
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (int i = 0; i < sample_size_; ++i) {
      std::uniform_int_distribution<std::size_t> rest(i, size - 1);
      std::swap(order[i], order[rest(rng_)]);
      consider(population_[order[i]]);
    }
  }
  return *best;
}

std::vector<Architecture> RegularizedEvolution::propose(std::size_t n) {
  std::vector<Architecture> batch;
  const std::size_t target = static_cast<std::size_t>(population_size_);
  if (population_.size() < target) {
    const std::size_t count = std::min(n, target - population_.size());
    for (std::size_t i = 0; i < count; ++i) batch.push_back(space_.sample(rng_));
    return batch;
  }
  for (std::size_t i = 0; i < n; ++i) batch.push_back(space_.mutate(tournament().arch, rng_));
  return batch;
}

void RegularizedEvolution::observe(const std::vector<SearchRecord>& records) {
  for (const auto& r : records) {
    if (r.evaluation.status != CandidateStatus::kOk) continue;
    population_.push_back({r.candidate.id, r.candidate.arch, r.candidate.hash, r.objectives.at(0)});
    // Aging: the oldest member leaves, not the worst (Real et al. 2019, Sec. 2).
    if (population_.size() > static_cast<std::size_t>(population_size_)) population_.pop_front();
  }
}

}  // namespace ghnas
