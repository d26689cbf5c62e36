// Commands of the GHN-2 surrogate: import-ghn2 (reference weights -> checkpoint), embed (graph
// embeddings, one JSON line per architecture) and predict-params (every parameter of one network,
// exported for PyTorch). Their output is the project's public contract.

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "space/ghn_graph.hpp"
#include "space/search_space.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/ghn.hpp"

namespace ghnas::cli {

namespace {

std::string names_help(const std::string& what, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return what + ": " + out;
}

torch::Device parse_device(const std::string& name) {
  try {
    const torch::Device device(name);
    GHNAS_CHECK_AS(ConfigError, device.is_cpu() || device.is_cuda(), "--device must be cpu, cuda or cuda:N, got '",
                   name, "'");
    GHNAS_CHECK_AS(ConfigError, device.is_cpu() || torch::cuda::is_available(), "--device ", name,
                   ": no CUDA device is available");
    return device;
  } catch (const c10::Error&) {
    throw ConfigError("--device must be cpu, cuda or cuda:N, got '" + name + "'");
  }
}

// Options every GHN command shares.
struct GhnRun {
  std::string checkpoint, space, task = "cifar10", archs, device = "cpu";
  int threads = 2;
};

void add_ghn_options(CLI::App* cmd, GhnRun& r) {
  register_builtin_spaces();
  cmd->add_option("--checkpoint", r.checkpoint, "GHN checkpoint (from import-ghn2 or training)")->required();
  cmd->add_option("--space", r.space, names_help("search space", list_spaces()))->required();
  cmd->add_option("--task", r.task, names_help("task the networks are built for", task_names()))->capture_default_str();
  cmd->add_option("--archs", r.archs, "architecture file (as for describe)")->required();
  cmd->add_option("--threads", r.threads, "CPU threads (torch and graph building)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", r.device, "cpu, cuda or cuda:N")->capture_default_str();
}

// Loaded GHN in evaluation mode, threads set, ready for inference.
Ghn open_ghn(const GhnRun& r) {
  torch::set_num_threads(r.threads);
  Ghn ghn = load_ghn(r.checkpoint, parse_device(r.device));
  ghn->eval();
  return ghn;
}

std::string wrap_error(std::size_t index, const std::exception& e) {
  return detail::str_cat("architecture ", index, ": ", e.what());
}

// The float32 blob next to the JSON index: FILE.json -> FILE.f32, FILE -> FILE.f32.
std::string blob_path(const std::string& index_path) {
  const std::string ext = ".json";
  if (index_path.size() > ext.size() && index_path.compare(index_path.size() - ext.size(), ext.size(), ext) == 0)
    return index_path.substr(0, index_path.size() - ext.size()) + ".f32";
  return index_path + ".f32";
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

void add_surrogate_commands(CLI::App& app, Actions& actions) {
  // ---- import-ghn2
  struct ImportArgs {
    std::string weights, meta, out;
  };
  auto ia = std::make_shared<ImportArgs>();
  auto* imp = app.add_subcommand(
      "import-ghn2",
      "Convert a reference (ppuda) GHN-2 state dict, stored as raw float32 plus a JSON description "
      "(the layout of ../shared/reference/ghn2_fixture), into a ghnas GHN checkpoint");
  imp->add_option("--weights", ia->weights, "raw little-endian float32 tensors (.f32)")->required();
  imp->add_option("--meta", ia->meta, "JSON with config, n_params and tensors (name, shape, offset, numel)")
      ->required();
  imp->add_option("--out", ia->out, "checkpoint to write")->required();
  actions.emplace_back(imp, [ia] {
    Ghn ghn = import_reference_ghn(ia->weights, ia->meta);
    save_ghn(ghn, ia->out, {{"imported_from", ia->weights}});
    std::cerr << "wrote " << ia->out << ": GHN-2 with " << ghn->num_weights() << " weights, config "
              << ghn->config().to_json().dump() << "\n";
    return 0;
  });

  // ---- embed
  struct EmbedArgs {
    GhnRun run;
    int batch = 64;
  };
  auto ea = std::make_shared<EmbedArgs>();
  auto* embed = app.add_subcommand(
      "embed",
      "Print one JSON line per architecture: index and embedding (the mean of the GHN's node "
      "embeddings after its GNN and layer norm, what property heads read)");
  add_ghn_options(embed, ea->run);
  embed->add_option("--batch", ea->batch, "architectures per GHN call")->capture_default_str()->check(CLI::PositiveNumber);
  actions.emplace_back(embed, [ea] {
    Ghn ghn = open_ghn(ea->run);
    auto space = make_space(ea->run.space);
    const Task task = task_by_name(ea->run.task);
    const auto archs = space->read_archs(ea->run.archs);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(ea->run.threads));
    torch::NoGradGuard no_grad;
    const auto batch = static_cast<std::size_t>(ea->batch);
    for (std::size_t b0 = 0; b0 < archs.size(); b0 += batch) {
      const std::size_t n = std::min(batch, archs.size() - b0);
      std::vector<GhnGraph> graphs(n);
      std::vector<std::optional<std::string>> errors(n);
      tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
        try {
          graphs[i] = build_ghn_graph(space->build_graph(archs[b0 + i], task), ghn->config().s_max);
        } catch (const std::exception& e) {
          errors[i] = wrap_error(b0 + i, e);
        }
      });
      for (const auto& e : errors)
        if (e) throw ArchError(*e);
      const auto emb = ghn->embed(graph_pointers(graphs)).to(torch::kCPU).contiguous();
      for (std::size_t i = 0; i < n; ++i) {
        const float* row = emb.data_ptr<float>() + static_cast<std::int64_t>(i) * emb.size(1);
        const nlohmann::ordered_json line = {{"index", b0 + i},
                                             {"embedding", std::vector<float>(row, row + emb.size(1))}};
        std::cout << line.dump() << "\n";
      }
    }
    return 0;
  });

  // ---- predict-params
  struct PredictArgs {
    GhnRun run;
    std::size_t index = 0;
    std::string out;
  };
  auto pa = std::make_shared<PredictArgs>();
  auto* predict = app.add_subcommand(
      "predict-params",
      "Predict every parameter of one network and export them for PyTorch: a JSON index (--export) "
      "and the float32 data beside it (.f32), tensors named as the reference network names them");
  add_ghn_options(predict, pa->run);
  predict->add_option("--index", pa->index, "which architecture of the file (0-based)")->capture_default_str();
  predict->add_option("--export", pa->out, "JSON index to write; the data goes to the same name with .f32")
      ->required();
  actions.emplace_back(predict, [pa] {
    Ghn ghn = open_ghn(pa->run);
    auto space = make_space(pa->run.space);
    const auto archs = space->read_archs(pa->run.archs);
    GHNAS_CHECK_AS(ConfigError, pa->index < archs.size(), "--index ", pa->index, " is out of range: '",
                   pa->run.archs, "' has ", archs.size(), " architectures");
    torch::NoGradGuard no_grad;
    std::vector<ParamTensor> params;
    PredictedParams predicted;
    try {
      const ArchGraph g = space->build_graph(archs[pa->index], task_by_name(pa->run.task));
      const GhnGraph ghn_graph = build_ghn_graph(g, ghn->config().s_max);
      params = g.all_params();
      predicted = std::move(ghn->predict_parameters({&ghn_graph}, {params})[0]);
    } catch (const ArchError& e) {
      throw ArchError(wrap_error(pa->index, e));
    }

    // Network order, as the reference's named_parameters() lists them.
    const std::string data_path = blob_path(pa->out);
    std::ofstream data(data_path, std::ios::binary | std::ios::trunc);
    GHNAS_CHECK_AS(FileError, data.good(), "cannot write '", data_path, "'");
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    std::int64_t offset = 0;
    for (const auto& p : params) {
      const auto it = predicted.tensors.find(p.name);
      if (it == predicted.tensors.end()) continue;
      const auto t = it->second.to(torch::kCPU, torch::kFloat).contiguous();
      data.write(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<std::streamsize>(4 * t.numel()));
      tensors.push_back({{"name", p.name}, {"shape", p.shape}, {"offset", offset}, {"numel", t.numel()}});
      offset += t.numel();
    }
    data.flush();
    GHNAS_CHECK_AS(FileError, data.good(), "failed writing '", data_path, "'");
    const nlohmann::ordered_json index = {{"format", "ghnas-predicted-params"},
                                  {"version", 1},
                                  {"space", pa->run.space},
                                  {"task", pa->run.task},
                                  {"archs", pa->run.archs},
                                  {"index", pa->index},
                                  {"checkpoint", pa->run.checkpoint},
                                  {"ghn_config", ghn->config().to_json()},
                                  {"data_file", base_name(data_path)},
                                  {"dtype", "float32"},
                                  {"byte_order", "little"},
                                  {"n_params", offset},
                                  {"tensors", tensors},
                                  {"unpredicted", predicted.unpredicted}};
    std::ofstream out(pa->out, std::ios::trunc);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", pa->out, "'");
    out << index.dump() << "\n";
    GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", pa->out, "'");
    std::cerr << "wrote " << pa->out << " and " << data_path << ": " << tensors.size() << " tensors, " << offset
              << " parameters";
    if (!predicted.unpredicted.empty())
      std::cerr << " (" << predicted.unpredicted.size() << " parameters have no GHN node and were not predicted)";
    std::cerr << "\n";
    return 0;
  });
}

}  // namespace ghnas::cli
