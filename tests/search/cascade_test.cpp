// The cascade: the first stage is the search itself; each later stage scores exactly the best
// `keep` distinct candidates of the stage before, and a failing candidate is a record.

#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "core/error.hpp"
#include "search/cascade.hpp"
#include "tests/search/toy_space.hpp"

namespace ghnas {
namespace {

using test::ToySpace;

// Records what the observer sees, per stage.
struct Seen : CascadeObserver {
  std::size_t first = 0;
  std::map<std::size_t, std::vector<StageRecord>> later;
  void on_record(const SearchRecord&) override { ++first; }
  void on_stage_record(std::size_t stage, const CascadeStage&, const StageRecord& r) override {
    later[stage].push_back(r);
  }
};

TEST(Cascade, EachStageScoresTheBestDistinctOfTheStageBefore) {
  ToySpace space(1000);
  // Stage 1 is a noisy view of the truth (score), stage 2 the truth, stage 3 a second metric.
  auto cheap = ParallelEvaluator([](const Candidate& c) {
    const int v = ToySpace::value_of(c.arch);
    return CandidateEvaluation::ok({{"guess", test::toy_score(v) + (v % 7) * 30.0}});
  });
  std::atomic<int> truth_calls{0};
  auto truth = ParallelEvaluator([&](const Candidate& c) {
    ++truth_calls;
    return CandidateEvaluation::ok({{"score", test::toy_score(ToySpace::value_of(c.arch))}});
  });
  auto cost = ParallelEvaluator([](const Candidate& c) {
    return CandidateEvaluation::ok({{"cost", test::toy_cost(ToySpace::value_of(c.arch))}});
  });
  std::vector<CascadeStage> stages = {
      {"guess", "heads", &cheap, 0, {"guess", Direction::kMaximize}},
      {"truth", "predicted-parameters", &truth, 10, {"score", Direction::kMaximize}},
      {"cost", "sgd", &cost, 3, {"cost", Direction::kMinimize}},
  };
  SearchOptions options = test::toy_options("random", 300);
  options.objectives.clear();
  Seen seen;
  const CascadeResult r = run_cascade(space, options, stages, &seen, /*batch_size=*/4);

  EXPECT_EQ(r.search.charged, 300);
  EXPECT_EQ(seen.first, r.search.history.size());
  ASSERT_EQ(r.stages.size(), 2u);
  ASSERT_EQ(r.stages[0].size(), 10u);
  EXPECT_EQ(truth_calls.load(), 10);
  ASSERT_EQ(r.stages[1].size(), 3u);
  EXPECT_EQ(seen.later[1].size(), 10u);
  EXPECT_EQ(seen.later[2].size(), 3u);

  // Stage 2 saw exactly the 10 best distinct guesses of the search.
  std::map<std::string, double> guesses;
  for (const auto& rec : r.search.history)
    if (rec.evaluation.status == CandidateStatus::kOk) guesses[rec.candidate.hash] = rec.evaluation.metrics.at("guess");
  std::vector<double> sorted;
  for (const auto& [h, g] : guesses) sorted.push_back(g);
  std::sort(sorted.rbegin(), sorted.rend());
  std::set<std::string> hashes;
  for (const auto& rec : r.stages[0]) {
    hashes.insert(rec.candidate.hash);
    EXPECT_GE(rec.previous, sorted[9]);
    EXPECT_EQ(rec.previous, guesses.at(rec.candidate.hash));
  }
  EXPECT_EQ(hashes.size(), 10u);
  // Each stage is ordered best first by its own objective; stage 3 took stage 2's top 3.
  for (std::size_t i = 1; i < r.stages[0].size(); ++i)
    EXPECT_GE(r.stages[0][i - 1].evaluation.metrics.at("score"), r.stages[0][i].evaluation.metrics.at("score"));
  std::set<std::string> top3;
  for (std::size_t i = 0; i < 3; ++i) top3.insert(r.stages[0][i].candidate.hash);
  for (const auto& rec : r.stages[1]) EXPECT_TRUE(top3.count(rec.candidate.hash)) << rec.candidate.hash;
  for (std::size_t i = 1; i < r.stages[1].size(); ++i)
    EXPECT_LE(r.stages[1][i - 1].evaluation.metrics.at("cost"), r.stages[1][i].evaluation.metrics.at("cost"));
}

TEST(Cascade, AFailingCandidateIsRecordedAndRankedLast) {
  ToySpace space(50);
  auto cheap = test::toy_evaluator();
  auto flaky = ParallelEvaluator([](const Candidate& c) -> CandidateEvaluation {
    const int v = ToySpace::value_of(c.arch);
    if (v % 2 == 0) throw std::runtime_error("out of memory on " + std::to_string(v));
    return CandidateEvaluation::ok({{"score", test::toy_score(v)}});
  });
  std::vector<CascadeStage> stages = {{"toy", "heads", &cheap, 0, {"score", Direction::kMaximize}},
                                      {"flaky", "sgd", &flaky, 8, {"score", Direction::kMaximize}}};
  const CascadeResult r = run_cascade(space, test::toy_options("random", 40), stages, nullptr, 3);
  ASSERT_EQ(r.stages[0].size(), 8u);
  bool seen_failure = false;
  for (const auto& rec : r.stages[0]) {
    const bool even = ToySpace::value_of(rec.candidate.arch) % 2 == 0;
    EXPECT_EQ(rec.evaluation.status, even ? CandidateStatus::kFailed : CandidateStatus::kOk);
    if (even) {
      EXPECT_NE(rec.evaluation.message.find("out of memory"), std::string::npos);
      seen_failure = true;
    } else {
      EXPECT_FALSE(seen_failure) << "an ok record after a failed one";
    }
  }
}

TEST(Cascade, BadStagesAreConfigErrors) {
  ToySpace space(10);
  auto e = test::toy_evaluator();
  const auto options = test::toy_options("random", 5);
  EXPECT_THROW(run_cascade(space, options, {}), ConfigError);
  EXPECT_THROW(run_cascade(space, options, {{"a", "heads", nullptr, 0, {"score"}}}), ConfigError);
  EXPECT_THROW(run_cascade(space, options, {{"a", "heads", &e, 0, {"score"}}, {"b", "sgd", &e, 0, {"score"}}}),
               ConfigError);
}

}  // namespace
}  // namespace ghnas
