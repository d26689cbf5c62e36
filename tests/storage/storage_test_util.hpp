#pragma once
// A fresh database path per test and a small populated database shared by the query tests.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "storage/results_db.hpp"

namespace ghnas::test {

/// A database path unique to the running test (and process); its files are removed before
/// and after the test.
class TempDb {
 public:
  TempDb() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "ghnas_" + info->test_suite_name() + "_" + info->name() + "_" +
            std::to_string(::getpid()) + ".db";
    remove_files();
  }
  ~TempDb() { remove_files(); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;

  const std::string& path() const { return path_; }

 private:
  void remove_files() const {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-lock"})
      std::remove((path_ + suffix).c_str());
  }
  std::string path_;
};

/// The bytes of a file (to prove it was not changed).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

/// A NAS-Bench-201-like architecture record with a recognisable hash.
inline ArchRecord make_arch(const std::string& hash, std::int64_t params, const std::string& space = "nasbench201") {
  return {space, hash, nlohmann::json{{"cell", hash}}, params, params * 10};
}

inline Evaluation ok_eval(std::int64_t arch, const std::string& metric, double value,
                          Fidelity fidelity = Fidelity::kHeads, const std::string& evaluator = "ghn-heads") {
  Evaluation e;
  e.arch_id = arch;
  e.evaluator = evaluator;
  e.fidelity = fidelity;
  e.metric = metric;
  e.value = value;
  e.seconds = 0.01;
  return e;
}

inline RunSpec make_run_spec(const std::string& strategy = "random") {
  return {"nasbench201", "fashion-mnist", strategy, nlohmann::json{{"population", 20}}, 7, "ckpt-abc"};
}

}  // namespace ghnas::test
