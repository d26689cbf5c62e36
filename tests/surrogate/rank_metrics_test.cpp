// Kendall tau-b and Spearman rho against values worked out by hand, ties included.

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "surrogate/rank_metrics.hpp"

namespace ghnas {
namespace {

TEST(RankMetrics, KendallWithoutTies) {
  // y pairs in x order: 7 concordant, 3 discordant of 10.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4, 5}, {3, 1, 2, 5, 4}), 0.4);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3}, {30, 20, 10}), -1.0);
}

TEST(RankMetrics, KendallTauBWithTies) {
  // C = 4, D = 0, one pair tied in x, one in y: 4 / sqrt(5 * 5).
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 2, 3}, {1, 2, 3, 3}), 0.8);
  // C = 3, D = 1, one tie in each: 2 / 5.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 1, 2, 3}, {2, 1, 1, 3}), 0.4);
  // A pair tied in both counts in neither denominator term's reduction by double.
  // x ties (0,1); y ties (0,1): C = 5, n1 = n2 = 1: 5 / 5.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 1, 2, 3}, {5, 5, 6, 7}), 1.0);
}

TEST(RankMetrics, AverageRanksShareTies) {
  EXPECT_EQ(average_ranks({10, 20, 20, 5}), (std::vector<double>{2, 3.5, 3.5, 1}));
}

TEST(RankMetrics, SpearmanWithTies) {
  // Ranks {1, 2.5, 2.5, 4} and {1, 2, 3.5, 3.5}: 3.75 / 4.5.
  EXPECT_NEAR(spearman_rho({1, 2, 2, 3}, {1, 2, 3, 3}), 3.75 / 4.5, 1e-15);
  EXPECT_NEAR(spearman_rho({1, 2, 3, 4}, {8, 6, 4, 2}), -1.0, 1e-15);
  // Monotone transforms leave it unchanged.
  EXPECT_NEAR(spearman_rho({1, 2, 3, 4, 5}, {3, 1, 2, 5, 4}), spearman_rho({1, 4, 9, 16, 25}, {3, 1, 2, 5, 4}), 1e-15);
}

TEST(RankMetrics, UndefinedCasesAreNaNAndLengthsMustMatch) {
  EXPECT_TRUE(std::isnan(kendall_tau({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman_rho({1, 2, 3}, {4, 4, 4})));
  EXPECT_TRUE(std::isnan(kendall_tau({1}, {1})));
  EXPECT_TRUE(std::isnan(kendall_tau({1, 2, NAN}, {1, 2, 3})));
  EXPECT_THROW(kendall_tau({1, 2}, {1, 2, 3}), Error);
  EXPECT_THROW(spearman_rho({1, 2}, {1}), Error);
}

}  // namespace
}  // namespace ghnas
