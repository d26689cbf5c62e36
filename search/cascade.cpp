#include "search/cascade.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.hpp"
#include "core/progress.hpp"

namespace ghnas {

namespace {

// The value a record is ranked by: its objective oriented so that larger is better, or -inf
// for a candidate without one.
double rank_value(const CandidateEvaluation& e, const Objective& objective) {
  if (e.status != CandidateStatus::kOk) return -std::numeric_limits<double>::infinity();
  const auto it = e.metrics.find(objective.metric);
  if (it == e.metrics.end() || !std::isfinite(it->second)) return -std::numeric_limits<double>::infinity();
  return oriented(it->second, objective.direction);
}

struct Ranked {
  Candidate candidate;
  double value = 0;  // oriented
  double raw = 0;
};

// The best `keep` distinct candidates, best first; ties keep proposal order.
std::vector<Ranked> best_distinct(std::vector<Ranked> all, std::size_t keep) {
  std::stable_sort(all.begin(), all.end(), [](const Ranked& a, const Ranked& b) { return a.value > b.value; });
  std::vector<Ranked> out;
  std::set<std::string> seen;
  for (auto& r : all) {
    if (out.size() == keep) break;
    if (!std::isfinite(r.value) || !seen.insert(r.candidate.hash).second) continue;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

CascadeResult run_cascade(const SearchSpace& space, SearchOptions options,
                          const std::vector<CascadeStage>& stages, CascadeObserver* observer,
                          std::size_t batch_size) {
  GHNAS_CHECK_AS(ConfigError, !stages.empty(), "a cascade needs at least one stage");
  for (std::size_t s = 0; s < stages.size(); ++s) {
    GHNAS_CHECK_AS(ConfigError, stages[s].evaluation != nullptr, "cascade stage '", stages[s].evaluator,
                   "' has no evaluator");
    GHNAS_CHECK_AS(ConfigError, s == 0 || stages[s].keep > 0, "cascade stage '", stages[s].evaluator,
                   "' keeps no candidates");
  }
  GHNAS_CHECK_AS(ConfigError, batch_size > 0, "cascade batch size must be positive");
  const auto start = std::chrono::steady_clock::now();
  if (options.objectives.empty()) options.objectives = {stages[0].objective};

  CascadeResult result;
  result.search = run_search(space, *stages[0].evaluation, options, observer);

  // What the next stage chooses from: the first stage's answers, repeats included (the loop's
  // reused answers carry the same values).
  std::vector<Ranked> pool;
  for (const SearchRecord& r : result.search.history) {
    const double v = rank_value(r.evaluation, stages[0].objective);
    if (std::isfinite(v)) pool.push_back({r.candidate, v, r.evaluation.metrics.at(stages[0].objective.metric)});
  }

  for (std::size_t s = 1; s < stages.size(); ++s) {
    const CascadeStage& stage = stages[s];
    const std::vector<Ranked> chosen = best_distinct(std::move(pool), stage.keep);
    if (observer) observer->on_stage_start(s, stage, chosen.size());
    std::vector<StageRecord> records;
    ProgressBar progress(chosen.size(), stage.evaluator, options.progress);
    for (std::size_t begin = 0; begin < chosen.size(); begin += batch_size) {
      const std::size_t end = std::min(chosen.size(), begin + batch_size);
      std::vector<Candidate> batch;
      for (std::size_t i = begin; i < end; ++i) batch.push_back(chosen[i].candidate);
      std::vector<CandidateEvaluation> answers;
      try {
        answers = stage.evaluation->evaluate(batch);
        GHNAS_CHECK(answers.size() == batch.size(), "evaluator '", stage.evaluator, "' returned ",
                    answers.size(), " answers for ", batch.size(), " candidates");
      } catch (const std::exception&) {
        // As in the search loop: one bad candidate must not sink its batch.
        answers.clear();
        for (const Candidate& c : batch) {
          try {
            auto one = stage.evaluation->evaluate({c});
            answers.push_back(one.size() == 1 ? one[0] : CandidateEvaluation::failed("no answer"));
          } catch (const std::exception& e) {
            answers.push_back(CandidateEvaluation::failed(e.what()));
          }
        }
      }
      for (std::size_t i = begin; i < end; ++i) {
        StageRecord record{chosen[i].candidate, answers[i - begin], chosen[i].raw};
        if (observer) observer->on_stage_record(s, stage, record);
        records.push_back(std::move(record));
      }
      progress.tick(end - begin);
    }
    progress.finish();
    // Best first; failures keep their place at the end.
    std::stable_sort(records.begin(), records.end(), [&](const StageRecord& a, const StageRecord& b) {
      return rank_value(a.evaluation, stage.objective) > rank_value(b.evaluation, stage.objective);
    });
    pool.clear();
    for (const StageRecord& r : records) {
      const double v = rank_value(r.evaluation, stage.objective);
      if (std::isfinite(v)) pool.push_back({r.candidate, v, r.evaluation.metrics.at(stage.objective.metric)});
    }
    result.stages.push_back(std::move(records));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ghnas
