#pragma once
// Process-wide settings that decide how fast networks run on a CPU.

namespace ghnas {

/// Sets torch's intra-op thread count to `threads` (Debian's LibTorch starts with 1) and makes
/// glibc serve every allocation from its heap and keep freed memory there. With the default
/// settings each activation above 128 KiB is a fresh mmap whose pages fault in again on every
/// pass; on the sandboxed 2-core development machine that made a ReLU over a 150 MB batch take
/// 1.1 s instead of 13 ms, and a 64-image 28x28 convolution with one input channel 40 ms
/// instead of 0.3-0.7 ms. The price: memory freed by the process is kept for reuse rather than
/// returned to the system. Idempotent; call it before the first network runs.
///
/// OpenMP's wait policy cannot be changed from inside the process: when other processes share
/// the cores, run with OMP_WAIT_POLICY=passive, or spinning worker threads slow every parallel
/// op down by an order of magnitude.
void configure_cpu_runtime(int threads);

/// For its lifetime, the calling thread's torch ops use `threads` intra-op threads; other
/// threads keep theirs. torch::set_num_threads cannot do this: its count is process-wide and is
/// re-applied to each thread on that thread's first parallel op. Work that runs k at once (the
/// networks of a GHN meta-batch) gives each of its k threads 1/k of the cores this way instead
/// of k x the cores. Effective where LibTorch parallelises with the OpenMP runtime that ghnas
/// links (Debian's LibTorch); elsewhere (PyTorch's wheels bring their own) a no-op.
class IntraOpThreadsScope {
 public:
  explicit IntraOpThreadsScope(int threads);
  ~IntraOpThreadsScope();
  IntraOpThreadsScope(const IntraOpThreadsScope&) = delete;
  IntraOpThreadsScope& operator=(const IntraOpThreadsScope&) = delete;

 private:
  int previous_ = 0;  // 0: nothing to restore
};

}  // namespace ghnas
