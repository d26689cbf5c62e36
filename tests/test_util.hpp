#pragma once
// Helpers shared by the test binaries.

#include <cstdlib>
#include <string>

#ifndef GHNAS_SHARED_DIR
#define GHNAS_SHARED_DIR "../shared"
#endif

namespace ghnas::test {

/// The shared reference data folder (../shared beside the repository). The environment
/// variable GHNAS_SHARED_DIR overrides the path configured at build time.
inline std::string shared_dir() {
  if (const char* env = std::getenv("GHNAS_SHARED_DIR")) return env;
  return GHNAS_SHARED_DIR;
}

}  // namespace ghnas::test
