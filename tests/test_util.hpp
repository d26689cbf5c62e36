#pragma once
// Helpers shared by the test binaries.

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
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

/// What a command printed and how it exited.
struct CmdResult {
  int code = 0;
  std::string out;  // stdout
  std::string err;  // stderr
};

/// Runs `command` through the shell, capturing stdout, stderr and the exit code. Stderr goes
/// through a file named after this process, since CTest runs test cases as parallel processes.
inline CmdResult run_command(const std::string& command) {
  static int counter = 0;
  const char* tmp = std::getenv("TMPDIR");
  const std::string err_file = std::string(tmp ? tmp : "/tmp") + "/ghnas_test_err_" +
                               std::to_string(getpid()) + "_" + std::to_string(counter++);
  CmdResult r;
  FILE* pipe = popen((command + " 2>" + err_file).c_str(), "r");
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  std::remove(err_file.c_str());
  return r;
}

}  // namespace ghnas::test
