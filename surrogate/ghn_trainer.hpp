#pragma once
// Training GHN-2 on an image task (Knyazev et al. 2021, Sec. 4; ppuda train_ghn.py): every
// iteration samples a meta-batch of architectures from a search space, the GHN predicts all
// their parameters, the networks classify one shared batch of training images with those
// parameters, and the cross-entropy averaged over the meta-batch is back-propagated into the
// GHN's weights (Adam, lr 1e-3, weight decay 1e-5, gradient norm clipped at 5, lr x0.1 at the
// milestones).
//
// Reproducible and resumable: the architectures, the images, their augmentation and dropout of
// iteration i are drawn from generators seeded with (seed, i), so a run continued from a
// checkpoint at iteration i sees exactly what an uninterrupted run would have seen, and a
// checkpoint needs no generator state beyond the seed and the iteration.
//
//   GhnTrainConfig cfg;                    // deepnets1m, fashion-mnist, meta-batch 8, 64 images
//   cfg.iterations = 2000;
//   GhnTrainer trainer(cfg, load_fashion_mnist());
//   trainer.run("ghn.ckpt");               // checkpoints every cfg.checkpoint_every iterations
//   // later: GhnTrainer::resume("ghn.ckpt", load_fashion_mnist()).run("ghn.ckpt");

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "evaluators/datasets.hpp"
#include "evaluators/network.hpp"
#include "space/arch_graph.hpp"
#include "space/ghn_graph.hpp"
#include "space/search_space.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/ghn_config.hpp"

namespace ghnas {

/// Everything that fixes a GHN training run. Stored in every checkpoint (to_json) so a resumed
/// run continues with the same settings.
struct GhnTrainConfig {
  std::string space = "deepnets1m";
  /// Options of the space, e.g. {"variant": "id"}.
  SpaceOptions space_options;
  /// Task the networks are built for and trained on ("fashion-mnist", "cifar10").
  std::string task = "fashion-mnist";
  /// The GHN's architecture; num_classes is taken from the task.
  GhnConfig ghn;
  /// Total length of the run in iterations (one meta-batch each).
  std::int64_t iterations = 1000;
  /// Architectures per iteration (the paper's bm = 8).
  int meta_batch = 8;
  /// Training images shared by the meta-batch's networks.
  std::int64_t batch_size = 64;
  /// Adam (Kingma & Ba 2015) as in ppuda: lr 1e-3, L2 weight decay 1e-5 added to the gradient.
  double lr = 1e-3;
  double weight_decay = 1e-5;
  /// Largest gradient norm of the GHN's weights; 0 turns clipping off.
  double grad_clip = 5.0;
  /// Step schedule: the lr is multiplied by lr_gamma at each milestone, given as a fraction of
  /// `iterations` (ppuda: epochs 200 and 250 of 300; here 50% and 75% of the run, so that a
  /// short CPU run spends half its steps at the full rate and still ends at 1e-5).
  std::vector<double> lr_milestones{0.5, 0.75};
  double lr_gamma = 0.1;
  std::uint64_t seed = 0;
  /// Meta-batches whose GHN graphs have more nodes in total are rejected and redrawn (ppuda's
  /// 2200-node limit, which bounds memory); 0: no limit.
  std::int64_t max_meta_nodes = 2200;
  /// Training-time width override for DeepNets-1M nets: every sampled net gets net_args.C =
  /// train_channels (0 keeps the sampled C = 32). Narrower nets run several times faster on a
  /// CPU; the GHN predicts by shape, so it still applies to C = 32 nets (with what loss in
  /// accuracy, results/ghn2_fashion_mnist.md measures).
  int train_channels = 0;
  /// Caps net_args.n_cells of sampled DeepNets-1M nets (0: no cap).
  int max_cells = 0;
  /// Torch intra-op threads.
  int threads = 1;
  /// "cpu", "cuda" or "cuda:N".
  std::string device = "cpu";
  /// Meta-batches built ahead of the trainer.
  int prefetch = 3;
  /// Iterations between checkpoints (0: only at the end).
  std::int64_t checkpoint_every = 100;

  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;
  nlohmann::json to_json() const;
  /// Reads what to_json writes; missing fields keep their defaults.
  static GhnTrainConfig from_json(const nlohmann::json& j);
};

/// The networks of one iteration, ready for the GHN and the executor.
struct MetaBatch {
  std::int64_t iteration = 0;
  std::vector<Architecture> archs;
  std::vector<ArchGraph> graphs;
  std::vector<GhnGraph> ghn_graphs;
  std::vector<std::vector<ParamTensor>> params;  // graphs[b].all_params()
  std::vector<Network> nets;                     // executors of graphs[b] (own weights unused)
  /// Meta-batches that were redrawn because they exceeded max_meta_nodes.
  int redrawn = 0;
  std::int64_t num_nodes() const;
};

/// What one training step did.
struct GhnStepStats {
  double loss = 0.0;      // mean cross-entropy over the meta-batch (NaN/inf when skipped)
  double accuracy = 0.0;  // % of the shared batch classified correctly, over all networks
  double lr = 0.0;
  double grad_norm = 0.0; // before clipping
  bool skipped = false;   // non-finite loss: no update was made
  /// Seconds per phase, measured when GhnTrainer::set_phase_timing is on: the GHN's forward pass,
  /// the networks' forward and backward passes, the GHN's backward pass, clipping and the Adam
  /// step. Zero otherwise.
  double predict_seconds = 0, networks_seconds = 0, ghn_backward_seconds = 0, update_seconds = 0;
};

/// Draws iteration `iteration`'s meta-batch as GhnTrainer does (seeded by the config's seed and
/// the iteration), built for `task`, its executors on `device`. Thread-safe for a const space.
MetaBatch sample_meta_batch(const SearchSpace& space, const Task& task, const GhnTrainConfig& config,
                            std::int64_t iteration, torch::Device device);

class GhnTrainer {
 public:
  /// A fresh run: a GHN initialised from `config.seed`, Adam with zero state, iteration 0.
  GhnTrainer(GhnTrainConfig config, Dataset data);

  /// Continues the run saved in `checkpoint` (GHN weights, Adam state, iteration, config).
  /// `iterations` > 0 changes the run's total length (the lr milestones move with it); a
  /// non-empty `device` and `threads` > 0 replace the stored ones (the other settings are the
  /// run's). Throws FileError for a missing, corrupt or non-training checkpoint.
  static std::unique_ptr<GhnTrainer> resume(const std::string& checkpoint, Dataset data,
                                            std::int64_t iterations = 0, const std::string& device = "",
                                            int threads = 0);

  /// Runs iterations until config().iterations, with meta-batches built ahead by a
  /// MetaBatchPrefetcher, a checkpoint at `out` every checkpoint_every iterations and at the
  /// end, a progress bar on stderr and, when `log_path` is not empty, one JSON line per
  /// iteration appended to it (lines an interrupted run wrote past the checkpoint it resumes
  /// from are dropped first: those steps are taken again). `stop_after` > 0 stops (with a checkpoint) after that many
  /// iterations of this call.
  void run(const std::string& out, const std::string& log_path = "", std::int64_t stop_after = 0);

  /// One optimisation step on `meta` and `batch` (normalised images on any device).
  GhnStepStats train_step(const MetaBatch& meta, const Batch& batch);
  /// Times the phases of each train_step (GhnStepStats). It waits for the device at every phase
  /// boundary, which takes away the overlap of CPU and GPU work: for benchmarks, not training.
  void set_phase_timing(bool on) { phase_timing_ = on; }
  /// How many of a meta-batch's networks run at once, each on its own thread with
  /// threads / workers intra-op threads (0, the default: `threads` workers on a CPU with two or
  /// more threads, else 1). A 64-image pass of a DeepNets-1M net is too small to keep two cores
  /// busy, so on the CPU two networks at once on one core each beat one network on two cores
  /// (results/ghn2_reproduction.md). On a GPU the networks run one after another whatever this
  /// says: autograd runs every CUDA backward op on one thread. The step is the same for every
  /// setting up to float rounding: each network's dropout draws from its own generator.
  void set_network_workers(int workers);
  /// The number of workers train_step uses (the setting resolved for this device and threads).
  int network_workers() const;
  /// Mean cross-entropy of `meta` on `batch` with the current weights, without gradients.
  double meta_batch_loss(const MetaBatch& meta, const Batch& batch);

  /// The shared image batch of iteration `iteration`: epoch-wise shuffled, augmented.
  Batch image_batch(std::int64_t iteration) const;
  /// The learning rate at `iteration` under the step schedule.
  double lr_at(std::int64_t iteration) const;

  /// Writes the checkpoint (see checkpoint.hpp; the training state is in its info and in a
  /// side file `out`.adam-<iteration>, both replaced atomically).
  void save(const std::string& out);

  Ghn& ghn() { return ghn_; }
  const GhnTrainConfig& config() const { return config_; }
  const SearchSpace& space() const { return *space_; }
  const Task& task() const { return task_; }
  torch::Device device() const { return device_; }
  std::int64_t iteration() const { return iteration_; }
  /// Iterations skipped for a non-finite loss since the run began.
  std::int64_t skipped() const { return skipped_; }
  /// Seconds spent in run() across all sessions of this run.
  double wall_seconds() const { return wall_seconds_; }

 private:
  void set_lr(double lr);

  GhnTrainConfig config_;
  Dataset data_;
  Task task_;
  torch::Device device_;
  std::unique_ptr<SearchSpace> space_;
  Ghn ghn_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::int64_t iteration_ = 0;
  std::int64_t skipped_ = 0;
  double wall_seconds_ = 0.0;
  bool phase_timing_ = false;
  int network_workers_ = 0;  // 0: automatic
  std::string last_state_file_;
  // Cache of the current epoch's image order.
  mutable std::int64_t order_epoch_ = -1;
  mutable std::vector<std::int64_t> order_;
};

/// Reads a training checkpoint's "training" info (config, iteration, ...); null json when the
/// checkpoint holds no training state (an imported GHN).
nlohmann::json read_training_info(const std::string& checkpoint);

/// Loads `name` for training: "fashion-mnist" (the Debian package) or "cifar10" (`data_dir`).
Dataset load_task_dataset(const std::string& task, const std::string& data_dir = "");

}  // namespace ghnas
