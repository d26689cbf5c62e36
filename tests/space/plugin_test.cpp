// The plugin loader, in process: the example plugin (examples/custom_space) registers a space
// that behaves like a built-in one, and broken plugins are refused with an error naming the
// file and what was expected.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include "core/error.hpp"
#include "space/ghn_graph.hpp"
#include "space/plugin.hpp"
#include "space/plugin_api.hpp"
#include "space/search_space.hpp"

namespace ghnas {
namespace {

// The message of the ConfigError that loading `path` throws ("" when it loads).
std::string load_error(const std::string& path) {
  try {
    load_plugin(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Plugin, ExampleRegistersItsSpace) {
  const LoadedPlugin p = load_plugin(GHNAS_TINY_PLUGIN);
  EXPECT_EQ(p.name, "tiny-space");
  EXPECT_EQ(p.spaces, std::vector<std::string>{"tiny"});
  const auto names = list_spaces();
  EXPECT_NE(std::find(names.begin(), names.end(), "tiny"), names.end());
  // A second load of the same file changes nothing (and does not collide with itself).
  EXPECT_EQ(load_plugin(GHNAS_TINY_PLUGIN).spaces, p.spaces);
  const auto all = loaded_plugins();
  EXPECT_EQ(std::count_if(all.begin(), all.end(),
                          [](const LoadedPlugin& l) { return l.name == "tiny-space"; }),
            1);
}

TEST(Plugin, ExampleSpaceSamplesMutatesAndRoundTrips) {
  load_plugin(GHNAS_TINY_PLUGIN);
  auto space = make_space("tiny");
  Rng rng(7);
  std::vector<Architecture> archs;
  std::set<std::string> hashes;
  for (int i = 0; i < 50; ++i) {
    archs.push_back(space->sample(rng));
    EXPECT_NO_THROW(space->validate(archs.back()));
    hashes.insert(space->canonical_hash(archs.back()));
    const Architecture child = space->mutate(archs.back(), rng);
    EXPECT_NO_THROW(space->validate(child));
    EXPECT_NE(space->canonical_hash(child), space->canonical_hash(archs.back()));
  }
  EXPECT_GT(hashes.size(), 40u);  // 59,319 networks: 50 draws rarely repeat
  const std::string path = ::testing::TempDir() + "tiny_" + std::to_string(getpid()) + ".txt";
  std::ofstream(path) << space->write_archs(archs);
  const auto back = space->read_archs(path);
  std::remove(path.c_str());
  ASSERT_EQ(back.size(), archs.size());
  for (std::size_t i = 0; i < archs.size(); ++i) EXPECT_EQ(back[i].spec, archs[i].spec);
  EXPECT_THROW(space->validate({"tiny", "res3|res7|mb3"}), ArchError);
  EXPECT_THROW(space->validate({"tiny", "res3|mb3"}), ArchError);
}

TEST(Plugin, ExampleParameterCountsByHand) {
  load_plugin(GHNAS_TINY_PLUGIN);
  auto space = make_space("tiny");  // width 16: stages of 16, 32, 64 channels
  const Task task = task_by_name("fashion-mnist");  // 1 channel, 10 classes
  const std::int64_t stem = 16 * 1 * 9 + 2 * 16;
  const std::int64_t head = 64 * 10 + 10;
  // res3: two 3x3 convs + BNs, and a 1x1 conv + BN shortcut where the width changes.
  const std::int64_t res0 = 16 * 16 * 9 + 32 + 16 * 16 * 9 + 32;
  const std::int64_t res1 = 32 * 16 * 9 + 64 + 32 * 32 * 9 + 64 + 32 * 16 + 64;
  const std::int64_t res2 = 64 * 32 * 9 + 128 + 64 * 64 * 9 + 128 + 64 * 32 + 128;
  EXPECT_EQ(space->build_graph({"tiny", "res3|res3|res3"}, task).num_params(),
            stem + res0 + res1 + res2 + head);
  EXPECT_EQ(stem + res0 + res1 + res2 + head, 77754);
  // mb3: expand 1x1 to 3*c_in, depthwise 3x3, project 1x1, each with a BN.
  const std::int64_t mb0 = 48 * 16 + 96 + 48 * 9 + 96 + 16 * 48 + 32;
  const std::int64_t mb1 = 48 * 16 + 96 + 48 * 9 + 96 + 32 * 48 + 64;
  const std::int64_t mb2 = 96 * 32 + 192 + 96 * 9 + 192 + 64 * 96 + 128;
  const ArchGraph g = space->build_graph({"tiny", "mb3|mb3|mb3"}, task);
  EXPECT_EQ(g.num_params(), stem + mb0 + mb1 + mb2 + head);
  EXPECT_EQ(g.node(g.output()).out_shape, (std::vector<std::int64_t>{10}));
  // The GHN sees it: depthwise convolutions become sep_conv nodes.
  const GhnGraph ghn = build_ghn_graph(g);
  EXPECT_GT(ghn.num_nodes(), 10u);
  // The option reaches the space: width 8 gives stages of 8, 16, 32 channels.
  auto narrow = make_space("tiny", {{"width", "8"}});
  const std::int64_t narrow_count = (8 * 9 + 16) + (8 * 8 * 9 * 2 + 16 * 2) +
                                    (16 * 8 * 9 + 16 * 16 * 9 + 16 * 8 + 32 * 3) +
                                    (32 * 16 * 9 + 32 * 32 * 9 + 32 * 16 + 64 * 3) + (32 * 10 + 10);
  EXPECT_EQ(narrow_count, 19810);
  EXPECT_EQ(narrow->build_graph({"tiny", "res3|res3|res3"}, task).num_params(), narrow_count);
  EXPECT_THROW(make_space("tiny", {{"width", "12"}}), ConfigError);
}

TEST(Plugin, MissingFileIsAClearError) {
  const std::string msg = load_error("/nonexistent/libnope.so");
  EXPECT_TRUE(contains(msg, "/nonexistent/libnope.so")) << msg;
  EXPECT_TRUE(contains(msg, "no such file")) << msg;
}

TEST(Plugin, FileThatIsNoLibraryIsAClearError) {
  const std::string path = ::testing::TempDir() + "fake_" + std::to_string(getpid()) + ".so";
  std::ofstream(path) << "not an ELF file\n";
  const std::string msg = load_error(path);
  std::remove(path.c_str());
  EXPECT_TRUE(contains(msg, path)) << msg;
  EXPECT_TRUE(contains(msg, "cannot be loaded as a shared library")) << msg;
}

TEST(Plugin, MissingEntrySymbolIsAClearError) {
  const std::string msg = load_error(GHNAS_NO_ENTRY_PLUGIN);
  EXPECT_TRUE(contains(msg, GHNAS_NO_ENTRY_PLUGIN)) << msg;
  EXPECT_TRUE(contains(msg, "no symbol 'ghnas_plugin_entry'")) << msg;
}

TEST(Plugin, WrongApiVersionIsRefusedBeforeRegistering) {
  const std::size_t loaded = loaded_plugins().size();
  const std::string msg = load_error(GHNAS_WRONG_VERSION_PLUGIN);
  EXPECT_TRUE(contains(msg, GHNAS_WRONG_VERSION_PLUGIN)) << msg;
  EXPECT_TRUE(contains(msg, "plugin API version " + std::to_string(GHNAS_PLUGIN_API_VERSION + 1)))
      << msg;
  EXPECT_TRUE(contains(msg, "expects version " + std::to_string(GHNAS_PLUGIN_API_VERSION))) << msg;
  EXPECT_EQ(loaded_plugins().size(), loaded);
}

TEST(Plugin, TakenSpaceNameNamesThePlugin) {
  const std::string msg = load_error(GHNAS_TAKEN_NAME_PLUGIN);
  EXPECT_TRUE(contains(msg, GHNAS_TAKEN_NAME_PLUGIN)) << msg;
  EXPECT_TRUE(contains(msg, "'nasbench201' is already registered")) << msg;
  // The built-in is untouched.
  EXPECT_EQ(make_space("nasbench201")->name(), "nasbench201");
}

}  // namespace
}  // namespace ghnas
