// GHN-2 speed, end to end, in the style of DuckDB's benchmark runner: one warm-up, then N timed
// runs, one CSV line per benchmark with the target beside the measurement.
//
//   embed    all architectures of --archs (default ../shared/deepnets1m/test.json, 500 nets):
//            ArchGraph + GHN graph (TBB over --threads) + batched embedding, --batch graphs per
//            GHN call. Target: <= 1 ms per architecture on 2 CPU cores.
//   predict  the first --predict-n architectures one by one, as a user predicts one network:
//            graph building + every parameter predicted. Target: >= 30x faster than the
//            reference's 0.30 s per architecture on the CI CPU, i.e. <= 10 ms.
//   predict-batched  the same, --batch networks per GHN call, as a search predicts candidates.
//            GPU target: >= 100x faster than the reference's 0.38 s on an H200, i.e. <= 3.8 ms.
//
// On a GPU each benchmark runs twice (--gnn both): with the GNN's sweeps on the host, the
// default (Ghn::set_host_gnn), and on the device, so the two compare within one process.
//
//   OMP_WAIT_POLICY=passive build/benchmarks/surrogate/ghnas_surrogate_bench --threads 2 --runs 3
//
// OMP_WAIT_POLICY=passive keeps idle OpenMP workers from spinning, which on a shared 2-core
// machine steals the core the other worker needs; it cannot be set from inside the process.
//
// Weights: the reference fixture GHN when ../shared has it, else a seeded random GHN-2 (speed
// does not depend on the values).

#include <CLI/CLI.hpp>
#include <sys/resource.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <numeric>

#include "space/search_space.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/dense.hpp"
#include "surrogate/ghn.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU seconds (user + system) this process has used, all threads.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Timing {
  double wall = 0, cpu = 0;  // seconds per run
};

// One warm-up, then `runs` timed runs; the mean wall and CPU seconds per run.
Timing time_runs(int runs, const std::function<void()>& body) {
  body();
  Timing t;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    body();
    t.wall += seconds_since(t0);
    t.cpu += cpu_seconds() - c0;
  }
  t.wall /= runs;
  t.cpu /= runs;
  return t;
}

// ms_per_arch is wall-clock time; cpu_ms_per_arch adds up all threads (on a shared machine, wall
// time grows with the other processes' load, CPU time much less).
void print_row(const std::string& name, const std::string& device, const std::string& gemm, const std::string& gnn,
               int threads, std::size_t archs, int batch, int runs, const Timing& t, double target_ms) {
  const double ms = 1e3 * t.wall / static_cast<double>(archs), cpu_ms = 1e3 * t.cpu / static_cast<double>(archs);
  std::printf("%s,%s,%s,%s,%d,%zu,%d,%d,%.4f,%.4f,%.1f,%.2f,%s\n", name.c_str(), device.c_str(), gemm.c_str(),
              gnn.c_str(), threads, archs, batch, runs, ms, cpu_ms, 1e3 / ms, target_ms, ms <= target_ms ? "yes" : "no");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("GHNAS_SHARED_DIR");
  const std::string shared = env ? env : GHNAS_SHARED_DIR;
  std::string archs_path = shared + "/deepnets1m/test.json", device_name = "cpu", only, gemm = "auto";
  int threads = 2, runs = 3, batch = 64, predict_n = 50;
  CLI::App app{"GHN-2 speed: batched embeddings and per-architecture parameter prediction"};
  app.add_option("--archs", archs_path, "DeepNets-1M architecture file")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (torch and TBB)")->capture_default_str();
  app.add_option("--runs", runs, "timed runs after one warm-up")->capture_default_str();
  app.add_option("--batch", batch, "graphs per GHN call when embedding")->capture_default_str();
  app.add_option("--predict-n", predict_n, "architectures whose parameters are predicted")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  app.add_option("--only", only, "run one benchmark: embed, predict or predict-batched");
  std::string gnn = "both";
  app.add_option("--gnn", gnn, "on a GPU, where the GNN sweeps run: host (the CPU kernel), device, or both (one row each)")
      ->check(CLI::IsMember({"host", "device", "both"}))->capture_default_str();
  app.add_option("--gemm", gemm, "CPU matrix products: auto (measure the BLAS), blas or onednn")
      ->check(CLI::IsMember({"auto", "blas", "onednn"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  torch::set_num_threads(threads);
#if defined(__GLIBC__)
  // Keep freed memory mapped between runs: first-touch page faults cost ~25 us per 4 KiB page on
  // the CI VM, more than the arithmetic (same settings as evaluators' configure_cpu_runtime).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  const torch::Device device(device_name);
  ghnas::set_dense_backend(gemm == "blas" ? ghnas::DenseBackend::kBlas
                           : gemm == "onednn" ? ghnas::DenseBackend::kOneDnn
                                              : ghnas::DenseBackend::kAuto);
  const std::string gemm_used = ghnas::dense_backend() == ghnas::DenseBackend::kBlas ? "blas" : "onednn";
  torch::manual_seed(0);

  const std::string weights = shared + "/reference/ghn2_fixture/ghn2_random_seed0.f32";
  const std::string meta = shared + "/reference/ghn2_fixture/ghn2_random_seed0.json";
  ghnas::Ghn ghn = std::filesystem::exists(weights) ? ghnas::import_reference_ghn(weights, meta) : ghnas::Ghn(ghnas::GhnConfig{});
  ghn->to(device);
  ghn->eval();
  torch::NoGradGuard no_grad;

  auto space = ghnas::make_space("deepnets1m");
  const auto archs = space->read_archs(archs_path);
  const ghnas::Task task = ghnas::task_by_name("cifar10");

  std::printf("benchmark,device,gemm,gnn,threads,archs,batch,runs,ms_per_arch,cpu_ms_per_arch,archs_per_s,target_ms_per_arch,"
              "meets_target\n");
  // On a CPU the sweeps always run on the host; on a GPU each benchmark runs once per --gnn setting.
  std::vector<std::string> gnn_settings = {"host"};
  if (!device.is_cpu()) gnn_settings = gnn == "both" ? std::vector<std::string>{"host", "device"} : std::vector{gnn};
  for (const std::string& where : gnn_settings) {
    ghn->set_host_gnn(where == "host");

    if (only.empty() || only == "embed") {
      const Timing s = time_runs(runs, [&] {
        for (std::size_t b0 = 0; b0 < archs.size(); b0 += static_cast<std::size_t>(batch)) {
          const std::size_t n = std::min(archs.size() - b0, static_cast<std::size_t>(batch));
          std::vector<ghnas::GhnGraph> graphs(n);
          tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
            graphs[i] = ghnas::build_ghn_graph(space->build_graph(archs[b0 + i], task), ghn->config().s_max);
          });
          const auto e = ghn->embed(ghnas::graph_pointers(graphs));
          if (!e.is_cpu()) e.cpu();  // wait for the device
        }
      });
      print_row("embed", device_name, gemm_used, where, threads, archs.size(), batch, runs, s, 1.0);
    }

    if (only.empty() || only == "predict") {
      const std::size_t n = std::min(archs.size(), static_cast<std::size_t>(predict_n));
      const Timing s = time_runs(runs, [&] {
        for (std::size_t i = 0; i < n; ++i) {
          const ghnas::ArchGraph g = space->build_graph(archs[i], task);
          const ghnas::GhnGraph ghn_graph = ghnas::build_ghn_graph(g, ghn->config().s_max);
          const auto p = ghn->predict_parameters({&ghn_graph}, {g.all_params()});
          if (!device.is_cpu()) p[0].tensors.begin()->second.cpu();
        }
      });
      print_row("predict", device_name, gemm_used, where, threads, n, 1, runs, s, 10.0);
    }

    if (only.empty() || only == "predict-batched") {
      // The same prediction for --batch networks per GHN call, as a search predicts candidates: on a
      // GPU one network per call leaves it idle between kernel launches. The GPU target is
      // >= 100x the reference's 0.38 s per network on an H200 (3.8 ms); on a CPU the 30x one.
      const std::size_t n = std::min(archs.size(), static_cast<std::size_t>(predict_n));
      const Timing s = time_runs(runs, [&] {
        for (std::size_t b0 = 0; b0 < n; b0 += static_cast<std::size_t>(batch)) {
          const std::size_t m = std::min(n - b0, static_cast<std::size_t>(batch));
          std::vector<ghnas::ArchGraph> nets(m);
          std::vector<ghnas::GhnGraph> graphs(m);
          tbb::parallel_for(std::size_t{0}, m, [&](std::size_t i) {
            nets[i] = space->build_graph(archs[b0 + i], task);
            graphs[i] = ghnas::build_ghn_graph(nets[i], ghn->config().s_max);
          });
          std::vector<std::vector<ghnas::ParamTensor>> params;
          for (const auto& g : nets) params.push_back(g.all_params());
          const auto p = ghn->predict_parameters(ghnas::graph_pointers(graphs), params);
          if (!device.is_cpu()) p.back().tensors.begin()->second.cpu();
        }
      });
      print_row("predict-batched", device_name, gemm_used, where, threads, n, batch, runs, s,
                device.is_cpu() ? 10.0 : 3.8);
    }
  }
  return 0;
}
