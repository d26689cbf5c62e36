#pragma once
// Rank agreement between a prediction (or a baseline score) and measured values: the numbers the
// property heads are chosen and reported by.

#include <vector>

namespace ghnas {

/// Kendall's tau-b of two equally long sequences (Kendall 1945): (C - D) / sqrt((n0 - n1)(n0 - n2))
/// with C/D the concordant/discordant pairs, n0 = n(n-1)/2 and n1, n2 the pairs tied in x, in y.
/// Pairs tied in both count in neither C nor D. Returns NaN when x or y is constant, has fewer than
/// two entries, or holds a NaN. Throws ghnas::Error when the lengths differ. O(n^2).
double kendall_tau(const std::vector<double>& x, const std::vector<double>& y);

/// Spearman's rho: the Pearson correlation of the ranks, ties given their average rank. NaN as
/// for kendall_tau. Throws ghnas::Error when the lengths differ.
double spearman_rho(const std::vector<double>& x, const std::vector<double>& y);

/// 1-based ranks with ties sharing their average rank: {10, 20, 20, 5} -> {2, 3.5, 3.5, 1}.
std::vector<double> average_ranks(const std::vector<double>& x);

}  // namespace ghnas
