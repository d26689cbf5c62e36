#pragma once
// A worker's side of a distributed search (ranks 1..K-1): receive a chunk from rank 0,
// evaluate it with the same evaluator a single-process run would build, send the answers
// back, until rank 0 says stop. Workers never open the results database.

#include <map>
#include <string>

#include "search/evaluation.hpp"

namespace ghnas::distributed {

/// Serves chunks until rank 0 sends the stop message. `evaluators`: name -> evaluator, the
/// names rank 0's MpiEvaluators use. A chunk for an unknown name, or whose evaluator throws,
/// is answered with the error (rank 0 rethrows it). Returns the number of chunks served.
std::size_t serve_chunks(const std::map<std::string, SearchEvaluator*>& evaluators);

}  // namespace ghnas::distributed
