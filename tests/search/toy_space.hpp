#pragma once
// A tiny search space for exact tests of the strategies and the loop: an architecture is
// {"v": value, "p": parent}, where v in [0, size) is its identity and p the value it was
// mutated from (-1 for a sample), so every child shows which parent a strategy picked.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "search/evaluation.hpp"
#include "search/search_loop.hpp"
#include "space/search_space.hpp"

namespace ghnas::test {

class ToySpace : public SearchSpace {
 public:
  explicit ToySpace(int size = 1000) : size_(size) {}

  std::string name() const override { return "toy"; }
  std::string description() const override { return "integers 0..size-1"; }

  static Architecture make(int v, int parent = -1) {
    return {"toy", nlohmann::json{{"v", v}, {"p", parent}}};
  }
  static int value_of(const Architecture& a) { return a.spec.at("v").get<int>(); }
  static int parent_of(const Architecture& a) { return a.spec.at("p").get<int>(); }

  Architecture sample(Rng& rng) const override {
    return make(std::uniform_int_distribution<int>(0, size_ - 1)(rng));
  }
  Architecture mutate(const Architecture& arch, Rng& rng) const override {
    const int v = value_of(arch);
    int next = std::uniform_int_distribution<int>(0, size_ - 2)(rng);
    if (next >= v) ++next;
    return make(next, v);
  }
  std::vector<Architecture> neighbours(const Architecture& arch) const override {
    const int v = value_of(arch);
    std::vector<Architecture> result;
    if (v > 0) result.push_back(make(v - 1, v));
    if (v + 1 < size_) result.push_back(make(v + 1, v));
    return result;
  }
  void validate(const Architecture& arch) const override {
    GHNAS_CHECK_AS(
        ArchError,
        arch.spec.is_object() && arch.spec.contains("v") && arch.spec["v"].is_number_integer(),
        "toy: not an architecture: ", arch.spec.dump());
    const int v = value_of(arch);
    GHNAS_CHECK_AS(ArchError, v >= 0 && v < size_, "toy: value ", v, " out of range");
  }
  // The parent is history, not structure: equal values are the same architecture.
  std::string canonical_hash(const Architecture& arch) const override {
    return std::to_string(value_of(arch));
  }
  ArchGraph build_graph(const Architecture& arch, const Task& task) const override {
    validate(arch);
    ArchGraph g(task);
    OpNode input;
    input.kind = OpKind::kInput;
    input.out_shape = {task.channels, task.height, task.width};
    g.set_output(g.add(std::move(input)));
    return g;
  }
  std::vector<Architecture> read_archs(const std::string&) const override { return {}; }
  std::string write_archs(const std::vector<Architecture>&) const override { return ""; }

 private:
  int size_;
};

/// A fitness landscape over toy values with no simple order: "score" to maximise and
/// "cost" to minimise, deterministic.
inline double toy_score(int v) { return static_cast<double>((v * 7919) % 1009); }
inline double toy_cost(int v) { return static_cast<double>((v * 104729) % 997); }

/// Scores every candidate with toy_score / toy_cost, charged.
inline ParallelEvaluator toy_evaluator() {
  return ParallelEvaluator([](const Candidate& c) {
    const int v = ToySpace::value_of(c.arch);
    return CandidateEvaluation::ok({{"score", toy_score(v)}, {"cost", toy_cost(v)}});
  });
}

inline SearchOptions toy_options(const std::string& strategy, int budget, std::uint64_t seed = 1) {
  SearchOptions o;
  o.strategy = strategy;
  o.objectives = {{"score", Direction::kMaximize}};
  o.max_evaluations = budget;
  o.seed = seed;
  o.progress = 0;
  return o;
}

/// The canonical hashes of a run's proposals, in order.
inline std::vector<std::string> proposal_hashes(const SearchResult& r) {
  std::vector<std::string> hashes;
  for (const auto& record : r.history) hashes.push_back(record.candidate.hash);
  return hashes;
}

/// An ok record for `arch` with one objective value, as the loop would tell a strategy.
inline SearchRecord ok_record(std::size_t id, const Architecture& arch, double value) {
  SearchRecord r;
  r.candidate.id = id;
  r.candidate.arch = arch;
  r.candidate.hash = std::to_string(ToySpace::value_of(arch));
  r.evaluation = CandidateEvaluation::ok({{"score", value}});
  r.objectives = {value};
  return r;
}

}  // namespace ghnas::test
