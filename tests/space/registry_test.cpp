#include <gtest/gtest.h>

#include "core/error.hpp"
#include "space/search_space.hpp"

namespace ghnas {
namespace {

TEST(Registry, BuiltinSpacesAreListed) {
  register_builtin_spaces();
  const auto names = list_spaces();
  EXPECT_NE(std::find(names.begin(), names.end(), "deepnets1m"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "nasbench201"), names.end());
}

TEST(Registry, UnknownSpaceListsTheValidOnes) {
  try {
    make_space("darts-ish");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("darts-ish"), std::string::npos);
    EXPECT_NE(msg.find("deepnets1m"), std::string::npos);
    EXPECT_NE(msg.find("nasbench201"), std::string::npos);
  }
}

TEST(Registry, DuplicateNameThrows) {
  register_builtin_spaces();
  EXPECT_THROW(register_space("deepnets1m", [](const SpaceOptions&) {
                 return std::unique_ptr<SearchSpace>();
               }),
               ConfigError);
}

TEST(Registry, OptionsAreValidated) {
  EXPECT_THROW(make_space("deepnets1m", {{"variant", "huge"}}), ConfigError);
  EXPECT_THROW(make_space("deepnets1m", {{"colour", "red"}}), ConfigError);
  EXPECT_NO_THROW(make_space("deepnets1m", {{"variant", "dense"}}));
}

TEST(Registry, UnknownTaskListsTheValidOnes) {
  try {
    task_by_name("mnist");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fashion-mnist"), std::string::npos);
  }
}

}  // namespace
}  // namespace ghnas
