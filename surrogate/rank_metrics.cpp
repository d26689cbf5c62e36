#include "surrogate/rank_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"

namespace ghnas {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool has_nan(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double a) { return std::isnan(a); });
}

int sign(double a) { return (a > 0) - (a < 0); }

}  // namespace

double kendall_tau(const std::vector<double>& x, const std::vector<double>& y) {
  GHNAS_CHECK(x.size() == y.size(), "kendall_tau: ", x.size(), " values against ", y.size());
  const std::size_t n = x.size();
  if (n < 2 || has_nan(x) || has_nan(y)) return kNaN;
  // Integer pair counts keep the result exact for any n this project sees (n^2 < 2^63).
  long long concordant_minus_discordant = 0, tied_x = 0, tied_y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const int sx = sign(x[i] - x[j]), sy = sign(y[i] - y[j]);
      if (sx == 0) ++tied_x;
      if (sy == 0) ++tied_y;
      concordant_minus_discordant += sx * sy;
    }
  }
  const double n0 = 0.5 * static_cast<double>(n) * static_cast<double>(n - 1);
  const double denom = std::sqrt((n0 - static_cast<double>(tied_x)) * (n0 - static_cast<double>(tied_y)));
  if (denom == 0) return kNaN;
  return static_cast<double>(concordant_minus_discordant) / denom;
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    // Positions i..j (0-based) share the mean of ranks i+1..j+1.
    const double rank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

double spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
  GHNAS_CHECK(x.size() == y.size(), "spearman_rho: ", x.size(), " values against ", y.size());
  const std::size_t n = x.size();
  if (n < 2 || has_nan(x) || has_nan(y)) return kNaN;
  const auto rx = average_ranks(x), ry = average_ranks(y);
  const double mean = 0.5 * static_cast<double>(n + 1);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace ghnas
