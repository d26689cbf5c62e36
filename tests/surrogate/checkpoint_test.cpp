// Checkpoints: a round trip keeps every weight; truncated, corrupt, foreign and other-config files
// are refused with one clear error; importing the reference state dict checks names and shapes.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "core/json_io.hpp"
#include "surrogate/checkpoint.hpp"
#include "tests/surrogate/reference_fixture.hpp"

namespace ghnas {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "ghnas_ckpt_" + std::to_string(getpid()) + "_" + name; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The message of the FileError `fn` throws (fails the test if it throws nothing or another type).
template <typename Fn>
std::string file_error(Fn fn) {
  try {
    fn();
  } catch (const FileError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FileError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected a FileError, nothing was thrown";
  return "";
}

void expect_same_weights(Ghn& a, Ghn& b) {
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    const auto* other = pb.find(item.key());
    ASSERT_NE(other, nullptr) << item.key();
    EXPECT_TRUE(torch::equal(item.value().cpu(), other->cpu())) << item.key();
  }
}

TEST(Checkpoint, RoundTripKeepsEveryWeightAndTheConfig) {
  torch::manual_seed(1);
  GhnConfig config;
  config.num_classes = 100;
  Ghn ghn(config);
  const std::string path = temp_path("roundtrip.ckpt");
  save_ghn(ghn, path, {{"epoch", 7}});
  Ghn loaded = load_ghn(path);
  EXPECT_EQ(loaded->config(), config);
  expect_same_weights(ghn, loaded);
  EXPECT_EQ(read_ghn_checkpoint_header(path).at("info").at("epoch"), 7);
  // Loading into an existing GHN of the same config works too.
  torch::manual_seed(2);
  Ghn other(config);
  load_ghn_weights(other, path);
  expect_same_weights(ghn, other);
}

TEST(Checkpoint, ImportedReferenceGhnHasTheReferenceCountAndFileSize) {
  Ghn ghn = import_reference_ghn(test::fixture_weights(), test::fixture_meta());
  EXPECT_EQ(ghn->num_weights(), 1620764);
  const std::string path = temp_path("imported.ckpt");
  save_ghn(ghn, path);
  const auto header = read_ghn_checkpoint_header(path);
  EXPECT_EQ(header.at("n_weights"), 1620764);
  const auto bytes = slurp(path);
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data() + 8, 8);
  EXPECT_EQ(bytes.size(), 16 + header_size + 4 * 1620764);
  Ghn loaded = load_ghn(path);
  expect_same_weights(ghn, loaded);
  // The reference's tensor names, so a PyTorch user can map them back.
  bool found = false;
  for (const auto& t : header.at("tensors")) found |= t.at("name") == "decoder.class_layer_predictor.1.weight";
  EXPECT_TRUE(found);
}

TEST(Checkpoint, RefusesTruncatedFiles) {
  torch::manual_seed(3);
  Ghn ghn;
  const std::string path = temp_path("full.ckpt");
  save_ghn(ghn, path);
  const auto bytes = slurp(path);
  for (std::size_t keep : {bytes.size() - 1, bytes.size() / 2, std::size_t{40}, std::size_t{12}}) {
    const std::string cut = temp_path("cut.ckpt");
    write_bytes(cut, bytes.substr(0, keep));
    const auto why = file_error([&] { load_ghn(cut); });
    EXPECT_NE(why.find(cut), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
    if (keep >= 40) {
      EXPECT_NE(why.find("truncated"), std::string::npos) << keep << ": " << why;
    }
  }
}

TEST(Checkpoint, RefusesCorruptData) {
  torch::manual_seed(4);
  Ghn ghn;
  const std::string path = temp_path("corrupt.ckpt");
  save_ghn(ghn, path);
  auto bytes = slurp(path);
  bytes[bytes.size() - 100] ^= 0x40;
  write_bytes(path, bytes);
  EXPECT_NE(file_error([&] { load_ghn(path); }).find("checksum"), std::string::npos);
}

TEST(Checkpoint, RefusesACheckpointOfAnotherConfig) {
  torch::manual_seed(5);
  GhnConfig small;
  small.hid = 16;
  Ghn other(small);
  const std::string path = temp_path("hid16.ckpt");
  save_ghn(other, path);
  Ghn ghn;  // hid 32
  const auto why = file_error([&] { load_ghn_weights(ghn, path); });
  EXPECT_NE(why.find("holds a GHN with config"), std::string::npos) << why;
  EXPECT_NE(why.find("\"hid\":16"), std::string::npos) << why;
  // Its own config still loads.
  EXPECT_EQ(load_ghn(path)->config(), small);
}

TEST(Checkpoint, AverageIsTheMeanOfEveryWeight) {
  GhnConfig config;
  config.hid = 16;
  std::vector<Ghn> ghns;
  std::vector<std::string> paths;
  for (int seed : {11, 12, 13}) {
    torch::manual_seed(seed);
    ghns.emplace_back(config);
    {
      // Layer norms start at 1 and 0 whatever the seed: move every weight off its init.
      torch::NoGradGuard no_grad;
      for (auto& w : ghns.back()->parameters()) w.add_(torch::randn_like(w));
    }
    paths.push_back(temp_path("avg" + std::to_string(seed) + ".ckpt"));
    save_ghn(ghns.back(), paths.back());
  }
  Ghn mean = average_ghn_checkpoints(paths);
  EXPECT_EQ(mean->config(), config);
  const auto a = ghns[0]->named_parameters(), b = ghns[1]->named_parameters(), c = ghns[2]->named_parameters();
  for (const auto& item : mean->named_parameters()) {
    const torch::Tensor want = (a[item.key()] + b[item.key()] + c[item.key()]) / 3.0;
    EXPECT_TRUE(torch::allclose(item.value(), want, 1e-6, 1e-7)) << item.key();
    EXPECT_FALSE(torch::equal(item.value(), a[item.key()])) << item.key();
  }
  // One checkpoint averages to itself.
  Ghn one = average_ghn_checkpoints({paths[1]});
  expect_same_weights(one, ghns[1]);
}

TEST(Checkpoint, AverageRefusesMixedConfigsAndNoCheckpoints) {
  torch::manual_seed(14);
  GhnConfig small;
  small.hid = 16;
  Ghn a(small);
  Ghn b;  // hid 32
  const std::string pa = temp_path("mix16.ckpt"), pb = temp_path("mix32.ckpt");
  save_ghn(a, pa);
  save_ghn(b, pb);
  const auto why = file_error([&] { average_ghn_checkpoints({pa, pb}); });
  EXPECT_NE(why.find("mix32.ckpt"), std::string::npos) << why;
  EXPECT_NE(why.find("holds a GHN with config"), std::string::npos) << why;
  EXPECT_THROW(average_ghn_checkpoints({}), ConfigError);
}

TEST(Checkpoint, RefusesFilesThatAreNotCheckpoints) {
  const std::string json = temp_path("not.ckpt");
  write_bytes(json, "{\"config\": {}}");
  for (const auto& path : {json, test::fixture_weights(), test::fixture_meta()}) {
    const auto why = file_error([&] { load_ghn(path); });
    EXPECT_NE(why.find("not a valid ghnas GHN checkpoint"), std::string::npos) << why;
  }
  EXPECT_NE(file_error([&] { load_ghn(temp_path("missing.ckpt")); }).find("cannot open"), std::string::npos);
}

TEST(Checkpoint, ImportRefusesAStateDictThatDoesNotFit) {
  auto meta = read_json_file(test::fixture_meta());
  auto write_meta = [&](const nlohmann::json& m) {
    const std::string path = temp_path("meta.json");
    std::ofstream(path) << m.dump();
    return path;
  };
  {  // a tensor with another shape
    auto m = meta;
    m["tensors"][5]["shape"] = {32, 16};
    const auto why = file_error([&] { import_reference_ghn(test::fixture_weights(), write_meta(m)); });
    EXPECT_NE(why.find("gnn.mlp.fc.0.weight"), std::string::npos) << why;
  }
  {  // a name this GHN does not have
    auto m = meta;
    m["tensors"][0]["name"] = "lnorm.weight";
    EXPECT_NE(file_error([&] { import_reference_ghn(test::fixture_weights(), write_meta(m)); }).find("lnorm.weight"),
              std::string::npos);
  }
  {  // weights cut short
    const std::string cut = temp_path("cut.f32");
    write_bytes(cut, slurp(test::fixture_weights()).substr(0, 4000));
    EXPECT_NE(file_error([&] { import_reference_ghn(cut, test::fixture_meta()); }).find("holds 1000 floats"),
              std::string::npos);
  }
  {  // a GHN variant this code does not implement
    auto m = meta;
    m["config"]["decoder"] = "mlp";
    EXPECT_THROW(import_reference_ghn(test::fixture_weights(), write_meta(m)), ConfigError);
  }
}

}  // namespace
}  // namespace ghnas
