// The declarative JSON space: the file's errors name the field, architectures round-trip,
// mutations stay in the space, hashes ignore what does not change the network, and networks
// have the parameters counted by hand.

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "core/error.hpp"
#include "space/ghn_graph.hpp"
#include "space/json_space.hpp"
#include "space/search_space.hpp"

namespace ghnas {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "json_space_" + std::to_string(getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

// A small space: 2 nodes with up to 2 inputs, stem 8, two stages of one cell, conv reduction.
nlohmann::json small_doc(const std::string& output) {
  return {{"ops", {"none", "skip_connect", "conv_3x3", "sep_conv_3x3"}},
          {"cell", {{"nodes", 2}, {"inputs_per_node", 2}, {"output", output}}},
          {"macro", {{"stem_channels", 8}, {"stages", 2}, {"cells_per_stage", 1},
                     {"reduction", "conv"}}}};
}

JsonCellSpace small_space(const std::string& output) {
  return JsonCellSpace(parse_json_space_spec(small_doc(output), "small.json"), "small.json");
}

// The ConfigError message for a document ("" when it parses).
std::string parse_error(const nlohmann::json& doc) {
  try {
    parse_json_space_spec(doc, "bad.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JsonSpace, ParseErrorsNameTheField) {
  nlohmann::json doc = small_doc("sum");
  doc.erase("ops");
  EXPECT_TRUE(contains(parse_error(doc), "field 'ops' is missing")) << parse_error(doc);

  doc = small_doc("sum");
  doc["cell"]["nodes"] = 0;
  EXPECT_TRUE(contains(parse_error(doc), "field 'cell.nodes' must be a whole number in 1..12"))
      << parse_error(doc);

  doc = small_doc("sum");
  doc["cell"]["output"] = "mean";
  EXPECT_TRUE(contains(parse_error(doc), "field 'cell.output' must be one of last, sum, concat"))
      << parse_error(doc);

  doc = small_doc("sum");
  doc["macro"]["stem_chanels"] = 16;  // a typo is not silently ignored
  EXPECT_TRUE(contains(parse_error(doc), "field 'macro.stem_chanels' is not a field"))
      << parse_error(doc);

  doc = small_doc("sum");
  doc.erase("macro");
  EXPECT_TRUE(contains(parse_error(doc), "field 'macro' is missing")) << parse_error(doc);

  EXPECT_TRUE(contains(parse_error(small_doc("sum")), "") && parse_error(small_doc("sum")).empty());
  EXPECT_TRUE(contains(parse_error(nlohmann::json::array()), "must be an object"));
}

TEST(JsonSpace, BadOpNameIsAClearError) {
  nlohmann::json doc = small_doc("sum");
  doc["ops"][2] = "conv_7x7";
  const std::string msg = parse_error(doc);
  EXPECT_TRUE(contains(msg, "bad.json")) << msg;
  EXPECT_TRUE(contains(msg, "field 'ops[2]' names unknown op 'conv_7x7'")) << msg;
  EXPECT_TRUE(contains(msg, "valid ops: none, skip_connect")) << msg;
}

TEST(JsonSpace, FileErrorsNameTheFile) {
  EXPECT_THROW(make_space("json:/nonexistent/space.json"), FileError);
  const std::string path = write_temp("broken.json", "{\"ops\": [");
  EXPECT_THROW(make_space("json:" + path), FileError);
  std::remove(path.c_str());
}

TEST(JsonSpace, ExampleFileLoadsThroughMakeSpace) {
  const std::string path = std::string(GHNAS_EXAMPLES_DIR) + "/json_space/cells.json";
  auto space = make_space("json:" + path);
  EXPECT_EQ(space->name(), "json:" + path);
  Rng rng(1);
  const Architecture arch = space->sample(rng);
  EXPECT_EQ(arch.space, "json:" + path);
  // Every sampled network of the example builds on both tasks and has a GHN graph.
  for (int i = 0; i < 20; ++i) {
    const Architecture a = space->sample(rng);
    for (const char* task : {"cifar10", "fashion-mnist"}) {
      const ArchGraph g = space->build_graph(a, task_by_name(task));
      EXPECT_EQ(g.node(g.output()).out_shape, (std::vector<std::int64_t>{10}));
      EXPECT_NO_THROW(build_ghn_graph(g));
    }
  }
}

TEST(JsonSpace, SampleMutateValidateRoundTrip) {
  const std::string path = std::string(GHNAS_EXAMPLES_DIR) + "/json_space/cells.json";
  auto space = make_space("json:" + path);
  Rng rng(42);
  std::vector<Architecture> archs;
  std::set<std::string> hashes;
  int input_mutations = 0, op_mutations = 0;
  for (int i = 0; i < 100; ++i) {
    const Architecture a = space->sample(rng);
    space->validate(a);
    archs.push_back(a);
    hashes.insert(space->canonical_hash(a));
    const Architecture child = space->mutate(a, rng);
    EXPECT_NO_THROW(space->validate(child));
    EXPECT_NE(child.spec, a.spec);
    // Exactly one edge changed, in its op or its input.
    int changed = 0;
    for (std::size_t j = 0; j < a.spec["nodes"].size(); ++j)
      for (std::size_t e = 0; e < a.spec["nodes"][j].size(); ++e) {
        const auto& before = a.spec["nodes"][j][e];
        const auto& after = child.spec["nodes"][j][e];
        if (before == after) continue;
        ++changed;
        (before[0] != after[0] ? op_mutations : input_mutations) += 1;
        EXPECT_TRUE(before[0] == after[0] || before[1] == after[1]);
      }
    EXPECT_EQ(changed, 1);
  }
  EXPECT_GT(op_mutations, 20);
  EXPECT_GT(input_mutations, 20);
  EXPECT_GT(hashes.size(), 90u);

  const std::string file = write_temp("archs.json", space->write_archs(archs));
  const auto back = space->read_archs(file);
  std::remove(file.c_str());
  ASSERT_EQ(back.size(), archs.size());
  for (std::size_t i = 0; i < archs.size(); ++i) {
    EXPECT_EQ(back[i].spec, archs[i].spec);
    EXPECT_EQ(space->canonical_hash(back[i]), space->canonical_hash(archs[i]));
  }

  // Every neighbour is valid and one edge away; 4 nodes with 1, 2, 2, 2 edges over 8 ops give
  // 7 op changes per edge and 0, 0, 1, 2 unused inputs per edge of nodes 1..4.
  const auto neighbours = space->neighbours(archs[0]);
  EXPECT_EQ(neighbours.size(), 7u * 7 + (0 + 0 + 2 * 1 + 2 * 2));
  for (const auto& n : neighbours) EXPECT_NO_THROW(space->validate(n));
}

TEST(JsonSpace, InvalidArchitecturesNameTheNodeAndEdge) {
  const JsonCellSpace space = small_space("sum");
  auto error = [&](const nlohmann::json& spec) {
    try {
      space.validate({space.name(), spec});
    } catch (const ArchError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  using J = nlohmann::json;
  EXPECT_EQ(error(J::parse(R"({"nodes": [[["conv_3x3", 0]], [["conv_3x3", 0], ["none", 1]]]})")), "");
  EXPECT_TRUE(contains(error(J::parse(R"({"nodes": [[["conv_5x5", 0]], [["conv_3x3", 0], ["none", 1]]]})")),
                       "node 1 edge 0: op 'conv_5x5' is not in the space"));
  EXPECT_TRUE(contains(error(J::parse(R"({"nodes": [[["conv_3x3", 0]], [["conv_3x3", 0], ["none", 2]]]})")),
                       "node 2 edge 1: input 2 is not an earlier node (0..1)"));
  EXPECT_TRUE(contains(error(J::parse(R"({"nodes": [[["conv_3x3", 0]], [["conv_3x3", 1], ["none", 1]]]})")),
                       "node 2 reads node 1 twice"));
  EXPECT_TRUE(contains(error(J::parse(R"({"nodes": [[["conv_3x3", 0]]]})")),
                       "the cell has 1 intermediate nodes, the space has 2"));
  EXPECT_TRUE(contains(error(J::parse(R"({"nodes": [[["conv_3x3", 0]], [["conv_3x3", 0]]]})")),
                       "node 2 must be a list of 2 [op, input] edges"));
  EXPECT_TRUE(contains(error("conv"), "an architecture is {\"nodes\""));
}

TEST(JsonSpace, HashIgnoresTermOrderDeadNodesAndAliases) {
  using J = nlohmann::json;
  const JsonCellSpace sum = small_space("sum");
  auto hash = [](const JsonCellSpace& s, const char* text) {
    return s.canonical_hash({s.name(), J::parse(text)});
  };
  // The order of a sum's terms does not matter.
  EXPECT_EQ(hash(sum, R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["skip_connect", 1]]]})"),
            hash(sum, R"({"nodes": [[["conv_3x3", 0]], [["skip_connect", 1], ["sep_conv_3x3", 0]]]})"));
  // Different ops differ.
  EXPECT_NE(hash(sum, R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["skip_connect", 1]]]})"),
            hash(sum, R"({"nodes": [[["sep_conv_3x3", 0]], [["sep_conv_3x3", 0], ["skip_connect", 1]]]})"));
  // With output "last", node 1 read only through none is dead: its op does not matter.
  const JsonCellSpace last = small_space("last");
  EXPECT_EQ(hash(last, R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})"),
            hash(last, R"({"nodes": [[["skip_connect", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})"));
  // ... but with "sum" it is a loose end that joins the output.
  EXPECT_NE(hash(sum, R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})"),
            hash(sum, R"({"nodes": [[["skip_connect", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})"));
  // Equal hashes build equal parameter counts.
  const Task task = task_by_name("cifar10");
  EXPECT_EQ(last.build_graph({last.name(), J::parse(R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})")}, task).num_params(),
            last.build_graph({last.name(), J::parse(R"({"nodes": [[["skip_connect", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})")}, task).num_params());
}

TEST(JsonSpace, ParameterCountsByHand) {
  using J = nlohmann::json;
  const Task task = task_by_name("fashion-mnist");  // 1 channel, 10 classes
  // Shared by both: stem Conv3x3(1->8) + BN, reduction ReLU-Conv3x3/2(8->16)-BN, Linear(16->10).
  const std::int64_t stem = 8 * 1 * 9 + 2 * 8;
  const std::int64_t reduction = 16 * 8 * 9 + 2 * 16;
  const std::int64_t head = 16 * 10 + 10;
  // conv_3x3: C*C*9 + BN 2C. sep_conv_3x3: depthwise C*9, pointwise C*C, BN 2C.
  auto conv3 = [](std::int64_t c) { return c * c * 9 + 2 * c; };
  auto sep3 = [](std::int64_t c) { return c * 9 + c * c + 2 * c; };

  // sum: node 1 = conv(x); node 2 = sep(x) + node 1. Node 1 is read, so node 2 is the output.
  const JsonCellSpace sum = small_space("sum");
  const auto a = J::parse(R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["skip_connect", 1]]]})");
  const std::int64_t expected_sum = stem + conv3(8) + sep3(8) + reduction + conv3(16) + sep3(16) + head;
  EXPECT_EQ(expected_sum, 4954);
  const ArchGraph g = sum.build_graph({sum.name(), a}, task);
  EXPECT_EQ(g.num_params(), expected_sum);
  EXPECT_EQ(g.node(g.output()).out_shape, (std::vector<std::int64_t>{10}));

  // concat: node 1 = conv(x) read only through none, so nodes 1 and 2 are both loose ends:
  // concat to 2C, then ReLU-Conv1x1(2C->C)-BN.
  const JsonCellSpace concat = small_space("concat");
  const auto b = J::parse(R"({"nodes": [[["conv_3x3", 0]], [["sep_conv_3x3", 0], ["none", 1]]]})");
  auto proj = [](std::int64_t c) { return 2 * c * c + 2 * c; };
  const std::int64_t expected_concat = stem + conv3(8) + sep3(8) + proj(8) + reduction + conv3(16) +
                                       sep3(16) + proj(16) + head;
  EXPECT_EQ(expected_concat, 5642);
  EXPECT_EQ(concat.build_graph({concat.name(), b}, task).num_params(), expected_concat);

  // last: the same cell outputs node 2 only; node 1 is not built.
  const JsonCellSpace last = small_space("last");
  EXPECT_EQ(last.build_graph({last.name(), b}, task).num_params(),
            stem + sep3(8) + reduction + sep3(16) + head);
}

TEST(JsonSpace, ResblockNeedsEvenSizes) {
  nlohmann::json doc = small_doc("sum");
  doc["macro"]["reduction"] = "resblock";
  doc["macro"]["stages"] = 4;  // fashion-mnist: 28 -> 14 -> 7 -> odd at the third reduction
  const JsonCellSpace space(parse_json_space_spec(doc, "deep.json"), "deep.json");
  Rng rng(3);
  const Architecture a = space.sample(rng);
  EXPECT_NO_THROW(space.build_graph(a, task_by_name("cifar10")));  // 32 -> 16 -> 8 -> 4
  try {
    space.build_graph(a, task_by_name("fashion-mnist"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "reductions.2")) << e.what();
  }
}

}  // namespace
}  // namespace ghnas
