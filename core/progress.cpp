#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace ghnas {

ProgressBar::ProgressBar(std::size_t total, std::string label, int enabled)
    : total_(total), label_(std::move(label)),
      enabled_(enabled < 0 ? isatty(STDERR_FILENO) != 0 : enabled != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::tick(std::size_t n, const std::string& status) {
  const std::size_t done = done_.fetch_add(n) + n;
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!status.empty()) status_ = status;
  const auto now = std::chrono::steady_clock::now();
  // Redrawing at most 10 times a second keeps the terminal cheap on fast loops.
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, status_);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  draw(done_.load(), status_);
  std::fputc('\n', stderr);
}

void ProgressBar::draw(std::size_t done, const std::string& status) {
  constexpr int kWidth = 30;
  const double frac = total_ ? static_cast<double>(done) / total_ : 1.0;
  const int filled = static_cast<int>(frac * kWidth + 0.5);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? done / secs : 0;
  const double eta = (rate > 0 && total_ > done) ? (total_ - done) / rate : 0;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %zu/%zu %.1f/s eta %.0fs %s\x1b[K", label_.c_str(), bar.c_str(),
               done, total_, rate, eta, status.c_str());
  std::fflush(stderr);
}

}  // namespace ghnas
