// SGD ground truth: the convergence measure, divergence as data, learning on synthetic data,
// and (the one slow test) a small CNN reaching > 80% on Fashion-MNIST in one epoch.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "tests/evaluators/tiny_graphs.hpp"

namespace ghnas {
namespace {

SgdConfig quiet_config() {
  SgdConfig c;
  c.progress = false;
  c.latency_runs = 3;
  c.latency_warmup = 1;
  c.eval_batch_size = 100;
  return c;
}

TEST(Convergence, FirstStepFromWhichTheSmoothedLossStaysBelow) {
  // 100 steps, smoothing window max(5, 2) = 5. Loss 2.0 for 40 steps, then 0.5: the trailing
  // mean is (2 * 2 + 3 * 0.5) / 5 = 1.1 at step index 42 and 0.8 at 43, so with threshold 1
  // the loss is held below from the 44th step on.
  std::vector<float> losses(100, 0.5f);
  for (int t = 0; t < 40; ++t) losses[t] = 2.0f;
  EXPECT_DOUBLE_EQ(convergence_fraction(losses, 1.0), 0.44);
  // A spike at index 80 lifts the trailing mean above 1 for indices 80..84.
  losses[80] = 10.0f;
  EXPECT_DOUBLE_EQ(convergence_fraction(losses, 1.0), 0.86);
  // Never below: the whole budget.
  EXPECT_DOUBLE_EQ(convergence_fraction(std::vector<float>(50, 3.0f), 1.0), 1.0);
  // Below from the first step.
  EXPECT_DOUBLE_EQ(convergence_fraction(std::vector<float>(50, 0.1f), 1.0), 1.0 / 50);
  // The window grows with the budget: 2% of 1,000 steps is 20.
  std::vector<float> long_run(1000, 0.0f);
  for (int t = 0; t < 500; ++t) long_run[t] = 2.0f;
  // Mean of the last 20 is below 1 once more than 10 of them are 0: from index 510 on.
  EXPECT_DOUBLE_EQ(convergence_fraction(long_run, 1.0), 0.511);
}

TEST(SgdTrainer, LearnsTheSyntheticTaskAndIsDeterministic) {
  configure_cpu_runtime(2);
  const Task task = task_by_name("fashion-mnist");
  const Dataset data = make_synthetic_dataset(fashion_mnist_info(), 640, 100, 200, /*seed=*/2);
  const ArchGraph g = test::small_cnn(task);
  SgdConfig config = quiet_config();
  config.batch_size = 32;
  config.epochs = 2;
  const TrainResult a = train_and_evaluate(g, data, config);
  EXPECT_EQ(a.status, "ok");
  EXPECT_EQ(a.steps, 40);
  EXPECT_GT(a.clean_acc, 80.0);
  EXPECT_GT(a.val_acc, 80.0);
  EXPECT_LE(a.noisy_acc, 100.0);
  EXPECT_GT(a.latency_ms, 0.0);
  EXPECT_GT(a.convergence, 0.0);
  EXPECT_LE(a.convergence, 1.0);
  EXPECT_EQ(a.params, g.num_params());
  EXPECT_DOUBLE_EQ(a.flops, g.flops());
  EXPECT_LT(a.losses.back(), a.losses.front());

  const TrainResult b = train_and_evaluate(g, data, config);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_DOUBLE_EQ(a.clean_acc, b.clean_acc);
  EXPECT_DOUBLE_EQ(a.noisy_acc, b.noisy_acc);

  config.seed = 1;
  EXPECT_NE(train_and_evaluate(g, data, config).losses, a.losses);

  const nlohmann::json j = a.to_json();
  for (const char* f : {"clean_acc", "noisy_acc", "latency_ms", "convergence", "params", "flops",
                        "train_seconds", "status"})
    EXPECT_TRUE(j.contains(f)) << f;
}

TEST(SgdTrainer, DivergenceIsAResultNotAnException) {
  // No normalisation and an absurd learning rate: the logits overflow within a few steps.
  const Task task = task_by_name("fashion-mnist");
  test::GraphBuilder b(task);
  auto x = b.conv(b.input(), "conv", 8, 3, 1, 1, /*bias=*/true);
  x = b.unary(OpKind::kReLU, x);
  x = b.linear(b.flatten(x), "fc", 10);
  const ArchGraph g = b.finish(x);
  const Dataset data = make_synthetic_dataset(fashion_mnist_info(), 640, 0, 100, 3);
  SgdConfig config = quiet_config();
  config.lr = 1e12;
  config.grad_clip = 0;
  config.batch_size = 32;
  config.epochs = 3;
  const TrainResult r = train_and_evaluate(g, data, config);
  EXPECT_EQ(r.status, "diverged");
  EXPECT_GT(r.diverged_step, 0);
  EXPECT_LT(r.steps, 60);
  EXPECT_TRUE(std::isnan(r.clean_acc));
  EXPECT_TRUE(r.to_json()["clean_acc"].is_null());
  EXPECT_EQ(r.to_json()["params"], g.num_params());
}

TEST(SgdTrainer, BadConfigurationIsRejected) {
  const Dataset data = make_synthetic_dataset(cifar10_info(), 64, 0, 10, 3);
  const ArchGraph fashion_net = test::small_cnn(task_by_name("fashion-mnist"));
  const ArchGraph cifar_net = test::small_cnn(task_by_name("cifar10"));
  SgdConfig config = quiet_config();
  EXPECT_THROW(train_and_evaluate(fashion_net, data, config), ConfigError);  // 1x28x28 vs 3x32x32
  config.batch_size = 1000;
  EXPECT_THROW(train_and_evaluate(cifar_net, data, config), ConfigError);
  config.batch_size = 16;
  config.device = "tpu";
  EXPECT_THROW(train_and_evaluate(cifar_net, data, config), ConfigError);
}

TEST(SgdTrainer, SmallCnnReachesEightyPercentOnFashionMnistInOneEpoch) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset data = load_fashion_mnist();
  SgdConfig config = quiet_config();  // defaults: 1 epoch, batch 128, lr 0.05, 2 threads
  config.evaluate_val = false;
  const TrainResult r = train_and_evaluate(test::small_cnn(task_by_name("fashion-mnist")), data, config);
  EXPECT_EQ(r.status, "ok");
  EXPECT_EQ(r.steps, 55000 / 128);
  EXPECT_GT(r.clean_acc, 80.0);
  EXPECT_LT(r.noisy_acc, r.clean_acc);
  EXPECT_LT(r.convergence, 1.0);
  std::cerr << "small CNN, 1 epoch: " << r.to_json().dump() << "\n";
}

}  // namespace
}  // namespace ghnas
