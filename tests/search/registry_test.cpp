// The strategy registry: names, errors, option and objective checks.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "search/search_loop.hpp"
#include "search/search_strategy.hpp"
#include "tests/search/toy_space.hpp"

namespace ghnas {
namespace {

using test::ToySpace;

StrategyContext toy_context(const ToySpace& space, int objectives = 1) {
  StrategyContext c;
  c.space = &space;
  c.objectives = {{"score", Direction::kMaximize}};
  if (objectives == 2) c.objectives.push_back({"cost", Direction::kMinimize});
  if (objectives == 0) c.objectives.clear();
  return c;
}

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ConfigError";
  return "";
}

TEST(StrategyRegistry, BuiltinStrategiesAreListed) {
  register_builtin_strategies();
  const auto names = list_strategies();
  for (const char* name : {"random", "evolution", "pareto"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(StrategyRegistry, UnknownStrategyListsTheValidOnes) {
  ToySpace space;
  const std::string msg = config_error([&] { make_strategy("bayesopt", toy_context(space)); });
  for (const char* word : {"bayesopt", "random", "evolution", "pareto"})
    EXPECT_NE(msg.find(word), std::string::npos) << msg;
}

TEST(StrategyRegistry, DuplicateNameThrows) {
  register_builtin_strategies();
  StrategyInfo info;
  info.factory = [](const StrategyContext&, const StrategyOptions&) {
    return std::unique_ptr<SearchStrategy>();
  };
  EXPECT_THROW(register_strategy("evolution", info), ConfigError);
  EXPECT_THROW(register_strategy("", info), ConfigError);
}

TEST(StrategyRegistry, OptionsAreCheckedAgainstTheirSpecs) {
  ToySpace space;
  const auto ctx = toy_context(space);
  EXPECT_NE(config_error([&] {
              make_strategy("evolution", ctx, {{"colour", "red"}});
            }).find("population"),
            std::string::npos)
      << "an unknown option lists the valid ones";
  EXPECT_NE(config_error([&] {
              make_strategy("evolution", ctx, {{"population", "0"}});
            }).find("population"),
            std::string::npos);
  EXPECT_NE(config_error([&] {
              make_strategy("evolution", ctx, {{"population", "ten"}});
            }).find("integer"),
            std::string::npos);
  EXPECT_NE(config_error([&] {
              make_strategy("evolution", ctx, {{"population", "10"}, {"sample", "11"}});
            }).find("sample"),
            std::string::npos);
  EXPECT_THROW(make_strategy("evolution", ctx, {{"sample_replacement", "maybe"}}), ConfigError);
  EXPECT_THROW(make_strategy("pareto", toy_context(space, 2), {{"population", "1"}}), ConfigError);
  EXPECT_THROW(make_strategy("random", ctx, {{"max_retries", "-1"}}), ConfigError);
  EXPECT_NO_THROW(make_strategy("evolution", ctx, {{"population", "10"}, {"sample", "3"}}));
}

TEST(StrategyRegistry, DefaultsAreFilledIn) {
  const auto resolved = resolve_strategy_options("evolution", {{"sample", "5"}});
  EXPECT_EQ(resolved.at("population"), "100");
  EXPECT_EQ(resolved.at("sample"), "5");
  EXPECT_EQ(resolved.at("sample_replacement"), "false");
  EXPECT_EQ(resolve_strategy_options("random", {}).at("max_retries"), "1000");
}

TEST(StrategyRegistry, ObjectiveCountsAreChecked) {
  ToySpace space;
  EXPECT_NE(config_error([&] { make_strategy("evolution", toy_context(space, 2)); }).find("pareto"),
            std::string::npos);
  EXPECT_THROW(make_strategy("pareto", toy_context(space, 1)), ConfigError);
  EXPECT_NO_THROW(make_strategy("pareto", toy_context(space, 2)));
  StrategyContext no_space;
  no_space.objectives = {{"score", Direction::kMaximize}};
  EXPECT_THROW(make_strategy("random", no_space), ConfigError);
}

TEST(StrategyRegistry, ParsesObjectives) {
  const auto o = parse_objectives("c10_test_nats:max,params_M:min,flops_M");
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].metric, "c10_test_nats");
  EXPECT_EQ(o[0].direction, Direction::kMaximize);
  EXPECT_EQ(o[1].metric, "params_M");
  EXPECT_EQ(o[1].direction, Direction::kMinimize);
  EXPECT_EQ(o[2].direction, Direction::kMaximize);
  EXPECT_NE(config_error([] { parse_objectives("acc:up"); }).find("'up'"), std::string::npos);
  EXPECT_THROW(parse_objectives(""), ConfigError);
  EXPECT_THROW(parse_objectives("acc,,lat:min"), ConfigError);
  EXPECT_THROW(parse_objectives("acc:max,acc:min"), ConfigError);
  EXPECT_THROW(parse_objectives(":min"), ConfigError);
}

// A strategy registered by a user runs through the same loop by name.
class CountingStrategy : public SearchStrategy {
 public:
  explicit CountingStrategy(const StrategyContext&) {}
  std::string name() const override { return "counting"; }
  std::vector<Architecture> propose(std::size_t n) override {
    std::vector<Architecture> batch;
    for (std::size_t i = 0; i < n; ++i) batch.push_back(ToySpace::make(next_++));
    return batch;
  }
  void observe(const std::vector<SearchRecord>&) override {}

 private:
  int next_ = 0;
};

TEST(StrategyRegistry, UserStrategiesRunByName) {
  register_builtin_strategies();
  EXPECT_FALSE(strategy_info("random").params.empty()) << "random declares its options";
  StrategyInfo info;
  info.factory = [](const StrategyContext& c, const StrategyOptions&) {
    return std::make_unique<CountingStrategy>(c);
  };
  info.description = "0, 1, 2, ...";
  register_strategy("counting-test", info);
  ToySpace space;
  auto evaluator = test::toy_evaluator();
  const auto result = run_search(space, evaluator, test::toy_options("counting-test", 5));
  ASSERT_EQ(result.history.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ToySpace::value_of(result.history[i].candidate.arch), i);
  EXPECT_THROW(make_strategy("counting-test", toy_context(space), {{"x", "1"}}), ConfigError)
      << "a strategy that declares no options takes none";
}

}  // namespace
}  // namespace ghnas
