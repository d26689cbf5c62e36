#include "surrogate/checkpoint.hpp"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "core/error.hpp"
#include "core/json_io.hpp"

namespace ghnas {

namespace {

constexpr char kMagic[8] = {'G', 'H', 'N', 'A', 'S', 'G', 'H', 'N'};
constexpr const char* kFormat = "ghnas-ghn-checkpoint";
constexpr int kVersion = 1;

void require_little_endian() {
  const std::uint32_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  GHNAS_CHECK_AS(FileError, first == 1, "GHN weight files are little-endian; this host is not");
}

std::uint32_t crc_of(const char* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes 32-bit lengths.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  for (std::size_t off = 0; off < size; off += kChunk)
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data + off), static_cast<uInt>(std::min(kChunk, size - off)));
  return static_cast<std::uint32_t>(crc);
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A checked view of a checkpoint file: header parsed, sizes and checksum verified.
struct CheckpointFile {
  nlohmann::json header;
  std::vector<float> weights;
};

CheckpointFile read_checkpoint(const std::string& path) {
  require_little_endian();
  CheckpointFile f;
  const std::string bytes = read_file(path);
  auto fail = [&](const std::string& why) {
    return FileError("'" + path + "' is not a valid ghnas GHN checkpoint: " + why);
  };
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw fail("it does not start with the GHNASGHN magic");
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data() + 8, 8);
  if (header_size > bytes.size() - 16)
    throw fail(detail::str_cat("truncated: the header needs ", header_size, " bytes, the file has ",
                               bytes.size() - 16, " after the magic"));
  try {
    f.header = nlohmann::json::parse(bytes.begin() + 16, bytes.begin() + 16 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::parse_error&) {
    throw fail("its header is not JSON");
  }
  if (!f.header.is_object() || f.header.value("format", "") != kFormat)
    throw fail("its header does not name the format '" + std::string(kFormat) + "'");
  if (f.header.value("version", 0) != kVersion)
    throw fail(detail::str_cat("format version ", f.header.value("version", 0), " is not supported (expected ",
                               kVersion, ")"));
  std::uint64_t n_weights = 0;
  try {
    n_weights = f.header.at("n_weights").get<std::uint64_t>();
  } catch (const nlohmann::json::exception&) {
    throw fail("its header has no n_weights");
  }
  const std::uint64_t data_begin = 16 + header_size;
  if (n_weights > (bytes.size() - data_begin) / 4)
    throw fail(detail::str_cat("truncated: the header lists ", n_weights, " weights, the file holds ",
                               (bytes.size() - data_begin) / 4));
  const std::uint64_t want = data_begin + 4 * n_weights;
  if (bytes.size() < want)
    throw fail(detail::str_cat("truncated: expected ", want, " bytes, found ", bytes.size()));
  if (bytes.size() > want)
    throw fail(detail::str_cat("expected ", want, " bytes, found ", bytes.size(), " (trailing data)"));
  const std::uint32_t crc = crc_of(bytes.data() + data_begin, 4 * n_weights);
  if (f.header.value("crc32", std::uint64_t{0}) != crc) throw fail("the weights' checksum does not match (corrupt file)");
  // Copied out so the floats are aligned whatever the header length.
  f.weights.resize(n_weights);
  std::memcpy(f.weights.data(), bytes.data() + data_begin, 4 * n_weights);
  return f;
}

// Copies tensors named in `entries` (name, shape, offset, numel in floats into `data` of
// `n_floats`) into the GHN's weights; every weight must be covered exactly once.
void assign_weights(Ghn& ghn, const nlohmann::json& entries, const float* data, std::uint64_t n_floats,
                    const std::string& path) {
  auto fail = [&](const std::string& why) { return FileError("'" + path + "': " + why); };
  std::map<std::string, torch::Tensor> weights;
  for (auto& item : ghn->named_parameters()) weights.emplace(item.key(), item.value());
  std::map<std::string, bool> seen;
  torch::NoGradGuard no_grad;
  if (!entries.is_array()) throw fail("the tensor list is missing");
  for (const auto& e : entries) {
    std::string name;
    std::vector<std::int64_t> shape;
    std::uint64_t offset = 0, numel = 0;
    try {
      name = e.at("name").get<std::string>();
      shape = e.at("shape").get<std::vector<std::int64_t>>();
      offset = e.at("offset").get<std::uint64_t>();
      numel = e.at("numel").get<std::uint64_t>();
    } catch (const nlohmann::json::exception&) {
      throw fail("a tensor entry lacks name, shape, offset or numel: " + e.dump());
    }
    const auto it = weights.find(name);
    if (it == weights.end()) throw fail("tensor '" + name + "' is not a weight of this GHN");
    if (seen[name]) throw fail("tensor '" + name + "' appears twice");
    seen[name] = true;
    if (it->second.sizes().vec() != shape)
      throw fail("tensor '" + name + "' has shape " + shape_text(shape) + " but this GHN's is " +
                 shape_text(it->second.sizes().vec()));
    if (static_cast<std::uint64_t>(it->second.numel()) != numel || offset > n_floats || numel > n_floats - offset)
      throw fail(detail::str_cat("tensor '", name, "' (offset ", offset, ", numel ", numel,
                                 ") does not fit the ", n_floats, " stored floats"));
    const auto src = torch::from_blob(const_cast<float*>(data + offset), it->second.sizes(), torch::kFloat);
    it->second.copy_(src);
  }
  for (const auto& [name, w] : weights)
    if (!seen[name]) throw fail("weight '" + name + "' of this GHN is missing");
}

}  // namespace

void save_ghn(Ghn& ghn, const std::string& path, const nlohmann::json& info) {
  require_little_endian();
  nlohmann::json tensors = nlohmann::json::array();
  std::vector<torch::Tensor> cpu;
  std::uint64_t offset = 0;
  for (const auto& item : ghn->named_parameters()) {
    auto t = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    tensors.push_back({{"name", item.key()}, {"shape", t.sizes().vec()}, {"offset", offset}, {"numel", t.numel()}});
    offset += static_cast<std::uint64_t>(t.numel());
    cpu.push_back(t);
  }
  std::string data(4 * offset, '\0');
  std::size_t pos = 0;
  for (const auto& t : cpu) {
    std::memcpy(&data[pos], t.data_ptr<float>(), 4 * static_cast<std::size_t>(t.numel()));
    pos += 4 * static_cast<std::size_t>(t.numel());
  }
  const nlohmann::json header = {{"format", kFormat},    {"version", kVersion},
                                 {"config", ghn->config().to_json()},
                                 {"n_weights", offset},  {"crc32", crc_of(data.data(), data.size())},
                                 {"tensors", tensors},   {"info", info}};
  const std::string text = header.dump();
  const std::uint64_t header_size = text.size();

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    GHNAS_CHECK_AS(FileError, out.good(), "cannot write '", tmp, "'");
    out.write(kMagic, 8);
    out.write(reinterpret_cast<const char*>(&header_size), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    GHNAS_CHECK_AS(FileError, out.good(), "failed writing '", tmp, "'");
  }
  GHNAS_CHECK_AS(FileError, std::rename(tmp.c_str(), path.c_str()) == 0, "cannot move '", tmp, "' to '", path, "'");
}

nlohmann::json read_ghn_checkpoint_header(const std::string& path) { return read_checkpoint(path).header; }

namespace {
GhnConfig config_of(const CheckpointFile& f, const std::string& path) {
  try {
    return GhnConfig::from_json(f.header.at("config"));
  } catch (const std::exception& e) {
    throw FileError("'" + path + "' is not a valid ghnas GHN checkpoint: bad config: " + e.what());
  }
}
}  // namespace

Ghn load_ghn(const std::string& path, const torch::Device& device) {
  const CheckpointFile f = read_checkpoint(path);
  Ghn ghn(config_of(f, path));
  assign_weights(ghn, f.header.at("tensors"), f.weights.data(), f.weights.size(), path);
  ghn->to(device);
  return ghn;
}

void load_ghn_weights(Ghn& ghn, const std::string& path) {
  const CheckpointFile f = read_checkpoint(path);
  const GhnConfig stored = config_of(f, path);
  if (stored != ghn->config())
    throw FileError("'" + path + "' holds a GHN with config " + stored.to_json().dump() +
                    ", not the expected " + ghn->config().to_json().dump());
  // Weights are filled on the CPU, then moved where the GHN lives.
  const auto device = ghn->device();
  ghn->to(torch::kCPU);
  assign_weights(ghn, f.header.at("tensors"), f.weights.data(), f.weights.size(), path);
  ghn->to(device);
}

Ghn average_ghn_checkpoints(const std::vector<std::string>& paths) {
  GHNAS_CHECK_AS(ConfigError, !paths.empty(), "averaging GHN checkpoints needs at least one");
  Ghn mean = load_ghn(paths.front());
  if (paths.size() == 1) return mean;
  torch::NoGradGuard no_grad;
  // Sums in double: the mean of a few hundred float32 iterates keeps float32's precision.
  std::vector<torch::Tensor> sums;
  for (const auto& w : mean->parameters()) sums.push_back(w.to(torch::kDouble));
  Ghn next(mean->config());
  for (std::size_t i = 1; i < paths.size(); ++i) {
    load_ghn_weights(next, paths[i]);
    const auto weights = next->parameters();
    for (std::size_t k = 0; k < sums.size(); ++k) sums[k] += weights[k].to(torch::kDouble);
  }
  const auto weights = mean->parameters();
  for (std::size_t k = 0; k < sums.size(); ++k)
    weights[k].copy_(sums[k] / static_cast<double>(paths.size()));
  return mean;
}

Ghn import_reference_ghn(const std::string& weights_path, const std::string& meta_path) {
  require_little_endian();
  const nlohmann::json meta = read_json_file(meta_path);
  if (!meta.is_object() || !meta.contains("config") || !meta.contains("tensors"))
    throw FileError("'" + meta_path + "' does not describe a reference GHN (needs 'config' and 'tensors')");
  Ghn ghn(GhnConfig::from_reference_json(meta.at("config")));
  const std::string bytes = read_file(weights_path);
  if (bytes.size() % 4 != 0)
    throw FileError(detail::str_cat("'", weights_path, "' has ", bytes.size(), " bytes, not a whole number of float32"));
  const std::uint64_t n_floats = bytes.size() / 4;
  std::uint64_t described = 0;
  for (const auto& e : meta.at("tensors")) described += e.value("numel", std::uint64_t{0});
  if (described != n_floats)
    throw FileError(detail::str_cat("'", weights_path, "' holds ", n_floats, " floats but '", meta_path,
                                    "' describes ", described));
  if (meta.contains("n_params") && meta.at("n_params").get<std::uint64_t>() != n_floats)
    throw FileError(detail::str_cat("'", meta_path, "' says n_params = ", meta.at("n_params").dump(), " but lists ",
                                    n_floats, " floats"));
  std::vector<float> data(n_floats);
  std::memcpy(data.data(), bytes.data(), bytes.size());
  assign_weights(ghn, meta.at("tensors"), data.data(), n_floats, weights_path);
  return ghn;
}

}  // namespace ghnas
