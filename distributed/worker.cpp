#include "distributed/worker.hpp"

#include <exception>

#include "distributed/protocol.hpp"
#include "distributed/transport.hpp"

namespace ghnas::distributed {

namespace {

AnswerMessage answer(const std::map<std::string, SearchEvaluator*>& evaluators, const std::string& bytes) {
  AnswerMessage reply;
  try {
    WorkMessage work = decode_work(bytes);
    reply.chunk = work.chunk;
    const auto it = evaluators.find(work.evaluator);
    if (it == evaluators.end()) {
      reply.error = "distributed: this worker has no evaluator '" + work.evaluator + "'";
      return reply;
    }
    reply.answers = it->second->evaluate(work.candidates);
    if (reply.answers.size() != work.candidates.size()) {
      reply.answers.clear();
      reply.error = "distributed: evaluator '" + work.evaluator + "' gave a wrong number of answers";
    }
  } catch (const std::exception& e) {
    // The boundary catches the base class: LibTorch throws plain std::runtime_error.
    reply.answers.clear();
    reply.error = e.what();
  }
  return reply;
}

}  // namespace

std::size_t serve_chunks(const std::map<std::string, SearchEvaluator*>& evaluators) {
  std::size_t served = 0;
  PollPause pause;
  for (;;) {
    std::optional<Received> message = try_receive(/*source=*/0, MPI_ANY_TAG);
    if (!message) {
      pause.wait();
      continue;
    }
    pause.reset();
    if (message->tag == kStopTag) return served;
    if (message->tag != kWorkTag) continue;
    const double start = now_seconds();
    AnswerMessage reply_message = answer(evaluators, message->bytes);
    reply_message.seconds = now_seconds() - start;
    const std::string reply = encode(reply_message);
    // Blocking is right here: rank 0 polls for answers all the time, and a worker has
    // nothing else to do until this one is taken.
    MPI_Send(reply.data(), static_cast<int>(reply.size()), MPI_BYTE, /*dest=*/0, kAnswerTag, MPI_COMM_WORLD);
    ++served;
  }
}

}  // namespace ghnas::distributed
