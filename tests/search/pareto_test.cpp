// NSGA-II pieces on hand-made points, and the pareto strategy end to end.

#include "search/pareto.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "search/search_loop.hpp"
#include "tests/search/toy_space.hpp"

namespace ghnas {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Oriented points (maximise both):
//   0 A(4,1)  1 B(3,3)  2 C(1,4)  3 D(2,2)  4 E(1,1)  5 F(3,3)  6 G(0,5)
// A, B, C, F, G are mutually non-dominated (F equals B); D is dominated by B and F only;
// E by D (and others).
const std::vector<std::vector<double>> kPoints = {{4, 1}, {3, 3}, {1, 4}, {2, 2},
                                                  {1, 1}, {3, 3}, {0, 5}};

TEST(Pareto, Dominance) {
  EXPECT_TRUE(dominates({3, 3}, {2, 2}));
  EXPECT_TRUE(dominates({3, 3}, {3, 2}));
  EXPECT_FALSE(dominates({3, 3}, {3, 3})) << "equal points do not dominate each other";
  EXPECT_FALSE(dominates({4, 1}, {3, 3}));
  EXPECT_FALSE(dominates({2, 2}, {3, 3}));
}

TEST(Pareto, NonDominatedSortOnAHandMadeSet) {
  const auto fronts = non_dominated_sort(kPoints);
  ASSERT_EQ(fronts.size(), 3u);
  EXPECT_EQ(fronts[0], (std::vector<std::size_t>{0, 1, 2, 5, 6}));
  EXPECT_EQ(fronts[1], (std::vector<std::size_t>{3}));
  EXPECT_EQ(fronts[2], (std::vector<std::size_t>{4}));
  EXPECT_TRUE(non_dominated_sort({}).empty());
}

TEST(Pareto, CrowdingDistanceOnAHandMadeFront) {
  // Objective 1 sorted: G0 C1 B3 F3 A4 (range 4): C += 3/4, B += 2/4, F += 1/4.
  // Objective 2 sorted: A1 B3 F3 C4 G5 (range 4): B += 2/4, F += 1/4, C += 2/4.
  const std::vector<std::size_t> front = {0, 1, 2, 5, 6};
  const auto d = crowding_distance(kPoints, front);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0], kInf);         // A: an extreme of objective 1
  EXPECT_DOUBLE_EQ(d[1], 1.0);   // B
  EXPECT_DOUBLE_EQ(d[2], 1.25);  // C
  EXPECT_DOUBLE_EQ(d[3], 0.5);   // F
  EXPECT_EQ(d[4], kInf);         // G: an extreme of both
}

TEST(Pareto, CrowdingDistanceEdgeCases) {
  EXPECT_EQ(crowding_distance(kPoints, {3}), (std::vector<double>{kInf}));
  EXPECT_EQ(crowding_distance(kPoints, {0, 6}), (std::vector<double>{kInf, kInf}));
  // A constant objective adds nothing; the other still separates the inner point.
  const std::vector<std::vector<double>> flat = {{1, 0}, {1, 2}, {1, 3}};
  const auto d = crowding_distance(flat, {0, 1, 2});
  EXPECT_EQ(d[0], kInf);
  EXPECT_DOUBLE_EQ(d[1], 1.0);
  EXPECT_EQ(d[2], kInf);
}

TEST(Pareto, MinimisedObjectivesAreOrientedBeforeSorting) {
  // (accuracy max, params min): (94, 1.5) and (90, 0.2) trade off; (89, 0.9) is dominated by
  // (90, 0.2).
  const std::vector<std::vector<double>> raw = {{94, 1.5}, {90, 0.2}, {89, 0.9}};
  std::vector<std::vector<double>> points;
  for (const auto& r : raw)
    points.push_back({oriented(r[0], Direction::kMaximize), oriented(r[1], Direction::kMinimize)});
  const auto fronts = non_dominated_sort(points);
  EXPECT_EQ(fronts[0], (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(fronts[1], (std::vector<std::size_t>{2}));
}

TEST(ParetoStrategy, ReturnsAFrontThatDominatesEverythingElse) {
  test::ToySpace space(5000);
  auto evaluator = test::toy_evaluator();
  auto options = test::toy_options("pareto", 300, /*seed=*/4);
  options.objectives.push_back({"cost", Direction::kMinimize});
  options.strategy_options = {{"population", "20"}};
  options.batch_size = 6;
  StrategyContext ctx{&space, options.objectives, options.seed};
  ParetoEvolution pareto(ctx, resolve_strategy_options("pareto", options.strategy_options));
  const auto result = run_search(space, pareto, evaluator, options);
  EXPECT_EQ(result.charged, 300);
  EXPECT_GE(pareto.generation(), 10) << "300 evaluations are 1 initial + 14 generations of 20";
  EXPECT_EQ(pareto.population().size(), 20u);

  auto point = [&](const SearchRecord& r) {
    return std::vector<double>{r.objectives[0], -r.objectives[1]};
  };
  ASSERT_FALSE(result.pareto_front.empty());
  std::set<std::string> front_hashes;
  for (std::size_t i : result.pareto_front) {
    front_hashes.insert(result.history[i].candidate.hash);
    for (std::size_t j : result.pareto_front)
      EXPECT_FALSE(dominates(point(result.history[i]), point(result.history[j])));
  }
  for (const auto& r : result.history) {
    if (r.evaluation.status != CandidateStatus::kOk || front_hashes.count(r.candidate.hash))
      continue;
    bool covered = false;
    for (std::size_t i : result.pareto_front)
      covered |=
          dominates(point(result.history[i]), point(r)) || point(result.history[i]) == point(r);
    EXPECT_TRUE(covered) << "record " << r.candidate.id << " is outside the front yet undominated";
  }
  // The strategy's own front is the loop's.
  std::set<std::string> strategy_front;
  for (const auto& m : pareto.front()) strategy_front.insert(m.hash);
  EXPECT_EQ(strategy_front, front_hashes);
}

TEST(ParetoStrategy, ElitismKeepsTheFirstFrontOfParentsAndChildren) {
  // NSGA-II keeps the first front of parents plus offspring whenever it fits, so a member of
  // the first front of everything evaluated before the last selection is still in the
  // population (two random objectives over a few hundred points give fronts of a handful).
  test::ToySpace space(3000);
  auto evaluator = test::toy_evaluator();
  auto options = test::toy_options("pareto", 200, 9);
  options.objectives.push_back({"cost", Direction::kMinimize});
  StrategyContext ctx{&space, options.objectives, options.seed};
  ParetoEvolution pareto(ctx, resolve_strategy_options("pareto", {{"population", "30"}}));
  run_search(space, pareto, evaluator, options);
  const auto front = pareto.front();
  ASSERT_LE(front.size(), 30u) << "this landscape's front should fit the population";
  std::set<std::string> population;
  for (const auto& m : pareto.population()) population.insert(m.hash);
  // Members found after the last selection are still offspring; every front member found
  // before it must have survived.
  for (const auto& m : front) {
    if (m.id < 30u + 30u * static_cast<std::size_t>(pareto.generation())) {
      EXPECT_TRUE(population.count(m.hash)) << "front member " << m.id << " was dropped";
    }
  }
}

}  // namespace
}  // namespace ghnas
