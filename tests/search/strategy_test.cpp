// Random search and regularized evolution: what they propose, determinism per seed, aging,
// tournaments.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "search/random_search.hpp"
#include "search/regularized_evolution.hpp"
#include "search/search_loop.hpp"
#include "tests/search/toy_space.hpp"

namespace ghnas {
namespace {

using test::ok_record;
using test::ToySpace;

StrategyContext context(const ToySpace& space, std::uint64_t seed = 3) {
  StrategyContext c;
  c.space = &space;
  c.objectives = {{"score", Direction::kMaximize}};
  c.seed = seed;
  return c;
}

RegularizedEvolution evolution(const ToySpace& space, int population, int sample,
                               bool replacement = false) {
  return RegularizedEvolution(
      context(space), resolve_strategy_options(
                          "evolution", {{"population", std::to_string(population)},
                                        {"sample", std::to_string(sample)},
                                        {"sample_replacement", replacement ? "true" : "false"}}));
}

std::vector<std::size_t> population_ids(const RegularizedEvolution& e) {
  std::vector<std::size_t> ids;
  for (const auto& m : e.population()) ids.push_back(m.id);
  return ids;
}

TEST(RandomSearch, ProposesEachArchitectureOnceThenStops) {
  ToySpace space(/*size=*/20);
  RandomSearch random(context(space), resolve_strategy_options("random", {}));
  std::set<int> seen;
  std::size_t total = 0;
  for (int round = 0; round < 10; ++round) {
    for (const auto& a : random.propose(7)) {
      EXPECT_TRUE(seen.insert(ToySpace::value_of(a)).second) << "repeated " << a.spec.dump();
      ++total;
    }
  }
  EXPECT_EQ(total, 20u);
  EXPECT_TRUE(random.propose(1).empty()) << "an exhausted space yields nothing";
}

TEST(RandomSearch, SearchEndsWhenTheSpaceIsExhausted) {
  ToySpace space(/*size=*/12);
  auto evaluator = test::toy_evaluator();
  const auto r = run_search(space, evaluator, test::toy_options("random", 50));
  EXPECT_EQ(r.stop_reason, StopReason::kExhausted);
  EXPECT_EQ(r.charged, 12);
  ASSERT_TRUE(r.best_record());
  double best = 0;
  for (int v = 0; v < 12; ++v) best = std::max(best, test::toy_score(v));
  EXPECT_EQ(r.best_record()->objectives[0], best) << "the whole space was seen";
}

TEST(Strategies, SameSeedSameRunOtherSeedOtherRun) {
  ToySpace space;
  for (const char* name : {"random", "evolution", "pareto"}) {
    SCOPED_TRACE(name);
    auto options = test::toy_options(name, 120, /*seed=*/7);
    if (std::string(name) == "evolution")
      options.strategy_options = {{"population", "10"}, {"sample", "3"}};
    if (std::string(name) == "pareto") {
      options.objectives.push_back({"cost", Direction::kMinimize});
      options.strategy_options = {{"population", "12"}};
    }
    options.batch_size = 4;
    auto e1 = test::toy_evaluator(), e2 = test::toy_evaluator(), e3 = test::toy_evaluator();
    const auto a = run_search(space, e1, options);
    const auto b = run_search(space, e2, options);
    options.seed = 8;
    const auto c = run_search(space, e3, options);
    EXPECT_EQ(test::proposal_hashes(a), test::proposal_hashes(b));
    EXPECT_NE(test::proposal_hashes(a), test::proposal_hashes(c));
    EXPECT_EQ(a.charged, 120);
  }
}

TEST(RegularizedEvolution, FirstPopulationIsRandomThenChildren) {
  ToySpace space;
  auto e = evolution(space, /*population=*/6, /*sample=*/2);
  const auto first = e.propose(10);
  ASSERT_EQ(first.size(), 6u) << "no more than P random members before the population is full";
  std::size_t id = 0;
  std::vector<SearchRecord> told;
  for (const auto& a : first) {
    EXPECT_EQ(ToySpace::parent_of(a), -1) << "a random sample";
    told.push_back(ok_record(id++, a, test::toy_score(ToySpace::value_of(a))));
  }
  e.observe(told);
  for (const auto& a : e.propose(5)) EXPECT_NE(ToySpace::parent_of(a), -1) << "a child";
}

TEST(RegularizedEvolution, FailuresDoNotJoinAndRandomSamplingGoesOn) {
  ToySpace space;
  auto e = evolution(space, 4, 2);
  auto batch = e.propose(4);
  std::vector<SearchRecord> told;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    told.push_back(ok_record(i, batch[i], 1.0));
    if (i == 1) told.back().evaluation = CandidateEvaluation::failed("diverged");
    if (i == 2) told.back().evaluation = CandidateEvaluation::unknown("not in table");
  }
  e.observe(told);
  EXPECT_EQ(e.population().size(), 2u);
  const auto more = e.propose(10);
  EXPECT_EQ(more.size(), 2u);
  for (const auto& a : more) EXPECT_EQ(ToySpace::parent_of(a), -1);
}

TEST(RegularizedEvolution, AgingRemovesTheOldestAndKeepsThePopulationSize) {
  ToySpace space;
  const int p = 5;
  auto e = evolution(space, p, 2);
  std::size_t id = 0;
  std::vector<SearchRecord> init;
  for (const auto& a : e.propose(p)) init.push_back(ok_record(id++, a, 0.0));
  e.observe(init);
  ASSERT_EQ(population_ids(e), (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  for (int step = 0; step < 20; ++step) {
    const auto child = e.propose(1);
    ASSERT_EQ(child.size(), 1u);
    // The best member never survives its age: a child far better than all still leaves
    // after P more children, and the oldest goes first even when it is the best.
    const double fitness = step == 0 ? 1e9 : static_cast<double>(step);
    e.observe({ok_record(id++, child[0], fitness)});
    EXPECT_EQ(e.population().size(), static_cast<std::size_t>(p));
    std::vector<std::size_t> expected;
    for (std::size_t k = id - p; k < id; ++k) expected.push_back(k);
    EXPECT_EQ(population_ids(e), expected) << "after child " << step;
  }
  // A failed child changes nothing.
  const auto before = population_ids(e);
  SearchRecord failed = ok_record(id++, e.propose(1)[0], 5.0);
  failed.evaluation = CandidateEvaluation::failed("out of memory");
  e.observe({failed});
  EXPECT_EQ(population_ids(e), before);
}

TEST(RegularizedEvolution, TournamentOverTheWholePopulationPicksTheBest) {
  ToySpace space;
  for (const Direction direction : {Direction::kMaximize, Direction::kMinimize}) {
    StrategyContext ctx = context(space);
    ctx.objectives[0].direction = direction;
    RegularizedEvolution e(
        ctx, resolve_strategy_options("evolution", {{"population", "8"}, {"sample", "8"}}));
    std::size_t id = 0;
    std::vector<SearchRecord> init;
    for (const auto& a : e.propose(8))
      init.push_back(ok_record(id++, a, test::toy_score(ToySpace::value_of(a))));
    e.observe(init);
    for (int step = 0; step < 40; ++step) {
      const auto& pop = e.population();
      const auto best = std::max_element(pop.begin(), pop.end(), [&](const auto& a, const auto& b) {
        return better(b.fitness, a.fitness, direction);
      });
      const auto child = e.propose(1).at(0);
      EXPECT_EQ(ToySpace::parent_of(child), ToySpace::value_of(best->arch)) << "step " << step;
      e.observe({ok_record(id++, child, test::toy_score(ToySpace::value_of(child)))});
    }
  }
}

TEST(RegularizedEvolution, SmallTournamentsAlsoPickWeakerParents) {
  ToySpace space;
  for (const bool replacement : {false, true}) {
    auto e = evolution(space, 8, 1, replacement);
    std::vector<SearchRecord> init;
    std::size_t id = 0;
    for (const auto& a : e.propose(8)) {
      init.push_back(ok_record(id, a, static_cast<double>(id)));
      ++id;
    }
    e.observe(init);
    std::set<int> members, parents;
    for (const auto& m : e.population()) members.insert(ToySpace::value_of(m.arch));
    for (const auto& child : e.propose(200)) parents.insert(ToySpace::parent_of(child));
    EXPECT_GT(parents.size(), 4u) << "S=1 picks uniformly, not only the best";
    for (int p : parents) EXPECT_TRUE(members.count(p)) << "parents come from the population";
  }
}

TEST(RegularizedEvolution, BeatsRandomSearchOnASmoothLandscape) {
  // A landscape where neighbours share fitness: evolution should exploit it. Each run is
  // deterministic, so this compares fixed numbers, not luck.
  class Smooth : public ToySpace {
   public:
    Smooth() : ToySpace(100000) {}
    Architecture mutate(const Architecture& a, Rng& rng) const override {
      const int v = value_of(a);
      const int step = std::uniform_int_distribution<int>(1, 200)(rng);
      const int next = std::clamp(v + (rng() % 2 ? step : -step), 0, 99999);
      return make(next == v ? (v == 0 ? 1 : v - 1) : next, v);
    }
  } space;
  ParallelEvaluator peak([](const Candidate& c) {
    return CandidateEvaluation::ok(
        {{"score", -std::abs(ToySpace::value_of(c.arch) - 61234) / 1000.0}});
  });
  double evo = 0, rnd = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    auto o = test::toy_options("evolution", 300, seed);
    o.strategy_options = {{"population", "20"}, {"sample", "5"}};
    evo += run_search(space, peak, o).best_record()->objectives[0];
    rnd += run_search(space, peak, test::toy_options("random", 300, seed))
               .best_record()
               ->objectives[0];
  }
  EXPECT_GT(evo, rnd);
}

}  // namespace
}  // namespace ghnas
