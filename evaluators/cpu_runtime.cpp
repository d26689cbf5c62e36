#include "evaluators/cpu_runtime.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#if defined(GHNAS_HAVE_OPENMP) && AT_PARALLEL_OPENMP
#include <omp.h>
#define GHNAS_PER_THREAD_INTRA_OP 1
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/error.hpp"

namespace ghnas {

void configure_cpu_runtime(int threads) {
  GHNAS_CHECK_AS(ConfigError, threads > 0, "torch threads must be positive, got ", threads);
  torch::set_num_threads(threads);
#if defined(__GLIBC__)
  // Every block from the heap (no mmap for large blocks) and a heap that is not trimmed, so the
  // pages of one step's activations are reused by the next instead of faulting in again.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

IntraOpThreadsScope::IntraOpThreadsScope(int threads) {
  GHNAS_CHECK_AS(ConfigError, threads > 0, "intra-op threads must be positive, got ", threads);
#ifdef GHNAS_PER_THREAD_INTRA_OP
  // LibTorch sets a thread's OpenMP count to the process-wide one on the thread's first parallel
  // op; doing that first keeps it from overriding this scope's count later.
  at::internal::lazy_init_num_threads();
  previous_ = omp_get_max_threads();
  omp_set_num_threads(threads);
#endif
}

IntraOpThreadsScope::~IntraOpThreadsScope() {
#ifdef GHNAS_PER_THREAD_INTRA_OP
  if (previous_ > 0) omp_set_num_threads(previous_);
#endif
}

}  // namespace ghnas
