#include "tests/surrogate/reference_fixture.hpp"

#include <map>

#include "core/json_io.hpp"
#include "space/deepnets1m.hpp"
#include "surrogate/checkpoint.hpp"
#include "tests/test_util.hpp"

namespace ghnas::test {

std::string fixture_dir() { return shared_dir() + "/reference/ghn2_fixture"; }
std::string fixture_weights() { return fixture_dir() + "/ghn2_random_seed0.f32"; }
std::string fixture_meta() { return fixture_dir() + "/ghn2_random_seed0.json"; }

Ghn& fixture_ghn() {
  static Ghn ghn = [] {
    Ghn g = import_reference_ghn(fixture_weights(), fixture_meta());
    g->eval();
    return g;
  }();
  return ghn;
}

const std::vector<FixtureNet>& fixture_nets() {
  static const std::vector<FixtureNet> nets = [] {
    const auto expected = read_json_file(fixture_dir() + "/ghn2_random_seed0_predictions.json");
    std::map<std::string, nlohmann::json> splits;
    const Task cifar = task_by_name("cifar10");
    std::vector<FixtureNet> out;
    for (const auto& e : expected) {
      FixtureNet net;
      net.split = e.at("split").get<std::string>();
      net.index = e.at("index").get<int>();
      if (!splits.count(net.split))
        splits[net.split] = read_json_file(shared_dir() + "/deepnets1m/" + net.split + ".json");
      const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(splits[net.split].at(net.index)), cifar);
      net.graph = build_ghn_graph(g, 50);
      net.params = g.all_params();
      net.expected = e;
      out.push_back(std::move(net));
    }
    return out;
  }();
  return nets;
}

}  // namespace ghnas::test
