#pragma once
// The matrix products of the GHN's MLPs and decoder, routed to the fastest kernel LibTorch has.
//
// Debian's LibTorch calls whichever BLAS the system provides (Debian's "libblas.so.3"
// alternative): OpenBLAS runs these products at 40-100 GFLOP/s on the CI machine, the reference
// BLAS at 2-6. oneDNN's 1x1 convolution, also inside LibTorch, reaches 50-150 GFLOP/s but pays
// for reordering weights and compiling kernels on every new shape. So inference measures the BLAS
// once per process (a 256^3 product) and uses it when it is fast, oneDNN otherwise. When autograd
// must record the op, or on CUDA, the ordinary ops run. Results agree up to float rounding.

#include <torch/torch.h>

namespace ghnas {

/// y = W x + b along the channel axis: x [1, K, P, 1] (channels first, P columns), weight [M, K]
/// or [M, K, 1, 1] -> [1, M, P, 1].
torch::Tensor pointwise(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

/// x W^T + b for x [R, K], weight [M, K] -> [R, M] (possibly a transposed view).
torch::Tensor dense(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

/// True when the process's BLAS multiplies float matrices fast enough to be used for inference
/// (measured once, on first call).
bool blas_is_fast();

/// Which kernel inference products use on the CPU: chosen by blas_is_fast() (kAuto, the default),
/// or forced, for tests that compare the two and benchmarks that time each.
enum class DenseBackend { kAuto, kBlas, kOneDnn };
void set_dense_backend(DenseBackend backend);
/// The kernel inference products use now (kBlas or kOneDnn).
DenseBackend dense_backend();

}  // namespace ghnas
