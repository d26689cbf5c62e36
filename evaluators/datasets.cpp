#include "evaluators/datasets.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.hpp"

namespace ghnas {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFashionFiles[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

std::string fashion_files_list() {
  std::string list;
  for (const char* f : kFashionFiles) list += (list.empty() ? "" : ", ") + std::string(f);
  return list;
}

// The whole content of a file, gunzipped when it is gzip data (zlib reads plain files as they
// are). Throws FileError naming the file on a read or decompression error.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  GHNAS_CHECK_AS(FileError, file != nullptr, "cannot open '", path, "'");
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> chunk(1 << 20);
  for (;;) {
    const int n = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(file.get(), &code);
      throw FileError(detail::str_cat("'", path, "' is corrupt: ", msg ? msg : "gzip error"));
    }
    if (n == 0) break;
    data.insert(data.end(), chunk.begin(), chunk.begin() + n);
  }
  return data;
}

std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& d, std::size_t at) {
  return (std::uint32_t{d[at]} << 24) | (std::uint32_t{d[at + 1]} << 16) |
         (std::uint32_t{d[at + 2]} << 8) | std::uint32_t{d[at + 3]};
}

// An IDX file of unsigned bytes with `dims` dimensions (LeCun's MNIST format).
struct IdxArray {
  std::vector<std::int64_t> shape;
  torch::Tensor data;  // uint8, flat
};

IdxArray read_idx(const std::string& path, int dims) {
  const std::vector<std::uint8_t> bytes = read_maybe_gzip(path);
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(dims);
  GHNAS_CHECK_AS(FileError, bytes.size() >= header, "'", path, "' is corrupt: ", bytes.size(),
                 " bytes, too short for an IDX header");
  const std::uint32_t magic = big_endian_u32(bytes, 0);
  GHNAS_CHECK_AS(FileError, magic == 0x800u + static_cast<std::uint32_t>(dims), "'", path,
                 "' is corrupt: IDX magic number ", magic, ", expected ", 0x800 + dims,
                 " (unsigned bytes, ", dims, " dimensions)");
  IdxArray a;
  std::size_t count = 1;
  for (int d = 0; d < dims; ++d) {
    a.shape.push_back(big_endian_u32(bytes, 4 + 4 * d));
    count *= static_cast<std::size_t>(a.shape.back());
  }
  GHNAS_CHECK_AS(FileError, bytes.size() == header + count, "'", path, "' is corrupt: ",
                 bytes.size() - header, " data bytes, the header promises ", count);
  a.data = torch::empty({static_cast<std::int64_t>(count)}, torch::kUInt8);
  std::copy(bytes.begin() + header, bytes.end(), a.data.data_ptr<std::uint8_t>());
  return a;
}

std::string find_fashion_file(const std::string& dir, const std::string& name) {
  const fs::path gz = fs::path(dir) / name;
  if (fs::exists(gz)) return gz.string();
  const fs::path plain = fs::path(dir) / name.substr(0, name.size() - 3);
  if (fs::exists(plain)) return plain.string();
  throw FileError(detail::str_cat(
      "Fashion-MNIST not found: '", gz.string(), "' does not exist (install the Debian package "
      "dataset-fashion-mnist, or name a folder holding ", fashion_files_list(), ")"));
}

ImageSet read_fashion_split(const std::string& dir, const std::string& images_file,
                            const std::string& labels_file) {
  const std::string ip = find_fashion_file(dir, images_file);
  const std::string lp = find_fashion_file(dir, labels_file);
  IdxArray images = read_idx(ip, 3);
  IdxArray labels = read_idx(lp, 1);
  GHNAS_CHECK_AS(FileError, images.shape[1] == 28 && images.shape[2] == 28, "'", ip,
                 "' is corrupt: images are ", images.shape[1], "x", images.shape[2], ", expected 28x28");
  GHNAS_CHECK_AS(FileError, images.shape[0] == labels.shape[0], "'", ip, "' holds ", images.shape[0],
                 " images but '", lp, "' holds ", labels.shape[0], " labels");
  GHNAS_CHECK_AS(FileError, labels.shape[0] > 0, "'", lp, "' holds no samples");
  GHNAS_CHECK_AS(FileError, labels.data.max().item<int>() <= 9, "'", lp,
                 "' is corrupt: a label is above 9");
  ImageSet set;
  set.images = images.data.view({images.shape[0], 1, 28, 28});
  set.labels = labels.data.to(torch::kInt64);
  return set;
}

ImageSet read_cifar_files(const std::vector<std::string>& paths) {
  constexpr std::int64_t kRecord = 1 + 3 * 32 * 32;
  constexpr std::int64_t kPerFile = 10000;
  const std::int64_t n = kPerFile * static_cast<std::int64_t>(paths.size());
  ImageSet set;
  set.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  set.labels = torch::empty({n}, torch::kInt64);
  std::uint8_t* img = set.images.data_ptr<std::uint8_t>();
  std::int64_t* lab = set.labels.data_ptr<std::int64_t>();
  std::vector<char> buf(kRecord * kPerFile);
  for (std::size_t f = 0; f < paths.size(); ++f) {
    std::ifstream in(paths[f], std::ios::binary | std::ios::ate);
    GHNAS_CHECK_AS(FileError, in.good(), "cannot open '", paths[f], "'");
    const auto size = static_cast<std::int64_t>(in.tellg());
    GHNAS_CHECK_AS(FileError, size == kRecord * kPerFile, "'", paths[f], "' is corrupt: ", size,
                   " bytes, a CIFAR-10 batch has ", kRecord * kPerFile);
    in.seekg(0);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    GHNAS_CHECK_AS(FileError, in.good(), "failed reading '", paths[f], "'");
    for (std::int64_t i = 0; i < kPerFile; ++i) {
      const char* rec = buf.data() + i * kRecord;
      const auto label = static_cast<std::uint8_t>(rec[0]);
      GHNAS_CHECK_AS(FileError, label <= 9, "'", paths[f], "' is corrupt: record ", i, " has label ",
                     int{label});
      const std::int64_t k = static_cast<std::int64_t>(f) * kPerFile + i;
      lab[k] = label;
      std::copy(rec + 1, rec + kRecord, img + k * (kRecord - 1));
    }
  }
  return set;
}

ImageSet take(const ImageSet& set, const std::vector<std::int64_t>& indices) {
  const torch::Tensor idx = torch::tensor(indices, torch::kInt64);
  return {set.images.index_select(0, idx), set.labels.index_select(0, idx)};
}

}  // namespace

DatasetInfo fashion_mnist_info() {
  DatasetInfo info;
  info.name = "fashion-mnist";
  info.channels = 1;
  info.height = info.width = 28;
  info.mean = {0.2860f};
  info.std = {0.3530f};
  info.crop_padding = 2;
  info.horizontal_flip = false;
  info.noise_sigma = 0.2;
  return info;
}

DatasetInfo cifar10_info() {
  DatasetInfo info;
  info.name = "cifar10";
  info.channels = 3;
  info.height = info.width = 32;
  info.mean = {0.4914f, 0.4822f, 0.4465f};
  info.std = {0.2470f, 0.2435f, 0.2616f};
  info.crop_padding = 4;
  info.horizontal_flip = true;
  info.noise_sigma = 0.08;
  return info;
}

ImageSet ImageSet::head(std::int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return {images.slice(0, 0, n), labels.slice(0, 0, n)};
}

std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::mt19937_64& rng) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  // rng() % (i + 1) rather than a std:: distribution: those differ between standard libraries,
  // and the validation split must be the same everywhere. The modulo bias is below 1e-14.
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[rng() % static_cast<std::uint64_t>(i + 1)]);
  return order;
}

void hold_out_validation(Dataset& data, std::int64_t val_size, std::uint64_t split_seed) {
  const std::int64_t n = data.train.size();
  GHNAS_CHECK_AS(ConfigError, val_size >= 0 && val_size < n, "validation size ", val_size,
                 " must be below the ", n, " training samples of ", data.info.name);
  if (val_size == 0) return;
  std::mt19937_64 rng(split_seed);
  const std::vector<std::int64_t> order = shuffled_indices(n, rng);
  std::vector<std::int64_t> val(order.begin(), order.begin() + val_size);
  std::vector<std::int64_t> train(order.begin() + val_size, order.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  data.val = take(data.train, val);
  data.train = take(data.train, train);
}

Dataset load_fashion_mnist(const std::string& dir, std::int64_t val_size, std::uint64_t split_seed) {
  GHNAS_CHECK_AS(FileError, fs::is_directory(dir), "Fashion-MNIST not found: '", dir,
                 "' is not a folder (install the Debian package dataset-fashion-mnist, or name a "
                 "folder holding ", fashion_files_list(), ")");
  Dataset data;
  data.info = fashion_mnist_info();
  data.train = read_fashion_split(dir, kFashionFiles[0], kFashionFiles[1]);
  data.test = read_fashion_split(dir, kFashionFiles[2], kFashionFiles[3]);
  hold_out_validation(data, val_size, split_seed);
  return data;
}

Dataset load_cifar10(const std::string& dir, std::int64_t val_size, std::uint64_t split_seed) {
  fs::path root(dir);
  if (!fs::exists(root / "data_batch_1.bin") && fs::exists(root / "cifar-10-batches-bin"))
    root /= "cifar-10-batches-bin";
  std::vector<std::string> train_files;
  for (int i = 1; i <= 5; ++i) train_files.push_back((root / ("data_batch_" + std::to_string(i) + ".bin")).string());
  const std::string test_file = (root / "test_batch.bin").string();
  for (const auto& f : train_files)
    GHNAS_CHECK_AS(FileError, fs::exists(f), "CIFAR-10 not found: '", f, "' does not exist (name a "
                   "folder holding the binary version: data_batch_1.bin .. data_batch_5.bin and "
                   "test_batch.bin, or its cifar-10-batches-bin folder)");
  GHNAS_CHECK_AS(FileError, fs::exists(test_file), "CIFAR-10 not found: '", test_file,
                 "' does not exist (name a folder holding the binary version: data_batch_1.bin .. "
                 "data_batch_5.bin and test_batch.bin)");
  Dataset data;
  data.info = cifar10_info();
  data.train = read_cifar_files(train_files);
  data.test = read_cifar_files({test_file});
  hold_out_validation(data, val_size, split_seed);
  return data;
}

Dataset make_synthetic_dataset(DatasetInfo info, std::int64_t train_size, std::int64_t val_size,
                               std::int64_t test_size, std::uint64_t seed) {
  GHNAS_CHECK_AS(ConfigError, info.classes > 1 && info.channels > 0 && info.height > 0 && info.width > 0,
                 "synthetic dataset needs at least 2 classes and a positive image shape");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  std::normal_distribution<float> noise(0.f, 0.15f);
  const int C = info.channels, H = info.height, W = info.width;
  // Class k is a plane wave with its own frequency, direction and phase per channel: a texture
  // that convolutions pick up wherever they look, so global pooling keeps it.
  std::vector<float> templates(static_cast<std::size_t>(info.classes) * C * H * W);
  for (int k = 0; k < info.classes; ++k)
    for (int c = 0; c < C; ++c) {
      const float fy = 1.f + 3.f * unit(rng), fx = 1.f + 3.f * unit(rng), phase = 6.283f * unit(rng);
      const float freq = 1.f + static_cast<float>(k % 4);
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          templates[((static_cast<std::size_t>(k) * C + c) * H + y) * W + x] =
              0.5f + 0.4f * std::sin(6.283f * freq * (fy * y / H + fx * x / W) / 2.f + phase);
    }
  auto generate = [&](std::int64_t n) {
    ImageSet set;
    set.images = torch::empty({n, C, H, W}, torch::kUInt8);
    set.labels = torch::empty({n}, torch::kInt64);
    std::uint8_t* img = set.images.data_ptr<std::uint8_t>();
    std::int64_t* labels = set.labels.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      const int k = static_cast<int>(i % info.classes);
      labels[i] = k;
      for (std::int64_t p = 0; p < static_cast<std::int64_t>(C) * H * W; ++p) {
        const float v = templates[static_cast<std::size_t>(k) * C * H * W + p] + noise(rng);
        img[i * C * H * W + p] = static_cast<std::uint8_t>(std::lround(255.f * std::clamp(v, 0.f, 1.f)));
      }
    }
    return set;
  };
  Dataset data;
  data.info.name = info.name;
  data.train = generate(train_size + val_size);
  data.test = generate(test_size);
  hold_out_validation(data, val_size, seed);
  const torch::Tensor pixels = data.train.images.to(torch::kFloat32).div(255.f).transpose(0, 1).reshape({C, -1});
  info.mean.clear();
  info.std.clear();
  for (int c = 0; c < C; ++c) {
    info.mean.push_back(pixels[c].mean().item<float>());
    info.std.push_back(std::max(pixels[c].std().item<float>(), 1e-3f));
  }
  if (info.name.empty()) info.name = "synthetic";
  data.info = std::move(info);
  return data;
}

Batch make_batch(const ImageSet& set, const DatasetInfo& info, const std::vector<std::int64_t>& indices,
                 const BatchTransform& transform, std::mt19937_64& rng) {
  const int C = info.channels, H = info.height, W = info.width;
  GHNAS_CHECK(set.images.dim() == 4 && set.images.size(1) == C && set.images.size(2) == H &&
                  set.images.size(3) == W,
              "images of ", info.name, " must be (N, ", C, ", ", H, ", ", W, ")");
  GHNAS_CHECK(static_cast<int>(info.mean.size()) == C && static_cast<int>(info.std.size()) == C,
              info.name, ": normalisation needs one mean and one std per channel");
  const auto B = static_cast<std::int64_t>(indices.size());
  Batch batch;
  batch.images = torch::empty({B, C, H, W}, torch::kFloat32);
  batch.labels = torch::empty({B}, torch::kInt64);
  const std::uint8_t* src = set.images.data_ptr<std::uint8_t>();
  const std::int64_t* labels = set.labels.data_ptr<std::int64_t>();
  float* dst = batch.images.data_ptr<float>();
  std::int64_t* out_labels = batch.labels.data_ptr<std::int64_t>();
  const int pad = transform.augment ? info.crop_padding : 0;
  std::normal_distribution<float> gauss(0.f, 1.f);
  const auto sigma = static_cast<float>(transform.noise_sigma);
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t i = indices[b];
    GHNAS_CHECK(i >= 0 && i < set.size(), "sample index ", i, " out of range for ", set.size(), " samples");
    out_labels[b] = labels[i];
    // Crop offsets in the zero-padded image (torchvision's RandomCrop(padding)), then a flip.
    const int dy = pad > 0 ? static_cast<int>(rng() % (2 * pad + 1)) - pad : 0;
    const int dx = pad > 0 ? static_cast<int>(rng() % (2 * pad + 1)) - pad : 0;
    const bool flip = transform.augment && info.horizontal_flip && (rng() & 1u);
    for (int c = 0; c < C; ++c) {
      const std::uint8_t* plane = src + (i * C + c) * H * W;
      float* out = dst + (b * C + c) * H * W;
      const float mean = info.mean[c], inv_std = 1.f / info.std[c];
      for (int y = 0; y < H; ++y) {
        const int sy = y + dy;
        for (int x = 0; x < W; ++x) {
          const int sx = (flip ? W - 1 - x : x) + dx;
          float v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? plane[sy * W + sx] / 255.f : 0.f;
          if (sigma > 0.f) v = std::clamp(v + sigma * gauss(rng), 0.f, 1.f);
          out[y * W + x] = (v - mean) * inv_std;
        }
      }
    }
  }
  return batch;
}

std::vector<std::vector<std::int64_t>> make_batches(const std::vector<std::int64_t>& order,
                                                    std::int64_t batch_size, bool keep_last) {
  GHNAS_CHECK_AS(ConfigError, batch_size > 0, "batch size must be positive, got ", batch_size);
  std::vector<std::vector<std::int64_t>> batches;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
    const std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(batch_size));
    if (end - start < static_cast<std::size_t>(batch_size) && !keep_last) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

}  // namespace ghnas
