// Training throughput (images/s) of the executor against a hand-written torch::nn::Module of
// the same network, in the same process, with the same parameters, data and optimiser.
// One warm-up run, then N timed runs of K SGD steps per implementation, alternating which goes
// first; prints CSV with the median images/s of each and the median of the per-run ratios
// executor / hand-written (DuckDB's benchmark runner style). Per-run numbers go to stderr.
// The hand-written modules run channels-first (NCHW) as written; --layout sets the executor's
// (ActivationLayout): channels-first measures what the executor itself costs, the default
// (auto: channels-last on a CPU) what a user of ghnas gets.
//
//   OMP_WAIT_POLICY=passive ghnas_executor_bench [--runs 5] [--steps 4] [--batch 64] [--threads 2]
//       [--deepnets 31 44 46] [--task fashion-mnist] [--device cpu|cuda] [--default-malloc]
//       [--layout auto|channels-first|channels-last]

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include <torch/cuda.h>

#include "benchmarks/evaluators/handwritten_nets.hpp"
#include "core/json_io.hpp"
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/network.hpp"

namespace {

using namespace ghnas;

struct Candidate {
  std::string label;
  ArchGraph graph;
  std::shared_ptr<torch::nn::Module> handwritten;
  std::function<torch::Tensor(const torch::Tensor&)> handwritten_forward;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Images per second of `steps` SGD steps on the same batch.
double time_steps(const std::function<torch::Tensor(const torch::Tensor&)>& forward, torch::optim::SGD& optimizer,
                  const torch::Tensor& images, const torch::Tensor& labels, int steps) {
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(forward(images), labels).backward();
    optimizer.step();
  }
  if (images.is_cuda()) torch::cuda::synchronize();  // kernels are queued, not done
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return steps * images.size(0) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training throughput: executor vs hand-written torch::nn::Module"};
  int runs = 5, steps = 4, batch = 64, threads = 2;
  std::string task_name = "fashion-mnist", device_name = "cpu";
  std::vector<int> deepnets = {31, 44, 46};
  app.add_option("--runs", runs, "timed runs per implementation")->capture_default_str();
  app.add_option("--steps", steps, "SGD steps per run")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--threads", threads, "torch threads")->capture_default_str();
  app.add_option("--task", task_name, "fashion-mnist or cifar10")->capture_default_str();
  app.add_option("--deepnets", deepnets, "indices into deepnets1m/test.json")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda")->capture_default_str();
  std::string layout_name = "auto";
  app.add_option("--layout", layout_name, "the executor's activation layout (hand-written modules stay NCHW)")
      ->check(CLI::IsMember({"auto", "channels-first", "channels-last"}))
      ->capture_default_str();
  bool default_malloc = false;
  app.add_flag("--default-malloc", default_malloc,
               "leave glibc's allocator as it is (only set the threads), to measure what "
               "configure_cpu_runtime's allocator settings are worth");
  CLI11_PARSE(app, argc, argv);

  try {
    if (default_malloc)
      torch::set_num_threads(threads);
    else
      configure_cpu_runtime(threads);
    const Task task = task_by_name(task_name);
    const torch::Device device(device_name);
    const nlohmann::json test_nets = read_json_file(std::string(GHNAS_SHARED_DIR) + "/deepnets1m/test.json");
    std::vector<Candidate> candidates;
    for (int index : deepnets) {
      const DeepNetsArch arch = parse_deepnets_arch(test_nets.at(index));
      bench::DeepNetsNetwork net(arch, task);
      candidates.push_back({"deepnets1m test[" + std::to_string(index) + "]", build_deepnets_graph(arch, task),
                            net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); }});
    }
    const std::string resnet_cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
    const Nb201Cell cell = parse_nb201_arch(resnet_cell);
    bench::Nb201Network nb(cell, task);
    candidates.push_back({"nasbench201 resnet cell", build_nb201_graph(cell, task), nb.ptr(),
                          [nb](const torch::Tensor& x) mutable { return nb->forward(x); }});

    const ActivationLayout layout = activation_layout_from_name(layout_name);
    std::cout << "net,layout,params,flops,max_abs_logit_diff,executor_img_s,handwritten_img_s,paired_ratio\n";
    for (auto& c : candidates) {
      Network executor(c.graph, device, /*seed=*/0);
      executor->set_activation_layout(layout);
      c.handwritten->to(device);
      std::vector<std::pair<std::string, torch::Tensor>> params;
      for (const auto& p : executor->named_parameters()) params.emplace_back(p.key(), p.value().detach());
      bench::load_parameters(*c.handwritten, params);

      torch::manual_seed(1);
      const torch::Tensor images = torch::randn({batch, task.channels, task.height, task.width}).to(device);
      const torch::Tensor labels = torch::randint(task.classes, {batch}, torch::kInt64).to(device);
      double diff = 0;
      {
        // Same function: evaluation mode (no dropout), batch statistics in both.
        torch::NoGradGuard no_grad;
        executor->eval();
        c.handwritten->eval();
        diff = (executor->forward(images) - c.handwritten_forward(images)).abs().max().item<double>();
        executor->train();
        c.handwritten->train();
      }
      const auto sgd = torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(3e-4);
      torch::optim::SGD exec_opt(executor->parameters(), sgd), hand_opt(c.handwritten->parameters(), sgd);
      auto exec_forward = [&](const torch::Tensor& x) { return executor->forward(x); };
      time_steps(exec_forward, exec_opt, images, labels, steps);  // warm-up
      time_steps(c.handwritten_forward, hand_opt, images, labels, steps);
      std::vector<double> exec_rates, hand_rates;
      for (int r = 0; r < runs; ++r) {
        if (r % 2 == 0) {
          exec_rates.push_back(time_steps(exec_forward, exec_opt, images, labels, steps));
          hand_rates.push_back(time_steps(c.handwritten_forward, hand_opt, images, labels, steps));
        } else {
          hand_rates.push_back(time_steps(c.handwritten_forward, hand_opt, images, labels, steps));
          exec_rates.push_back(time_steps(exec_forward, exec_opt, images, labels, steps));
        }
      }
      std::cerr << c.label << " runs (images/s), executor:";
      for (double r : exec_rates) std::cerr << " " << static_cast<int>(r);
      std::cerr << "; hand-written:";
      for (double r : hand_rates) std::cerr << " " << static_cast<int>(r);
      std::cerr << "\n";
      // Other work on the machine drifts over seconds; each executor run sits next to a
      // hand-written one, so the median of the paired ratios is what compares them.
      std::vector<double> ratios;
      for (std::size_t r = 0; r < exec_rates.size(); ++r) ratios.push_back(exec_rates[r] / hand_rates[r]);
      const double e = median(exec_rates), h = median(hand_rates);
      char line[256];
      std::snprintf(line, sizeof(line), "%s,%s,%lld,%.0f,%.2g,%.1f,%.1f,%.3f\n", c.label.c_str(), layout_name.c_str(),
                    static_cast<long long>(c.graph.num_params()), c.graph.flops(), diff, e, h, median(ratios));
      std::cout << line << std::flush;
    }
  } catch (const std::exception& e) {
    std::cerr << "ghnas_executor_bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
