// Commands of the property heads: fit-heads (labels -> heads file), predict (heads -> one JSON
// line per architecture) and eval-heads (k-fold Kendall tau / Spearman rho of the heads next to
// the baselines on the same folds, as markdown; what scripts/surrogate_quality.sh reports).
// fit-heads and predict are the public contract evaluation scripts use.

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "space/search_space.hpp"
// The surrogate library links the evaluators (GHN training runs networks), so they are here too.
#include "evaluators/cpu_runtime.hpp"
#include "evaluators/datasets.hpp"
#include "evaluators/proxies.hpp"
#include "surrogate/checkpoint.hpp"
#include "surrogate/cheap_features.hpp"
#include "surrogate/feature_table.hpp"
#include "surrogate/ghn_trainer.hpp"
#include "surrogate/predicted_accuracy.hpp"
#include "surrogate/property_heads.hpp"
#include "surrogate/rank_metrics.hpp"

namespace ghnas::cli {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  const auto first = s.find_first_not_of(" \t");
  return first == std::string::npos ? "" : s.substr(first);
}

std::string joined(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A CSV field: surrounding double quotes are dropped ("" inside stands for one quote).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// A finite number filling the whole field, or nullopt.
std::optional<double> parse_number(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Measured targets of architectures, one row each.
struct LabelTable {
  std::vector<Architecture> archs;
  std::vector<std::string> targets;
  Eigen::MatrixXd y;                // [rows, targets]; NaN where a value is missing and skipped
  std::vector<std::string> where;   // "line 12" for each row, for messages
};

// Reads a labels file: CSV with a header line, or JSON lines (.jsonl / .ndjson), one object per
// architecture. The architecture is the value of `arch_column`, or for JSON lines with a
// comma-separated list of keys ("genotype,net_args") the object of those keys. Every error names
// the file, the line and the column. With `skip_missing`, a missing, null or non-numeric target
// becomes NaN instead of an error (measurements of diverged networks are null).
LabelTable read_labels(const std::string& path, const std::string& arch_column, const std::vector<std::string>& targets,
                       const SearchSpace& space, bool skip_missing) {
  std::ifstream in(path);
  GHNAS_CHECK_AS(FileError, in.good(), "cannot open labels file '", path, "'");
  GHNAS_CHECK_AS(ConfigError, !targets.empty(), "--targets names no column");
  LabelTable t;
  t.targets = targets;
  std::vector<std::vector<double>> rows;
  const bool jsonl = ends_with(path, ".jsonl") || ends_with(path, ".ndjson");
  std::string line;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& column, const std::string& what) -> FileError {
    return FileError(detail::str_cat("labels '", path, "', line ", line_no, column.empty() ? "" : ", column '",
                                     column, column.empty() ? "" : "'", ": ", what));
  };
  auto add_arch = [&](nlohmann::json spec) {
    Architecture arch{space.name(), std::move(spec)};
    try {
      space.validate(arch);
    } catch (const std::exception& e) {
      throw fail(arch_column, detail::str_cat("not a ", space.name(), " architecture: ", e.what()));
    }
    t.archs.push_back(std::move(arch));
    t.where.push_back(detail::str_cat("line ", line_no));
  };
  auto target_value = [&](const std::string& column, std::optional<double> v, const std::string& text) {
    if (v) return *v;
    if (skip_missing) return kNaN;
    throw fail(column, text.empty() ? "missing value" : "'" + text + "' is not a number");
  };

  if (jsonl) {
    const auto keys = split(arch_column, ',');
    while (std::getline(in, line)) {
      ++line_no;
      if (trim(line).empty()) continue;
      nlohmann::json obj;
      try {
        obj = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw fail("", detail::str_cat("not JSON: ", e.what()));
      }
      if (!obj.is_object()) throw fail("", "not a JSON object");
      nlohmann::json spec;
      if (keys.size() == 1) {
        if (!obj.contains(keys[0])) throw fail(arch_column, "missing column");
        spec = obj[keys[0]];
      } else {
        spec = nlohmann::json::object();
        for (const auto& k : keys) {
          if (!obj.contains(k)) throw fail(k, "missing column");
          spec[k] = obj[k];
        }
      }
      std::vector<double> row;
      for (const auto& c : targets) {
        if (!obj.contains(c)) throw fail(c, "missing column");
        const auto& v = obj[c];
        std::optional<double> num;
        if (v.is_number() && std::isfinite(v.get<double>())) num = v.get<double>();
        row.push_back(target_value(c, num, v.is_null() ? "null" : v.dump()));
      }
      add_arch(std::move(spec));
      rows.push_back(std::move(row));
    }
  } else {
    GHNAS_CHECK_AS(FileError, static_cast<bool>(std::getline(in, line)), "labels '", path, "' is empty");
    line_no = 1;
    const auto header = csv_fields(line);
    std::vector<std::string> names;
    for (const auto& h : header) names.push_back(trim(h));
    auto column = [&](const std::string& name) {
      const auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end())
        throw FileError(detail::str_cat("labels '", path, "' has no column '", name, "' (columns: ", joined(names), ")"));
      return static_cast<std::size_t>(it - names.begin());
    };
    const std::size_t arch_col = column(arch_column);
    std::vector<std::size_t> target_cols;
    for (const auto& c : targets) target_cols.push_back(column(c));
    while (std::getline(in, line)) {
      ++line_no;
      if (trim(line).empty()) continue;
      const auto fields = csv_fields(line);
      if (fields.size() != names.size())
        throw fail("", detail::str_cat(fields.size(), " fields, the header has ", names.size()));
      std::vector<double> row;
      for (std::size_t k = 0; k < targets.size(); ++k) {
        const auto& text = fields[target_cols[k]];
        row.push_back(target_value(targets[k], parse_number(text), trim(text)));
      }
      // nasbench201 reads the arch string; a space with JSON architectures reads a JSON cell.
      const std::string cell = trim(fields[arch_col]);
      nlohmann::json spec = cell;
      if (!cell.empty() && (cell[0] == '{' || cell[0] == '[')) {
        try {
          spec = nlohmann::json::parse(cell);
        } catch (const nlohmann::json::exception&) {
          throw fail(arch_column, "not JSON");
        }
      }
      add_arch(std::move(spec));
      rows.push_back(std::move(row));
    }
  }
  t.y.resize(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(targets.size()));
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t k = 0; k < targets.size(); ++k) t.y(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = rows[i][k];
  return t;
}

// Options of every command that embeds architectures.
struct EmbedRun {
  std::string checkpoint, space, task = "cifar10", device = "cpu";
  int threads = 2;
  std::size_t batch = 64;
};

void add_embed_options(CLI::App* cmd, EmbedRun& r) {
  register_builtin_spaces();
  cmd->add_option("--checkpoint", r.checkpoint, "GHN checkpoint whose embeddings the heads read")->required();
  cmd->add_option("--space", r.space, "search space: " + joined(list_spaces()))->required();
  cmd->add_option("--task", r.task, "task the networks are built for: " + joined(task_names()))->capture_default_str();
  cmd->add_option("--threads", r.threads, "CPU threads (torch and graph building)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", r.batch, "architectures per GHN call")->capture_default_str()->check(CLI::PositiveNumber);
}

struct Embedded {
  FeatureTable table;
  EmbeddingProvenance provenance;
};

Embedded embed_archs(const EmbedRun& r, const SearchSpace& space, const std::vector<Architecture>& archs,
                     const std::vector<std::string>* where = nullptr) {
  torch::set_num_threads(r.threads);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(r.threads));
  Ghn ghn = load_ghn(r.checkpoint, torch::kCPU);
  ghn->eval();
  Embedded e;
  e.provenance = embedding_provenance(r.checkpoint, ghn, r.task, r.space);
  try {
    e.table = compute_feature_table(&ghn, space, archs, task_by_name(r.task), r.batch);
  } catch (const ArchError& err) {
    if (!where) throw;
    // "architecture <i>: ..." -> the labels line of row i.
    const std::string msg = err.what();
    const auto colon = msg.find(':');
    std::size_t i = 0;
    if (msg.rfind("architecture ", 0) == 0 && colon != std::string::npos) i = std::stoul(msg.substr(13, colon - 13));
    throw ArchError(detail::str_cat("labels ", i < where->size() ? (*where)[i] : "?", msg.substr(colon)));
  }
  return e;
}

std::vector<std::size_t> finite_rows(const Eigen::VectorXd& y) {
  std::vector<std::size_t> rows;
  for (Eigen::Index i = 0; i < y.size(); ++i)
    if (std::isfinite(y(i))) rows.push_back(static_cast<std::size_t>(i));
  return rows;
}

Eigen::VectorXd take(const Eigen::VectorXd& v, const std::vector<std::size_t>& index) {
  Eigen::VectorXd out(static_cast<Eigen::Index>(index.size()));
  for (std::size_t i = 0; i < index.size(); ++i) out(static_cast<Eigen::Index>(i)) = v(static_cast<Eigen::Index>(index[i]));
  return out;
}

std::vector<double> to_std(const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); }

// ---- eval-heads

// One way of ranking architectures: a regressor trained on the training rows, or a score read
// off each architecture (params, FLOPs, a zero-cost proxy).
struct Method {
  std::string name;
  std::optional<Eigen::MatrixXd> features;  // regressor input, all rows
  std::optional<Eigen::VectorXd> score;     // fixed score, all rows (NaN: undefined)
};

struct Agreement {
  std::vector<double> tau, rho;
  std::size_t dropped = 0;  // test rows without a score (NaN proxy)
};

double mean(const std::vector<double>& v) {
  double s = 0;
  std::size_t n = 0;
  for (double a : v)
    if (std::isfinite(a)) s += a, ++n;
  return n ? s / static_cast<double>(n) : kNaN;
}

double sd(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  std::size_t n = 0;
  for (double a : v)
    if (std::isfinite(a)) s += (a - m) * (a - m), ++n;
  return n > 1 ? std::sqrt(s / static_cast<double>(n - 1)) : kNaN;
}

// Kendall tau and Spearman rho of `m` on each split (train rows, test rows; indices into y).
Agreement evaluate(const Method& m, const Eigen::VectorXd& y,
                   const std::vector<std::pair<std::vector<std::size_t>, std::vector<std::size_t>>>& splits,
                   const GridSearchOptions& grid) {
  Agreement a;
  a.tau.assign(splits.size(), kNaN);
  a.rho.assign(splits.size(), kNaN);
  std::vector<std::size_t> dropped(splits.size(), 0);
  tbb::parallel_for(std::size_t{0}, splits.size(), [&](std::size_t s) {
    const auto& [train, test] = splits[s];
    std::vector<double> pred, truth;
    if (m.features) {
      Eigen::MatrixXd xtr(static_cast<Eigen::Index>(train.size()), m.features->cols());
      Eigen::MatrixXd xte(static_cast<Eigen::Index>(test.size()), m.features->cols());
      for (std::size_t i = 0; i < train.size(); ++i) xtr.row(static_cast<Eigen::Index>(i)) = m.features->row(static_cast<Eigen::Index>(train[i]));
      for (std::size_t i = 0; i < test.size(); ++i) xte.row(static_cast<Eigen::Index>(i)) = m.features->row(static_cast<Eigen::Index>(test[i]));
      const RbfKernelRidge model = fit_krr(xtr, take(y, train), grid);
      pred = to_std(model.predict(xte));
      truth = to_std(take(y, test));
    } else {
      for (auto i : test) {
        const double v = (*m.score)(static_cast<Eigen::Index>(i));
        if (!std::isfinite(v)) {
          ++dropped[s];
          continue;
        }
        pred.push_back(v);
        truth.push_back(y(static_cast<Eigen::Index>(i)));
      }
    }
    a.tau[s] = kendall_tau(pred, truth);
    a.rho[s] = spearman_rho(pred, truth);
  });
  a.dropped = std::accumulate(dropped.begin(), dropped.end(), std::size_t{0});
  return a;
}

std::string fmt(double v, int digits = 3) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

// The JSON lines of a cache file, keyed by key(line). A line cut short by an interrupted run is
// skipped (its entry is recomputed by the caller); a missing file is an empty cache.
std::map<std::string, nlohmann::json> read_cache(const std::string& path, const std::string& what,
                                                 const std::function<std::string(const nlohmann::json&)>& key) {
  std::map<std::string, nlohmann::json> cache;
  std::ifstream in(path);
  std::string line;
  std::size_t line_no = 0;
  while (in && std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      cache[key(j)] = j;
    } catch (const nlohmann::json::exception&) {
      std::cerr << what << " '" << path << "', line " << line_no << ": unreadable, ignored\n";
    }
  }
  return cache;
}

// Zero-cost proxies of every architecture, cached in `path` as JSON lines keyed by the
// architecture's JSON ({"arch", "params", "flops", "synflow", ...}), so a growing labels
// file only costs its new rows and an interrupted run keeps what it computed. Missing entries are
// computed on one batch of `batch_size` Fashion-MNIST training images (seed 0, as `ghnas proxies`
// draws them) shaped for `task`: zero-padded (black, in normalised units) to the task's size and
// repeated over its channels, a stand-in where the task's own images are not installed; for the
// fashion-mnist task they are the task's own images.
std::vector<nlohmann::json> cached_proxies(const std::string& path, const SearchSpace& space,
                                           const std::vector<Architecture>& archs, const Task& task,
                                           const std::string& images, std::int64_t batch_size, int threads) {
  std::map<std::string, nlohmann::json> cache =
      read_cache(path, "proxies", [](const nlohmann::json& j) { return j.at("arch").dump(); });
  std::vector<std::string> hashes;
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < archs.size(); ++i) {
    // The exact spec, not canonical_hash: isomorphic NB201 cells differ in dead edges'
    // parameters, which the proxies see.
    hashes.push_back(archs[i].spec.dump());
    if (!cache.count(hashes.back())) missing.push_back(i);
  }
  if (!missing.empty() && images == "none") {
    // Scores left undefined are dropped from each fold and counted in the report.
    std::cerr << "proxies '" << path << "' lacks " << missing.size() << " of " << archs.size()
              << " architectures: their proxies count as undefined (give --proxy-images to compute them)\n";
    std::vector<nlohmann::json> out;
    for (const auto& h : hashes) out.push_back(cache.count(h) ? cache.at(h) : nlohmann::json::object());
    return out;
  }
  if (!missing.empty()) {
    configure_cpu_runtime(threads);
    const Dataset data = load_fashion_mnist(kFashionMnistDir, /*val_size=*/0, /*split_seed=*/0);
    std::mt19937_64 rng(0);
    auto order = shuffled_indices(data.train.size(), rng);
    order.resize(static_cast<std::size_t>(batch_size));
    Batch batch = make_batch(data.train, data.info, order, BatchTransform{}, rng);
    const auto pad_h = task.height - batch.images.size(2), pad_w = task.width - batch.images.size(3);
    GHNAS_CHECK_AS(ConfigError, pad_h >= 0 && pad_w >= 0, "task images are smaller than Fashion-MNIST's 28x28");
    const double black = (0.0 - data.info.mean[0]) / data.info.std[0];
    batch.images = torch::constant_pad_nd(batch.images, {pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2}, black)
                       .repeat({1, task.channels, 1, 1})
                       .contiguous();
    std::ofstream out(path, std::ios::app);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", path, "'");
    std::cerr << "proxies: computing " << missing.size() << " architectures into '" << path << "'\n";
    for (std::size_t k = 0; k < missing.size(); ++k) {
      const std::size_t i = missing[k];
      nlohmann::json line = {{"arch", archs[i].spec}};
      line.update(compute_proxies(space.build_graph(archs[i], task), batch, /*seed=*/0).to_json());
      out << line.dump() << std::endl;
      cache[hashes[i]] = line;
      if ((k + 1) % 50 == 0) std::cerr << "proxies: " << k + 1 << "/" << missing.size() << "\n";
    }
  }
  std::vector<nlohmann::json> out;
  for (const auto& h : hashes) out.push_back(cache.at(h));
  return out;
}

// The GHN-2 paper's own ranker: each architecture's accuracy (%) running the parameters the GHN
// in `checkpoint` predicts, on the first `images` Fashion-MNIST test images (batches of 64, batch
// statistics). The networks are built for fashion-mnist whatever the heads' task, since that is
// the task the shipped GHN was trained on and the only image set installed; for nasbench201 that
// means the cells' networks run on 28x28 grey images. Cached in `path` as JSON lines keyed by
// architecture, checkpoint hash and image count, so another GHN or image count never reads a stale
// entry; with images == 0 only the cache is read and missing entries are undefined (NaN).
Eigen::VectorXd cached_ghn_accuracy(const std::string& path, const SearchSpace& space,
                                    const std::vector<Architecture>& archs, const std::string& checkpoint,
                                    std::int64_t images, int threads) {
  const std::string ck_hash = file_hash(checkpoint);
  const auto key_of = [](const nlohmann::json& arch, const std::string& hash, std::int64_t n) {
    return detail::str_cat(arch.dump(), "|", hash, "|", n);
  };
  std::map<std::string, nlohmann::json> cache = read_cache(path, "GHN accuracy", [&](const nlohmann::json& j) {
    return key_of(j.at("arch"), j.at("checkpoint_hash").get<std::string>(), j.at("images").get<std::int64_t>());
  });
  // Without --ghn-accuracy-images, use whatever image count the cache holds for this GHN.
  std::int64_t n_images = images;
  if (n_images == 0)
    for (const auto& [k, j] : cache)
      if (j.at("checkpoint_hash") == ck_hash) n_images = std::max(n_images, j.at("images").get<std::int64_t>());
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < archs.size(); ++i)
    if (!cache.count(key_of(archs[i].spec, ck_hash, n_images))) missing.push_back(i);
  if (!missing.empty() && images > 0) {
    configure_cpu_runtime(threads);
    Ghn ghn = load_ghn(checkpoint, torch::kCPU);
    ghn->eval();
    const Dataset data = load_task_dataset("fashion-mnist");
    const auto batches = evaluation_batches(data.test.head(images), data.info, 64);
    const Task task = task_by_name("fashion-mnist");
    std::ofstream out(path, std::ios::app);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", path, "'");
    std::cerr << "GHN accuracy: computing " << missing.size() << " architectures into '" << path << "'\n";
    for (std::size_t k = 0; k < missing.size(); ++k) {
      const std::size_t i = missing[k];
      nlohmann::json line = {{"arch", archs[i].spec}, {"checkpoint_hash", ck_hash}, {"images", images}};
      try {
        line["acc"] = predicted_parameter_accuracy(ghn, space.build_graph(archs[i], task), batches);
      } catch (const ArchError& e) {
        line["acc"] = nullptr;  // a network the GHN cannot represent has no such score
        line["error"] = e.what();
      }
      out << line.dump() << std::endl;
      cache[key_of(archs[i].spec, ck_hash, images)] = line;
      if ((k + 1) % 50 == 0) std::cerr << "GHN accuracy: " << k + 1 << "/" << missing.size() << "\n";
    }
  } else if (!missing.empty()) {
    std::cerr << "GHN accuracy '" << path << "' lacks " << missing.size() << " of " << archs.size()
              << " architectures for this checkpoint: they count as undefined (give --ghn-accuracy-images "
                 "to compute them)\n";
  }
  Eigen::VectorXd acc(static_cast<Eigen::Index>(archs.size()));
  for (std::size_t i = 0; i < archs.size(); ++i) {
    const auto it = cache.find(key_of(archs[i].spec, ck_hash, n_images));
    acc(static_cast<Eigen::Index>(i)) =
        it != cache.end() && it->second.at("acc").is_number() ? it->second.at("acc").get<double>() : kNaN;
  }
  return acc;
}

}  // namespace

void add_heads_commands(CLI::App& app, Actions& actions) {
  // ---- fit-heads
  struct FitArgs {
    EmbedRun run;
    std::string labels, arch_column = "arch_str", targets, out, features = "auto";
    int folds = 5;
    bool skip_missing = false;
  };
  auto fa = std::make_shared<FitArgs>();
  auto* fit = app.add_subcommand(
      "fit-heads",
      "Fit one property head per target (RBF kernel ridge regression on the GHN graph embedding, "
      "optionally with cheap features or a plain encoding; hyper-parameters by k-fold Kendall tau) "
      "and write them with the checkpoint's hash, so predict refuses embeddings of another GHN");
  add_embed_options(fit, fa->run);
  fit->add_option("--labels", fa->labels, "CSV with a header line, or JSON lines (.jsonl), one architecture each")->required();
  fit->add_option("--arch-column", fa->arch_column,
                  "column holding the architecture; for .jsonl a comma-separated list of keys builds the "
                  "architecture object (deepnets1m: genotype,net_args)")->capture_default_str();
  fit->add_option("--targets", fa->targets, "comma-separated numeric columns to predict")->required();
  fit->add_option("--out", fa->out, "heads file to write (JSON)")->required();
  fit->add_option("--features", fa->features,
                  "what the heads read: parts embedding (GHN graph embedding), cheap (cheap features) and "
                  "plain (plain encoding: one-hot ops per edge for nasbench201, cheap features elsewhere) "
                  "joined by '+', e.g. embedding+plain; or auto (the best of embedding, embedding+cheap and, "
                  "where the plain encoding is not the cheap features, embedding+plain by cross-validated "
                  "Kendall tau, per target). The heads file records it")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& name) {
            if (name == "auto") return std::string();
            try {
              FeatureConfig::parse(name);
              return std::string();
            } catch (const ConfigError& e) {
              return std::string(e.what());
            }
          },
          "FEATURES"));
  fit->add_option("--folds", fa->folds, "folds of the hyper-parameter search")->capture_default_str()->check(CLI::Range(2, 1000));
  fit->add_flag("--skip-missing", fa->skip_missing, "leave out rows whose target is missing or null instead of failing");
  actions.emplace_back(fit, [fa] {
    auto space = make_space(fa->run.space);
    const auto targets = split(fa->targets, ',');
    const LabelTable labels = read_labels(fa->labels, fa->arch_column, targets, *space, fa->skip_missing);
    const Embedded e = embed_archs(fa->run, *space, labels.archs, &labels.where);
    PropertyHeads heads;
    heads.provenance = e.provenance;
    GridSearchOptions grid;
    grid.folds = fa->folds;
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const Eigen::VectorXd y_all = labels.y.col(static_cast<Eigen::Index>(k));
      const auto rows = finite_rows(y_all);
      GHNAS_CHECK_AS(ConfigError, rows.size() >= static_cast<std::size_t>(fa->folds), "labels '", fa->labels,
                     "', column '", targets[k], "': ", rows.size(), " rows with a value, fewer than --folds ", fa->folds);
      const FeatureTable table = e.table.subset(rows);
      const Eigen::VectorXd y = take(y_all, rows);
      std::vector<FeatureConfig> candidates;
      if (fa->features == "auto") {
        candidates = {{true, false}, {true, true}};
        // Outside nasbench201 the plain encoding is the cheap features: the same fit again.
        const bool plain_is_cheap = table.plain.rows() == table.cheap.rows() &&
                                    table.plain.cols() == table.cheap.cols() && table.plain == table.cheap;
        if (!plain_is_cheap) candidates.push_back({true, false, true});
      } else
        candidates = {FeatureConfig::parse(fa->features)};
      PropertyHead best;
      for (const auto& c : candidates) {
        PropertyHead h = fit_head(targets[k], c, table, y, grid);
        if (best.target.empty() || h.search.cv_tau > best.search.cv_tau) best = std::move(h);
      }
      std::cerr << targets[k] << ": " << rows.size() << " rows, features " << best.features.name() << ", gamma "
                << best.search.gamma << ", lambda " << best.search.lambda << ", target " << target_transform_name(best.search.transform) << ", " << fa->folds
                << "-fold Kendall tau " << fmt(best.search.cv_tau) << "\n";
      heads.heads.push_back(std::move(best));
    }
    heads.save(fa->out);
    std::cerr << "wrote " << fa->out << "\n";
    return 0;
  });

  // ---- predict
  struct PredictArgs {
    EmbedRun run;
    std::string heads, archs;
  };
  auto pa = std::make_shared<PredictArgs>();
  auto* predict = app.add_subcommand(
      "predict",
      "Print one JSON line per architecture: index and the prediction of every head (targets in "
      "the units of the labels they were fitted on)");
  add_embed_options(predict, pa->run);
  predict->add_option("--heads", pa->heads, "heads file from fit-heads")->required();
  predict->add_option("--archs", pa->archs, "architecture file (as for describe)")->required();
  actions.emplace_back(predict, [pa] {
    const PropertyHeads heads = PropertyHeads::load(pa->heads);
    auto space = make_space(pa->run.space);
    const auto archs = space->read_archs(pa->archs);
    // Checked before embedding anything: a hash mismatch needs no GHN run to report.
    {
      Ghn ghn = load_ghn(pa->run.checkpoint, torch::kCPU);
      heads.check_provenance(embedding_provenance(pa->run.checkpoint, ghn, pa->run.task, pa->run.space));
    }
    const Embedded e = embed_archs(pa->run, *space, archs);
    std::vector<Eigen::VectorXd> predictions;
    for (const auto& h : heads.heads) predictions.push_back(h.predict(e.table));
    for (std::size_t i = 0; i < archs.size(); ++i) {
      nlohmann::ordered_json line = {{"index", i}};
      for (std::size_t k = 0; k < heads.heads.size(); ++k) line[heads.heads[k].target] = predictions[k](static_cast<Eigen::Index>(i));
      std::cout << line.dump() << "\n";
    }
    return 0;
  });

  // ---- eval-heads
  struct EvalArgs {
    EmbedRun run;
    std::string labels, arch_column = "arch_str", targets, proxies, proxy_images = "none", ghn_accuracy, json;
    int folds = 5, inner_folds = 3, repeats = 5;
    std::vector<std::size_t> train_sizes;
    std::uint64_t seed = 0;
    std::int64_t proxy_batch = 64, ghn_accuracy_images = 0;
    bool skip_missing = false;
  };
  auto ea = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand(
      "eval-heads",
      "Cross-validate property heads against baselines on the same folds and print markdown tables "
      "of Kendall tau and Spearman rho: heads on the embedding (alone, with cheap features, and for "
      "nasbench201 with the plain encoding), a regressor on cheap features and on a plain encoding, "
      "params, FLOPs, zero-cost proxies and the accuracy of GHN-predicted parameters");
  add_embed_options(eval, ea->run);
  eval->add_option("--labels", ea->labels, "labels file (as for fit-heads)")->required();
  eval->add_option("--arch-column", ea->arch_column, "as for fit-heads")->capture_default_str();
  eval->add_option("--targets", ea->targets, "comma-separated numeric columns")->required();
  eval->add_option("--folds", ea->folds, "outer folds")->capture_default_str()->check(CLI::Range(2, 1000));
  eval->add_option("--inner-folds", ea->inner_folds, "folds of each regressor's hyper-parameter search")
      ->capture_default_str()->check(CLI::Range(2, 100));
  eval->add_option("--train-sizes", ea->train_sizes,
                   "also train on this many random rows and test on the rest (repeated --repeats times)");
  eval->add_option("--repeats", ea->repeats, "random draws per --train-sizes entry")->capture_default_str()->check(CLI::Range(1, 100));
  eval->add_option("--seed", ea->seed, "seed of the folds and draws")->capture_default_str();
  eval->add_option("--proxies", ea->proxies,
                   "cache of zero-cost proxies, JSON lines keyed by architecture; architectures it "
                   "lacks are computed and appended when --proxy-images is given, else left undefined");
  eval->add_option("--proxy-images", ea->proxy_images,
                   "images for computing missing proxies: fashion-mnist (Fashion-MNIST training images, "
                   "zero-padded to the task's size and repeated over its channels) or none")
      ->capture_default_str()->check(CLI::IsMember({"none", "fashion-mnist"}));
  eval->add_option("--proxy-batch", ea->proxy_batch, "images the proxies see")->capture_default_str();
  eval->add_option("--ghn-accuracy", ea->ghn_accuracy,
                   "cache of each architecture's accuracy (%) with the parameters the --checkpoint GHN predicts "
                   "(networks built for fashion-mnist, tested on Fashion-MNIST test images), JSON lines keyed by "
                   "architecture, checkpoint and image count; ranks as the baseline \"GHN predicted-parameter "
                   "accuracy\"");
  eval->add_option("--ghn-accuracy-images", ea->ghn_accuracy_images,
                   "compute the --ghn-accuracy entries the cache lacks on this many test images (0: read the "
                   "cache only; missing entries are undefined)")
      ->capture_default_str()->check(CLI::Range(std::int64_t{0}, std::int64_t{10000}));
  eval->add_flag("--skip-missing", ea->skip_missing, "leave out rows whose target is missing or null");
  eval->add_option("--json", ea->json,
                   "also write the numbers as JSON: {target: {method: {tau, tau_sd, rho, rows, dropped, "
                   "train_sizes: {N: {tau, tau_sd, rho}}}}}");
  actions.emplace_back(eval, [ea] {
    auto space = make_space(ea->run.space);
    const Task task = task_by_name(ea->run.task);
    const auto targets = split(ea->targets, ',');
    const LabelTable labels = read_labels(ea->labels, ea->arch_column, targets, *space, ea->skip_missing);
    const std::size_t n = labels.archs.size();
    GHNAS_CHECK_AS(ConfigError, n >= static_cast<std::size_t>(ea->folds), "labels '", ea->labels, "': ", n,
                   " rows, fewer than --folds ", ea->folds);
    const Embedded e = embed_archs(ea->run, *space, labels.archs, &labels.where);

    // Methods, all on the same rows.
    std::vector<Method> methods;
    methods.push_back({"heads: GHN embedding", e.table.select({true, false}), std::nullopt});
    methods.push_back({"heads: GHN embedding + cheap features", e.table.select({true, true}), std::nullopt});
    // Elsewhere the plain encoding is the cheap features: those rows would repeat the one above.
    if (space->name() == "nasbench201") {
      methods.push_back({"heads: GHN embedding + plain encoding", e.table.select({true, false, true}), std::nullopt});
      methods.push_back({"heads: GHN embedding + cheap features + plain encoding", e.table.select({true, true, true}),
                         std::nullopt});
    }
    methods.push_back({space->name() == "nasbench201" ? "cheap features (KRR)" : "op counts + params (KRR, cheap features)",
                       e.table.select({false, true}), std::nullopt});
    if (space->name() == "nasbench201") methods.push_back({"one-hot ops (KRR)", e.table.select({false, false, true}), std::nullopt});
    const auto& names = cheap_feature_names();
    const auto col = [&](const std::string& name) {
      return static_cast<Eigen::Index>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    methods.push_back({"params", std::nullopt, Eigen::VectorXd(e.table.cheap.col(col("log10_params")))});
    methods.push_back({"FLOPs", std::nullopt, Eigen::VectorXd(e.table.cheap.col(col("log10_flops")))});

    if (!ea->proxies.empty()) {
      const auto proxies = cached_proxies(ea->proxies, *space, labels.archs, task, ea->proxy_images,
                                          ea->proxy_batch, ea->run.threads);
      for (const char* p : {"synflow", "naswot", "snip", "grad_norm", "jacov"}) {
        Eigen::VectorXd s(static_cast<Eigen::Index>(n));
        for (std::size_t i = 0; i < n; ++i) {
          const auto& j = proxies[i];
          s(static_cast<Eigen::Index>(i)) = j.contains(p) && j[p].is_number() ? j[p].get<double>() : kNaN;
        }
        methods.push_back({std::string("proxy: ") + p, std::nullopt, s});
      }
    }

    if (!ea->ghn_accuracy.empty())
      methods.push_back({"GHN predicted-parameter accuracy", std::nullopt,
                         cached_ghn_accuracy(ea->ghn_accuracy, *space, labels.archs, ea->run.checkpoint,
                                             ea->ghn_accuracy_images, ea->run.threads)});

    GridSearchOptions grid;
    grid.folds = ea->inner_folds;
    grid.seed = ea->seed + 1;
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(ea->run.threads));
    torch::set_num_threads(1);

    // results[method][target] for the k-fold CV and each train size.
    struct Cell {
      Agreement cv;
      std::map<std::size_t, Agreement> sized;
      std::size_t rows = 0;
    };
    std::vector<std::vector<Cell>> results(methods.size(), std::vector<Cell>(targets.size()));
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const Eigen::VectorXd y_all = labels.y.col(static_cast<Eigen::Index>(k));
      const auto rows = finite_rows(y_all);
      GHNAS_CHECK_AS(ConfigError, rows.size() >= static_cast<std::size_t>(ea->folds), "labels '", ea->labels,
                     "', column '", targets[k], "': ", rows.size(), " rows with a value, fewer than --folds ", ea->folds);
      // Splits index into y_all (rows with a value only).
      std::vector<std::pair<std::vector<std::size_t>, std::vector<std::size_t>>> cv;
      const auto fold = kfold_assignment(rows.size(), ea->folds, ea->seed);
      for (int f = 0; f < ea->folds; ++f) {
        std::pair<std::vector<std::size_t>, std::vector<std::size_t>> s;
        for (std::size_t i = 0; i < rows.size(); ++i) (fold[i] == f ? s.second : s.first).push_back(rows[i]);
        cv.push_back(std::move(s));
      }
      for (std::size_t m = 0; m < methods.size(); ++m) {
        results[m][k].rows = rows.size();
        results[m][k].cv = evaluate(methods[m], y_all, cv, grid);
        std::cerr << targets[k] << " | " << methods[m].name << ": tau " << fmt(mean(results[m][k].cv.tau)) << "\n";
      }
      for (std::size_t size : ea->train_sizes) {
        if (size >= rows.size()) continue;
        std::vector<std::pair<std::vector<std::size_t>, std::vector<std::size_t>>> draws;
        for (int r = 0; r < ea->repeats; ++r) {
          // The fold shuffle doubles as a random draw: rows whose position falls below `size`.
          std::mt19937_64 rng(ea->seed + 1000 + static_cast<std::uint64_t>(r));
          std::vector<std::size_t> order = rows;
          for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
          draws.push_back({std::vector<std::size_t>(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(size)),
                           std::vector<std::size_t>(order.begin() + static_cast<std::ptrdiff_t>(size), order.end())});
        }
        for (std::size_t m = 0; m < methods.size(); ++m) results[m][k].sized[size] = evaluate(methods[m], y_all, draws, grid);
      }
    }

    if (!ea->json.empty()) {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      const auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
      for (std::size_t k = 0; k < targets.size(); ++k) {
        nlohmann::ordered_json t = nlohmann::ordered_json::object();
        for (std::size_t m = 0; m < methods.size(); ++m) {
          const Cell& c = results[m][k];
          nlohmann::ordered_json e = {{"tau", num(mean(c.cv.tau))}, {"tau_sd", num(sd(c.cv.tau))},
                                      {"rho", num(mean(c.cv.rho))}, {"rows", c.rows}, {"dropped", c.cv.dropped}};
          e["train_sizes"] = nlohmann::ordered_json::object();
          for (const auto& [size, a] : c.sized)
            e["train_sizes"][std::to_string(size)] = {{"tau", num(mean(a.tau))}, {"tau_sd", num(sd(a.tau))}, {"rho", num(mean(a.rho))}};
          t[methods[m].name] = e;
        }
        j[targets[k]] = t;
      }
      std::ofstream out(ea->json, std::ios::trunc);
      GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", ea->json, "'");
      out << j.dump(1) << "\n";
    }

    // Markdown.
    auto table = [&](const std::string& title, auto&& pick) {
      std::cout << "\n" << title << "\n\n| method |";
      for (const auto& t : targets) std::cout << " " << t << " |";
      std::cout << "\n|---|";
      for (std::size_t k = 0; k < targets.size(); ++k) std::cout << "---|";
      std::cout << "\n";
      for (std::size_t m = 0; m < methods.size(); ++m) {
        std::cout << "| " << methods[m].name << " |";
        for (std::size_t k = 0; k < targets.size(); ++k) std::cout << " " << pick(results[m][k]) << " |";
        std::cout << "\n";
      }
    };
    std::cout << "Rows with a value per target:";
    for (std::size_t k = 0; k < targets.size(); ++k) std::cout << " " << targets[k] << " " << results[0][k].rows << ";";
    std::cout << " " << ea->folds << "-fold CV (seed " << ea->seed << "), regressors tuned by " << ea->inner_folds
              << "-fold CV inside each training split.\n";
    table(detail::str_cat("Kendall tau, mean +- sd over the ", ea->folds, " test folds:"), [](const Cell& c) {
      return fmt(mean(c.cv.tau)) + " +- " + fmt(sd(c.cv.tau), 2);
    });
    table(detail::str_cat("Spearman rho, mean over the ", ea->folds, " test folds:"), [](const Cell& c) {
      return fmt(mean(c.cv.rho));
    });
    for (std::size_t size : ea->train_sizes) {
      table(detail::str_cat("Kendall tau, trained on ", size, " random rows and tested on the rest (mean +- sd over ",
                            ea->repeats, " draws):"),
            [size](const Cell& c) {
              const auto it = c.sized.find(size);
              return it == c.sized.end() ? std::string("n/a") : fmt(mean(it->second.tau)) + " +- " + fmt(sd(it->second.tau), 2);
            });
    }
    bool any_dropped = false;
    for (std::size_t m = 0; m < methods.size(); ++m)
      for (std::size_t k = 0; k < targets.size(); ++k)
        if (results[m][k].cv.dropped) {
          if (!any_dropped) std::cout << "\nScores left out as undefined (NaN) on the test folds:";
          any_dropped = true;
          std::cout << " " << methods[m].name << " / " << targets[k] << ": " << results[m][k].cv.dropped << ";";
        }
    if (any_dropped) std::cout << "\n";
    return 0;
  });
}

}  // namespace ghnas::cli
