// Building the GHN-2 graph view (with shortest-path virtual edges, s_max = 50) for the 500 nets
// of ../shared/deepnets1m/test.json: one core, and all cores with TBB.
// Reference: 0.05-0.07 s per net for the Python pipeline on the 2-core CI machine;
// target: <= 0.3 ms per net on one core.
//
//   build/benchmarks/ghnas_graph_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <cstdlib>

#include "core/json_io.hpp"
#include "space/deepnets1m.hpp"
#include "space/ghn_graph.hpp"

namespace {

const std::vector<ghnas::DeepNetsArch>& test_nets() {
  static const std::vector<ghnas::DeepNetsArch> nets = [] {
    const char* env = std::getenv("GHNAS_SHARED_DIR");
    const std::string dir = env ? env : GHNAS_SHARED_DIR;
    std::vector<ghnas::DeepNetsArch> out;
    for (const auto& e : ghnas::read_json_file(dir + "/deepnets1m/test.json"))
      out.push_back(ghnas::parse_deepnets_arch(e));
    return out;
  }();
  return nets;
}

const ghnas::Task& cifar() {
  static const ghnas::Task task = ghnas::task_by_name("cifar10");
  return task;
}

// ArchGraph + GHN view + virtual edges, one net after another on one thread.
void BM_GhnGraphOneCore(benchmark::State& state) {
  const auto& nets = test_nets();
  std::size_t nodes = 0;
  for (auto _ : state) {
    for (const auto& net : nets) {
      const auto g = ghnas::build_ghn_graph(ghnas::build_deepnets_graph(net, cifar()), 50);
      nodes += g.num_nodes();
      benchmark::DoNotOptimize(g.path_src.data());
    }
  }
  const double per_net = 1.0 / nets.size();
  state.counters["nets_per_s"] =
      benchmark::Counter(static_cast<double>(nets.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ms_per_net"] = benchmark::Counter(
      1e-3 / per_net, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  benchmark::DoNotOptimize(nodes);
}
BENCHMARK(BM_GhnGraphOneCore)->Unit(benchmark::kMillisecond)->UseRealTime();

// Only the ArchGraph (what executing or counting parameters needs).
void BM_ArchGraphOneCore(benchmark::State& state) {
  const auto& nets = test_nets();
  for (auto _ : state)
    for (const auto& net : nets) benchmark::DoNotOptimize(ghnas::build_deepnets_graph(net, cifar()).num_nodes());
  state.counters["ms_per_net"] = benchmark::Counter(
      1e-3 * nets.size(), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ArchGraphOneCore)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same work spread over `threads` TBB workers.
void BM_GhnGraphParallel(benchmark::State& state) {
  const auto& nets = test_nets();
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, state.range(0));
  for (auto _ : state) {
    tbb::parallel_for(std::size_t{0}, nets.size(), [&](std::size_t i) {
      const auto g = ghnas::build_ghn_graph(ghnas::build_deepnets_graph(nets[i], cifar()), 50);
      benchmark::DoNotOptimize(g.path_src.data());
    });
  }
  state.counters["nets_per_s"] =
      benchmark::Counter(static_cast<double>(nets.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ms_per_net"] = benchmark::Counter(
      1e-3 * nets.size(), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_GhnGraphParallel)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
