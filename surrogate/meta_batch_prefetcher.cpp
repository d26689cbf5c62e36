#include "surrogate/meta_batch_prefetcher.hpp"

#include <chrono>

#include "core/error.hpp"

namespace ghnas {

MetaBatchPrefetcher::MetaBatchPrefetcher(std::function<MetaBatch(std::int64_t)> build, std::int64_t first,
                                         std::int64_t end, int depth)
    : build_(std::move(build)),
      next_build_(first),
      next_pop_(first),
      end_(end),
      depth_(static_cast<std::size_t>(depth < 1 ? 1 : depth)) {
  producer_ = std::thread([this] { produce(); });
}

MetaBatchPrefetcher::~MetaBatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

void MetaBatchPrefetcher::produce() {
  for (;;) {
    std::int64_t i;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
      if (stop_ || next_build_ >= end_) return;
      i = next_build_++;
    }
    try {
      MetaBatch m = build_(i);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(m));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    changed_.notify_all();
  }
}

MetaBatch MetaBatchPrefetcher::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  GHNAS_CHECK(next_pop_ < end_, "no meta-batch left: all ", end_, " iterations were taken");
  const auto t0 = std::chrono::steady_clock::now();
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ready_.empty()) std::rethrow_exception(error_);
  MetaBatch m = std::move(ready_.front());
  ready_.pop_front();
  ++next_pop_;
  lock.unlock();
  changed_.notify_all();
  return m;
}

}  // namespace ghnas
