// GHN-2 training: the loss of a fixed meta-batch comes down, gradients reach the GHN's weights, a
// resumed run takes exactly the step an uninterrupted run takes, a non-finite batch is skipped
// and counted, meta-batches arrive in order, and train-ghn / eval-ghn behave as a user runs them.
// Networks are DeepNets-1M nets narrowed to C = 8 and at most 3 cells, on synthetic 28x28 data.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "evaluators/datasets.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/ghn_trainer.hpp"
#include "surrogate/meta_batch_prefetcher.hpp"
#include "tests/test_util.hpp"

namespace ghnas {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + std::to_string(getpid()) + "_" + name;
}

GhnTrainConfig small_config() {
  GhnTrainConfig c;
  c.meta_batch = 2;
  c.batch_size = 16;
  c.train_channels = 8;
  c.max_cells = 3;
  c.iterations = 20;
  c.threads = 2;
  c.seed = 3;
  c.checkpoint_every = 0;
  return c;
}

Dataset small_data() {
  return make_synthetic_dataset(fashion_mnist_info(), /*train_size=*/64, /*val_size=*/0, /*test_size=*/0, /*seed=*/1);
}

std::vector<torch::Tensor> weights_of(Ghn& ghn) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ghn->parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

TEST(GhnTrainer, LossOfAFixedMetaBatchComesDown) {
  GhnTrainer trainer(small_config(), small_data());
  const MetaBatch meta = sample_meta_batch(trainer.space(), trainer.task(), trainer.config(), 0, trainer.device());
  ASSERT_EQ(meta.nets.size(), 2u);
  const Batch batch = trainer.image_batch(0);
  const double before = trainer.meta_batch_loss(meta, batch);
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(trainer.train_step(meta, batch).skipped);
  const double after = trainer.meta_batch_loss(meta, batch);
  EXPECT_LT(after, before - 0.05) << "before " << before << ", after " << after;
}

TEST(GhnTrainer, GradientsReachTheGhnWeights) {
  GhnTrainer trainer(small_config(), small_data());
  const auto w0 = weights_of(trainer.ghn());
  const MetaBatch meta = sample_meta_batch(trainer.space(), trainer.task(), trainer.config(), 0, trainer.device());
  const GhnStepStats s = trainer.train_step(meta, trainer.image_batch(0));
  ASSERT_FALSE(s.skipped);
  EXPECT_GT(s.grad_norm, 0.0);
  EXPECT_TRUE(std::isfinite(s.loss));
  // The op embedding, the GNN and the decoder all received gradient and moved.
  for (const std::string prefix : {"embed.", "gnn.", "decoder.", "shape_enc."}) {
    double grad = 0.0;
    for (const auto& p : trainer.ghn()->named_parameters())
      if (p.key().rfind(prefix, 0) == 0 && p.value().grad().defined()) grad += p.value().grad().abs().sum().item<double>();
    EXPECT_GT(grad, 0.0) << prefix;
  }
  EXPECT_GT(max_difference(w0, weights_of(trainer.ghn())), 0.0);
}

TEST(GhnTrainer, ResumeTakesTheSameNextStep) {
  const std::string first = temp_path("resume_a.ckpt"), second = temp_path("resume_b.ckpt"),
                    third = temp_path("resume_c.ckpt");
  GhnTrainer uninterrupted(small_config(), small_data());
  uninterrupted.run(first, "", /*stop_after=*/2);
  ASSERT_EQ(uninterrupted.iteration(), 2);
  ASSERT_TRUE(std::filesystem::exists(first + ".adam-2"));

  auto resumed = GhnTrainer::resume(first, small_data());
  EXPECT_EQ(resumed->iteration(), 2);
  EXPECT_EQ(resumed->config().to_json(), uninterrupted.config().to_json());
  EXPECT_EQ(max_difference(weights_of(resumed->ghn()), weights_of(uninterrupted.ghn())), 0.0);

  uninterrupted.run(second, "", 2);
  resumed->run(third, "", 2);
  EXPECT_EQ(resumed->iteration(), 4);
  EXPECT_LE(max_difference(weights_of(resumed->ghn()), weights_of(uninterrupted.ghn())), 1e-6);
  // Saving elsewhere leaves the first checkpoint resumable.
  EXPECT_TRUE(std::filesystem::exists(first + ".adam-2"));
  EXPECT_TRUE(std::filesystem::exists(third + ".adam-4"));
  const nlohmann::json info = read_training_info(third);
  EXPECT_EQ(info.at("iteration"), 4);
  for (const auto& p : {first, second, third}) {
    std::filesystem::remove(p);
    for (int i : {2, 4}) std::filesystem::remove(p + ".adam-" + std::to_string(i));
  }
}

// The GHN's gradient after one step, flattened.
torch::Tensor gradient_of(Ghn& ghn) {
  std::vector<torch::Tensor> parts;
  for (const auto& p : ghn->parameters())
    parts.push_back(p.grad().defined() ? p.grad().flatten() : torch::zeros({p.numel()}));
  return torch::cat(parts);
}

TEST(GhnTrainer, NetworksRunAtOnceTakeTheSameStep) {
  GhnTrainConfig c = small_config();
  c.meta_batch = 4;
  GhnTrainer one(c, small_data()), two(c, small_data());
  one.set_network_workers(1);
  two.set_network_workers(2);
  ASSERT_EQ(one.network_workers(), 1);
  ASSERT_EQ(two.network_workers(), 2);
  EXPECT_THROW(one.set_network_workers(-1), ConfigError);
  // A meta-batch with a dropout classifier: its masks must not depend on which thread draws first.
  std::int64_t it = 0;
  auto has_dropout = [](const MetaBatch& m) {
    for (const auto& g : m.graphs)
      for (std::size_t v = 0; v < g.num_nodes(); ++v)
        if (g.node(v).kind == OpKind::kDropout) return true;
    return false;
  };
  MetaBatch meta = sample_meta_batch(one.space(), one.task(), c, it, one.device());
  while (!has_dropout(meta) && it < 60) meta = sample_meta_batch(one.space(), one.task(), c, ++it, one.device());
  ASSERT_TRUE(has_dropout(meta)) << "no meta-batch with dropout in 60 draws";
  const Batch batch = one.image_batch(it);
  const GhnStepStats a = one.train_step(meta, batch);
  const GhnStepStats b = two.train_step(meta, batch);
  ASSERT_FALSE(a.skipped);
  ASSERT_FALSE(b.skipped);
  // One and two intra-op threads round differently; nothing else may differ.
  EXPECT_NEAR(a.loss, b.loss, 1e-5 * a.loss);
  EXPECT_NEAR(a.accuracy, b.accuracy, 1e-9);
  const torch::Tensor ga = gradient_of(one.ghn()), gb = gradient_of(two.ghn());
  EXPECT_GT(ga.norm().item<double>(), 0.0);
  EXPECT_LT((ga - gb).norm().item<double>(), 1e-4 * ga.norm().item<double>());
  // A second concurrent trainer takes the same step to the bit, whichever thread ran which net.
  GhnTrainer again(c, small_data());
  again.set_network_workers(2);
  EXPECT_EQ(again.train_step(meta, batch).loss, b.loss);
  EXPECT_TRUE(torch::equal(gradient_of(again.ghn()), gb));
}

TEST(GhnTrainer, NonFiniteBatchIsSkippedAndCounted) {
  GhnTrainer trainer(small_config(), small_data());
  const MetaBatch meta = sample_meta_batch(trainer.space(), trainer.task(), trainer.config(), 0, trainer.device());
  Batch batch = trainer.image_batch(0);
  batch.images = torch::full_like(batch.images, std::numeric_limits<float>::quiet_NaN());
  const auto w0 = weights_of(trainer.ghn());
  const GhnStepStats s = trainer.train_step(meta, batch);
  EXPECT_TRUE(s.skipped);
  EXPECT_FALSE(std::isfinite(s.loss));
  EXPECT_EQ(trainer.skipped(), 1);
  EXPECT_EQ(max_difference(w0, weights_of(trainer.ghn())), 0.0);
  // The next, finite batch trains as usual.
  EXPECT_FALSE(trainer.train_step(meta, trainer.image_batch(0)).skipped);
  EXPECT_EQ(trainer.skipped(), 1);
}

TEST(GhnTrainer, ScheduleAndSamplingAreReproducible) {
  GhnTrainConfig c = small_config();
  c.iterations = 100;
  GhnTrainer trainer(c, small_data());
  EXPECT_DOUBLE_EQ(trainer.lr_at(0), 1e-3);
  EXPECT_DOUBLE_EQ(trainer.lr_at(49), 1e-3);
  EXPECT_NEAR(trainer.lr_at(50), 1e-4, 1e-12);
  EXPECT_NEAR(trainer.lr_at(75), 1e-5, 1e-12);
  const MetaBatch a = sample_meta_batch(trainer.space(), trainer.task(), c, 7, trainer.device());
  const MetaBatch b = sample_meta_batch(trainer.space(), trainer.task(), c, 7, trainer.device());
  const MetaBatch other = sample_meta_batch(trainer.space(), trainer.task(), c, 8, trainer.device());
  EXPECT_EQ(a.archs[0].spec, b.archs[0].spec);
  EXPECT_NE(a.archs[0].spec.dump() + a.archs[1].spec.dump(), other.archs[0].spec.dump() + other.archs[1].spec.dump());
  EXPECT_EQ(a.archs[0].spec.at("net_args").at("C"), 8);
  EXPECT_LE(a.archs[0].spec.at("net_args").at("n_cells").get<int>(), 3);
  EXPECT_TRUE(torch::equal(trainer.image_batch(5).images, trainer.image_batch(5).images));
  EXPECT_FALSE(torch::equal(trainer.image_batch(5).images, trainer.image_batch(6).images));
}

TEST(GhnTrainer, ResumeRejectsAnImportedGhn) {
  const std::string path = temp_path("plain.ckpt");
  Ghn ghn(GhnConfig{});
  save_ghn(ghn, path);
  EXPECT_THROW(GhnTrainer::resume(path, small_data()), FileError);
  std::filesystem::remove(path);
}

TEST(MetaBatchPrefetcher, DeliversInOrderAndRethrows) {
  std::atomic<int> built{0};
  {
    MetaBatchPrefetcher p(
        [&](std::int64_t i) {
          ++built;
          if (i == 13) throw ArchError("broken 13");
          MetaBatch m;
          m.iteration = i;
          return m;
        },
        10, 15, 2);
    for (std::int64_t i = 10; i < 13; ++i) EXPECT_EQ(p.next().iteration, i);
    EXPECT_THROW(p.next(), ArchError);
  }
  EXPECT_LE(built.load(), 5);
  MetaBatchPrefetcher done([](std::int64_t i) { MetaBatch m; m.iteration = i; return m; }, 0, 1, 1);
  EXPECT_EQ(done.next().iteration, 0);
  EXPECT_THROW(done.next(), Error);
}

// ---- the commands

test::CmdResult run_ghnas(const std::string& args) {
  return test::run_command("OMP_WAIT_POLICY=passive " + std::string(GHNAS_BINARY) + " " + args);
}

bool have_fashion_mnist() { return std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"); }

TEST(GhnTrainerCli, TrainResumeAndEvaluate) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST is not installed (package dataset-fashion-mnist)";
  const std::string ckpt = temp_path("cli.ckpt"), log = temp_path("cli.jsonl");
  const std::string train = "train-ghn --space deepnets1m --task fashion-mnist --out " + ckpt +
                            " --iterations 2 --meta-batch 2 --batch-size 16 --train-channels 8 --max-cells 3 "
                            "--log " + log;
  auto r = run_ghnas(train + " --threads 2 --stop-after 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_training_info(ckpt).at("iteration"), 1);
  EXPECT_EQ(read_training_info(ckpt).at("config").at("threads"), 2);
  // A run killed after logging a step it never checkpointed (and mid-way through the next line):
  // resuming takes that step again, and the log keeps one line per iteration.
  std::ofstream(log, std::ios::app) << R"({"iteration":2,"loss":9.0})" << "\n" << R"({"iterat)";
  // The resumed run keeps its stored settings, except those the command line names.
  r = run_ghnas(train + " --resume --threads 1 --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming"), std::string::npos) << r.err;
  EXPECT_EQ(read_training_info(ckpt).at("iteration"), 2);
  EXPECT_EQ(read_training_info(ckpt).at("config").at("threads"), 1);
  std::ifstream log_in(log);
  int lines = 0;
  for (std::string line; std::getline(log_in, line);) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("iteration"), ++lines);
    EXPECT_TRUE(j.at("loss").is_number());
    EXPECT_NE(j.at("loss"), 9.0);
  }
  EXPECT_EQ(lines, 2);

  const std::string archs = test::shared_dir() + "/deepnets1m/test.json";
  for (const std::string extra : {"--checkpoint " + ckpt, std::string("--baseline random")}) {
    r = run_ghnas("eval-ghn " + extra + " --space deepnets1m --task fashion-mnist --archs " + archs +
                  " --limit 2 --test-images 64 --threads 2");
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream out(r.out);
    std::vector<nlohmann::json> rows;
    for (std::string line; std::getline(out, line);) rows.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(rows.size(), 3u) << r.out;
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(rows[i].at("index"), i);
      EXPECT_GE(rows[i].at("acc").get<double>(), 0.0);
      EXPECT_LE(rows[i].at("acc").get<double>(), 100.0);
      EXPECT_GT(rows[i].at("params").get<std::int64_t>(), 0);
    }
    EXPECT_EQ(rows[2].at("n"), 2);
    EXPECT_NEAR(rows[2].at("mean").get<double>(),
                (rows[0].at("acc").get<double>() + rows[1].at("acc").get<double>()) / 2, 1e-9);
  }
  std::filesystem::remove(ckpt);
  std::filesystem::remove(ckpt + ".adam-2");
  std::filesystem::remove(log);
}

TEST(GhnTrainerCli, BadCheckpointIsOneClearError) {
  const std::string bad = temp_path("not_a.ckpt");
  std::ofstream(bad) << "hello, I am not a checkpoint\n";
  const auto r = run_ghnas("eval-ghn --checkpoint " + bad + " --space deepnets1m --task fashion-mnist --archs " +
                           test::shared_dir() + "/deepnets1m/test.json --limit 1 --test-images 64");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace ghnas
