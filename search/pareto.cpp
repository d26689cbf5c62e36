#include "search/pareto.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <numeric>

#include "core/error.hpp"

namespace ghnas {

bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  assert(a.size() == b.size());
  bool strictly = false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k] < b[k]) return false;
    if (a[k] > b[k]) strictly = true;
  }
  return strictly;
}

std::vector<std::vector<std::size_t>> non_dominated_sort(
    const std::vector<std::vector<double>>& points) {
  const std::size_t n = points.size();
  std::vector<std::vector<std::size_t>> dominated(n);  // S_p: the points p dominates
  std::vector<std::size_t> dominators(n, 0);           // n_p: how many points dominate p
  for (std::size_t p = 0; p < n; ++p) {
    for (std::size_t q = p + 1; q < n; ++q) {
      if (dominates(points[p], points[q])) {
        dominated[p].push_back(q);
        ++dominators[q];
      } else if (dominates(points[q], points[p])) {
        dominated[q].push_back(p);
        ++dominators[p];
      }
    }
  }
  std::vector<std::vector<std::size_t>> fronts;
  std::vector<std::size_t> current;
  for (std::size_t p = 0; p < n; ++p)
    if (dominators[p] == 0) current.push_back(p);
  while (!current.empty()) {
    std::vector<std::size_t> next;
    for (std::size_t p : current)
      for (std::size_t q : dominated[p])
        if (--dominators[q] == 0) next.push_back(q);
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

std::vector<double> crowding_distance(const std::vector<std::vector<double>>& points,
                                      const std::vector<std::size_t>& front) {
  const std::size_t k = front.size();
  std::vector<double> distance(k, 0.0);
  if (k == 0) return distance;
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t objectives = points[front[0]].size();
  std::vector<std::size_t> order(k);
  for (std::size_t m = 0; m < objectives; ++m) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return points[front[a]][m] < points[front[b]][m];
    });
    distance[order.front()] = inf;
    distance[order.back()] = inf;
    const double range = points[front[order.back()]][m] - points[front[order.front()]][m];
    if (range <= 0) continue;
    for (std::size_t i = 1; i + 1 < k; ++i)
      distance[order[i]] +=
          (points[front[order[i + 1]]][m] - points[front[order[i - 1]]][m]) / range;
  }
  return distance;
}

// -------------------------------------------------------------------------------------------------

namespace {
const char* kOwner = "strategy 'pareto'";

const std::vector<Objective>& several_objectives(const StrategyContext& context) {
  GHNAS_CHECK_AS(ConfigError, context.objectives.size() >= 2, kOwner,
                 " needs two objectives (e.g. c10_test_nats:max,params_M:min), got ",
                 context.objectives.size());
  return context.objectives;
}
}  // namespace

ParetoEvolution::ParetoEvolution(const StrategyContext& context, const StrategyOptions& options)
    : space_(*context.space),
      objectives_(several_objectives(context)),
      rng_(context.seed),
      population_size_(int_option(kOwner, options, "population", 2, 1000000)),
      max_retries_(int_option(kOwner, options, "max_retries", 0, 1000000)) {}

std::vector<ParamSpec> ParetoEvolution::param_specs() {
  return {
      {"population",
       "50",
       "N: members per generation; each generation proposes N children (>= 2)",
       {}},
      {"max_retries",
       "100",
       "redraws of a random initial member that repeats an earlier one (0..1000000)",
       {}},
  };
}

std::vector<Architecture> ParetoEvolution::propose(std::size_t n) {
  std::vector<Architecture> batch;
  const std::size_t target = static_cast<std::size_t>(population_size_);
  if (!initialized_) {
    last_batch_children_ = false;
    const std::size_t count = std::min(n, target - population_.size());
    for (std::size_t i = 0; i < count; ++i) {
      Architecture arch = space_.sample(rng_);
      // Distinct initial members keep the first fronts from collapsing onto copies; after
      // max_retries a repeat is accepted (a tiny space) rather than stalling the search.
      for (int attempt = 0; attempt < max_retries_; ++attempt) {
        if (initial_hashes_.count(space_.canonical_hash(arch)) == 0) break;
        arch = space_.sample(rng_);
      }
      initial_hashes_.insert(space_.canonical_hash(arch));
      batch.push_back(std::move(arch));
    }
    return batch;
  }
  last_batch_children_ = true;
  const std::size_t count = std::min(n, target - proposed_in_generation_);
  for (std::size_t i = 0; i < count; ++i)
    batch.push_back(space_.mutate(binary_tournament().arch, rng_));
  proposed_in_generation_ += count;
  return batch;
}

void ParetoEvolution::observe(const std::vector<SearchRecord>& records) {
  for (const auto& r : records) {
    if (r.evaluation.status != CandidateStatus::kOk) continue;
    Member m;
    m.id = r.candidate.id;
    m.arch = r.candidate.arch;
    m.hash = r.candidate.hash;
    m.values = r.objectives;
    for (std::size_t k = 0; k < objectives_.size(); ++k)
      m.oriented.push_back(oriented(m.values.at(k), objectives_[k].direction));
    if (archive_hashes_.insert(m.hash).second) archive_.push_back(m);
    if (!last_batch_children_) {
      const bool repeat = std::any_of(population_.begin(), population_.end(),
                                      [&](const Member& p) { return p.hash == m.hash; });
      if (!repeat) population_.push_back(std::move(m));
    } else {
      offspring_.push_back(std::move(m));
    }
  }
  if (!initialized_) {
    if (population_.size() >= static_cast<std::size_t>(population_size_)) {
      initialized_ = true;
      rank_population();
    }
    return;
  }
  told_in_generation_ += records.size();
  if (told_in_generation_ >= static_cast<std::size_t>(population_size_)) select_next_population();
}

const ParetoEvolution::Member& ParetoEvolution::binary_tournament() {
  const std::size_t size = population_.size();
  std::uniform_int_distribution<std::size_t> pick(0, size - 1);
  const std::size_t a = pick(rng_);
  std::size_t b = pick(rng_);
  if (size > 1)
    while (b == a) b = pick(rng_);
  const Member& x = population_[a];
  const Member& y = population_[b];
  // Crowded-comparison operator (Deb et al. 2002, Sec. III-B): lower rank wins, then the less
  // crowded member.
  if (x.rank != y.rank) return x.rank < y.rank ? x : y;
  return y.crowding > x.crowding ? y : x;
}

void ParetoEvolution::rank_population() {
  std::vector<std::vector<double>> points;
  for (const auto& m : population_) points.push_back(m.oriented);
  const auto fronts = non_dominated_sort(points);
  for (std::size_t f = 0; f < fronts.size(); ++f) {
    const auto distance = crowding_distance(points, fronts[f]);
    for (std::size_t i = 0; i < fronts[f].size(); ++i) {
      population_[fronts[f][i]].rank = static_cast<int>(f);
      population_[fronts[f][i]].crowding = distance[i];
    }
  }
}

void ParetoEvolution::select_next_population() {
  // Elitism: parents and offspring compete together; a child that repeats an architecture
  // already present is dropped so that copies do not crowd out distinct members.
  std::vector<Member> combined = std::move(population_);
  std::unordered_set<std::string> present;
  for (const auto& m : combined) present.insert(m.hash);
  for (auto& m : offspring_)
    if (present.insert(m.hash).second) combined.push_back(std::move(m));
  offspring_.clear();

  std::vector<std::vector<double>> points;
  for (const auto& m : combined) points.push_back(m.oriented);
  const auto fronts = non_dominated_sort(points);
  const std::size_t target = static_cast<std::size_t>(population_size_);
  std::vector<Member> next;
  for (std::size_t f = 0; f < fronts.size() && next.size() < target; ++f) {
    const auto distance = crowding_distance(points, fronts[f]);
    std::vector<std::size_t> order(fronts[f].size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (next.size() + order.size() > target)
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return distance[a] > distance[b]; });
    for (std::size_t i : order) {
      if (next.size() == target) break;
      Member m = combined[fronts[f][i]];
      m.rank = static_cast<int>(f);
      m.crowding = distance[i];
      next.push_back(std::move(m));
    }
  }
  population_ = std::move(next);
  proposed_in_generation_ = 0;
  told_in_generation_ = 0;
  ++generation_;
}

std::vector<ParetoEvolution::Member> ParetoEvolution::front() const {
  std::vector<std::vector<double>> points;
  for (const auto& m : archive_) points.push_back(m.oriented);
  std::vector<Member> result;
  if (points.empty()) return result;
  const auto fronts = non_dominated_sort(points);
  for (std::size_t i : fronts[0]) result.push_back(archive_[i]);
  return result;
}

}  // namespace ghnas
