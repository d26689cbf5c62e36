// Exact parity with the reference implementation on the 1,400 nets of ../shared/deepnets1m:
// parameter counts and GHN-2 graphs (isomorphic with types and shapes as labels, and the same
// number of virtual edges).

#include <gtest/gtest.h>

#include "core/json_io.hpp"
#include "space/deepnets1m.hpp"
#include "space/ghn_graph.hpp"
#include "tests/space/graph_compare.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

class DeepNetsParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DeepNetsParity, ParameterCountsMatchTheReference) {
  const auto doc = read_json_file(test::shared_dir() + "/deepnets1m/" + GetParam() + ".json");
  const Task cifar = task_by_name("cifar10");
  int matched = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(doc[i]), cifar);
    const auto want = doc[i]["params_cifar10"].get<std::int64_t>();
    EXPECT_EQ(g.num_params(), want) << GetParam() << " net " << i;
    matched += g.num_params() == want;
  }
  EXPECT_EQ(matched, static_cast<int>(doc.size()));
}

TEST_P(DeepNetsParity, GhnGraphsAreIsomorphicToTheReference) {
  const std::string dir = test::shared_dir() + "/deepnets1m/";
  const auto doc = read_json_file(dir + GetParam() + ".json");
  const auto ref = read_json_file(dir + "graphs_" + GetParam() + ".json");
  ASSERT_EQ(doc.size(), ref.size());
  const Task cifar = task_by_name("cifar10");
  int matched = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const GhnGraph g = build_ghn_graph(build_deepnets_graph(parse_deepnets_arch(doc[i]), cifar));
    const std::string why = test::compare_with_reference(g, ref[i]);
    EXPECT_EQ(why, "") << GetParam() << " net " << i;
    EXPECT_EQ(g.num_nodes(), doc[i]["ghn_graph_nodes"].get<std::size_t>());
    matched += why.empty();
  }
  EXPECT_EQ(matched, static_cast<int>(doc.size()));
}

INSTANTIATE_TEST_SUITE_P(Splits, DeepNetsParity,
                         ::testing::Values("val", "test", "wide", "deep", "dense", "bnfree"));

}  // namespace
}  // namespace ghnas
