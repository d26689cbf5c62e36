#pragma once
// Property heads: regressors from a GHN graph embedding (optionally with cheap features of the
// architecture) to a measured property such as accuracy or latency (the paper's property
// prediction, Knyazev et al. 2021, Sec. 5.3, which fits an RBF-SVR on the embeddings with k-fold
// grid search). Here the regressor is RBF kernel ridge regression on standardised features with a
// standardised target; its two hyper-parameters are chosen by k-fold cross-validated Kendall tau,
// the measure a ranking surrogate is judged by.
//
//   PropertyHeads heads;
//   heads.provenance = {file_hash(ck), ck, 32, "cifar10", "nasbench201"};
//   heads.heads.push_back(fit_head("c10_test_nats", {/*embedding=*/true, /*cheap=*/true},
//                                  features, y, GridSearchOptions{}));
//   heads.save("heads.json");
//   auto loaded = PropertyHeads::load("heads.json");
//   loaded.check_provenance(actual);   // ConfigError when embeddings come from another GHN
//   Eigen::VectorXd acc = loaded.heads[0].predict(features);

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ghnas {

/// Which inputs a head reads: the GHN graph embedding, the cheap features (cheap_feature_names(),
/// computed from the ArchGraph), the plain encoding (plain_encoding(): one-hot ops for nasbench201),
/// or several of them concatenated in that order (embedding, cheap, plain).
struct FeatureConfig {
  bool embedding = true;
  bool cheap = false;
  bool plain = false;
  /// The parts joined by '+', in the order above: "embedding", "embedding+cheap",
  /// "embedding+plain", "embedding+cheap+plain", "cheap", ...
  std::string name() const;
  /// Inverse of name() (parts in any order, each at most once); throws ConfigError otherwise.
  static FeatureConfig parse(const std::string& name);
};

/// Per-architecture inputs of the heads, one row per architecture.
struct FeatureTable {
  Eigen::MatrixXd embedding;  // [n, hid]
  Eigen::MatrixXd cheap;      // [n, cheap_feature_names().size()]
  Eigen::MatrixXd plain;      // [n, size of plain_encoding() in this space]
  std::size_t rows() const {
    return static_cast<std::size_t>(std::max({embedding.rows(), cheap.rows(), plain.rows()}));
  }
  /// The matrix a head with `config` reads. Throws ConfigError when a part it needs is missing.
  Eigen::MatrixXd select(const FeatureConfig& config) const;
  /// Rows `index` of every part.
  FeatureTable subset(const std::vector<std::size_t>& index) const;
};

/// How a head scales its target before the regression.
enum class TargetTransform {
  /// (y - mean) / sd.
  kStandard,
  /// The target's empirical quantile (average rank / n), centred and standardised: outliers
  /// (NAS-Bench-201's 10 % cells) stop dominating the squared loss. Predictions are mapped back
  /// through the training targets' quantiles (linear between them, linear beyond the ends), so
  /// they stay in the target's units and strictly monotone in the regression output.
  kQuantile,
};
/// "standard", "quantile".
const char* target_transform_name(TargetTransform t);

/// RBF kernel ridge regression: f(x) = sum_i alpha_i exp(-gamma |x - x_i|^2) on standardised x,
/// fitted to the standardised target by solving (K + lambda I) alpha = y. Feature columns with no
/// spread are kept but scaled by 1, so they cancel in every distance.
///
/// Concatenated parts (embedding + plain encoding) are standardised per column and not weighted
/// per part: on NAS-Bench-201 (1,000 cells, 5-fold CV) scaling each part to equal total variance,
/// or searching the embedding's share in {1/4 .. 4}, changed Kendall tau by at most 0.006, within
/// the folds' spread, and never for the better overall.
class RbfKernelRidge {
 public:
  /// gamma is per standardised squared distance; lambda > 0.
  void fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double gamma, double lambda,
           TargetTransform transform = TargetTransform::kStandard);
  Eigen::VectorXd predict(const Eigen::MatrixXd& x) const;
  bool fitted() const { return alpha_.size() > 0; }
  double gamma() const { return gamma_; }
  double lambda() const { return lambda_; }
  TargetTransform transform() const { return transform_; }
  Eigen::Index num_features() const { return x_mean_.size(); }

  /// Everything predict needs, exact (doubles print with 17 significant digits).
  nlohmann::json to_json() const;
  /// Throws FileError naming the missing or malformed field.
  static RbfKernelRidge from_json(const nlohmann::json& j);

 private:
  Eigen::MatrixXd standardise(const Eigen::MatrixXd& x) const;
  Eigen::VectorXd to_target(const Eigen::VectorXd& quantile) const;
  Eigen::RowVectorXd x_mean_, x_scale_;
  double y_mean_ = 0, y_scale_ = 1;
  double gamma_ = 0, lambda_ = 0;
  TargetTransform transform_ = TargetTransform::kStandard;
  Eigen::VectorXd y_sorted_;  // kQuantile: the training targets, ascending
  Eigen::MatrixXd train_;  // standardised training features
  Eigen::VectorXd alpha_;
};

/// The hyper-parameter grid and its cross-validation.
struct GridSearchOptions {
  /// gamma = g / d for g in gamma_scales, d the number of features (so the kernel's width follows
  /// the typical squared distance 2d of standardised features).
  std::vector<double> gamma_scales = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0};
  std::vector<double> lambdas = {1e-3, 1e-2, 1e-1, 1.0};
  std::vector<TargetTransform> transforms = {TargetTransform::kStandard, TargetTransform::kQuantile};
  int folds = 3;
  std::uint64_t seed = 0;
};

/// The chosen point of the grid and its mean cross-validated Kendall tau.
struct GridSearchResult {
  double gamma = 0, lambda = 0, cv_tau = 0;
  TargetTransform transform = TargetTransform::kStandard;
};

/// Balanced fold ids 0..k-1 for n rows, shuffled with `seed` (the same on every platform).
/// Throws ConfigError when n < k or k < 2.
std::vector<int> kfold_assignment(std::size_t n, int k, std::uint64_t seed);

/// k-fold grid search of RbfKernelRidge by mean Kendall tau on the held-out folds.
GridSearchResult grid_search_krr(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const GridSearchOptions& options);

/// Grid search, then a fit on all rows with the chosen hyper-parameters.
RbfKernelRidge fit_krr(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const GridSearchOptions& options,
                       GridSearchResult* chosen = nullptr);

/// One fitted head.
struct PropertyHead {
  std::string target;
  FeatureConfig features;
  RbfKernelRidge model;
  GridSearchResult search;  // how the hyper-parameters were chosen
  std::size_t train_rows = 0;
  Eigen::VectorXd predict(const FeatureTable& table) const { return model.predict(table.select(features)); }
};

/// Fits a head for `target` on `table` (grid search included).
PropertyHead fit_head(const std::string& target, const FeatureConfig& features, const FeatureTable& table,
                      const Eigen::VectorXd& y, const GridSearchOptions& options);

/// Where the embeddings a set of heads reads come from. Heads only make sense with embeddings of
/// the same GHN on graphs built the same way.
struct EmbeddingProvenance {
  std::string checkpoint_hash;  // file_hash() of the GHN checkpoint
  std::string checkpoint;       // its path when fitted (informational)
  int hid = 0;
  std::string task, space;
  nlohmann::json to_json() const;
  static EmbeddingProvenance from_json(const nlohmann::json& j);
};

/// The heads file: provenance plus one head per target.
struct PropertyHeads {
  EmbeddingProvenance provenance;
  std::vector<PropertyHead> heads;

  /// JSON: {"format": "ghnas-property-heads", "version": 1, "provenance": {...},
  ///        "cheap_features": [names], "heads": [{"target", "features", "search", "train_rows",
  ///        "model"}]}; "features" is FeatureConfig::name(). Written to a temporary file and
  ///        renamed. Throws FileError.
  void save(const std::string& path) const;
  /// Throws FileError naming the file and the problem.
  static PropertyHeads load(const std::string& path);
  /// Throws ConfigError, naming both sides, when `actual` embeddings differ from the fitted ones
  /// (another checkpoint, hid, task or space).
  void check_provenance(const EmbeddingProvenance& actual) const;
};

/// FNV-1a 64-bit hash of a file's bytes, as "fnv1a64:<16 hex digits>". Throws FileError.
std::string file_hash(const std::string& path);

}  // namespace ghnas
