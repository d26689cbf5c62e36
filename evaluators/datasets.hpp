#pragma once
// Image classification data for ground-truth training: Fashion-MNIST (IDX files, gzip-compressed,
// as the Debian package dataset-fashion-mnist installs them), CIFAR-10 (the binary batches) and a
// small synthetic set for tests. Images stay as bytes until a batch is drawn; batches are then
// augmented (random crop, optional horizontal flip), optionally noised, and normalised.

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ghnas {

/// Where the Debian package dataset-fashion-mnist puts its files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Per-dataset settings: shape, normalisation, augmentation and the test-noise level.
struct DatasetInfo {
  std::string name;
  int channels = 1, height = 28, width = 28, classes = 10;
  /// Per-channel mean and standard deviation of the training pixels in [0, 1].
  std::vector<float> mean, std;
  /// Random crop: zero padding on each side before cropping back to height x width.
  int crop_padding = 0;
  bool horizontal_flip = false;
  /// Standard deviation of the Gaussian noise added to [0, 1] test pixels for noisy accuracy.
  double noise_sigma = 0.0;
};

/// Settings of Fashion-MNIST: mean 0.2860, std 0.3530, crop padding 2, no flip (its test set
/// shows every shoe pointing left, so a flipped shoe is a view the network is never tested on),
/// noise sigma 0.2: at 0.05 noisy accuracy ranks networks exactly as clean accuracy does, at
/// 0.2 the rankings differ (Kendall tau 0.87 over 10 nets) with drops of 0 to 25 points
/// (results/executor_throughput.md).
DatasetInfo fashion_mnist_info();
/// Settings of CIFAR-10: per-channel mean/std, crop padding 4, horizontal flip, noise sigma 0.08.
DatasetInfo cifar10_info();

/// Samples of one split. Images are bytes (N, C, H, W) on the CPU, labels int64 (N).
struct ImageSet {
  torch::Tensor images;
  torch::Tensor labels;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// The first `n` samples (all when n <= 0 or n >= size()).
  ImageSet head(std::int64_t n) const;
};

/// A dataset with its validation split held out of the training set (never the test set).
struct Dataset {
  DatasetInfo info;
  ImageSet train, val, test;
};

/// Moves `val_size` training samples, chosen by a permutation seeded with `split_seed`,
/// into a validation set. The same seed gives the same split on every platform.
void hold_out_validation(Dataset& data, std::int64_t val_size, std::uint64_t split_seed);

/// Reads Fashion-MNIST from `dir` (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
/// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; uncompressed files without .gz are
/// read too). Throws FileError naming the path and the package dataset-fashion-mnist when a file
/// is missing, and naming the file and the problem when one is corrupt.
Dataset load_fashion_mnist(const std::string& dir = kFashionMnistDir, std::int64_t val_size = 5000,
                           std::uint64_t split_seed = 0);

/// Reads CIFAR-10 from the binary batches in `dir` (data_batch_1.bin .. data_batch_5.bin and
/// test_batch.bin, or a cifar-10-batches-bin folder inside `dir`). Throws FileError naming
/// the files expected when they are missing or have the wrong size.
Dataset load_cifar10(const std::string& dir, std::int64_t val_size = 5000, std::uint64_t split_seed = 0);

/// A learnable synthetic task for tests: each class is a fixed random template image, and a
/// sample is its class template plus pixel noise, so small networks separate the classes
/// after a few steps. Shapes and settings follow `info`; normalisation is computed from
/// the generated training pixels.
Dataset make_synthetic_dataset(DatasetInfo info, std::int64_t train_size, std::int64_t val_size,
                               std::int64_t test_size, std::uint64_t seed);

/// A batch ready for a network: normalised float32 images (B, C, H, W) and int64 labels.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};

/// How make_batch transforms the selected samples.
struct BatchTransform {
  /// Random crop with info.crop_padding and, when info.horizontal_flip, a flip with
  /// probability 1/2.
  bool augment = false;
  /// Gaussian noise of this standard deviation added to [0, 1] pixels, then clipped to [0, 1].
  double noise_sigma = 0.0;
};

/// Converts samples `indices` of `set` into a batch. Augmentation and noise draw from `rng`.
Batch make_batch(const ImageSet& set, const DatasetInfo& info, const std::vector<std::int64_t>& indices,
                 const BatchTransform& transform, std::mt19937_64& rng);

/// 0..n-1 shuffled with `rng` (Fisher-Yates on rng() draws, the same on every platform).
std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::mt19937_64& rng);

/// Splits `order` into consecutive batches of `batch_size`; the last, shorter batch is kept
/// only when `keep_last` (training drops it, so batch statistics always see full batches).
std::vector<std::vector<std::int64_t>> make_batches(const std::vector<std::int64_t>& order,
                                                    std::int64_t batch_size, bool keep_last);

}  // namespace ghnas
