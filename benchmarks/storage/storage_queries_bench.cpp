// Query speed of the results database with 1,000,000 evaluations, and write speed of batches.
// The database is generated once through the public writer API into
// /tmp/ghnas_storage_bench.db (GHNAS_BENCH_DB overrides the path) and reused while it holds
// exactly 1,000,000 evaluations at the current schema version:
//   run 1  regularized_evolution  200,000 architectures x 4 heads metrics, 40,000
//                                 predicted-parameters clean_acc (1% failed), 500 sgd clean_acc
//   run 2  random                 50,000 architectures x 3 heads metrics
//   run 3  ground-truth           4,750 architectures x sgd clean_acc and noisy_acc
//
//   build/benchmarks/storage/ghnas_storage_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <random>

#include "storage/results_db.hpp"
#include "storage/results_reader.hpp"
#include "storage/schema.hpp"

namespace {

using namespace ghnas;

constexpr std::int64_t kEvaluations = 1'000'000;
constexpr int kArchs = 250'000;

std::string bench_db_path() {
  const char* env = std::getenv("GHNAS_BENCH_DB");
  return env ? env : "/tmp/ghnas_storage_bench.db";
}

void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-lock"}) std::remove((path + suffix).c_str());
}

// Canonical hashes look like hex digests: 16 hex digits of a mixed index.
std::string arch_hash(std::uint64_t i) {
  std::uint64_t z = i + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(z));
  return buf;
}

// A NAS-Bench-201 cell string as the spec, so rows are as wide as real ones.
nlohmann::json arch_spec(std::mt19937_64& rng) {
  static const char* ops[] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  std::string s;
  for (int node = 1; node <= 3; ++node) {
    s += node > 1 ? "+|" : "|";
    for (int in = 0; in < node; ++in) s += std::string(ops[rng() % 5]) + "~" + std::to_string(in) + "|";
  }
  return {{"arch", s}};
}

void generate(const std::string& path) {
  remove_db(path);
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> unit(0, 1);
  std::normal_distribution<double> acc(85, 5);
  ResultsDb db(path);
  std::int64_t written = 0, batches = 0;
  std::vector<std::int64_t> ids(kArchs);

  // Records archs [first, last) of `run`, 2,000 architectures per batch.
  const auto fill = [&](std::int64_t run, int first, int last, auto&& evaluations_of) {
    for (int begin = first; begin < last; begin += 2000) {
      auto batch = db.begin_batch();
      std::vector<Evaluation> evals;
      for (int i = begin; i < std::min(last, begin + 2000); ++i) {
        if (ids[i] == 0) {
          const std::int64_t params = 100'000 + static_cast<std::int64_t>(rng() % 1'400'000);
          ids[i] = db.upsert_architecture({"nasbench201", arch_hash(i), arch_spec(rng), params, params * 120});
        }
        evaluations_of(i, ids[i], evals);
      }
      db.record_evaluations(run, evals);
      batch.commit();
      written += static_cast<std::int64_t>(evals.size());
      ++batches;
    }
  };
  const auto eval = [](std::int64_t arch, const char* evaluator, Fidelity f, const char* metric, double v,
                       double seconds) {
    Evaluation e;
    e.arch_id = arch;
    e.evaluator = evaluator;
    e.fidelity = f;
    e.metric = metric;
    e.value = v;
    e.seconds = seconds;
    return e;
  };

  const auto run1 = db.create_run({"nasbench201", "cifar10", "regularized_evolution",
                                   {{"population", 100}, {"sample", 25}}, 1, "ghn2-cifar10"});
  fill(run1, 0, 200'000, [&](int i, std::int64_t id, std::vector<Evaluation>& out) {
    const double clean = std::clamp(acc(rng), 10.0, 95.0);
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "clean_acc", clean, 0.0004));
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "noisy_acc", clean - 5 - 15 * unit(rng), 0.0004));
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "latency", 1 + 19 * unit(rng), 0.0004));
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "convergence", unit(rng), 0.0004));
    if (i % 5 == 0) {
      Evaluation p = eval(id, "ghn-params", Fidelity::kPredictedParameters, "clean_acc",
                          clean - 20 * unit(rng), 0.02);
      if (i % 500 == 0) {
        p.status = EvalStatus::kFailed;
        p.error = "predicted parameters produced NaN logits";
      }
      out.push_back(p);
    }
    if (i % 400 == 0) out.push_back(eval(id, "sgd-12ep", Fidelity::kSgd, "clean_acc", clean - 3 * unit(rng), 95));
  });
  db.finish_run(run1, RunStatus::kFinished);

  const auto run2 = db.create_run({"nasbench201", "cifar10", "random", {{"n", 50000}}, 2, "ghn2-cifar10"});
  fill(run2, 200'000, kArchs, [&](int, std::int64_t id, std::vector<Evaluation>& out) {
    const double clean = std::clamp(acc(rng), 10.0, 95.0);
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "clean_acc", clean, 0.0004));
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "noisy_acc", clean - 10 * unit(rng), 0.0004));
    out.push_back(eval(id, "ghn-heads", Fidelity::kHeads, "latency", 1 + 19 * unit(rng), 0.0004));
  });
  db.finish_run(run2, RunStatus::kFinished);

  const auto run3 = db.create_run({"nasbench201", "cifar10", "ground-truth", {{"epochs", 12}}, 3, ""});
  fill(run3, 0, 4'750, [&](int, std::int64_t id, std::vector<Evaluation>& out) {
    const double clean = std::clamp(acc(rng), 10.0, 95.0);
    out.push_back(eval(id, "sgd-12ep", Fidelity::kSgd, "clean_acc", clean, 95));
    out.push_back(eval(id, "sgd-12ep", Fidelity::kSgd, "noisy_acc", clean - 10 * unit(rng), 95));
  });
  db.finish_run(run3, RunStatus::kFinished);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "generated %s: %lld evaluations, %d architectures in %lld batches, %.1f s (%.0f evaluations/s)\n",
               path.c_str(), static_cast<long long>(written), kArchs, static_cast<long long>(batches),
               seconds, written / seconds);
}

// The database path, generating it when it is missing or not the expected one.
const std::string& database() {
  static const std::string path = [] {
    const std::string p = bench_db_path();
    bool ok = false;
    if (::access(p.c_str(), F_OK) == 0) {
      try {
        ResultsReader reader(p);
        ResultTable t;
        reader.sql("SELECT (SELECT count(*) FROM evaluations) AS n, "
                   "(SELECT max(version) FROM schema_version) AS version", t);
        ok = t.at(0, "n").integer == kEvaluations && t.at(0, "version").integer == kSchemaVersion;
      } catch (const std::exception&) {
      }
    }
    if (!ok) generate(p);
    return p;
  }();
  return path;
}

ResultsReader& reader() {
  static ResultsReader r(database());
  return r;
}

// Discards output, so exports are timed without a disk or terminal.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

void BM_TopK(benchmark::State& state) {
  const std::size_t k = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    ResultTable t;
    reader().top({1, "clean_acc", k}, t);
    benchmark::DoNotOptimize(t.rows.data());
  }
}
BENCHMARK(BM_TopK)->Arg(10)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_TopKByFidelity(benchmark::State& state) {
  const Fidelity fidelity = state.range(0) ? Fidelity::kSgd : Fidelity::kPredictedParameters;
  for (auto _ : state) {
    ResultTable t;
    reader().top({1, "clean_acc", 10, fidelity}, t);
    benchmark::DoNotOptimize(t.rows.data());
  }
  state.SetLabel(std::string(to_string(fidelity)));
}
BENCHMARK(BM_TopKByFidelity)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_TopKAscendingLatency(benchmark::State& state) {
  for (auto _ : state) {
    ResultTable t;
    reader().top({1, "latency", 10, std::nullopt, /*descending=*/false}, t);
    benchmark::DoNotOptimize(t.rows.data());
  }
}
BENCHMARK(BM_TopKAscendingLatency)->Unit(benchmark::kMillisecond);

void BM_ArchLookup(benchmark::State& state) {
  const bool prefix = state.range(0) != 0;
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    std::string hash = arch_hash(rng() % kArchs);
    if (prefix) hash.resize(8);
    ResultTable t;
    reader().architecture(hash, t);
    benchmark::DoNotOptimize(t.rows.data());
  }
  state.SetLabel(prefix ? "8-digit prefix" : "full hash");
}
BENCHMARK(BM_ArchLookup)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_RunList(benchmark::State& state) {
  for (auto _ : state) {
    ResultTable t;
    reader().runs(t);
    benchmark::DoNotOptimize(t.rows.data());
  }
}
BENCHMARK(BM_RunList)->Unit(benchmark::kMillisecond);

void BM_Pareto(benchmark::State& state) {
  const std::string x = state.range(0) ? "latency" : "params";
  std::size_t front = 0;
  for (auto _ : state) {
    ResultTable t;
    reader().pareto({1, x, "clean_acc"}, t);
    front = t.rows.size();
  }
  state.SetLabel(x + " vs clean_acc, 200,000 architectures");
  state.counters["front"] = static_cast<double>(front);
}
BENCHMARK(BM_Pareto)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_Export(benchmark::State& state) {
  const std::int64_t run = state.range(0);
  const OutputFormat format = state.range(1) ? OutputFormat::kJson : OutputFormat::kCsv;
  NullBuffer null;
  std::ostream sink(&null);
  ResultTable count;
  reader().sql("SELECT count(*) AS n FROM evaluations WHERE run_id = " + std::to_string(run), count);
  const auto rows = count.at(0, "n").integer;
  for (auto _ : state) {
    FormattedOutput out(sink, format);
    reader().export_run(run, out);
    out.finish();
  }
  state.SetLabel(std::string("run ") + std::to_string(run) + (state.range(1) ? " json" : " csv"));
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Export)->Args({2, 0})->Args({1, 0})->Args({1, 1})->Unit(benchmark::kMillisecond)->Iterations(3);

// What every `ghnas query` pays before its query: open, check the file and its schema.
void BM_OpenReader(benchmark::State& state) {
  const std::string& path = database();
  for (auto _ : state) {
    ResultsReader r(path);
    benchmark::DoNotOptimize(&r);
  }
}
BENCHMARK(BM_OpenReader)->Unit(benchmark::kMicrosecond);

// A search's write path: one batch of `state.range(0)` evaluations (new architectures),
// committed with synchronous=FULL, into a separate database.
void BM_RecordBatch(benchmark::State& state) {
  const std::string path = bench_db_path() + ".write";
  remove_db(path);
  {
    ResultsDb db(path);
    const auto run = db.create_run({"nasbench201", "cifar10", "random", nlohmann::json::object(), 0, ""});
    std::mt19937_64 rng(3);
    std::int64_t next = 0;
    const auto per_batch = state.range(0);
    for (auto _ : state) {
      auto batch = db.begin_batch();
      std::vector<Evaluation> evals;
      for (std::int64_t i = 0; i < per_batch; ++i) {
        const auto id = db.upsert_architecture({"nasbench201", arch_hash(next++), arch_spec(rng), 1000, 1000});
        Evaluation e;
        e.arch_id = id;
        e.evaluator = "ghn-heads";
        e.metric = "clean_acc";
        e.value = 80;
        evals.push_back(e);
      }
      db.record_evaluations(run, evals);
      batch.commit();
    }
    state.counters["evals_per_s"] = benchmark::Counter(static_cast<double>(per_batch),
                                                       benchmark::Counter::kIsIterationInvariantRate);
  }
  remove_db(path);
}
BENCHMARK(BM_RecordBatch)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The resume check a search makes per candidate.
void BM_ResumeCheck(benchmark::State& state) {
  ResultsDb db(database());
  std::mt19937_64 rng(5);
  std::int64_t found = 0;
  for (auto _ : state) found += db.is_recorded(1, 1 + static_cast<std::int64_t>(rng() % 200'000), "ghn-heads", "latency");
  benchmark::DoNotOptimize(found);
}
BENCHMARK(BM_ResumeCheck)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  database();  // generated (once) before anything is timed
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
