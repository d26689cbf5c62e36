#include "distributed/mpi_evaluator.hpp"

#include <algorithm>
#include <deque>
#include <exception>
#include <iostream>

#include "core/error.hpp"
#include "distributed/protocol.hpp"
#include "distributed/transport.hpp"

namespace ghnas::distributed {

namespace {

enum class WorkerState {
  kIdle,  // may be given a chunk
  kBusy,  // holds a chunk, within its deadline
  kLost,  // did not answer its chunk in time (slow, hung or dead); gets nothing until it answers
};

struct Worker {
  WorkerState state = WorkerState::kIdle;
  std::uint64_t chunk = 0;  // the chunk it holds when kBusy or kLost
  double sent = 0;
  double deadline = 0;
  std::string buffer;  // the bytes of the send in flight, alive until it completes
  MPI_Request request = MPI_REQUEST_NULL;
};

// A contiguous part of the batch being evaluated.
struct Chunk {
  std::size_t begin = 0, end = 0;
  std::uint64_t id = 0;  // of its latest send
  int worker = 0;        // 0: not out
  int sends = 0;
  bool done = false;
};

}  // namespace

struct WorkerPool::State {
  std::vector<Worker> workers;  // by rank; [0] is rank 0 itself and unused

  // Sends `bytes` to `rank` without waiting for the receiver; false when MPI refuses.
  bool send(int rank, std::string bytes, int tag) {
    Worker& w = workers[rank];
    if (w.request != MPI_REQUEST_NULL) abandon_send(rank);
    w.buffer = std::move(bytes);
    return MPI_Isend(w.buffer.data(), static_cast<int>(w.buffer.size()), MPI_BYTE, rank, tag, MPI_COMM_WORLD,
                     &w.request) == MPI_SUCCESS;
  }
  // The previous send to a worker that has since answered is complete or about to be; one to
  // a worker that never answered (dead) may never complete: its buffer is left to MPI.
  void abandon_send(int rank) {
    Worker& w = workers[rank];
    if (w.state == WorkerState::kLost) {
      MPI_Request_free(&w.request);
      new std::string(std::move(w.buffer));  // deliberately leaked: MPI may still read it
    } else {
      MPI_Wait(&w.request, MPI_STATUS_IGNORE);
    }
    w.request = MPI_REQUEST_NULL;
  }
};

WorkerPool::WorkerPool(double worker_timeout_seconds) : state_(std::make_unique<State>()), timeout_(worker_timeout_seconds) {
  GHNAS_CHECK_AS(ConfigError, worker_timeout_seconds > 0, "distributed: the worker timeout must be positive, got ",
                 worker_timeout_seconds);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  state_->workers.resize(static_cast<std::size_t>(size));
}

WorkerPool::~WorkerPool() {
  try {
    stop();
  } catch (const std::exception& e) {
    std::cerr << "distributed: stopping the workers: " << e.what() << "\n";
  }
}

int WorkerPool::workers_available() const {
  return static_cast<int>(std::count_if(state_->workers.begin() + 1, state_->workers.end(),
                                        [](const Worker& w) { return w.state != WorkerState::kLost; }));
}

std::vector<CandidateEvaluation> WorkerPool::evaluate(const std::string& evaluator, const std::vector<Candidate>& batch,
                                                      SearchEvaluator* local) {
  GHNAS_CHECK(!stopped_, "distributed: the workers were stopped");
  std::vector<CandidateEvaluation> results(batch.size());
  if (batch.empty()) return results;
  std::vector<Worker>& workers = state_->workers;

  // One chunk per worker that can take one now: a batch sized for the surrogate is split, not
  // queued, so every worker embeds its part in one call.
  int idle = 0;
  for (std::size_t r = 1; r < workers.size(); ++r) idle += workers[r].state == WorkerState::kIdle;
  const std::size_t n_chunks = std::clamp<std::size_t>(static_cast<std::size_t>(idle), 1, batch.size());
  std::vector<Chunk> chunks(n_chunks);
  for (std::size_t c = 0; c < n_chunks; ++c) {
    chunks[c].begin = batch.size() * c / n_chunks;
    chunks[c].end = batch.size() * (c + 1) / n_chunks;
  }
  std::deque<std::size_t> pending;
  for (std::size_t c = 0; c < n_chunks; ++c) pending.push_back(c);
  std::size_t remaining = n_chunks;
  std::string error;  // the first error a worker's evaluator threw

  const auto slice = [&](const Chunk& c) {
    return std::vector<Candidate>(batch.begin() + static_cast<std::ptrdiff_t>(c.begin),
                                  batch.begin() + static_cast<std::ptrdiff_t>(c.end));
  };
  const auto finish = [&](Chunk& c, std::vector<CandidateEvaluation> answers) {
    std::move(answers.begin(), answers.end(), results.begin() + static_cast<std::ptrdiff_t>(c.begin));
    c.done = true;
    c.worker = 0;
    --remaining;
  };
  // Rank 0 evaluates a chunk no worker answered.
  const auto evaluate_here = [&](Chunk& c) {
    ++evaluated_locally_;
    std::vector<CandidateEvaluation> answers;
    if (!local) {
      answers.assign(c.end - c.begin, CandidateEvaluation::failed("distributed: no worker answered in time"));
    } else {
      try {
        answers = local->evaluate(slice(c));
      } catch (const std::exception& e) {
        if (error.empty()) error = e.what();
        answers.resize(c.end - c.begin);
      }
    }
    finish(c, std::move(answers));
  };
  // A chunk whose worker was lost: a second worker gets it, the third try is rank 0's.
  const auto retry = [&](std::size_t c) {
    chunks[c].worker = 0;
    if (chunks[c].sends < 2) {
      ++reassigned_;
      pending.push_back(c);
    } else {
      evaluate_here(chunks[c]);
    }
  };

  PollPause pause;
  while (remaining > 0) {
    bool progress = false;
    for (std::size_t r = 1; r < workers.size() && !pending.empty(); ++r) {
      Worker& w = workers[r];
      if (w.state != WorkerState::kIdle) continue;
      const std::size_t c = pending.front();
      pending.pop_front();
      Chunk& chunk = chunks[c];
      chunk.id = next_chunk_++;
      chunk.worker = static_cast<int>(r);
      ++chunk.sends;
      w.chunk = chunk.id;
      w.sent = now_seconds();
      w.deadline = w.sent + timeout_;
      w.state = WorkerState::kBusy;
      progress = true;
      if (!state_->send(static_cast<int>(r), encode(WorkMessage{chunk.id, evaluator, slice(chunk)}), kWorkTag)) {
        std::cerr << "distributed: cannot send to worker rank " << r << "; it gets no more work\n";
        w.state = WorkerState::kLost;
        retry(c);
      }
    }
    // Every worker lost: nobody left to wait for.
    const bool anyone = std::any_of(workers.begin() + 1, workers.end(),
                                    [](const Worker& w) { return w.state != WorkerState::kLost; });
    if (!anyone)
      while (!pending.empty()) {
        evaluate_here(chunks[pending.front()]);
        pending.pop_front();
        progress = true;
      }

    while (std::optional<Received> m = try_receive(MPI_ANY_SOURCE, kAnswerTag)) {
      progress = true;
      Worker& w = workers[static_cast<std::size_t>(m->source)];
      AnswerMessage answer;
      try {
        answer = decode_answer(m->bytes);
      } catch (const std::exception& e) {
        answer.chunk = w.chunk;
        answer.error = e.what();
      }
      if (answer.chunk != w.chunk) continue;  // not what it holds: a stale duplicate
      if (w.state == WorkerState::kLost)
        std::cerr << "distributed: worker rank " << m->source << " answered late; it gets work again\n";
      w.state = WorkerState::kIdle;
      ++timing_.chunks;
      timing_.worker_seconds += answer.seconds;
      timing_.round_trip_seconds += now_seconds() - w.sent;
      // Its chunk, unless that was given to another worker meanwhile (the late answer is then
      // dropped: the chunk has exactly one result, from whoever holds it now).
      for (Chunk& c : chunks) {
        if (c.done || c.id != answer.chunk || c.worker != m->source) continue;
        if (!answer.error.empty()) {
          if (error.empty()) error = answer.error;
          answer.answers.resize(c.end - c.begin);
        } else if (answer.answers.size() != c.end - c.begin) {
          if (error.empty()) error = "distributed: worker rank " + std::to_string(m->source) + " sent a wrong number of answers";
          answer.answers.resize(c.end - c.begin);
        }
        finish(c, std::move(answer.answers));
      }
    }

    const double now = now_seconds();
    for (std::size_t r = 1; r < workers.size(); ++r) {
      Worker& w = workers[r];
      if (w.state != WorkerState::kBusy || now < w.deadline) continue;
      w.state = WorkerState::kLost;
      progress = true;
      std::cerr << "distributed: worker rank " << r << " did not answer within " << timeout_
                << " s; its chunk goes to another worker and it gets no more work until it answers\n";
      for (std::size_t c = 0; c < chunks.size(); ++c)
        if (!chunks[c].done && chunks[c].id == w.chunk && chunks[c].worker == static_cast<int>(r)) retry(c);
    }
    if (progress) {
      pause.reset();
    } else {
      pause.wait();
    }
  }
  if (!error.empty()) throw Error(error);
  return results;
}

void WorkerPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<Worker>& workers = state_->workers;
  // Chunks still out (an evaluator threw while others ran, or a worker was lost): a worker
  // blocked sending its answer would never see the stop, and MPI_Finalize would wait for it.
  const double deadline = now_seconds() + timeout_;
  PollPause pause;
  const auto out = [&] {
    return std::any_of(workers.begin() + 1, workers.end(), [](const Worker& w) { return w.state != WorkerState::kIdle; });
  };
  while (out() && now_seconds() < deadline) {
    if (std::optional<Received> m = try_receive(MPI_ANY_SOURCE, kAnswerTag)) {
      workers[static_cast<std::size_t>(m->source)].state = WorkerState::kIdle;
      pause.reset();
    } else {
      pause.wait();
    }
  }
  if (workers.size() > 1)
    std::cerr << "distributed: " << timing_.chunks << " chunks answered by " << workers.size() - 1
              << " workers: " << timing_.worker_seconds << " s evaluating, " << timing_.round_trip_seconds
              << " s from send to answer; " << reassigned_ << " chunks reassigned, " << evaluated_locally_
              << " evaluated by rank 0\n";
  for (std::size_t r = 1; r < workers.size(); ++r) {
    const bool lost = workers[r].state != WorkerState::kIdle;
    workers[r].state = lost ? WorkerState::kLost : WorkerState::kIdle;
    state_->send(static_cast<int>(r), std::string(), kStopTag);
    state_->abandon_send(static_cast<int>(r));
  }
}

}  // namespace ghnas::distributed
