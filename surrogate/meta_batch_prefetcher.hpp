#pragma once
// Builds training meta-batches ahead of the GHN trainer. A producer thread walks the iterations
// in order and builds each meta-batch's graphs and executors in parallel with TBB, keeping at
// most `depth` finished meta-batches in a bounded queue; the trainer pops them in order. When
// building is faster than training (the usual case) the trainer never waits for a graph.
//
// The producer is a dedicated std::thread rather than a TBB task: with TBB limited to one
// worker (--threads 1) a queued task would only run when the trainer's thread waits on it, so
// nothing would be built ahead.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "surrogate/ghn_trainer.hpp"

namespace ghnas {

class MetaBatchPrefetcher {
 public:
  /// Calls build(i) for i = first, first + 1, ..., end - 1 on the producer thread.
  MetaBatchPrefetcher(std::function<MetaBatch(std::int64_t)> build, std::int64_t first, std::int64_t end,
                      int depth);
  /// Stops the producer (a meta-batch being built is finished and dropped).
  ~MetaBatchPrefetcher();
  MetaBatchPrefetcher(const MetaBatchPrefetcher&) = delete;
  MetaBatchPrefetcher& operator=(const MetaBatchPrefetcher&) = delete;

  /// The next meta-batch, in iteration order; waits when it is not built yet. Rethrows what the
  /// builder threw. Calling it more than end - first times throws Error.
  MetaBatch next();
  /// Seconds next() spent waiting for the producer so far.
  double wait_seconds() const { return wait_seconds_; }

 private:
  void produce();

  std::function<MetaBatch(std::int64_t)> build_;
  std::int64_t next_build_, next_pop_, end_;
  std::size_t depth_;
  std::deque<MetaBatch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  double wait_seconds_ = 0.0;
  std::thread producer_;
};

}  // namespace ghnas
