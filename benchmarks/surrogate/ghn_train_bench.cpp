// GHN-2 training speed: wall time of one training iteration (meta-batch of --meta-batch
// DeepNets-1M nets sampled as train-ghn samples them, --batch-size images, forward through the
// GHN and every network, backward, clipping, Adam step), after one warm-up iteration. Graph
// building is timed separately, since train-ghn builds graphs ahead on another thread.
//
//   OMP_WAIT_POLICY=passive build/benchmarks/surrogate/ghnas_ghn_train_bench --threads 2 --iterations 5
//
// Reference: ppuda takes 2.37 s per iteration (meta-batch 8, 64 CIFAR-10 images) on an H200;
// the target is >= 10x faster on the same GPU. A CPU figure is not comparable with it
// (printed only to show where the CPU stands); the CUDA row appears when a GPU is present.
// A second pass over the same meta-batches times the phases (GHN forward, the networks' forward
// and backward, GHN backward, clipping + Adam) with a device wait between them.
// On a GPU the CUDA row is printed once per --gnn setting: the GNN's sweeps and their backward on
// the host (the default, Ghn::set_host_gnn) or on the device.
// --layout sets the networks' activation layout (ActivationLayout; auto is what train-ghn uses:
// channels-last on a CPU); --network-workers how many networks run at once on a CPU (0, what
// train-ghn uses: one per thread).
// Images are Fashion-MNIST-shaped random tensors (1x28x28) or CIFAR-10-shaped (--task cifar10),
// so the benchmark needs no data files.

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "evaluators/datasets.hpp"
#include "space/search_space.hpp"
#include "surrogate/ghn_trainer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  double build_s = 0, step_s = 0, loss = 0;
  std::int64_t nodes = 0;
  int workers = 1;  // networks run at once
  // The same iterations again with the phases timed (GhnStepStats), seconds per iteration.
  double predict_s = 0, networks_s = 0, ghn_backward_s = 0, update_s = 0;
};

// The meta-batch of iteration i, its networks in `layout`.
ghnas::MetaBatch meta_batch(const ghnas::GhnTrainer& trainer, const ghnas::GhnTrainConfig& config, int i,
                            ghnas::ActivationLayout layout) {
  ghnas::MetaBatch meta = ghnas::sample_meta_batch(trainer.space(), trainer.task(), config, i, trainer.device());
  for (auto& net : meta.nets) net->set_activation_layout(layout);
  return meta;
}

Row bench(const ghnas::GhnTrainConfig& config, int iterations, bool host_gnn, ghnas::ActivationLayout layout,
          int network_workers) {
  ghnas::DatasetInfo info = config.task == "cifar10" ? ghnas::cifar10_info() : ghnas::fashion_mnist_info();
  // Random images of the task's shape: speed does not depend on the pixel values.
  ghnas::Dataset data = ghnas::make_synthetic_dataset(info, /*train_size=*/config.batch_size * 4,
                                                      /*val_size=*/0, /*test_size=*/0, /*seed=*/0);
  ghnas::GhnTrainer trainer(config, std::move(data));
  trainer.ghn()->set_host_gnn(host_gnn);
  trainer.set_network_workers(network_workers);
  Row row;
  row.workers = trainer.network_workers();
  for (int i = 0; i <= iterations; ++i) {
    auto t0 = Clock::now();
    ghnas::MetaBatch meta = meta_batch(trainer, config, i, layout);
    const double build = seconds_since(t0);
    const ghnas::Batch batch = trainer.image_batch(i);
    t0 = Clock::now();
    const ghnas::GhnStepStats s = trainer.train_step(meta, batch);
    if (trainer.device().is_cuda()) torch::cuda::synchronize();
    const double step = seconds_since(t0);
    if (i == 0) continue;  // warm-up
    row.build_s += build / iterations;
    row.step_s += step / iterations;
    row.loss += s.loss / iterations;
    row.nodes += meta.num_nodes();
  }
  row.nodes /= iterations;
  // A second pass over the same meta-batches with a device wait at each phase boundary: the
  // phases' shares, which the first pass cannot show because on a GPU they overlap.
  trainer.set_phase_timing(true);
  for (int i = 1; i <= iterations; ++i) {
    const ghnas::MetaBatch meta = meta_batch(trainer, config, i, layout);
    const ghnas::GhnStepStats s = trainer.train_step(meta, trainer.image_batch(i));
    row.predict_s += s.predict_seconds / iterations;
    row.networks_s += s.networks_seconds / iterations;
    row.ghn_backward_s += s.ghn_backward_seconds / iterations;
    row.update_s += s.update_seconds / iterations;
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GHN-2 training-iteration benchmark"};
  ghnas::GhnTrainConfig config;
  config.threads = 2;
  int iterations = 3;
  bool cpu_only = false;
  std::string gnn = "both";
  app.add_option("--threads", config.threads, "torch and TBB threads")->capture_default_str();
  app.add_option("--iterations", iterations, "timed iterations (after one warm-up)")->capture_default_str();
  app.add_option("--meta-batch", config.meta_batch, "architectures per iteration")->capture_default_str();
  app.add_option("--batch-size", config.batch_size, "images per iteration")->capture_default_str();
  app.add_option("--task", config.task, "fashion-mnist or cifar10 (image shape)")->capture_default_str();
  app.add_option("--train-channels", config.train_channels, "net width C of sampled nets (0: the sampled 32)")
      ->capture_default_str();
  app.add_option("--max-cells", config.max_cells, "cap on the cells of sampled nets (0: none)")->capture_default_str();
  app.add_option("--seed", config.seed, "which meta-batches are drawn")->capture_default_str();
  app.add_option("--gnn", gnn, "on a GPU, where the GNN sweeps run: host (the CPU kernels), device, or both (one row each)")
      ->check(CLI::IsMember({"host", "device", "both"}))
      ->capture_default_str();
  app.add_flag("--cpu-only", cpu_only, "skip the CUDA row even when a GPU is present");
  std::string layout_name = "auto";
  app.add_option("--layout", layout_name, "the networks' activation layout")
      ->check(CLI::IsMember({"auto", "channels-first", "channels-last"}))
      ->capture_default_str();
  int network_workers = 0;
  app.add_option("--network-workers", network_workers,
                 "networks of a meta-batch run at once on the CPU (GhnTrainer::set_network_workers; 0: automatic)")
      ->capture_default_str();
  bool cuda_only = false;
  app.add_flag("--cuda-only", cuda_only, "skip the CPU row (on a GPU machine its figure is not the target's)");
  CLI11_PARSE(app, argc, argv);
  const ghnas::ActivationLayout layout = ghnas::activation_layout_from_name(layout_name);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(config.threads));

  std::printf("benchmark,device,gnn,layout,threads,network_workers,meta_batch,images,train_channels,max_cells,mean_nodes,build_s_per_iter,"
              "step_s_per_iter,reference_s_per_iter,target_s_per_iter,ghn_forward_s,networks_s,ghn_backward_s,"
              "update_s,note\n");
  auto print = [&](const char* device, const char* where, const Row& r, const char* note) {
    std::printf("train_iteration,%s,%s,%s,%d,%d,%d,%lld,%d,%d,%lld,%.3f,%.3f,2.37,0.237,%.3f,%.3f,%.3f,%.3f,%s\n", device,
                where, layout_name.c_str(), config.threads, r.workers, config.meta_batch, static_cast<long long>(config.batch_size), config.train_channels,
                config.max_cells, static_cast<long long>(r.nodes), r.build_s, r.step_s, r.predict_s, r.networks_s,
                r.ghn_backward_s, r.update_s, note);
    std::fflush(stdout);
  };
  if (!cuda_only) {
    config.device = "cpu";
    print("cpu", "host", bench(config, iterations, /*host_gnn=*/true, layout, network_workers), "reference and target are H200 GPU figures; a CPU is not comparable");
  }
  if (!cpu_only && torch::cuda::is_available()) {
    config.device = "cuda";
    for (const std::string where : {"host", "device"})
      if (gnn == "both" || gnn == where)
        print("cuda", where.c_str(), bench(config, iterations, where == "host", layout, network_workers),
              "compare with the reference only on the same GPU (H200)");
  }
  return 0;
}
