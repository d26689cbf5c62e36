#include "distributed/mpi_session.hpp"

#include <mpi.h>

#include <cstdlib>

#include "core/error.hpp"

namespace ghnas::distributed {

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  GHNAS_CHECK(!initialized, "distributed: MPI is already initialised in this process");
  int provided = 0;
  // FUNNELED: the search uses TBB threads, but only the main thread talks MPI.
  GHNAS_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
              "distributed: MPI_Init_thread failed");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // The node-local rank comes from the launcher, not from MPI_Comm_split_type: with OpenMPI
  // 4.1, any communicator created besides MPI_COMM_WORLD makes MPI_Finalize wait forever for a
  // worker that died (measured with mpirun --enable-recovery), which would undo the recovery.
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* value = std::getenv(name)) {
      local_rank_ = std::atoi(value);
      break;
    }
}

MpiSession::~MpiSession() { MPI_Finalize(); }

}  // namespace ghnas::distributed
