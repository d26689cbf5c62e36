// The search loop: budgets, errors, evaluator failures, unknowns, reuse, screening, observers.

#include "search/search_loop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>

#include "core/error.hpp"
#include "space/nasbench201.hpp"
#include "tests/search/toy_space.hpp"

namespace ghnas {
namespace {

using test::ToySpace;

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ConfigError";
  return "";
}

TEST(SearchLoop, RejectsBadBudgetsAndOptions) {
  ToySpace space;
  auto evaluator = test::toy_evaluator();
  for (int budget : {0, -5}) {
    const std::string msg =
        config_error([&] { run_search(space, evaluator, test::toy_options("random", budget)); });
    EXPECT_NE(msg.find("budget"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(budget)), std::string::npos) << msg;
  }
  auto o = test::toy_options("random", 10);
  o.max_seconds = 0.0;
  EXPECT_NE(config_error([&] { run_search(space, evaluator, o); }).find("wall-time"),
            std::string::npos);
  o = test::toy_options("random", 10);
  o.batch_size = 0;
  EXPECT_THROW(run_search(space, evaluator, o), ConfigError);
  o = test::toy_options("random", 10);
  o.objectives.clear();
  EXPECT_THROW(run_search(space, evaluator, o), ConfigError);
  o = test::toy_options("random", 10);
  o.screen_factor = 3;
  EXPECT_NE(config_error([&] { run_search(space, evaluator, o); }).find("screen"),
            std::string::npos)
      << "a screen factor without a screen";
  const std::string msg =
      config_error([&] { run_search(space, evaluator, test::toy_options("hill-climb", 10)); });
  EXPECT_NE(msg.find("hill-climb"), std::string::npos);
  EXPECT_NE(msg.find("evolution"), std::string::npos);
}

TEST(SearchLoop, ChargesExactlyTheBudgetWhateverTheBatch) {
  ToySpace space;
  for (int batch : {1, 3, 7, 64}) {
    auto evaluator = test::toy_evaluator();
    auto o = test::toy_options("random", 50);
    o.batch_size = batch;
    const auto r = run_search(space, evaluator, o);
    EXPECT_EQ(r.charged, 50) << "batch " << batch;
    EXPECT_EQ(r.history.size(), 50u);
    EXPECT_EQ(r.stop_reason, StopReason::kBudget);
    ASSERT_TRUE(r.best_record());
    for (const auto& rec : r.history)
      EXPECT_LE(rec.objectives.at(0), r.best_record()->objectives[0]);
  }
}

TEST(SearchLoop, ThrowingCandidatesAreRecordedAndTheSearchGoesOn) {
  ToySpace space;
  ParallelEvaluator evaluator([](const Candidate& c) {
    const int v = ToySpace::value_of(c.arch);
    if (v % 3 == 0) throw std::runtime_error("diverged at step 17");
    return CandidateEvaluation::ok({{"score", test::toy_score(v)}});
  });
  for (const char* strategy : {"random", "evolution"}) {
    auto o = test::toy_options(strategy, 60);
    o.strategy_options = std::string(strategy) == "evolution"
                             ? StrategyOptions{{"population", "10"}, {"sample", "3"}}
                             : StrategyOptions{};
    o.batch_size = 4;
    const auto r = run_search(space, evaluator, o);
    EXPECT_EQ(r.stop_reason, StopReason::kBudget);
    EXPECT_EQ(r.charged, 60) << "failed attempts are charged";
    EXPECT_GT(r.failed, 0);
    EXPECT_EQ(r.ok + r.failed, static_cast<int>(r.history.size()));
    for (const auto& rec : r.history) {
      const bool bad = ToySpace::value_of(rec.candidate.arch) % 3 == 0;
      EXPECT_EQ(rec.evaluation.status, bad ? CandidateStatus::kFailed : CandidateStatus::kOk);
      if (bad) {
        EXPECT_NE(rec.evaluation.message.find("diverged"), std::string::npos);
      }
    }
    ASSERT_TRUE(r.best_record());
    EXPECT_NE(ToySpace::value_of(r.best_record()->candidate.arch) % 3, 0);
  }
}

// Throws for the whole batch when any candidate in it is bad, as a batched GHN forward might.
class BatchThrowingEvaluator : public SearchEvaluator {
 public:
  std::vector<CandidateEvaluation> evaluate(const std::vector<Candidate>& batch) override {
    ++batches;
    for (const auto& c : batch)
      if (ToySpace::value_of(c.arch) % 5 == 0) throw ConfigError("bad batch");
    std::vector<CandidateEvaluation> out;
    for (const auto& c : batch)
      out.push_back(
          CandidateEvaluation::ok({{"score", test::toy_score(ToySpace::value_of(c.arch))}}));
    return out;
  }
  int batches = 0;
};

TEST(SearchLoop, ABatchThatThrowsIsRetriedCandidateByCandidate) {
  ToySpace space;
  BatchThrowingEvaluator evaluator;
  auto o = test::toy_options("random", 80);
  o.batch_size = 8;
  const auto r = run_search(space, evaluator, o);
  EXPECT_EQ(r.charged, 80);
  int bad = 0;
  for (const auto& rec : r.history) {
    const bool is_bad = ToySpace::value_of(rec.candidate.arch) % 5 == 0;
    bad += is_bad;
    EXPECT_EQ(rec.evaluation.status, is_bad ? CandidateStatus::kFailed : CandidateStatus::kOk)
        << "only the bad candidate fails, not its batch";
  }
  EXPECT_EQ(r.failed, bad);
  EXPECT_GT(bad, 0);
}

TEST(SearchLoop, MissingOrNonFiniteObjectivesAreFailures) {
  ToySpace space;
  ParallelEvaluator evaluator([](const Candidate& c) {
    const int v = ToySpace::value_of(c.arch);
    if (v % 2) return CandidateEvaluation::ok({{"latency_ms", 3.0}});
    return CandidateEvaluation::ok({{"score", v % 4 == 0 ? std::nan("") : 1.0}});
  });
  const auto r = run_search(space, evaluator, test::toy_options("random", 40));
  EXPECT_EQ(r.charged, 40);
  for (const auto& rec : r.history) {
    const int v = ToySpace::value_of(rec.candidate.arch);
    if (v % 2) {
      EXPECT_EQ(rec.evaluation.status, CandidateStatus::kFailed);
      EXPECT_NE(rec.evaluation.message.find("'score'"), std::string::npos);
      EXPECT_NE(rec.evaluation.message.find("latency_ms"), std::string::npos);
    } else {
      EXPECT_EQ(rec.evaluation.status, v % 4 ? CandidateStatus::kOk : CandidateStatus::kFailed);
    }
  }
}

TEST(SearchLoop, UnknownResultsAreFreeAndAnAllUnknownSearchStalls) {
  ToySpace space(100000);
  ParallelEvaluator evaluator(
      [](const Candidate&) { return CandidateEvaluation::unknown("not in the table"); });
  auto o = test::toy_options("random", 10);
  o.max_idle_proposals = 50;
  o.batch_size = 4;
  const auto r = run_search(space, evaluator, o);
  EXPECT_EQ(r.stop_reason, StopReason::kStalled);
  EXPECT_EQ(r.charged, 0);
  EXPECT_EQ(r.unknown, static_cast<int>(r.history.size()));
  EXPECT_GE(r.history.size(), 50u);
  EXPECT_LT(r.history.size(), 54u);
  EXPECT_FALSE(r.best_record());
}

TEST(SearchLoop, WallTimeBudgetStopsTheSearch) {
  ToySpace space;
  auto evaluator = test::toy_evaluator();
  auto o = test::toy_options("random", 1000000);
  o.max_seconds = 1e-9;
  const auto r = run_search(space, evaluator, o);
  EXPECT_EQ(r.stop_reason, StopReason::kTime);
  EXPECT_LT(r.charged, 1000000);
}

// Proposes a fixed list, in batches.
class ScriptedStrategy : public SearchStrategy {
 public:
  explicit ScriptedStrategy(std::vector<Architecture> script) : script_(std::move(script)) {}
  std::string name() const override { return "scripted"; }
  std::vector<Architecture> propose(std::size_t n) override {
    std::vector<Architecture> batch;
    while (batch.size() < n && next_ < script_.size()) batch.push_back(script_[next_++]);
    return batch;
  }
  void observe(const std::vector<SearchRecord>& records) override {
    for (const auto& r : records) told.push_back(r.candidate.id);
  }
  std::vector<std::size_t> told;

 private:
  std::vector<Architecture> script_;
  std::size_t next_ = 0;
};

TEST(SearchLoop, RepeatsAreAnsweredFromEarlierEvaluationsFree) {
  ToySpace space;
  std::atomic<int> calls{0};
  ParallelEvaluator evaluator([&](const Candidate& c) {
    ++calls;
    return CandidateEvaluation::ok({{"score", test::toy_score(ToySpace::value_of(c.arch))}});
  });
  // 7 twice in one batch and again later, with another parent (same canonical hash).
  const std::vector<Architecture> script = {ToySpace::make(7), ToySpace::make(7), ToySpace::make(3),
                                            ToySpace::make(7, 12), ToySpace::make(9)};
  ScriptedStrategy strategy(script);
  auto o = test::toy_options("scripted", 100);
  o.batch_size = 3;
  auto r = run_search(space, strategy, evaluator, o);
  EXPECT_EQ(r.stop_reason, StopReason::kExhausted);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(r.charged, 3);
  EXPECT_EQ(r.reused, 2);
  EXPECT_TRUE(r.history[1].reused);
  EXPECT_TRUE(r.history[3].reused);
  EXPECT_EQ(r.history[3].objectives, r.history[0].objectives);
  EXPECT_EQ(strategy.told, (std::vector<std::size_t>{0, 1, 2, 3, 4}));

  ScriptedStrategy again(script);
  o.reuse_results = false;
  calls = 0;
  r = run_search(space, again, evaluator, o);
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(r.charged, 5);
}

TEST(SearchLoop, InvalidProposalsAreRecordedNotEvaluated) {
  ToySpace space(100);
  std::atomic<int> calls{0};
  ParallelEvaluator evaluator([&](const Candidate& c) {
    ++calls;
    return CandidateEvaluation::ok({{"score", 1.0 * ToySpace::value_of(c.arch)}});
  });
  ScriptedStrategy strategy(
      {ToySpace::make(5), ToySpace::make(500), {"toy", "garbage"}, ToySpace::make(6)});
  auto o = test::toy_options("scripted", 10);
  o.batch_size = 4;
  const auto r = run_search(space, strategy, evaluator, o);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(r.invalid, 2);
  EXPECT_EQ(r.charged, 2);
  EXPECT_EQ(r.history[1].evaluation.status, CandidateStatus::kInvalid);
  EXPECT_NE(r.history[1].evaluation.message.find("out of range"), std::string::npos);
  EXPECT_FALSE(r.history[1].evaluation.charged);
  EXPECT_EQ(r.best_record()->candidate.id, 3u);
}

// Scores candidates by their value; the loop must evaluate each batch's best.
class ValueScreen : public CandidateScreen {
 public:
  std::vector<double> score(const std::vector<Candidate>& batch) override {
    ++calls;
    std::vector<double> s;
    for (const auto& c : batch) s.push_back(ToySpace::value_of(c.arch));
    return s;
  }
  int calls = 0;
};

TEST(SearchLoop, TheScreenSendsOnlyTheBestOfEachBatchToTheEvaluator) {
  ToySpace space;
  auto evaluator = test::toy_evaluator();
  ValueScreen screen;
  auto o = test::toy_options("random", 30);
  o.batch_size = 3;
  o.screen_factor = 4;
  const auto r = run_search(space, evaluator, o, nullptr, &screen);
  EXPECT_EQ(r.charged, 30);
  EXPECT_EQ(screen.calls, 10);
  EXPECT_EQ(r.history.size(), 120u);
  EXPECT_EQ(r.screened, 90);
  for (std::size_t start = 0; start < r.history.size(); start += 12) {
    int weakest_kept = 1 << 30, strongest_dropped = -1;
    for (std::size_t i = start; i < start + 12; ++i) {
      const auto& rec = r.history[i];
      EXPECT_TRUE(rec.screened);
      const int v = ToySpace::value_of(rec.candidate.arch);
      EXPECT_EQ(rec.screen_score, v);
      if (rec.evaluation.status == CandidateStatus::kScreened) {
        EXPECT_FALSE(rec.evaluation.charged);
        strongest_dropped = std::max(strongest_dropped, v);
      } else {
        weakest_kept = std::min(weakest_kept, v);
      }
    }
    EXPECT_GT(weakest_kept, strongest_dropped) << "batch at " << start;
  }
}

class RecordingObserver : public SearchObserver {
 public:
  void on_start(const SearchRunInfo& i) override {
    ++starts;
    info = i;
  }
  void on_proposals(const std::vector<Candidate>& batch) override {
    for (const auto& c : batch) proposed.push_back(c.id);
  }
  void on_record(const SearchRecord& r) override { recorded.push_back(r.candidate.id); }
  void on_finish(const SearchResult& r) override {
    ++finishes;
    final_charged = r.charged;
  }
  int starts = 0, finishes = 0, final_charged = -1;
  SearchRunInfo info;
  std::vector<std::size_t> proposed, recorded;
};

TEST(SearchLoop, TheObserverSeesEveryProposalAndEveryResultOnce) {
  ToySpace space(60);
  ParallelEvaluator evaluator([](const Candidate& c) {
    const int v = ToySpace::value_of(c.arch);
    if (v % 4 == 1) return CandidateEvaluation::unknown("missing");
    if (v % 4 == 2) {
      CandidateEvaluation e = CandidateEvaluation::failed("loss is not finite");
      e.status = CandidateStatus::kDiverged;
      return e;
    }
    return CandidateEvaluation::ok({{"score", 1.0 * v}});
  });
  RecordingObserver observer;
  auto o = test::toy_options("evolution", 40, 5);
  o.strategy_options = {{"population", "8"}, {"sample", "3"}};
  o.batch_size = 5;
  const auto r = run_search(space, evaluator, o, &observer);
  EXPECT_EQ(observer.starts, 1);
  EXPECT_EQ(observer.finishes, 1);
  EXPECT_EQ(observer.final_charged, r.charged);
  EXPECT_EQ(observer.info.strategy, "evolution");
  EXPECT_EQ(observer.info.strategy_options.at("population"), "8");
  EXPECT_EQ(observer.info.strategy_options.at("sample_replacement"), "false") << "resolved";
  EXPECT_EQ(observer.info.space, "toy");
  EXPECT_EQ(observer.info.seed, 5u);
  std::vector<std::size_t> ids(r.history.size());
  std::iota(ids.begin(), ids.end(), std::size_t{0});
  EXPECT_EQ(observer.proposed, ids);
  EXPECT_EQ(observer.recorded, ids);
  EXPECT_EQ(r.ok + r.failed + r.unknown + r.invalid + r.screened,
            static_cast<int>(r.history.size()));
  EXPECT_GT(r.unknown, 0);
  EXPECT_GT(r.failed, 0) << "diverged counts as failed";
  for (const auto& rec : r.history) {
    if (ToySpace::value_of(rec.candidate.arch) % 4 == 2) {
      EXPECT_STREQ(candidate_status_name(rec.evaluation.status), "diverged");
      EXPECT_TRUE(is_failure(rec.evaluation.status));
      EXPECT_NE(rec.evaluation.charged, rec.reused)
          << "charged unless it repeats a candidate of the same batch";
    }
  }
}

TEST(SearchLoop, GraphsAreBuiltInParallelAndBadCandidatesReportErrors) {
  NasBench201Space space;
  std::vector<Candidate> batch(3);
  batch[0].arch = {
      "nasbench201",
      "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"};
  batch[1].arch = {"nasbench201", "|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|"};
  batch[2].arch = {"nasbench201", "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"};
  const auto graphs = build_candidate_graphs(space, batch, task_by_name("cifar10"));
  ASSERT_EQ(graphs.size(), 3u);
  ASSERT_TRUE(graphs[0].graph);
  EXPECT_EQ(graphs[0].graph->num_params(),
            space.build_graph(batch[0].arch, task_by_name("cifar10")).num_params());
  EXPECT_FALSE(graphs[1].graph);
  EXPECT_NE(graphs[1].error.find("conv_7x7"), std::string::npos);
  EXPECT_TRUE(graphs[2].graph);
}

}  // namespace
}  // namespace ghnas
