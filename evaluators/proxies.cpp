#include "evaluators/proxies.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace ghnas {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Leaf copies of the network's parameters (the network's own tensors stay untouched), as `dtype`.
std::vector<torch::Tensor> leaf_copies(const NetworkImpl& net, torch::Dtype dtype, bool absolute) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : net.ordered_parameters()) {
    torch::Tensor c = p.detach().to(dtype);
    copies.push_back((absolute ? c.abs() : c.clone()).requires_grad_(true));
  }
  return copies;
}

// Gradients of the cross-entropy of the batch with respect to the conv/linear weights.
std::vector<std::pair<torch::Tensor, torch::Tensor>> weight_gradients(NetworkImpl& net, const torch::Tensor& images,
                                                                      const torch::Tensor& labels) {
  std::vector<torch::Tensor> params = leaf_copies(net, torch::kFloat32, /*absolute=*/false);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(net.forward_ordered(images, params), labels);
  std::vector<torch::Tensor> weights;
  for (std::size_t i : net.layer_weight_indices()) weights.push_back(params[i]);
  const auto grads = torch::autograd::grad({loss}, weights, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                           /*create_graph=*/false, /*allow_unused=*/true);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  for (std::size_t k = 0; k < weights.size(); ++k)
    out.emplace_back(weights[k].detach(), grads[k].defined() ? grads[k] : torch::zeros_like(weights[k]));
  return out;
}

// Evaluation mode (no dropout) for the duration of a proxy.
class EvalScope {
 public:
  explicit EvalScope(NetworkImpl& net) : net_(net), was_training_(net.is_training()) { net_.eval(); }
  ~EvalScope() { net_.train(was_training_); }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  NetworkImpl& net_;
  bool was_training_;
};

}  // namespace

double synflow(NetworkImpl& net) {
  EvalScope eval(net);
  struct Bypass {
    NetworkImpl& net;
    ~Bypass() { net.set_bypass_batch_norm(false); }
  } bypass{net};
  net.set_bypass_batch_norm(true);
  std::vector<torch::Tensor> params = leaf_copies(net, torch::kFloat64, /*absolute=*/true);
  const Task& task = net.task();
  const torch::Tensor ones = torch::ones({1, task.channels, task.height, task.width}, torch::kFloat64)
                                 .to(net.device());
  const torch::Tensor r = net.forward_ordered(ones, params).sum();
  std::vector<torch::Tensor> weights;
  for (std::size_t i : net.layer_weight_indices()) weights.push_back(params[i]);
  const auto grads = torch::autograd::grad({r}, weights, {}, false, false, /*allow_unused=*/true);
  double score = 0;
  for (std::size_t k = 0; k < weights.size(); ++k)
    if (grads[k].defined()) score += (weights[k].detach() * grads[k]).abs().sum().item<double>();
  return std::isfinite(score) ? score : kNaN;
}

double naswot(NetworkImpl& net, const torch::Tensor& images) {
  EvalScope eval(net);
  torch::NoGradGuard no_grad;
  const std::int64_t n = images.size(0);
  // K = sum over ReLU layers of c c^T + (1 - c)(1 - c)^T: units where two codes agree.
  torch::Tensor k = torch::zeros({n, n}, torch::kFloat64);
  net.set_observer([&](const NetworkStep& step, const torch::Tensor& out) {
    if (step.op.kind != OpKind::kReLU) return;
    const torch::Tensor c = (out > 0).flatten(1).to(torch::kFloat64).cpu();
    k += torch::matmul(c, c.t()) + torch::matmul(1 - c, (1 - c).t());
  });
  try {
    net.forward(images);
  } catch (...) {
    net.set_observer(nullptr);
    throw;
  }
  net.set_observer(nullptr);
  const auto [sign, logabsdet] = at::linalg_slogdet(k);
  const double value = logabsdet.item<double>();
  return std::isfinite(value) ? value : kNaN;
}

double snip(NetworkImpl& net, const torch::Tensor& images, const torch::Tensor& labels) {
  EvalScope eval(net);
  double score = 0;
  for (const auto& [w, g] : weight_gradients(net, images, labels)) score += (w * g).abs().sum().item<double>();
  return score;
}

double grad_norm(NetworkImpl& net, const torch::Tensor& images, const torch::Tensor& labels) {
  EvalScope eval(net);
  double score = 0;
  for (const auto& [w, g] : weight_gradients(net, images, labels)) score += g.norm().item<double>();
  return score;
}

double jacov(NetworkImpl& net, const torch::Tensor& images) {
  EvalScope eval(net);
  GHNAS_CHECK(images.size(0) >= 2, "jacov needs at least two images");
  const torch::Tensor x = images.detach().clone().requires_grad_(true);
  const torch::Tensor y = net.forward(x);
  const torch::Tensor jac = torch::autograd::grad({y.sum()}, {x})[0].reshape({x.size(0), -1}).to(torch::kFloat64).cpu();
  // np.corrcoef of the rows.
  const torch::Tensor centred = jac - jac.mean(1, /*keepdim=*/true);
  const torch::Tensor norms = centred.norm(2, 1, /*keepdim=*/true);
  const torch::Tensor unit = centred / norms;
  const torch::Tensor corr = torch::matmul(unit, unit.t());
  if (!torch::isfinite(corr).all().item<bool>()) return kNaN;
  const torch::Tensor v = at::linalg_eigvalsh(corr, "L");
  constexpr double k = 1e-5;
  const double score = -(torch::log(v + k) + 1.0 / (v + k)).sum().item<double>();
  return std::isfinite(score) ? score : kNaN;
}

nlohmann::json ProxyScores::to_json() const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"params", params},       {"flops", flops}, {"synflow", num(synflow)}, {"naswot", num(naswot)},
          {"snip", num(snip)},      {"grad_norm", num(grad_norm)}, {"jacov", num(jacov)}};
}

ProxyScores compute_proxies(const ArchGraph& graph, const Batch& batch, std::uint64_t seed) {
  Network net(graph, torch::kCPU, seed);
  net->eval();
  ProxyScores s;
  s.params = graph.num_params();
  s.flops = graph.flops();
  s.synflow = synflow(*net);
  s.naswot = naswot(*net, batch.images);
  s.snip = snip(*net, batch.images, batch.labels);
  s.grad_norm = grad_norm(*net, batch.images, batch.labels);
  s.jacov = jacov(*net, batch.images);
  return s;
}

}  // namespace ghnas
