// Search quality on NAS-Bench-201 with a tabular oracle: the best CIFAR-10 test accuracy that
// random search and regularized evolution find within a query budget, over several seeds,
// through run_oracle_search (the code path of `ghnas search --oracle table:...`).
//
//   ghnas_nb201_search_bench --table ../shared/nasbench201/train.csv --queries 150 --seeds 10
//
// Prints one CSV line per run, then a markdown table (mean ± sample std over seeds) and the
// table's own maximum for context.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "search/oracle_search.hpp"
#include "search/table_oracle.hpp"
#include "space/nasbench201.hpp"

namespace {

using namespace ghnas;

// One row of the results: a strategy setting and the column it searches on.
struct Setting {
  std::string label;
  std::string strategy;
  StrategyOptions options;
  std::string search_metric;  // what the search maximises
  bool charge_repeats = false;
  bool restrict_to_table = true;
};

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0.0;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"NAS-Bench-201 search benchmark with a tabular oracle"};
  std::string table = std::string(GHNAS_SHARED_DIR) + "/nasbench201/train.csv";
  int queries = 150;
  int seeds = 10;
  std::string report_metric = "c10_test_nats";
  std::string valid_metric = "c10valid_xvalid_nb201";
  app.add_option("--table", table, "CSV with arch_str and the metric columns")
      ->capture_default_str();
  app.add_option("--queries", queries, "charged queries per search")->capture_default_str();
  app.add_option("--seeds", seeds, "seeds per setting (0..seeds-1)")->capture_default_str();
  app.add_option("--metric", report_metric, "column reported (test accuracy)")
      ->capture_default_str();
  app.add_option("--valid-metric", valid_metric,
                 "column searched on in the validation-protocol rows (empty: skip them)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    // The table's own best, for context: the maximum a search restricted to it can find.
    NasBench201Space space;
    const std::vector<std::string> columns =
        valid_metric.empty() ? std::vector<std::string>{report_metric}
                             : std::vector<std::string>{report_metric, valid_metric};
    TabularOracle reference(space, table, columns);
    std::vector<double> class_values;
    {
      std::set<std::string> seen;
      for (const auto& row : reference.row_archs()) {
        const std::string hash = space.canonical_hash(row);
        if (seen.insert(hash).second) class_values.push_back(*reference.value(hash, report_metric));
      }
    }
    std::sort(class_values.rbegin(), class_values.rend());
    // How much room a mutation has inside the table: member cells (and distinct members)
    // among the single-op neighbours of each table cell, other than the cell's own class.
    double member_neighbours = 0, distinct_member_neighbours = 0;
    std::size_t full_neighbours = 0, fewest_distinct = ~std::size_t{0};
    {
      auto full = std::make_shared<NasBench201Space>();
      TableSpace restricted(full, reference.row_archs(), table);
      for (const auto& row : reference.row_archs()) {
        const std::string own = space.canonical_hash(row);
        full_neighbours = full->neighbours(row).size();
        std::set<std::string> classes;
        for (const auto& n : restricted.neighbours(row)) {
          const std::string hash = space.canonical_hash(n);
          if (hash == own) continue;
          member_neighbours += 1;
          classes.insert(hash);
        }
        distinct_member_neighbours += static_cast<double>(classes.size());
        fewest_distinct = std::min(fewest_distinct, classes.size());
      }
      member_neighbours /= static_cast<double>(reference.num_rows());
      distinct_member_neighbours /= static_cast<double>(reference.num_rows());
    }

    const StrategyOptions nb201_rea = {
        {"population", "10"}, {"sample", "3"}, {"sample_replacement", "true"}};
    const StrategyOptions rea_p10_s5 = {{"population", "10"}, {"sample", "5"}};
    std::vector<Setting> settings = {
        {"random", "random", {}, report_metric, false},
        {"evolution P=10 S=3 repl.", "evolution", nb201_rea, report_metric, false},
        {"evolution P=10 S=3 repl., repeats charged", "evolution", nb201_rea, report_metric, true},
        {"evolution P=10 S=5", "evolution", rea_p10_s5, report_metric, false},
        {"evolution P=10 S=5, repeats charged", "evolution", rea_p10_s5, report_metric, true},
    };
    // The other honest treatment of a partial table: propose from the full space and let
    // the cells the table lacks come back "unknown" (free; evolution drops such children).
    settings.push_back(
        {"random, full space, unknowns free", "random", {}, report_metric, false, false});
    settings.push_back({"evolution P=10 S=3 repl., repeats charged, full space, unknowns free",
                        "evolution", nb201_rea, report_metric, true, false});
    if (!valid_metric.empty()) {
      settings.push_back({"random, on " + valid_metric, "random", {}, valid_metric, false});
      settings.push_back({"evolution P=10 S=3 repl., repeats charged, on " + valid_metric,
                          "evolution", nb201_rea, valid_metric, true});
    }

    std::cout << "setting,seed,best_arch,searched_value,reported_" << report_metric
              << ",queries_used,proposals,seconds\n";
    struct Row {
      std::string label;
      Stats reported;
      double seconds = 0;
      double proposals = 0;
      double distinct = 0;
    };
    std::vector<Row> rows;
    for (const auto& setting : settings) {
      std::vector<double> reported;
      double seconds = 0, proposals = 0, distinct = 0;
      for (int seed = 0; seed < seeds; ++seed) {
        OracleSearchConfig config;
        config.space = "nasbench201";
        config.strategy = setting.strategy;
        config.strategy_options = setting.options;
        config.oracle = "table:" + table + ":" + setting.search_metric +
                        (setting.search_metric == report_metric ? "" : "," + report_metric);
        config.objectives = {{setting.search_metric, Direction::kMaximize}};
        config.queries = queries;
        config.seed = static_cast<std::uint64_t>(seed);
        config.charge_repeats = setting.charge_repeats;
        config.restrict_to_table = setting.restrict_to_table;
        config.progress = 0;
        const auto start = std::chrono::steady_clock::now();
        const OracleSearchReport report = run_oracle_search(config);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const SearchRecord* best = report.result.best_record();
        GHNAS_CHECK(best != nullptr, setting.label, ", seed ", seed, ": nothing evaluated");
        // The reported number is the table's value of the cell the search picked; when the
        // search ran on validation accuracy this is the test accuracy it never saw.
        const double value = best->evaluation.metrics.at(report_metric);
        reported.push_back(value);
        seconds += secs;
        proposals += static_cast<double>(report.result.history.size());
        distinct += report.summary["distinct_queried"].get<double>();
        std::printf("\"%s\",%d,%s,%.4f,%.4f,%d,%zu,%.4f\n", setting.label.c_str(), seed,
                    best->candidate.arch.spec.get<std::string>().c_str(), best->objectives[0],
                    value, report.result.charged, report.result.history.size(), secs);
      }
      rows.push_back(
          {setting.label, stats(reported), seconds / seeds, proposals / seeds, distinct / seeds});
    }

    std::printf("\n%d queries, %d seeds, table %s (%zu rows, %zu distinct cells)\n\n", queries,
                seeds, table.c_str(), reference.num_rows(), reference.num_classes());
    std::printf(
        "| setting | best %s found: mean ± std | min | max | proposals | distinct cells "
        "queried | s/search |\n",
        report_metric.c_str());
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const auto& r : rows)
      std::printf("| %s | %.2f ± %.2f | %.2f | %.2f | %.0f | %.1f | %.3f |\n", r.label.c_str(),
                  r.reported.mean, r.reported.std, r.reported.min, r.reported.max, r.proposals,
                  r.distinct, r.seconds);
    std::printf("\nbest distinct cell of the table: %.4f; 2nd %.4f; 5th %.4f; 10th %.4f\n",
                class_values[0], class_values[1],
                class_values[std::min<std::size_t>(4, class_values.size() - 1)],
                class_values[std::min<std::size_t>(9, class_values.size() - 1)]);
    std::printf(
        "single-op neighbours of a table cell that are table cells of another class: "
        "%.2f of %zu on average (%.2f distinct; fewest %zu distinct)\n",
        member_neighbours, full_neighbours, distinct_member_neighbours, fewest_distinct);
    for (const auto& r : rows) {
      const auto above = std::count_if(class_values.begin(), class_values.end(),
                                       [&](double v) { return v > r.reported.mean; });
      std::printf("%s: %ld of the %zu distinct cells beat its mean\n", r.label.c_str(),
                  static_cast<long>(above), class_values.size());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ghnas_nb201_search_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
