#pragma once
// MPI for the lifetime of one `mpirun -np K ghnas ...` process. Every rank parses the same
// command line; rank 0 then runs the search and the others serve it (worker.hpp).

namespace ghnas::distributed {

/// Initialises MPI on construction (only the constructing thread calls MPI afterwards; TBB's
/// threads never do) and finalises it on destruction. Errors on MPI_COMM_WORLD are returned
/// instead of aborting the job, so rank 0 can treat a worker it cannot reach as lost.
/// One per process; MPI cannot be initialised twice.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  /// This process's rank in MPI_COMM_WORLD; 0 runs the search.
  int rank() const { return rank_; }
  /// Processes in the job (rank 0 and size() - 1 workers).
  int size() const { return size_; }
  /// Rank among the processes on this node (for picking a GPU: local_rank % device_count).
  int local_rank() const { return local_rank_; }

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
};

}  // namespace ghnas::distributed
