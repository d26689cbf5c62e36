#include "search/search_loop.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "search/pareto.hpp"

namespace ghnas {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kBudget:
      return "budget";
    case StopReason::kTime:
      return "time";
    case StopReason::kExhausted:
      return "exhausted";
    case StopReason::kStalled:
      return "stalled";
  }
  return "?";
}

namespace {

void check_options(const SearchOptions& o, const CandidateScreen* screen) {
  GHNAS_CHECK_AS(ConfigError, o.max_evaluations > 0,
                 "search: the evaluation budget must be a positive number of evaluations, got ",
                 o.max_evaluations);
  GHNAS_CHECK_AS(ConfigError, !o.max_seconds || *o.max_seconds > 0,
                 "search: the wall-time budget must be positive seconds, got ",
                 o.max_seconds.value_or(0));
  GHNAS_CHECK_AS(ConfigError, o.batch_size >= 1, "search: the batch size must be at least 1, got ",
                 o.batch_size);
  GHNAS_CHECK_AS(ConfigError, o.screen_factor >= 1,
                 "search: the screen factor must be at least 1, got ", o.screen_factor);
  GHNAS_CHECK_AS(ConfigError, o.screen_factor == 1 || screen != nullptr, "search: screen factor ",
                 o.screen_factor, " needs a candidate screen");
  GHNAS_CHECK_AS(ConfigError, o.max_idle_proposals >= 1,
                 "search: max_idle_proposals must be at least 1, got ", o.max_idle_proposals);
  GHNAS_CHECK_AS(ConfigError, !o.objectives.empty(), "search: no objective given");
  for (std::size_t i = 0; i < o.objectives.size(); ++i) {
    GHNAS_CHECK_AS(ConfigError, !o.objectives[i].metric.empty(), "search: objective ", i,
                   " names no metric");
    for (std::size_t j = 0; j < i; ++j)
      GHNAS_CHECK_AS(ConfigError, o.objectives[i].metric != o.objectives[j].metric,
                     "search: metric '", o.objectives[i].metric, "' is an objective twice");
  }
}

// The evaluator's answer for `batch`, never throwing for a bad candidate: when the whole
// batch throws, each candidate is tried alone, and one that still throws is kFailed (charged:
// the attempt cost what an evaluation costs, and charging it keeps a broken evaluator from
// looping forever).
std::vector<CandidateEvaluation> evaluate_guarded(SearchEvaluator& evaluator,
                                                  const std::vector<Candidate>& batch) {
  if (batch.empty()) return {};
  std::vector<CandidateEvaluation> out;
  std::string batch_error;
  try {
    out = evaluator.evaluate(batch);
  } catch (const std::exception& e) {
    batch_error = e.what();
    if (batch_error.empty()) batch_error = "(no message)";
  }
  if (batch_error.empty()) {
    GHNAS_CHECK(out.size() == batch.size(), "search: the evaluator returned ", out.size(),
                " evaluations for a batch of ", batch.size());
    return out;
  }
  if (batch.size() == 1) return {CandidateEvaluation::failed("evaluator threw: " + batch_error)};
  out.clear();
  for (const auto& candidate : batch) {
    std::vector<CandidateEvaluation> one;
    std::string error;
    try {
      one = evaluator.evaluate({candidate});
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "(no message)";
    }
    if (!error.empty()) {
      out.push_back(CandidateEvaluation::failed("evaluator threw: " + error));
      continue;
    }
    GHNAS_CHECK(one.size() == 1, "search: the evaluator returned ", one.size(),
                " evaluations for a batch of 1");
    out.push_back(std::move(one[0]));
  }
  return out;
}

// Fills record.objectives from an kOk evaluation's metrics; a missing or non-finite objective
// turns the record into kFailed (keeping its charge: the evaluator did the work).
void extract_objectives(SearchRecord& record, const std::vector<Objective>& objectives) {
  CandidateEvaluation& e = record.evaluation;
  if (e.status != CandidateStatus::kOk) return;
  record.objectives.clear();
  for (const auto& objective : objectives) {
    const auto it = e.metrics.find(objective.metric);
    if (it == e.metrics.end()) {
      std::string have;
      for (const auto& [name, value] : e.metrics) have += (have.empty() ? "" : ", ") + name;
      e.status = CandidateStatus::kFailed;
      e.message = "the evaluator returned no value for objective '" + objective.metric +
                  "' (it returned: " + (have.empty() ? std::string("nothing") : have) + ")";
      record.objectives.clear();
      return;
    }
    if (!std::isfinite(it->second)) {
      e.status = CandidateStatus::kFailed;
      e.message = "objective '" + objective.metric + "' is not finite";
      record.objectives.clear();
      return;
    }
    record.objectives.push_back(it->second);
  }
}

std::string best_status(const SearchRecord& best, const Objective& objective) {
  char text[96];
  std::snprintf(text, sizeof(text), "best %s %.4g", objective.metric.c_str(), best.objectives[0]);
  return text;
}

}  // namespace

SearchResult run_search(const SearchSpace& space, SearchEvaluator& evaluator,
                        const SearchOptions& options, SearchObserver* observer,
                        CandidateScreen* screen) {
  check_options(options, screen);
  StrategyContext context;
  context.space = &space;
  context.objectives = options.objectives;
  context.seed = options.seed;
  SearchOptions resolved = options;
  resolved.strategy_options = resolve_strategy_options(options.strategy, options.strategy_options);
  auto strategy = make_strategy(options.strategy, context, resolved.strategy_options);
  return run_search(space, *strategy, evaluator, resolved, observer, screen);
}

SearchResult run_search(const SearchSpace& space, SearchStrategy& strategy,
                        SearchEvaluator& evaluator, const SearchOptions& options,
                        SearchObserver* observer, CandidateScreen* screen) {
  check_options(options, screen);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const Objective& primary = options.objectives.front();

  SearchRunInfo info;
  info.space = space.name();
  info.strategy = strategy.name();
  info.strategy_options = options.strategy_options;
  info.objectives = options.objectives;
  info.seed = options.seed;
  info.max_evaluations = options.max_evaluations;
  info.max_seconds = options.max_seconds;
  info.batch_size = options.batch_size;
  if (observer) observer->on_start(info);

  SearchResult result;
  ProgressBar progress(static_cast<std::size_t>(options.max_evaluations),
                       "search " + strategy.name(), options.progress);
  // canonical hash -> history index of the evaluation a repeat may reuse
  std::unordered_map<std::string, std::size_t> evaluated;
  int idle = 0;

  for (;;) {
    if (result.charged >= options.max_evaluations) {
      result.stop_reason = StopReason::kBudget;
      break;
    }
    if (options.max_seconds && elapsed() >= *options.max_seconds) {
      result.stop_reason = StopReason::kTime;
      break;
    }
    const std::size_t n = static_cast<std::size_t>(
        std::min(options.batch_size, options.max_evaluations - result.charged));
    const std::size_t wanted = screen ? n * static_cast<std::size_t>(options.screen_factor) : n;
    std::vector<Architecture> archs = strategy.propose(wanted);
    if (archs.empty()) {
      result.stop_reason = StopReason::kExhausted;
      break;
    }
    GHNAS_CHECK(archs.size() <= wanted, "search: strategy '", strategy.name(), "' proposed ",
                archs.size(), " candidates when asked for at most ", wanted);

    // Membership checks and canonical hashes are independent per candidate, so they run in
    // parallel (evaluators that read graphs build them in parallel too: build_candidate_graphs).
    const std::size_t first_id = result.history.size();
    std::vector<Candidate> batch(archs.size());
    std::vector<std::string> invalid(archs.size());
    tbb::parallel_for(std::size_t{0}, archs.size(), [&](std::size_t i) {
      batch[i].id = first_id + i;
      batch[i].arch = std::move(archs[i]);
      try {
        space.validate(batch[i].arch);
        batch[i].hash = space.canonical_hash(batch[i].arch);
      } catch (const std::exception& e) {
        invalid[i] = e.what();
        if (invalid[i].empty()) invalid[i] = "(no message)";
      }
    });
    if (observer) observer->on_proposals(batch);

    std::vector<SearchRecord> records(batch.size());
    std::vector<std::size_t> fresh;                            // records the evaluator must score
    std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (record, earlier record in batch)
    std::unordered_map<std::string, std::size_t> first_in_batch;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      SearchRecord& r = records[i];
      r.candidate = batch[i];
      if (!invalid[i].empty()) {
        r.evaluation.status = CandidateStatus::kInvalid;
        r.evaluation.message = invalid[i];
        r.evaluation.charged = false;
        continue;
      }
      if (options.reuse_results) {
        const auto earlier = evaluated.find(r.candidate.hash);
        if (earlier != evaluated.end()) {
          const SearchRecord& prior = result.history[earlier->second];
          r.evaluation = prior.evaluation;
          r.evaluation.charged = false;
          r.objectives = prior.objectives;
          r.reused = true;
          continue;
        }
        const auto [it, inserted] = first_in_batch.emplace(r.candidate.hash, i);
        if (!inserted) {
          repeats.emplace_back(i, it->second);
          continue;
        }
      }
      fresh.push_back(i);
    }

    if (screen != nullptr && options.screen_factor > 1 && !fresh.empty()) {
      std::vector<Candidate> looked_at;
      for (std::size_t i : fresh) looked_at.push_back(records[i].candidate);
      const std::vector<double> scores = screen->score(looked_at);
      GHNAS_CHECK(scores.size() == fresh.size(), "search: the screen returned ", scores.size(),
                  " scores for ", fresh.size(), " candidates");
      std::vector<std::size_t> order(fresh.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      auto key = [&](std::size_t k) {
        return std::isfinite(scores[k]) ? scores[k] : -std::numeric_limits<double>::infinity();
      };
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
      std::vector<std::size_t> kept;
      for (std::size_t rank = 0; rank < order.size(); ++rank) {
        SearchRecord& r = records[fresh[order[rank]]];
        r.screen_score = scores[order[rank]];
        r.screened = true;
        if (rank < n) {
          kept.push_back(fresh[order[rank]]);
        } else {
          r.evaluation.status = CandidateStatus::kScreened;
          r.evaluation.message = "ranked out of its batch by the candidate screen";
          r.evaluation.charged = false;
        }
      }
      std::sort(kept.begin(), kept.end());
      fresh = std::move(kept);
    }
    assert(fresh.size() <= n);

    std::vector<Candidate> to_evaluate;
    for (std::size_t i : fresh) to_evaluate.push_back(records[i].candidate);
    std::vector<CandidateEvaluation> evaluations = evaluate_guarded(evaluator, to_evaluate);
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      SearchRecord& r = records[fresh[k]];
      r.evaluation = std::move(evaluations[k]);
      extract_objectives(r, options.objectives);
    }
    for (const auto& [i, j] : repeats) {
      records[i].evaluation = records[j].evaluation;
      records[i].evaluation.charged = false;
      records[i].objectives = records[j].objectives;
      records[i].screen_score = records[j].screen_score;
      records[i].screened = records[j].screened;
      records[i].reused = true;
    }

    int batch_charged = 0;
    for (auto& r : records) {
      const std::size_t index = result.history.size();
      if (r.evaluation.charged) ++batch_charged;
      if (r.reused) ++result.reused;
      switch (r.evaluation.status) {
        case CandidateStatus::kOk:
          ++result.ok;
          break;
        case CandidateStatus::kDiverged:
        case CandidateStatus::kFailed:
        case CandidateStatus::kOom:
          ++result.failed;
          break;
        case CandidateStatus::kUnknown:
          ++result.unknown;
          break;
        case CandidateStatus::kInvalid:
          ++result.invalid;
          break;
        case CandidateStatus::kScreened:
          ++result.screened;
          break;
      }
      // Deterministic answers are kept for repeats; a failure may be transient (out of
      // memory, a crashed worker), so a failed architecture proposed again is evaluated again.
      const bool reusable = !r.reused && (r.evaluation.status == CandidateStatus::kOk ||
                                          r.evaluation.status == CandidateStatus::kUnknown);
      if (options.reuse_results && reusable) evaluated.emplace(r.candidate.hash, index);
      if (r.evaluation.status == CandidateStatus::kOk &&
          (!result.best ||
           better(r.objectives[0], result.history[*result.best].objectives[0], primary.direction)))
        result.best = index;
      result.history.push_back(r);
      if (observer) observer->on_record(result.history.back());
    }
    result.charged += batch_charged;
    // One charge per evaluated candidate and at most what was left were evaluated.
    assert(result.charged <= options.max_evaluations);
    strategy.observe(records);
    progress.tick(static_cast<std::size_t>(batch_charged),
                  result.best ? best_status(*result.best_record(), primary) : std::string());

    if (batch_charged == 0) {
      idle += static_cast<int>(records.size());
      if (idle >= options.max_idle_proposals) {
        result.stop_reason = StopReason::kStalled;
        break;
      }
    } else {
      idle = 0;
    }
  }
  progress.finish();

  if (options.objectives.size() >= 2) {
    std::vector<std::size_t> members;
    std::vector<std::vector<double>> points;
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < result.history.size(); ++i) {
      const SearchRecord& r = result.history[i];
      if (r.evaluation.status != CandidateStatus::kOk || !seen.emplace(r.candidate.hash, i).second)
        continue;
      std::vector<double> p;
      for (std::size_t k = 0; k < options.objectives.size(); ++k)
        p.push_back(oriented(r.objectives[k], options.objectives[k].direction));
      members.push_back(i);
      points.push_back(std::move(p));
    }
    if (!points.empty()) {
      const auto fronts = non_dominated_sort(points);
      for (std::size_t k : fronts[0]) result.pareto_front.push_back(members[k]);
    }
  }
  result.seconds = elapsed();
  if (observer) observer->on_finish(result);
  return result;
}

}  // namespace ghnas
