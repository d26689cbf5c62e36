// Candidates ranked per second by the heads path of a search (issue 6's throughput target:
// >= 1,000 DeepNets-1M candidates per second on 2 CPU cores): sample -> build ArchGraph and
// GHN graph (TBB) -> batched GHN embedding -> four property heads. What ghnas search's first
// stage does per batch (cli/cascade_evaluators.cpp, HeadsEvaluator), without the database.
//
//   ghnas_heads_throughput_bench [--candidates 4096] [--batch 256] [--threads 2] [--runs 5]
//
// Prints CSV (run, candidates, seconds, candidates_per_s) after one warm-up run, then the
// median next to the target. The GHN's weights do not change its speed, so a freshly
// initialised GHN-2 (hid 32) stands in for a trained one; the heads are fitted on 256 sampled
// networks with synthetic targets (their size, not their values, sets the cost).

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "evaluators/cpu_runtime.hpp"
#include "space/search_space.hpp"
#include "surrogate/feature_table.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/property_heads.hpp"

int main(int argc, char** argv) {
  using namespace ghnas;
  CLI::App app{"Candidates per second through the heads path (graph build + GHN embedding + heads)"};
  int candidates = 4096, batch = 256, threads = 2, runs = 5, width = 8;
  app.add_option("--candidates", candidates, "candidates per run")->capture_default_str();
  app.add_option("--batch", batch, "candidates per GHN call")->capture_default_str();
  app.add_option("--threads", threads, "torch and TBB threads")->capture_default_str();
  app.add_option("--runs", runs, "timed runs")->capture_default_str();
  app.add_option("--width", width, "stem width C of the sampled networks (the main job's: 8)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  configure_cpu_runtime(threads);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  register_builtin_spaces();
  auto space = make_space("deepnets1m", {{"width", std::to_string(width)}});
  const Task task = task_by_name("fashion-mnist");
  torch::manual_seed(0);
  Ghn ghn(GhnConfig{});
  ghn->eval();

  Rng rng(1);
  auto sample = [&](int n) {
    std::vector<Architecture> archs;
    for (int i = 0; i < n; ++i) archs.push_back(space->sample(rng));
    return archs;
  };
  // Four heads, as shipped: clean and noisy accuracy, latency, convergence.
  const auto train_archs = sample(256);
  const FeatureTable train = compute_feature_table(&ghn, *space, train_archs, task, static_cast<std::size_t>(batch));
  std::mt19937_64 noise(2);
  std::normal_distribution<double> gauss(0.0, 1.0);
  PropertyHeads heads;
  for (const char* target : {"clean_acc", "noisy_acc", "latency_ms", "convergence"}) {
    Eigen::VectorXd y(static_cast<Eigen::Index>(train.rows()));
    for (Eigen::Index i = 0; i < y.size(); ++i) y(i) = train.cheap(i, 0) + gauss(noise);
    heads.heads.push_back(fit_head(target, FeatureConfig::parse("embedding+cheap"), train, y, GridSearchOptions{}));
  }

  std::printf("run,candidates,seconds,candidates_per_s\n");
  std::vector<double> rates;
  for (int run = 0; run <= runs; ++run) {
    const auto archs = sample(candidates);  // proposing is part of a search; sampling is cheap
    const auto t0 = std::chrono::steady_clock::now();
    double checksum = 0;
    for (std::size_t begin = 0; begin < archs.size(); begin += static_cast<std::size_t>(batch)) {
      const std::size_t end = std::min(archs.size(), begin + static_cast<std::size_t>(batch));
      const std::vector<Architecture> part(archs.begin() + static_cast<std::ptrdiff_t>(begin),
                                           archs.begin() + static_cast<std::ptrdiff_t>(end));
      const FeatureTable table = compute_feature_table(&ghn, *space, part, task, part.size());
      for (const PropertyHead& head : heads.heads) checksum += head.predict(table).sum();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (run == 0) continue;  // warm-up
    rates.push_back(candidates / s);
    std::printf("%d,%d,%.3f,%.1f\n", run, candidates, s, candidates / s);
    if (!std::isfinite(checksum)) std::fprintf(stderr, "non-finite predictions\n");
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];
  std::printf("# heads path, deepnets1m (C=%d), fashion-mnist graphs, %d threads: median %.0f candidates/s "
              "(target >= 1000)\n", width, threads, median);
  return 0;
}
