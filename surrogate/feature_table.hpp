#pragma once
// The inputs of the property heads for a list of architectures: GHN graph embeddings, cheap
// features and plain encodings, computed from one ArchGraph per architecture.

#include <string>
#include <vector>

#include "space/search_space.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/property_heads.hpp"

namespace ghnas {

/// Embeddings of `ghn` (skipped when `ghn` is null), cheap features and plain encodings of every architecture,
/// built for `task`, `batch` graphs per GHN call, graphs built in parallel with TBB (the caller
/// bounds its threads). Throws ArchError "architecture <i>: ..." (0-based index into `archs`)
/// for one that does not build. Runs without gradients.
FeatureTable compute_feature_table(Ghn* ghn, const SearchSpace& space, const std::vector<Architecture>& archs,
                                   const Task& task, std::size_t batch = 64);

/// The provenance of embeddings from the checkpoint at `checkpoint_path` loaded as `ghn`.
EmbeddingProvenance embedding_provenance(const std::string& checkpoint_path, Ghn& ghn, const std::string& task,
                                         const std::string& space);

}  // namespace ghnas
