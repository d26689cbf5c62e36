#include "evaluators/cpu_runtime.hpp"

#include <torch/torch.h>

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

}  // namespace ghnas
