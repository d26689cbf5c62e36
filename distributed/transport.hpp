#pragma once
// Internal to ghnas_distributed: the few MPI calls both sides make. Waiting is done by polling
// with a short sleep, never by a blocking MPI call: OpenMPI's blocking calls spin a core, and a
// worker spinning while idle takes the core that rank 0 or another worker is computing on.

#include <mpi.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace ghnas::distributed {

/// A message that has arrived: who sent it and its bytes.
struct Received {
  int source = 0;
  int tag = 0;
  std::string bytes;
};

/// The next message from `source` with `tag` (MPI_ANY_SOURCE / MPI_ANY_TAG allowed) if one
/// has arrived, without waiting.
inline std::optional<Received> try_receive(int source, int tag) {
  int found = 0;
  MPI_Status status;
  if (MPI_Iprobe(source, tag, MPI_COMM_WORLD, &found, &status) != MPI_SUCCESS || !found) return std::nullopt;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Received r;
  r.source = status.MPI_SOURCE;
  r.tag = status.MPI_TAG;
  r.bytes.resize(static_cast<std::size_t>(count));
  if (MPI_Recv(r.bytes.data(), count, MPI_BYTE, r.source, r.tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return std::nullopt;
  return r;
}

/// Sleeps between polls: 20 us at first (a reply to a small chunk takes about that), doubling
/// to 2 ms while nothing happens, so an idle process costs next to no CPU.
class PollPause {
 public:
  void reset() { pause_ = kShortest; }
  void wait() {
    std::this_thread::sleep_for(pause_);
    pause_ = std::min(pause_ * 2, kLongest);
  }

 private:
  static constexpr std::chrono::microseconds kShortest{20};
  static constexpr std::chrono::microseconds kLongest{2000};
  std::chrono::microseconds pause_ = kShortest;
};

/// Seconds on a monotonic clock.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace ghnas::distributed
