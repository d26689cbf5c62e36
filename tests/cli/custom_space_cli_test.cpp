// User-defined search spaces on the command line: the example plugin loaded with --plugin,
// a JSON space named json:FILE, and the errors of broken plugins and space files.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.hpp"

namespace {

using ghnas::test::CmdResult;

CmdResult run_ghnas(const std::string& args) {
  return ghnas::test::run_command(std::string(GHNAS_BINARY) + " " + args);
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "custom_space_" + std::to_string(getpid()) + "_" + name;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

const std::string kTiny = GHNAS_TINY_PLUGIN;
const std::string kCells = std::string(GHNAS_EXAMPLES_DIR) + "/json_space/cells.json";

TEST(CustomSpaceCli, PluginSpaceIsListed) {
  const CmdResult r = run_ghnas("spaces --plugin " + kTiny);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("tiny: example plugin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("width (default 16)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nasbench201:"), std::string::npos);  // built-ins stay
}

TEST(CustomSpaceCli, PluginOptionWorksBeforeTheCommandAndOnlyWhenGiven) {
  // Before and after the command; the same file given twice is loaded once.
  const CmdResult r = run_ghnas("--plugin " + kTiny + " spaces --plugin " + kTiny);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto first = r.out.find("tiny:");
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tiny:", first + 1), std::string::npos) << r.out;
  EXPECT_EQ(run_ghnas("spaces").out.find("tiny:"), std::string::npos);
}

TEST(CustomSpaceCli, PluginSpaceSamplesDescribesAndGraphs) {
  const std::string out = temp_path("tiny.txt");
  CmdResult r = run_ghnas("sample --plugin " + kTiny + " --space tiny --n 6 --seed 4 --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_ghnas("describe --plugin " + kTiny + " --space tiny --task fashion-mnist --archs " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 6u);
  for (const auto& l : lines) EXPECT_GT(l["params"].get<long>(), 10000);
  r = run_ghnas("graph --plugin " + kTiny + " --space tiny --task fashion-mnist --archs " + out +
                " --index 5 --view arch");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["params"], lines[5]["params"]);
  std::remove(out.c_str());
}

TEST(CustomSpaceCli, PluginNetworkHasTheParametersCountedByHand) {
  // Parameter counts by hand (stages of 16, 32, 64 channels; fashion-mnist: 1 channel, 10
  // classes): stem 16*9+32; res3 blocks of two 3x3 convs + BNs, with a 1x1 conv + BN shortcut
  // where the width changes; Linear(64 -> 10).
  const std::string arch = write_temp("res.txt", "res3|res3|res3\n");
  const CmdResult r =
      run_ghnas("describe --plugin " + kTiny + " --space tiny --task fashion-mnist --archs " + arch);
  ASSERT_EQ(r.code, 0) << r.err;
  const long expected = (16 * 9 + 32) + (2 * 16 * 16 * 9 + 2 * 32) +
                        (32 * 16 * 9 + 32 * 32 * 9 + 32 * 16 + 3 * 64) +
                        (64 * 32 * 9 + 64 * 64 * 9 + 64 * 32 + 3 * 128) + (64 * 10 + 10);
  EXPECT_EQ(json_lines(r.out).at(0)["params"], expected);
  std::remove(arch.c_str());
}

// Loading `plugin` fails with exit code 1, nothing on stdout, and one line naming the file.
void expect_plugin_error(const std::string& plugin, const std::string& expect) {
  const CmdResult r = run_ghnas("sample --plugin " + plugin + " --space nasbench201 --n 1");
  EXPECT_EQ(r.code, 1) << plugin;
  EXPECT_TRUE(r.out.empty()) << plugin << " printed: " << r.out;
  EXPECT_NE(r.err.find(expect), std::string::npos) << plugin << " said: " << r.err;
  EXPECT_NE(r.err.find(plugin), std::string::npos) << "the message names the file: " << r.err;
}

TEST(CustomSpaceCli, UnloadableFilesFailWithOneClearLine) {
  expect_plugin_error("/no/such/libplugin.so", "plugin '/no/such/libplugin.so': no such file");
  const std::string fake = write_temp("fake.so", "not a library\n");
  expect_plugin_error(fake, "cannot be loaded as a shared library");
  std::remove(fake.c_str());
}

TEST(CustomSpaceCli, WrongPluginsFailWithOneClearLine) {
  expect_plugin_error(GHNAS_NO_ENTRY_PLUGIN, "no symbol 'ghnas_plugin_entry'");
  // The plugin claims the API version after this ghnas's.
  expect_plugin_error(GHNAS_WRONG_VERSION_PLUGIN, "built for plugin API version ");
  expect_plugin_error(GHNAS_WRONG_VERSION_PLUGIN, ", this ghnas expects version ");
}

TEST(CustomSpaceCli, JsonSpaceSamplesDescribesAndGraphs) {
  const std::string space = "json:" + kCells;
  const std::string out = temp_path("cells_archs.json");
  CmdResult r = run_ghnas("sample --space " + space + " --n 4 --seed 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_ghnas("describe --space " + space + " --archs " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 4u);
  r = run_ghnas("graph --space " + space + " --archs " + out + " --index 3 --format dot");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph", 0), 0u);
  std::remove(out.c_str());
}

TEST(CustomSpaceCli, BadJsonSpaceFailsWithOneClearLine) {
  const std::string bad_op = write_temp(
      "bad_op_space.json",
      R"({"ops": ["skip_connect", "conv_9x9"], "cell": {"nodes": 2}, "macro": {"stages": 2}})");
  CmdResult r = run_ghnas("sample --space json:" + bad_op + " --n 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("field 'ops[1]' names unknown op 'conv_9x9'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad_op), std::string::npos) << r.err;
  r = run_ghnas("sample --space json:/no/such/space.json --n 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot open '/no/such/space.json'"), std::string::npos) << r.err;
  std::remove(bad_op.c_str());
}

}  // namespace
