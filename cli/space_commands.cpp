// Commands that describe search spaces and architectures: spaces, sample, describe, graph.
// Their output is the project's public contract: scripts parse these JSON lines.

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "space/ghn_graph.hpp"
#include "space/search_space.hpp"

namespace ghnas::cli {

namespace {

std::string task_help() {
  std::string names;
  for (const auto& n : task_names()) names += (names.empty() ? "" : ", ") + n;
  return "task the networks are built for: " + names;
}

std::string space_help() {
  register_builtin_spaces();
  std::string names;
  for (const auto& n : list_spaces()) names += (names.empty() ? "" : ", ") + n;
  return "search space: " + names;
}

std::string wrap_error(std::size_t index, const std::exception& e) {
  return detail::str_cat("architecture ", index, ": ", e.what());
}

nlohmann::json ghn_graph_json(const GhnGraph& g) {
  nlohmann::json nodes = nlohmann::json::array(), params = nlohmann::json::array();
  for (const auto& n : g.nodes) {
    nodes.push_back({ghn_node_type_name(n.type),
                     n.shape.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.shape)});
    params.push_back(n.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.param));
  }
  nlohmann::json edges = nlohmann::json::array();
  for (const auto& [a, b] : g.edges) edges.push_back({a, b});
  return {{"n_nodes", g.nodes.size()},
          {"nodes", nodes},
          {"params", params},
          {"edges", edges},
          {"n_virtual_edges_s50", g.num_virtual_edges()}};
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

void print_ghn_dot(const GhnGraph& g, std::ostream& out) {
  out << "digraph ghn {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    out << "  n" << i << " [label=\"" << ghn_node_type_name(n.type);
    if (!n.shape.empty()) out << "\\n" << shape_text(n.shape);
    out << "\"];\n";
  }
  for (const auto& [a, b] : g.edges) out << "  n" << a << " -> n" << b << ";\n";
  out << "}\n";
}

nlohmann::json arch_graph_json(const ArchGraph& g) {
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t v = 0; v < g.num_nodes(); ++v) {
    const OpNode& n = g.node(v);
    nlohmann::json params = nlohmann::json::array();
    for (const auto& p : n.params) params.push_back({{"name", p.name}, {"shape", p.shape}});
    nlohmann::json inputs = nlohmann::json::array();
    for (auto u : g.inputs(v)) inputs.push_back(u);
    nodes.push_back({{"id", v},
                     {"op", op_kind_name(n.kind)},
                     {"module", n.module},
                     {"inputs", inputs},
                     {"out_shape", n.out_shape},
                     {"params", params}});
  }
  return {{"nodes", nodes}, {"output", g.output()}, {"params", g.num_params()},
          {"flops", g.flops()}};
}

void print_arch_dot(const ArchGraph& g, std::ostream& out) {
  out << "digraph arch {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  for (std::size_t v = 0; v < g.num_nodes(); ++v) {
    const OpNode& n = g.node(v);
    out << "  n" << v << " [label=\"" << op_kind_name(n.kind);
    if (!n.module.empty()) out << "\\n" << n.module;
    out << "\\n" << shape_text(n.out_shape) << "\"];\n";
  }
  for (std::size_t v = 0; v < g.num_nodes(); ++v)
    for (auto u : g.inputs(v)) out << "  n" << u << " -> n" << v << ";\n";
  out << "}\n";
}

// Median and range of each numeric field over the described architectures.
void print_summary(const std::string& file, const std::vector<std::string>& lines, std::ostream& out) {
  out << file << ": " << lines.size() << " architectures\n";
  for (const char* field : {"params", "flops", "nodes", "edges", "virtual_edges"}) {
    std::vector<double> v;
    for (const auto& line : lines) v.push_back(nlohmann::json::parse(line)[field].get<double>());
    std::sort(v.begin(), v.end());
    char buf[160];
    std::snprintf(buf, sizeof(buf), "  %-14s median %12.0f   min %12.0f   max %12.0f\n", field,
                  v[v.size() / 2], v.front(), v.back());
    out << buf;
  }
}

}  // namespace

SpaceOptions parse_space_options(const std::vector<std::string>& pairs) {
  SpaceOptions options;
  for (const auto& kv : pairs) {
    const auto eq = kv.find('=');
    GHNAS_CHECK_AS(ConfigError, eq != std::string::npos && eq > 0, "--space-option expects NAME=VALUE, got '", kv, "'");
    options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return options;
}

void add_space_commands(CLI::App& app, Actions& actions) {
  // ---- spaces
  auto* spaces = app.add_subcommand("spaces", "List the registered search spaces and their options");
  actions.emplace_back(spaces, [] {
    register_builtin_spaces();
    for (const auto& name : list_spaces()) {
      auto space = make_space(name);
      std::cout << name << ": " << space->description() << "\n";
      for (const auto& p : space->params()) {
        std::cout << "  " << p.name << " (default " << p.default_value << "): " << p.help;
        if (!p.choices.empty()) {
          std::cout << " [";
          for (std::size_t i = 0; i < p.choices.size(); ++i) std::cout << (i ? "|" : "") << p.choices[i];
          std::cout << "]";
        }
        std::cout << "\n";
      }
    }
    return 0;
  });

  // ---- sample
  struct SampleArgs {
    std::string space, variant, width, out;
    int n = 10;
    std::uint64_t seed = 0;
  };
  auto sa = std::make_shared<SampleArgs>();
  auto* sample = app.add_subcommand(
      "sample", "Draw architectures from a space and write them in the space's file format "
                "(a JSON list for deepnets1m, one arch string per line for nasbench201)");
  sample->add_option("--space", sa->space, space_help())->required();
  sample->add_option("--n", sa->n, "number of architectures")->required()->check(CLI::PositiveNumber);
  sample->add_option("--seed", sa->seed, "random seed")->capture_default_str();
  sample->add_option("--variant", sa->variant,
                     "deepnets1m sampling distribution: id, wide, deep, dense, bnfree (default id)");
  sample->add_option("--width", sa->width,
                     "deepnets1m stem width C of the networks drawn (default: the variant's)");
  sample->add_option("--out", sa->out, "output file (default: standard output)");
  actions.emplace_back(sample, [sa] {
    SpaceOptions options;
    if (!sa->variant.empty()) options["variant"] = sa->variant;
    if (!sa->width.empty()) options["width"] = sa->width;
    auto space = make_space(sa->space, options);
    Rng rng(sa->seed);
    std::vector<Architecture> archs;
    for (int i = 0; i < sa->n; ++i) archs.push_back(space->sample(rng));
    const std::string text = space->write_archs(archs);
    if (sa->out.empty()) {
      std::cout << text;
    } else {
      std::ofstream out(sa->out);
      GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", sa->out, "'");
      out << text;
      GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", sa->out, "'");
      std::cerr << "wrote " << archs.size() << " architectures to " << sa->out << "\n";
    }
    return 0;
  });

  // ---- describe
  struct DescribeArgs {
    std::string space, task = "cifar10", archs;
    std::vector<std::string> space_options;
    int s_max = 50;
    bool summary = false;
  };
  auto da = std::make_shared<DescribeArgs>();
  auto* describe = app.add_subcommand(
      "describe",
      "Print one JSON line per architecture: index, params, flops (multiply-accumulates), and the "
      "GHN-2 graph's nodes, edges and virtual_edges (shortest paths 2..s_max)");
  describe->add_option("--space", da->space, space_help())->required();
  describe->add_option("--task", da->task, task_help())->capture_default_str();
  describe->add_option("--archs", da->archs,
                       "architecture file: JSON list (deepnets1m) or one arch string per line "
                       "(nasbench201)")->required();
  describe->add_option("--space-option", da->space_options, "space option NAME=VALUE, as for search (repeatable)");
  describe->add_option("--s-max", da->s_max, "longest shortest path kept as a virtual edge")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  describe->add_flag("--summary", da->summary,
                     "also print medians and ranges over all architectures to standard error");
  actions.emplace_back(describe, [da] {
    auto space = make_space(da->space, parse_space_options(da->space_options));
    const Task task = task_by_name(da->task);
    const auto archs = space->read_archs(da->archs);
    std::vector<std::string> lines(archs.size());
    std::vector<std::optional<std::string>> errors(archs.size());
    ProgressBar progress(archs.size(), "describe");
    tbb::parallel_for(std::size_t{0}, archs.size(), [&](std::size_t i) {
      try {
        const ArchGraph g = space->build_graph(archs[i], task);
        const GhnGraph ghn = build_ghn_graph(g, da->s_max);
        nlohmann::json line = {{"index", i},
                               {"params", g.num_params()},
                               {"flops", g.flops()},
                               {"nodes", ghn.num_nodes()},
                               {"edges", ghn.edges.size()},
                               {"virtual_edges", ghn.num_virtual_edges()}};
        lines[i] = line.dump();
      } catch (const std::exception& e) {
        errors[i] = wrap_error(i, e);
      }
      progress.tick();
    });
    progress.finish();
    for (const auto& e : errors)
      if (e) throw Error(*e);
    for (const auto& line : lines) std::cout << line << "\n";
    if (da->summary && !lines.empty()) print_summary(da->archs, lines, std::cerr);
    return 0;
  });

  // ---- graph
  struct GraphArgs {
    std::string space, task = "cifar10", archs, format = "json", view = "ghn";
    std::vector<std::string> space_options;
    std::size_t index = 0;
  };
  auto ga = std::make_shared<GraphArgs>();
  auto* graph = app.add_subcommand(
      "graph", "Show one network: its GHN-2 graph (--view ghn) or its full op graph (--view arch)");
  graph->add_option("--space", ga->space, space_help())->required();
  graph->add_option("--task", ga->task, task_help())->capture_default_str();
  graph->add_option("--archs", ga->archs, "architecture file (as for describe)")->required();
  graph->add_option("--space-option", ga->space_options, "space option NAME=VALUE, as for search (repeatable)");
  graph->add_option("--index", ga->index, "which architecture of the file (0-based)")
      ->capture_default_str();
  graph->add_option("--format", ga->format, "json or dot (Graphviz)")
      ->check(CLI::IsMember({"json", "dot"}))->capture_default_str();
  graph->add_option("--view", ga->view,
                    "ghn: the GHN-2 graph (nodes are parameter tensors and the 15 GHN node types); "
                    "arch: every op of the network with its module name and output shape")
      ->check(CLI::IsMember({"ghn", "arch"}))->capture_default_str();
  actions.emplace_back(graph, [ga] {
    auto space = make_space(ga->space, parse_space_options(ga->space_options));
    const auto archs = space->read_archs(ga->archs);
    GHNAS_CHECK_AS(ConfigError, ga->index < archs.size(), "--index ", ga->index, " is out of range: '",
                   ga->archs, "' has ", archs.size(), " architectures");
    try {
      const ArchGraph g = space->build_graph(archs[ga->index], task_by_name(ga->task));
      if (ga->view == "arch") {
        if (ga->format == "dot") print_arch_dot(g, std::cout);
        else std::cout << arch_graph_json(g).dump() << "\n";
      } else {
        const GhnGraph ghn = build_ghn_graph(g);
        if (ga->format == "dot") print_ghn_dot(ghn, std::cout);
        else std::cout << ghn_graph_json(ghn).dump() << "\n";
      }
    } catch (const ArchError& e) {
      throw ArchError(wrap_error(ga->index, e));
    }
    return 0;
  });
}

}  // namespace ghnas::cli
