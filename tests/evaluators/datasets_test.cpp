// Datasets: reading IDX (gzip) and CIFAR-10 binary files, errors that name the path and the
// package, the seeded validation split, and batch transforms.

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "evaluators/datasets.hpp"

namespace ghnas {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void put_u32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

// A Fashion-MNIST folder with `n_train` and `n_test` images: pixel p of image i is (i + p) % 256,
// label i % 10.
void write_fake_fashion(const std::string& dir, int n_train, int n_test) {
  for (const auto& [prefix, n] : {std::pair<std::string, int>{"train", n_train}, {"t10k", n_test}}) {
    std::string images, labels;
    put_u32(images, 0x803);
    put_u32(images, n);
    put_u32(images, 28);
    put_u32(images, 28);
    put_u32(labels, 0x801);
    put_u32(labels, n);
    for (int i = 0; i < n; ++i) {
      for (int p = 0; p < 784; ++p) images += static_cast<char>((i + p) % 256);
      labels += static_cast<char>(i % 10);
    }
    write_gzip(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
    write_gzip(dir + "/" + prefix + "-labels-idx1-ubyte.gz", labels);
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  }
  return "";
}

TEST(Datasets, ReadsGzipIdxFilesAndHoldsOutAValidationSplit) {
  const std::string dir = fresh_dir("fake_fashion");
  write_fake_fashion(dir, 30, 12);
  const Dataset d = load_fashion_mnist(dir, /*val_size=*/10, /*split_seed=*/3);
  EXPECT_EQ(d.train.size(), 20);
  EXPECT_EQ(d.val.size(), 10);
  EXPECT_EQ(d.test.size(), 12);
  EXPECT_EQ(d.train.images.sizes().vec(), (std::vector<std::int64_t>{20, 1, 28, 28}));
  // Samples keep their pixels and labels: image i is identified by its first pixel, i % 256.
  std::set<int> seen;
  for (const ImageSet* set : {&d.train, &d.val}) {
    for (std::int64_t k = 0; k < set->size(); ++k) {
      const int i = set->images[k][0][0][0].item<int>();
      EXPECT_EQ(set->labels[k].item<int>(), i % 10);
      EXPECT_EQ(set->images[k][0][27][27].item<int>(), (i + 783) % 256);
      EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " is in two splits";
    }
  }
  EXPECT_EQ(seen.size(), 30u);
  for (std::int64_t k = 0; k < 12; ++k) EXPECT_EQ(d.test.images[k][0][0][0].item<int>(), k);

  // The split is a function of the seed.
  const Dataset again = load_fashion_mnist(dir, 10, 3);
  EXPECT_TRUE(torch::equal(again.val.images, d.val.images));
  const Dataset other = load_fashion_mnist(dir, 10, 4);
  EXPECT_FALSE(torch::equal(other.val.images, d.val.images));
}

TEST(Datasets, MissingFashionMnistNamesThePathAndThePackage) {
  std::string msg = error_of([] { load_fashion_mnist("/nonexistent/fashion"); });
  EXPECT_NE(msg.find("/nonexistent/fashion"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;

  const std::string dir = fresh_dir("partial_fashion");
  write_fake_fashion(dir, 5, 5);
  fs::remove(dir + "/t10k-labels-idx1-ubyte.gz");
  msg = error_of([&] { load_fashion_mnist(dir, 1); });
  EXPECT_NE(msg.find(dir + "/t10k-labels-idx1-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
}

TEST(Datasets, CorruptFilesAreNamed) {
  const std::string dir = fresh_dir("corrupt_fashion");
  write_fake_fashion(dir, 5, 5);
  // Not gzip and not IDX.
  std::ofstream(dir + "/train-images-idx3-ubyte.gz") << "this is not a dataset";
  std::string msg = error_of([&] { load_fashion_mnist(dir, 1); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz' is corrupt"), std::string::npos) << msg;

  // A truncated gzip stream.
  write_fake_fashion(dir, 5, 5);
  {
    std::ifstream in(dir + "/t10k-images-idx3-ubyte.gz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir + "/t10k-images-idx3-ubyte.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  msg = error_of([&] { load_fashion_mnist(dir, 1); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte.gz' is corrupt"), std::string::npos) << msg;

  // Label count disagreeing with the image count.
  write_fake_fashion(dir, 5, 5);
  std::string labels;
  put_u32(labels, 0x801);
  put_u32(labels, 4);
  labels += std::string(4, '\1');
  write_gzip(dir + "/train-labels-idx1-ubyte.gz", labels);
  msg = error_of([&] { load_fashion_mnist(dir, 1); });
  EXPECT_NE(msg.find("holds 5 images but"), std::string::npos) << msg;
}

TEST(Datasets, Cifar10ReadsBinaryBatchesAndNamesMissingFiles) {
  std::string msg = error_of([] { load_cifar10("/nonexistent/cifar"); });
  EXPECT_NE(msg.find("/nonexistent/cifar/data_batch_1.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test_batch.bin"), std::string::npos) << msg;

  const std::string dir = fresh_dir("fake_cifar");
  const std::string root = dir + "/cifar-10-batches-bin";
  fs::create_directories(root);
  std::string record(3073, '\0');
  for (int f = 0; f < 6; ++f) {
    const std::string name = f < 5 ? "data_batch_" + std::to_string(f + 1) + ".bin" : "test_batch.bin";
    std::ofstream out(root + "/" + name, std::ios::binary);
    for (int i = 0; i < 10000; ++i) {
      record[0] = static_cast<char>((i + f) % 10);
      record[1] = static_cast<char>(f);          // red (0, 0)
      record[1 + 1024] = static_cast<char>(100);  // green (0, 0)
      record[3072] = static_cast<char>(i % 256);  // blue (31, 31)
      out.write(record.data(), 3073);
    }
  }
  const Dataset d = load_cifar10(dir, /*val_size=*/5000);
  EXPECT_EQ(d.train.size(), 45000);
  EXPECT_EQ(d.val.size(), 5000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.test.labels[7].item<int>(), (7 + 5) % 10);
  EXPECT_EQ(d.test.images[7][0][0][0].item<int>(), 5);
  EXPECT_EQ(d.test.images[7][1][0][0].item<int>(), 100);
  EXPECT_EQ(d.test.images[300][2][31][31].item<int>(), 300 % 256);
  EXPECT_TRUE(d.info.horizontal_flip);
  EXPECT_DOUBLE_EQ(d.info.noise_sigma, 0.08);

  std::ofstream(root + "/test_batch.bin", std::ios::binary) << "short";
  msg = error_of([&] { load_cifar10(dir); });
  EXPECT_NE(msg.find("test_batch.bin' is corrupt"), std::string::npos) << msg;
}

TEST(Datasets, RealFashionMnistHasTheExpectedSplits) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset d = load_fashion_mnist();
  EXPECT_EQ(d.train.size(), 55000);
  EXPECT_EQ(d.val.size(), 5000);
  EXPECT_EQ(d.test.size(), 10000);
  // The published normalisation constants describe these pixels.
  const torch::Tensor pixels = d.train.images.to(torch::kFloat32) / 255;
  EXPECT_NEAR(pixels.mean().item<double>(), d.info.mean[0], 0.005);
  EXPECT_NEAR(pixels.std().item<double>(), d.info.std[0], 0.005);
  EXPECT_EQ(d.test.labels.bincount().min().item<int>(), 1000);
}

TEST(Datasets, BatchesAreNormalisedAndAugmentedCropsAreShiftsAndFlips) {
  DatasetInfo info = cifar10_info();
  info.channels = 1;
  info.height = info.width = 6;
  info.mean = {0.5f};
  info.std = {0.25f};
  info.crop_padding = 2;
  ImageSet set;
  set.images = torch::randint(1, 256, {4, 1, 6, 6}).to(torch::kUInt8);
  set.labels = torch::tensor({3, 1, 4, 1}, torch::kInt64);
  std::mt19937_64 rng(5);

  const Batch plain = make_batch(set, info, {2, 0}, BatchTransform{}, rng);
  EXPECT_TRUE(torch::equal(plain.labels, torch::tensor({4, 3}, torch::kInt64)));
  const torch::Tensor expected = (set.images[2].to(torch::kFloat32) / 255 - 0.5) / 0.25;
  EXPECT_TRUE(torch::allclose(plain.images[0], expected, 1e-5, 1e-6));

  // Every augmented image is the original shifted by (dy, dx) in [-2, 2] with zeros coming in,
  // possibly mirrored; over many draws both flips and several shifts appear.
  const torch::Tensor raw = set.images[0][0].to(torch::kFloat32) / 255;
  std::set<std::tuple<int, int, bool>> seen;
  for (int trial = 0; trial < 200; ++trial) {
    BatchTransform t;
    t.augment = true;
    const torch::Tensor img = make_batch(set, info, {0}, t, rng).images[0][0] * 0.25 + 0.5;
    bool matched = false;
    for (int dy = -2; dy <= 2 && !matched; ++dy)
      for (int dx = -2; dx <= 2 && !matched; ++dx)
        for (bool flip : {false, true}) {
          torch::Tensor cand = torch::zeros({6, 6});
          for (int y = 0; y < 6; ++y)
            for (int x = 0; x < 6; ++x) {
              const int sy = y + dy, sx = (flip ? 5 - x : x) + dx;
              if (sy >= 0 && sy < 6 && sx >= 0 && sx < 6) cand[y][x] = raw[sy][sx];
            }
          if (torch::allclose(img, cand, 1e-5, 1e-5)) {
            matched = true;
            seen.insert({dy, dx, flip});
            break;
          }
        }
    ASSERT_TRUE(matched) << "trial " << trial;
  }
  EXPECT_GT(seen.size(), 20u);

  // Without flips (Fashion-MNIST) no augmented image is mirrored unless it is a pure shift.
  info.horizontal_flip = false;
  BatchTransform t;
  t.augment = true;
  for (int trial = 0; trial < 50; ++trial) {
    const torch::Tensor img = make_batch(set, info, {0}, t, rng).images[0][0] * 0.25 + 0.5;
    // Some pixel of the original appears unmoved relative to its row neighbours: check the
    // shifted interior equals the source for the drawn shift.
    bool matched = false;
    for (int dy = -2; dy <= 2 && !matched; ++dy)
      for (int dx = -2; dx <= 2 && !matched; ++dx) {
        torch::Tensor cand = torch::zeros({6, 6});
        for (int y = 0; y < 6; ++y)
          for (int x = 0; x < 6; ++x)
            if (y + dy >= 0 && y + dy < 6 && x + dx >= 0 && x + dx < 6) cand[y][x] = raw[y + dy][x + dx];
        matched = torch::allclose(img, cand, 1e-5, 1e-5);
      }
    EXPECT_TRUE(matched) << "trial " << trial;
  }
}

TEST(Datasets, NoiseIsClippedToThePixelRange) {
  DatasetInfo info = fashion_mnist_info();
  ImageSet set;
  set.images = torch::cat({torch::zeros({1, 1, 28, 28}), torch::full({1, 1, 28, 28}, 255)}).to(torch::kUInt8);
  set.labels = torch::tensor({0, 1}, torch::kInt64);
  std::mt19937_64 rng(1);
  BatchTransform t;
  t.noise_sigma = 0.2;
  const Batch b = make_batch(set, info, {0, 1}, t, rng);
  const torch::Tensor pixels = b.images * info.std[0] + info.mean[0];
  EXPECT_GE(pixels.min().item<float>(), -1e-5f);
  EXPECT_LE(pixels.max().item<float>(), 1 + 1e-5f);
  // Black pixels only get brighter, white ones only darker; about half of each moves.
  const double black_moved = (pixels[0] > 1e-4).to(torch::kFloat32).mean().item<double>();
  const double white_moved = (pixels[1] < 1 - 1e-4).to(torch::kFloat32).mean().item<double>();
  EXPECT_NEAR(black_moved, 0.5, 0.08);
  EXPECT_NEAR(white_moved, 0.5, 0.08);
  // E[max(0, N(0, s))] = s / sqrt(2 pi).
  EXPECT_NEAR(pixels[0].mean().item<double>(), 0.2 / std::sqrt(2 * M_PI), 0.01);
}

TEST(Datasets, BatchingAndShuffling) {
  std::mt19937_64 a(9), b(9);
  const auto order = shuffled_indices(100, a);
  EXPECT_EQ(order, shuffled_indices(100, b));
  std::set<std::int64_t> all(order.begin(), order.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.rbegin(), 99);
  EXPECT_EQ(make_batches(order, 32, /*keep_last=*/false).size(), 3u);
  const auto kept = make_batches(order, 32, /*keep_last=*/true);
  ASSERT_EQ(kept.size(), 4u);
  EXPECT_EQ(kept.back().size(), 4u);
  EXPECT_EQ(kept[1][0], order[32]);
}

TEST(Datasets, SyntheticSetIsBalancedAndNormalised) {
  const Dataset d = make_synthetic_dataset(fashion_mnist_info(), 200, 40, 100, 1);
  EXPECT_EQ(d.train.size(), 200);
  EXPECT_EQ(d.val.size(), 40);
  EXPECT_EQ(d.test.size(), 100);
  EXPECT_EQ(d.test.labels.bincount().min().item<int>(), 10);
  std::vector<std::int64_t> all(200);
  for (int i = 0; i < 200; ++i) all[i] = i;
  std::mt19937_64 rng(0);
  const Batch b = make_batch(d.train, d.info, all, BatchTransform{}, rng);
  EXPECT_NEAR(b.images.mean().item<double>(), 0.0, 1e-3);
  EXPECT_NEAR(b.images.std().item<double>(), 1.0, 1e-2);
}

}  // namespace
}  // namespace ghnas
