#pragma once
// The messages between rank 0 and the workers of a distributed search, as JSON text carried in
// MPI byte messages. JSON keeps the format readable in a debugger and independent of struct
// layout; a chunk is a few candidates, so its size is nothing next to evaluating them.
//
//   work:   {"chunk": 7, "evaluator": "ghn-heads",
//            "candidates": [{"id": 12, "space": "nasbench201", "spec": ..., "hash": "..."}]}
//   answer: {"chunk": 7, "seconds": 0.21, "answers": [{"status": "ok", "metrics": {"clean_acc": 91.2},
//                                     "message": "", "charged": true}]}
//           or {"chunk": 7, "error": "what the evaluator threw"}

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "search/evaluation.hpp"

namespace ghnas::distributed {

/// MPI tags of the three kinds of message.
enum MessageTag : int {
  kWorkTag = 1,    // rank 0 -> worker: a chunk to evaluate
  kAnswerTag = 2,  // worker -> rank 0: the chunk's answers, or the error its evaluator threw
  kStopTag = 3,    // rank 0 -> worker: no more work, leave the loop (empty message)
};

/// A chunk of a batch, sent to one worker.
struct WorkMessage {
  /// Unique among the chunks rank 0 sends in a run, so a late answer is never taken for
  /// another chunk's.
  std::uint64_t chunk = 0;
  /// Which of the worker's evaluators scores it (a cascade stage's name, or the oracle's).
  std::string evaluator;
  std::vector<Candidate> candidates;
};

/// A worker's reply: one answer per candidate, in order, or the error the evaluator threw.
struct AnswerMessage {
  std::uint64_t chunk = 0;
  std::vector<CandidateEvaluation> answers;
  /// Non-empty when the evaluator threw; `answers` is then empty.
  std::string error;
  /// Seconds the worker spent evaluating the chunk (rank 0 reports what the round trip
  /// cost beyond it).
  double seconds = 0;
};

std::string encode(const WorkMessage& message);
std::string encode(const AnswerMessage& message);
/// Throw ghnas::Error for text that is not a message of that kind.
WorkMessage decode_work(const std::string& text);
AnswerMessage decode_answer(const std::string& text);

}  // namespace ghnas::distributed
