#include "surrogate/feature_table.hpp"

#include <tbb/parallel_for.h>

#include <optional>

#include "core/error.hpp"
#include "space/ghn_graph.hpp"
#include "surrogate/cheap_features.hpp"

namespace ghnas {

FeatureTable compute_feature_table(Ghn* ghn, const SearchSpace& space, const std::vector<Architecture>& archs,
                                   const Task& task, std::size_t batch) {
  GHNAS_CHECK_AS(ConfigError, batch > 0, "batch must be positive");
  const auto n = static_cast<Eigen::Index>(archs.size());
  const auto n_cheap = static_cast<Eigen::Index>(cheap_feature_names().size());
  FeatureTable table;
  table.cheap.resize(n, n_cheap);
  table.plain.resize(n, static_cast<Eigen::Index>(plain_encoding_size(space)));
  if (ghn) table.embedding.resize(n, (*ghn)->config().hid);
  torch::NoGradGuard no_grad;
  for (std::size_t b0 = 0; b0 < archs.size(); b0 += batch) {
    const std::size_t m = std::min(batch, archs.size() - b0);
    std::vector<GhnGraph> graphs(ghn ? m : 0);
    std::vector<std::optional<std::string>> errors(m);
    tbb::parallel_for(std::size_t{0}, m, [&](std::size_t i) {
      try {
        const ArchGraph g = space.build_graph(archs[b0 + i], task);
        const auto f = cheap_features(g);
        for (Eigen::Index c = 0; c < n_cheap; ++c) table.cheap(static_cast<Eigen::Index>(b0 + i), c) = f[static_cast<std::size_t>(c)];
        const auto p = plain_encoding(space, archs[b0 + i], g);
        for (std::size_t c = 0; c < p.size(); ++c) table.plain(static_cast<Eigen::Index>(b0 + i), static_cast<Eigen::Index>(c)) = p[c];
        if (ghn) graphs[i] = build_ghn_graph(g, (*ghn)->config().s_max);
      } catch (const std::exception& e) {
        errors[i] = detail::str_cat("architecture ", b0 + i, ": ", e.what());
      }
    });
    for (const auto& e : errors)
      if (e) throw ArchError(*e);
    if (!ghn) continue;
    const auto emb = (*ghn)->embed(graph_pointers(graphs)).to(torch::kCPU, torch::kDouble).contiguous();
    const auto hid = emb.size(1);
    for (std::size_t i = 0; i < m; ++i)
      for (std::int64_t c = 0; c < hid; ++c)
        table.embedding(static_cast<Eigen::Index>(b0 + i), c) = emb.data_ptr<double>()[static_cast<std::int64_t>(i) * hid + c];
  }
  return table;
}

EmbeddingProvenance embedding_provenance(const std::string& checkpoint_path, Ghn& ghn, const std::string& task,
                                         const std::string& space) {
  return {file_hash(checkpoint_path), checkpoint_path, ghn->config().hid, task, space};
}

}  // namespace ghnas
