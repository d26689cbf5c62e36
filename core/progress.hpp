#pragma once
// A progress bar for long work, drawn on stderr only when stderr is a terminal (so logs and
// pipes stay clean). Thread-safe: workers call tick() from any thread.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace ghnas {

class ProgressBar {
 public:
  /// `total` items; `label` is printed before the bar. Set `enabled` to force on/off.
  ProgressBar(std::size_t total, std::string label, int enabled = -1);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Marks `n` more items done; `status` (e.g. "best 91.2") is shown after the counts.
  void tick(std::size_t n = 1, const std::string& status = "");
  /// Draws the final state and ends the line.
  void finish();

 private:
  void draw(std::size_t done, const std::string& status);

  std::size_t total_;
  std::string label_;
  bool enabled_;
  bool finished_ = false;
  std::atomic<std::size_t> done_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::string status_;
};

}  // namespace ghnas
