// How the Fashion-MNIST test-noise level changes what noisy_acc measures: trains a set of
// DeepNets-1M nets once (short SGD on a training subset), then evaluates each on the same test
// images at several noise levels. Prints per-net CSV, then per sigma the mean accuracy drop and
// Kendall's tau-b between clean and noisy accuracies (tau = 1: noisy adds no information).
//
//   OMP_WAIT_POLICY=passive ghnas_noise_sigma_study [--nets 10] [--train-size 12000] [--test-size 5000]

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "core/json_io.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/datasets.hpp"
#include "evaluators/sgd_trainer.hpp"
#include "space/deepnets1m.hpp"

namespace {

// Kendall's tau-b (Kendall 1945): concordant minus discordant pairs over the tie-corrected count.
double kendall_tau_b(const std::vector<double>& a, const std::vector<double>& b) {
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) ++ties_a;
      else if (db == 0) ++ties_b;
      else if ((da > 0) == (db > 0)) ++concordant;
      else ++discordant;
    }
  const double n1 = concordant + discordant + ties_a, n2 = concordant + discordant + ties_b;
  return (n1 > 0 && n2 > 0) ? (concordant - discordant) / std::sqrt(n1 * n2) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ghnas;
  CLI::App app{"Fashion-MNIST noise-sigma study for noisy_acc"};
  int nets = 10;
  std::int64_t train_size = 12000, test_size = 5000;
  std::vector<double> sigmas = {0.05, 0.1, 0.15, 0.2, 0.3, 0.4};
  app.add_option("--nets", nets, "the cheapest N nets (by FLOPs) of deepnets1m/test.json")->capture_default_str();
  app.add_option("--train-size", train_size, "training images (1 epoch)")->capture_default_str();
  app.add_option("--test-size", test_size, "test images evaluated")->capture_default_str();
  app.add_option("--sigmas", sigmas, "noise levels on [0, 1] pixels")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    configure_cpu_runtime(2);
    const Task task = task_by_name("fashion-mnist");
    Dataset data = load_fashion_mnist();
    data.train = data.train.head(train_size);
    data.test = data.test.head(test_size);
    const nlohmann::json doc = read_json_file(std::string(GHNAS_SHARED_DIR) + "/deepnets1m/test.json");
    std::vector<std::pair<double, int>> by_flops;
    for (std::size_t i = 0; i < doc.size(); ++i)
      by_flops.emplace_back(build_deepnets_graph(parse_deepnets_arch(doc[i]), task).flops(), static_cast<int>(i));
    std::sort(by_flops.begin(), by_flops.end());

    std::cout << "net,flops,clean";
    for (double s : sigmas) std::cout << ",sigma_" << s;
    std::cout << "\n";
    std::vector<double> clean;
    std::vector<std::vector<double>> noisy(sigmas.size());
    SgdConfig config;
    config.progress = false;
    config.evaluate_val = false;
    config.latency_runs = 1;
    config.latency_warmup = 0;
    for (int k = 0; k < nets && k < static_cast<int>(by_flops.size()); ++k) {
      const int index = by_flops[k].second;
      const ArchGraph g = build_deepnets_graph(parse_deepnets_arch(doc[index]), task);
      // Train once, then evaluate the trained network at every sigma on the same test images.
      config.noise_sigma = sigmas[0];
      Network trained{nullptr};
      const TrainResult r = train_and_evaluate(g, data, config, &trained);
      if (r.status != "ok") {
        std::cout << "test[" << index << "]," << r.flops << ",diverged\n";
        continue;
      }
      std::vector<double> row;
      for (double sigma : sigmas)
        row.push_back(evaluate_accuracy(*trained, data.test, data.info, config.eval_batch_size, sigma, torch::kCPU));
      clean.push_back(r.clean_acc);
      std::cout << "test[" << index << "]," << r.flops << "," << r.clean_acc;
      for (std::size_t s = 0; s < sigmas.size(); ++s) {
        noisy[s].push_back(row[s]);
        std::cout << "," << row[s];
      }
      std::cout << std::endl;
    }
    std::cout << "\nsigma,mean_drop,kendall_tau_b_clean_vs_noisy\n";
    for (std::size_t s = 0; s < sigmas.size(); ++s) {
      double drop = 0;
      for (std::size_t i = 0; i < clean.size(); ++i) drop += clean[i] - noisy[s][i];
      std::printf("%.2f,%.2f,%.3f\n", sigmas[s], drop / std::max<std::size_t>(1, clean.size()),
                  kendall_tau_b(clean, noisy[s]));
    }
  } catch (const std::exception& e) {
    std::cerr << "ghnas_noise_sigma_study: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
