#include "surrogate/property_heads.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "surrogate/cheap_features.hpp"
#include "surrogate/rank_metrics.hpp"

namespace ghnas {

namespace {

std::vector<double> to_std(const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); }

nlohmann::json matrix_json(const Eigen::MatrixXd& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    const Eigen::RowVectorXd r = m.row(i);
    rows.push_back(std::vector<double>(r.data(), r.data() + r.size()));
  }
  return rows;
}

template <typename T>
T field(const nlohmann::json& j, const char* name, const char* where) {
  GHNAS_CHECK_AS(FileError, j.is_object() && j.contains(name), where, ": missing field '", name, "'");
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FileError(detail::str_cat(where, ": field '", name, "' has the wrong type"));
  }
}

Eigen::VectorXd vector_field(const nlohmann::json& j, const char* name, const char* where) {
  const auto v = field<std::vector<double>>(j, name, where);
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

// Squared Euclidean distances between the rows of a and b.
Eigen::MatrixXd squared_distances(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Eigen::VectorXd na = a.rowwise().squaredNorm(), nb = b.rowwise().squaredNorm();
  Eigen::MatrixXd d = -2.0 * a * b.transpose();
  d.colwise() += na;
  d.rowwise() += nb.transpose();
  return d.cwiseMax(0.0);
}

Eigen::MatrixXd rows_of(const Eigen::MatrixXd& m, const std::vector<std::size_t>& index) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(index.size()), m.cols());
  for (std::size_t i = 0; i < index.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = m.row(static_cast<Eigen::Index>(index[i]));
  return out;
}

}  // namespace

// ---- FeatureConfig / FeatureTable

std::string FeatureConfig::name() const {
  std::string out;
  const std::pair<bool, const char*> parts[] = {{embedding, "embedding"}, {cheap, "cheap"}, {plain, "plain"}};
  for (const auto& [on, part] : parts)
    if (on) out += (out.empty() ? "" : "+") + std::string(part);
  return out.empty() ? "none" : out;
}

FeatureConfig FeatureConfig::parse(const std::string& name) {
  FeatureConfig c{false, false, false};
  std::size_t start = 0;
  bool ok = !name.empty();
  while (ok && start <= name.size()) {
    const auto end = std::min(name.find('+', start), name.size());
    const std::string part = name.substr(start, end - start);
    bool* flag = part == "embedding" ? &c.embedding : part == "cheap" ? &c.cheap : part == "plain" ? &c.plain : nullptr;
    ok = flag && !*flag;
    if (ok) *flag = true;
    start = end + 1;
  }
  if (!ok)
    throw ConfigError("unknown feature set '" + name +
                      "': expected parts embedding, cheap and plain joined by '+' (e.g. embedding+plain)");
  return c;
}

Eigen::MatrixXd FeatureTable::select(const FeatureConfig& config) const {
  GHNAS_CHECK_AS(ConfigError, config.embedding || config.cheap || config.plain, "a head must read some features");
  const auto n = static_cast<Eigen::Index>(rows());
  std::vector<const Eigen::MatrixXd*> parts;
  const std::tuple<bool, const Eigen::MatrixXd*, const char*> wanted[] = {
      {config.embedding, &embedding, "GHN embeddings"}, {config.cheap, &cheap, "cheap features"},
      {config.plain, &plain, "plain encodings"}};
  for (const auto& [on, part, what] : wanted) {
    if (!on) continue;
    GHNAS_CHECK_AS(ConfigError, part->rows() == n, "features '", config.name(), "' need ", what,
                   ", none were computed");
    parts.push_back(part);
  }
  if (parts.size() == 1) return *parts[0];
  Eigen::Index cols = 0;
  for (const auto* p : parts) cols += p->cols();
  Eigen::MatrixXd all(n, cols);
  Eigen::Index c = 0;
  for (const auto* p : parts) {
    all.middleCols(c, p->cols()) = *p;
    c += p->cols();
  }
  return all;
}

FeatureTable FeatureTable::subset(const std::vector<std::size_t>& index) const {
  FeatureTable t;
  if (embedding.rows() > 0) t.embedding = rows_of(embedding, index);
  if (cheap.rows() > 0) t.cheap = rows_of(cheap, index);
  if (plain.rows() > 0) t.plain = rows_of(plain, index);
  return t;
}

// ---- RbfKernelRidge

const char* target_transform_name(TargetTransform t) {
  return t == TargetTransform::kQuantile ? "quantile" : "standard";
}

namespace {

TargetTransform parse_transform(const std::string& name) {
  if (name == "standard") return TargetTransform::kStandard;
  if (name == "quantile") return TargetTransform::kQuantile;
  throw FileError("unknown target transform '" + name + "'");
}

}  // namespace

Eigen::MatrixXd RbfKernelRidge::standardise(const Eigen::MatrixXd& x) const {
  GHNAS_CHECK_AS(ConfigError, x.cols() == x_mean_.size(), "the head was fitted on ", x_mean_.size(),
                 " features, got ", x.cols());
  return (x.rowwise() - x_mean_).array().rowwise() / x_scale_.array();
}

Eigen::VectorXd RbfKernelRidge::to_target(const Eigen::VectorXd& quantile) const {
  const auto n = y_sorted_.size();
  const double slope = n > 1 ? (y_sorted_(n - 1) - y_sorted_(0)) / static_cast<double>(n - 1) : 1.0;
  Eigen::VectorXd out(quantile.size());
  for (Eigen::Index i = 0; i < quantile.size(); ++i) {
    // Inverse of q = (rank - 0.5) / n - 0.5 with 0-based position p = rank - 1.
    const double p = (quantile(i) + 0.5) * static_cast<double>(n) - 0.5;
    if (p <= 0) {
      out(i) = y_sorted_(0) + p * slope;
    } else if (p >= static_cast<double>(n - 1)) {
      out(i) = y_sorted_(n - 1) + (p - static_cast<double>(n - 1)) * slope;
    } else {
      const auto lo = static_cast<Eigen::Index>(p);
      const double w = p - static_cast<double>(lo);
      out(i) = (1 - w) * y_sorted_(lo) + w * y_sorted_(lo + 1);
    }
  }
  return out;
}

void RbfKernelRidge::fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y_in, double gamma, double lambda,
                         TargetTransform transform) {
  Eigen::VectorXd y = y_in;
  transform_ = transform;
  y_sorted_.resize(0);
  if (transform == TargetTransform::kQuantile) {
    y_sorted_ = y_in;
    std::sort(y_sorted_.data(), y_sorted_.data() + y_sorted_.size());
    const auto ranks = average_ranks(std::vector<double>(y_in.data(), y_in.data() + y_in.size()));
    for (Eigen::Index i = 0; i < y.size(); ++i)
      y(i) = (ranks[static_cast<std::size_t>(i)] - 0.5) / static_cast<double>(y.size()) - 0.5;
  }
  GHNAS_CHECK(x.rows() == y.size() && x.rows() >= 2, "kernel ridge: need >= 2 rows with one target each");
  GHNAS_CHECK(gamma > 0 && lambda > 0, "kernel ridge: gamma and lambda must be positive");
  GHNAS_CHECK(x.allFinite() && y.allFinite(), "kernel ridge: features and targets must be finite");
  const double n = static_cast<double>(x.rows());
  x_mean_ = x.colwise().mean();
  const Eigen::MatrixXd centred = x.rowwise() - x_mean_;
  x_scale_ = (centred.colwise().squaredNorm() / n).cwiseSqrt();
  for (Eigen::Index c = 0; c < x_scale_.size(); ++c)
    if (!(x_scale_(c) > 1e-12)) x_scale_(c) = 1.0;
  y_mean_ = y.mean();
  y_scale_ = std::sqrt((y.array() - y_mean_).square().sum() / n);
  if (!(y_scale_ > 1e-12)) y_scale_ = 1.0;
  gamma_ = gamma;
  lambda_ = lambda;
  train_ = standardise(x);
  Eigen::MatrixXd k = (-gamma * squared_distances(train_, train_)).array().exp().matrix();
  k.diagonal().array() += lambda;
  alpha_ = k.llt().solve(((y.array() - y_mean_) / y_scale_).matrix());
}

Eigen::VectorXd RbfKernelRidge::predict(const Eigen::MatrixXd& x) const {
  GHNAS_CHECK(fitted(), "kernel ridge: predict before fit");
  const Eigen::MatrixXd k = (-gamma_ * squared_distances(standardise(x), train_)).array().exp().matrix();
  const Eigen::VectorXd out = ((k * alpha_).array() * y_scale_ + y_mean_).matrix();
  return transform_ == TargetTransform::kQuantile ? to_target(out) : out;
}

nlohmann::json RbfKernelRidge::to_json() const {
  return {{"type", "rbf_kernel_ridge"},
          {"gamma", gamma_},
          {"lambda", lambda_},
          {"target_transform", target_transform_name(transform_)},
          {"y_sorted", to_std(y_sorted_)},
          {"x_mean", to_std(x_mean_.transpose())},
          {"x_scale", to_std(x_scale_.transpose())},
          {"y_mean", y_mean_},
          {"y_scale", y_scale_},
          {"train_x", matrix_json(train_)},
          {"alpha", to_std(alpha_)}};
}

RbfKernelRidge RbfKernelRidge::from_json(const nlohmann::json& j) {
  const char* where = "head model";
  GHNAS_CHECK_AS(FileError, field<std::string>(j, "type", where) == "rbf_kernel_ridge", where,
                 ": unknown model type '", j.at("type").get<std::string>(), "'");
  RbfKernelRidge m;
  m.gamma_ = field<double>(j, "gamma", where);
  m.lambda_ = field<double>(j, "lambda", where);
  m.transform_ = parse_transform(field<std::string>(j, "target_transform", where));
  m.y_sorted_ = vector_field(j, "y_sorted", where);
  GHNAS_CHECK_AS(FileError, m.transform_ != TargetTransform::kQuantile || m.y_sorted_.size() > 0, where,
                 ": a quantile head needs y_sorted");
  m.x_mean_ = vector_field(j, "x_mean", where).transpose();
  m.x_scale_ = vector_field(j, "x_scale", where).transpose();
  m.y_mean_ = field<double>(j, "y_mean", where);
  m.y_scale_ = field<double>(j, "y_scale", where);
  m.alpha_ = vector_field(j, "alpha", where);
  const auto rows = field<std::vector<std::vector<double>>>(j, "train_x", where);
  const auto d = m.x_mean_.size();
  GHNAS_CHECK_AS(FileError, m.x_scale_.size() == d && static_cast<Eigen::Index>(rows.size()) == m.alpha_.size(),
                 where, ": sizes of x_mean, x_scale, train_x and alpha disagree");
  m.train_.resize(static_cast<Eigen::Index>(rows.size()), d);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    GHNAS_CHECK_AS(FileError, static_cast<Eigen::Index>(rows[i].size()) == d, where, ": train_x row ", i,
                   " has ", rows[i].size(), " values, expected ", d);
    for (Eigen::Index c = 0; c < d; ++c) m.train_(static_cast<Eigen::Index>(i), c) = rows[i][static_cast<std::size_t>(c)];
  }
  return m;
}

// ---- grid search

std::vector<int> kfold_assignment(std::size_t n, int k, std::uint64_t seed) {
  GHNAS_CHECK_AS(ConfigError, k >= 2, "need at least 2 folds, got ", k);
  GHNAS_CHECK_AS(ConfigError, n >= static_cast<std::size_t>(k), "only ", n, " rows for ", k,
                 " folds: every fold needs at least one row");
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates on raw mt19937_64 draws: std::shuffle's algorithm differs between libraries.
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  std::vector<int> fold(n);
  for (std::size_t i = 0; i < n; ++i) fold[order[i]] = static_cast<int>(i % static_cast<std::size_t>(k));
  return fold;
}

GridSearchResult grid_search_krr(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const GridSearchOptions& options) {
  GHNAS_CHECK_AS(ConfigError, !options.gamma_scales.empty() && !options.lambdas.empty(), "empty hyper-parameter grid");
  const auto n = static_cast<std::size_t>(x.rows());
  const auto fold = kfold_assignment(n, options.folds, options.seed);
  const double d = static_cast<double>(std::max<Eigen::Index>(1, x.cols()));
  GHNAS_CHECK_AS(ConfigError, !options.transforms.empty(), "empty hyper-parameter grid");
  const std::size_t n_g = options.gamma_scales.size(), n_l = options.lambdas.size();
  std::vector<std::vector<double>> tau_sum(options.transforms.size() * n_g, std::vector<double>(n_l, 0));
  for (int f = 0; f < options.folds; ++f) {
    std::vector<std::size_t> train, test;
    for (std::size_t i = 0; i < n; ++i) (fold[i] == f ? test : train).push_back(i);
    const Eigen::MatrixXd xtr = rows_of(x, train), xte = rows_of(x, test);
    Eigen::VectorXd ytr(static_cast<Eigen::Index>(train.size()));
    for (std::size_t i = 0; i < train.size(); ++i) ytr(static_cast<Eigen::Index>(i)) = y(static_cast<Eigen::Index>(train[i]));
    std::vector<double> yte;
    for (auto i : test) yte.push_back(y(static_cast<Eigen::Index>(i)));
    for (std::size_t t = 0; t < options.transforms.size(); ++t) {
      for (std::size_t g = 0; g < n_g; ++g) {
        for (std::size_t l = 0; l < n_l; ++l) {
          RbfKernelRidge m;
          m.fit(xtr, ytr, options.gamma_scales[g] / d, options.lambdas[l], options.transforms[t]);
          const double tau = kendall_tau(to_std(m.predict(xte)), yte);
          // A constant prediction ranks nothing: score it as chance.
          tau_sum[t * n_g + g][l] += std::isnan(tau) ? 0.0 : tau;
        }
      }
    }
  }
  GridSearchResult best;
  best.cv_tau = -2;
  for (std::size_t t = 0; t < options.transforms.size(); ++t)
    for (std::size_t g = 0; g < n_g; ++g)
      for (std::size_t l = 0; l < n_l; ++l) {
        const double tau = tau_sum[t * n_g + g][l] / options.folds;
        if (tau > best.cv_tau) best = {options.gamma_scales[g] / d, options.lambdas[l], tau, options.transforms[t]};
      }
  return best;
}

RbfKernelRidge fit_krr(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const GridSearchOptions& options,
                       GridSearchResult* chosen) {
  const GridSearchResult best = grid_search_krr(x, y, options);
  RbfKernelRidge m;
  m.fit(x, y, best.gamma, best.lambda, best.transform);
  if (chosen) *chosen = best;
  return m;
}

PropertyHead fit_head(const std::string& target, const FeatureConfig& features, const FeatureTable& table,
                      const Eigen::VectorXd& y, const GridSearchOptions& options) {
  PropertyHead head;
  head.target = target;
  head.features = features;
  head.model = fit_krr(table.select(features), y, options, &head.search);
  head.train_rows = static_cast<std::size_t>(y.size());
  return head;
}

// ---- provenance and the heads file

nlohmann::json EmbeddingProvenance::to_json() const {
  return {{"checkpoint_hash", checkpoint_hash}, {"checkpoint", checkpoint}, {"hid", hid}, {"task", task}, {"space", space}};
}

EmbeddingProvenance EmbeddingProvenance::from_json(const nlohmann::json& j) {
  const char* where = "heads provenance";
  return {field<std::string>(j, "checkpoint_hash", where), field<std::string>(j, "checkpoint", where),
          field<int>(j, "hid", where), field<std::string>(j, "task", where), field<std::string>(j, "space", where)};
}

void PropertyHeads::check_provenance(const EmbeddingProvenance& actual) const {
  const auto& p = provenance;
  GHNAS_CHECK_AS(ConfigError, p.checkpoint_hash == actual.checkpoint_hash,
                 "the heads were fitted on embeddings of checkpoint '", p.checkpoint, "' (", p.checkpoint_hash,
                 "), not of '", actual.checkpoint, "' (", actual.checkpoint_hash, "): refit them with fit-heads");
  GHNAS_CHECK_AS(ConfigError, p.hid == actual.hid, "the heads read ", p.hid, "-dimensional embeddings, the GHN gives ",
                 actual.hid);
  GHNAS_CHECK_AS(ConfigError, p.space == actual.space, "the heads were fitted for space '", p.space, "', not '",
                 actual.space, "'");
  GHNAS_CHECK_AS(ConfigError, p.task == actual.task, "the heads were fitted on graphs for task '", p.task,
                 "', not '", actual.task, "'");
}

void PropertyHeads::save(const std::string& path) const {
  nlohmann::ordered_json j = {{"format", "ghnas-property-heads"}, {"version", 1}};
  j["provenance"] = provenance.to_json();
  j["cheap_features"] = cheap_feature_names();
  j["heads"] = nlohmann::ordered_json::array();
  for (const auto& h : heads) {
    j["heads"].push_back({{"target", h.target},
                          {"features", h.features.name()},
                          {"search",
                           {{"gamma", h.search.gamma},
                            {"lambda", h.search.lambda},
                            {"target_transform", target_transform_name(h.search.transform)},
                            {"cv_kendall_tau", h.search.cv_tau}}},
                          {"train_rows", h.train_rows},
                          {"model", h.model.to_json()}});
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", tmp, "'");
    out << j.dump() << "\n";
    out.flush();
    GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", tmp, "'");
  }
  GHNAS_CHECK_AS(FileError, std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path, "'");
}

PropertyHeads PropertyHeads::load(const std::string& path) {
  std::ifstream in(path);
  GHNAS_CHECK_AS(FileError, in.good(), "cannot open heads file '", path, "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw FileError(detail::str_cat("'", path, "' is not JSON: ", e.what()));
  }
  GHNAS_CHECK_AS(FileError, j.is_object() && j.value("format", "") == "ghnas-property-heads", "'", path,
                 "' is not a ghnas heads file (format is not ghnas-property-heads)");
  GHNAS_CHECK_AS(FileError, j.value("version", 0) == 1, "'", path, "': unsupported heads file version");
  try {
    GHNAS_CHECK_AS(FileError, field<std::vector<std::string>>(j, "cheap_features", "heads file") == cheap_feature_names(),
                   "the heads use another list of cheap features than this build of ghnas");
    PropertyHeads heads;
    heads.provenance = EmbeddingProvenance::from_json(field<nlohmann::json>(j, "provenance", "heads file"));
    for (const auto& h : field<nlohmann::json>(j, "heads", "heads file")) {
      PropertyHead head;
      head.target = field<std::string>(h, "target", "head");
      head.features = FeatureConfig::parse(field<std::string>(h, "features", "head"));
      const auto search = field<nlohmann::json>(h, "search", "head");
      head.search = {field<double>(search, "gamma", "head search"), field<double>(search, "lambda", "head search"),
                     field<double>(search, "cv_kendall_tau", "head search"),
                     parse_transform(field<std::string>(search, "target_transform", "head search"))};
      head.train_rows = field<std::size_t>(h, "train_rows", "head");
      head.model = RbfKernelRidge::from_json(field<nlohmann::json>(h, "model", "head"));
      heads.heads.push_back(std::move(head));
    }
    return heads;
  } catch (const Error& e) {
    throw FileError(detail::str_cat("'", path, "': ", e.what()));
  }
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GHNAS_CHECK_AS(FileError, in.good(), "cannot open '", path, "'");
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[static_cast<std::size_t>(i)]);
      h *= 0x100000001b3ULL;  // FNV prime
    }
  }
  std::ostringstream out;
  out << "fnv1a64:" << std::hex << std::setw(16) << std::setfill('0') << h;
  return out.str();
}

}  // namespace ghnas
