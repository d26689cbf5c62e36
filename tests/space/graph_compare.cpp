#include "tests/space/graph_compare.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/vf2_sub_graph_iso.hpp>

#include <map>
#include <sstream>

namespace ghnas::test {

namespace {

struct Label {
  std::string type;
  std::vector<std::int64_t> shape;
  bool operator<(const Label& o) const { return std::tie(type, shape) < std::tie(o.type, o.shape); }
  bool operator==(const Label& o) const { return type == o.type && shape == o.shape; }
};

using LabelledGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, int>;

struct Stop {  // the first mapping is enough
  template <typename A, typename B>
  bool operator()(const A&, const B&) const { return false; }
};

}  // namespace

std::string compare_with_reference(const GhnGraph& ours, const nlohmann::json& reference) {
  std::vector<Label> a, b;
  for (const auto& n : ours.nodes) a.push_back({ghn_node_type_name(n.type), n.shape});
  for (const auto& n : reference["nodes"]) {
    Label l{n[0].get<std::string>(), {}};
    if (!n[1].is_null()) l.shape = n[1].get<std::vector<std::int64_t>>();
    b.push_back(l);
  }
  std::ostringstream why;
  if (a.size() != b.size()) {
    std::map<std::string, int> diff;
    for (const auto& l : a) ++diff[l.type];
    for (const auto& l : b) --diff[l.type];
    why << "nodes " << a.size() << " vs reference " << b.size() << ":";
    for (const auto& [t, d] : diff)
      if (d) why << " " << t << (d > 0 ? "+" : "") << d;
    return why.str();
  }
  if (ours.edges.size() != reference["edges"].size()) {
    why << "edges " << ours.edges.size() << " vs reference " << reference["edges"].size();
    return why.str();
  }
  const std::size_t ve = reference["n_virtual_edges_s50"].get<std::size_t>();
  if (ours.num_virtual_edges() != ve) {
    why << "virtual edges " << ours.num_virtual_edges() << " vs reference " << ve;
    return why.str();
  }
  // Labels become integers shared by both graphs.
  std::map<Label, int> ids;
  for (const auto& l : a) ids.emplace(l, static_cast<int>(ids.size()));
  for (const auto& l : b)
    if (!ids.count(l)) return "label " + l.type + " only in the reference";
  LabelledGraph ga(a.size()), gb(b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ga[i] = ids[a[i]];
  for (std::size_t i = 0; i < b.size(); ++i) gb[i] = ids[b[i]];
  for (const auto& [s, t] : ours.edges) boost::add_edge(s, t, ga);
  for (const auto& e : reference["edges"]) boost::add_edge(e[0].get<int>(), e[1].get<int>(), gb);
  auto va = boost::get(boost::vertex_bundle, ga);
  auto vb = boost::get(boost::vertex_bundle, gb);
  const bool iso = boost::vf2_graph_iso(
      ga, gb, Stop{}, boost::vertex_order_by_mult(ga),
      boost::vertices_equivalent(boost::make_property_map_equivalent(va, vb)));
  return iso ? std::string() : std::string("same counts but not isomorphic");
}

}  // namespace ghnas::test
