// Two-sample and one-sample tests on summaries: t-tests, Mann-Whitney U, sample-ratio
// mismatch, and power planning for the two-sample t-test.
//
// Tail probabilities come from Boost.Math complements (cdf(complement(d, x))), never
// 1 - cdf, so p-values keep their relative accuracy far into the tail. Conventions follow
// scipy.stats: the difference is a - b, and "less" / "greater" say that a's location is
// below / above b's (or below / above mu).
#pragma once

#include <cstddef>
#include <string>

#include "perfstats/moments.hpp"

namespace perfstats {

enum class Alternative { two_sided, less, greater };

// Parses "two-sided", "less" or "greater"; throws std::invalid_argument otherwise.
Alternative parse_alternative(const std::string& name);

struct TTestResult {
  double statistic = 0.0;        // t
  double df = 0.0;               // degrees of freedom (Welch-Satterthwaite for Welch)
  double pvalue = 0.0;
  double mean_difference = 0.0;  // mean(a) - mean(b), or mean(a) - mu
  double std_error = 0.0;        // standard error of mean_difference
  double ci_low = 0.0;           // confidence interval of mean_difference (one-sided
  double ci_high = 0.0;          // alternatives give an infinite end, as SciPy does)
  // mean(a) / mean(b) - 1 with a delta-method interval using the same critical value
  // (GrowthBook's frequentist lift); exp(difference) - 1 with the exact transformed
  // interval when the test ran on log values. NaN when the baseline mean is 0.
  double relative_lift = 0.0;
  double relative_lift_ci_low = 0.0;
  double relative_lift_ci_high = 0.0;
  double hedges_g = 0.0;  // standardized difference with the small-sample correction
};

// Welch's unequal-variance t-test of mean(a) - mean(b) (scipy ttest_ind(equal_var=False)).
// `log_scale` says the summaries are of log values (lift becomes a ratio of geometric
// means). Throws std::invalid_argument when a sample has count < 2 or both variances are 0.
TTestResult welch_t_test(const Moments& a, const Moments& b, Alternative alternative,
                         double confidence, bool log_scale = false);
// Student's pooled-variance t-test (scipy ttest_ind(equal_var=True)).
TTestResult student_t_test(const Moments& a, const Moments& b, Alternative alternative,
                           double confidence, bool log_scale = false);
// One-sample t-test of mean(a) - mu (scipy ttest_1samp). Lift is mean(a) / mu - 1.
TTestResult one_sample_t_test(const Moments& a, double mu, Alternative alternative,
                              double confidence, bool log_scale = false);
// Paired t-test on a[i] - b[i] (scipy ttest_rel). Lift is mean(a) / mean(b) - 1 with a
// delta-method interval that includes the covariance of the pairs.
TTestResult paired_t_test(const double* a, const double* b, std::size_t n,
                          Alternative alternative, double confidence,
                          bool log_scale = false);

struct MannWhitneyResult {
  double statistic = 0.0;  // U of sample a
  double z = 0.0;          // normal score used for the p-value
  double pvalue = 0.0;
};

// Mann-Whitney U test with the normal approximation, tie correction and (optionally)
// continuity correction: scipy.stats.mannwhitneyu(method="asymptotic").
MannWhitneyResult mann_whitney_u(const double* a, std::size_t na, const double* b,
                                 std::size_t nb, Alternative alternative,
                                 bool continuity = true);

struct ChiSquareResult {
  double statistic = 0.0;
  double df = 0.0;
  double pvalue = 0.0;
};

// Sample-ratio mismatch: Pearson chi-square of observed counts against the counts the
// expected weights imply (scipy.stats.chisquare with f_exp scaled to the total).
ChiSquareResult srm_test(const double* observed, const double* expected_weights,
                         std::size_t k);

// Power of the two-sample pooled t-test to detect a true difference `effect` when the
// standard deviation is `sd` (statsmodels TTestIndPower with effect_size = effect / sd).
double t_test_power(double effect, double sd, double n_a, double n_b, double alpha,
                    Alternative alternative);
// Smallest (fractional) n_a, with n_b = ratio * n_a, at which t_test_power reaches
// `power` (statsmodels TTestIndPower.solve_power(nobs1=None)).
double required_sample_size(double effect, double sd, double alpha, double power,
                            double ratio, Alternative alternative);

}  // namespace perfstats
