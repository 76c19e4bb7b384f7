// Hypothesis tests against values computed by SciPy 1.17 / statsmodels 0.15 (quoted) and
// NIST's certified AtmWtAgt F statistic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/hypothesis_tests.hpp"

using perfstats::Alternative;
using perfstats::Moments;

namespace {

Moments summary(const std::vector<double>& x) {
  Moments m;
  m.add(x.data(), x.size());
  return m;
}

std::string shared_data() {
  if (const char* env = std::getenv("PERFSTATS_SHARED_DATA")) return env;
  return PERFSTATS_SHARED_DATA;
}

void expect_rel(double x, double ref, double rel = 1e-12) {
  EXPECT_NEAR(x, ref, rel * std::fabs(ref)) << "got " << x << ", expected " << ref;
}

}  // namespace

TEST(HypothesisTests, WelchMatchesScipy) {
  // scipy.stats.ttest_ind([12,14,11,13], [15,17,16,18], equal_var=False)
  const auto r = perfstats::welch_t_test(summary({12, 14, 11, 13}), summary({15, 17, 16, 18}),
                                         Alternative::two_sided, 0.95);
  expect_rel(r.statistic, -4.3817804600413295);
  expect_rel(r.pvalue, 0.004659214943993928, 1e-10);
  expect_rel(r.df, 6.0);
  EXPECT_EQ(r.mean_difference, -4.0);
}

TEST(HypothesisTests, StudentAndOneSampleAndPairedMatchScipy) {
  // ttest_ind([1,2,3], [3,4,5,6]); ttest_1samp([101,99,104,102], 100); ttest_rel(...)
  const auto s = perfstats::student_t_test(summary({1, 2, 3}), summary({3, 4, 5, 6}),
                                           Alternative::two_sided, 0.95);
  expect_rel(s.statistic, -2.7664166758624407);
  expect_rel(s.pvalue, 0.039532796638626785, 1e-10);
  const auto o = perfstats::one_sample_t_test(summary({101, 99, 104, 102}), 100.0,
                                              Alternative::two_sided, 0.95);
  expect_rel(o.statistic, 1.4411533842457842);
  expect_rel(o.pvalue, 0.24519388179494778, 1e-10);
  // scipy's interval of the mean is (0.4457..., 4.5542...) for [1,2,3,4]; ours is of
  // mean - mu.
  const auto c = perfstats::one_sample_t_test(summary({1, 2, 3, 4}), 1.0,
                                              Alternative::two_sided, 0.95);
  expect_rel(c.ci_low, 0.4457397432394794 - 1.0, 1e-10);
  expect_rel(c.ci_high, 4.554260256760521 - 1.0, 1e-10);
  const std::vector<double> a = {10, 12, 9, 11};
  const std::vector<double> b = {11, 14, 10, 12};
  const auto p = perfstats::paired_t_test(a.data(), b.data(), 4, Alternative::two_sided, 0.95);
  expect_rel(p.statistic, -5.0);
  expect_rel(p.pvalue, 0.015392438073302294, 1e-10);
}

TEST(HypothesisTests, OneSidedAlternativesSplitTheTail) {
  const Moments a = summary({12, 14, 11, 13});
  const Moments b = summary({15, 17, 16, 18});
  const auto two = perfstats::welch_t_test(a, b, Alternative::two_sided, 0.95);
  const auto less = perfstats::welch_t_test(a, b, Alternative::less, 0.95);
  const auto greater = perfstats::welch_t_test(a, b, Alternative::greater, 0.95);
  expect_rel(less.pvalue, two.pvalue / 2.0);
  expect_rel(greater.pvalue, 1.0 - two.pvalue / 2.0);
  EXPECT_EQ(less.ci_low, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(greater.ci_high, std::numeric_limits<double>::infinity());
}

TEST(HypothesisTests, AtmWtAgtPooledTSquaredIsTheCertifiedF) {
  std::ifstream in(shared_data() + "/nist/anova/AtmWtAgt.dat");
  if (!in) GTEST_SKIP() << "reference data not present under " << shared_data();
  std::string line;
  std::vector<double> a;
  std::vector<double> b;
  for (int i = 1; std::getline(in, line); ++i) {
    if (i <= 60) continue;
    std::istringstream s(line);
    double x = 0;
    double y = 0;
    if (s >> x >> y) {
      a.push_back(x);
      b.push_back(y);
    }
  }
  ASSERT_EQ(a.size(), 24U);
  const auto r =
      perfstats::student_t_test(summary(a), summary(b), Alternative::two_sided, 0.95);
  const double f_certified = 1.59467335677930e+01;
  EXPECT_GE(-std::log10(std::fabs(r.statistic * r.statistic - f_certified) / f_certified), 9.0);
}

TEST(HypothesisTests, MannWhitneyMatchesScipyWithTies) {
  // scipy.stats.mannwhitneyu([1,2,3,4], [3,5,6,7], method="asymptotic")
  const std::vector<double> a = {1, 2, 3, 4};
  const std::vector<double> b = {3, 5, 6, 7};
  const auto r = perfstats::mann_whitney_u(a.data(), 4, b.data(), 4, Alternative::two_sided);
  EXPECT_EQ(r.statistic, 1.5);
  expect_rel(r.pvalue, 0.08142910235989108, 1e-10);
}

TEST(HypothesisTests, SrmMatchesScipyChisquare) {
  // scipy.stats.chisquare([5000, 5200], [5100, 5100])
  const std::vector<double> obs = {5000, 5200};
  const std::vector<double> w = {1, 1};
  const auto r = perfstats::srm_test(obs.data(), w.data(), 2);
  expect_rel(r.statistic, 3.9215686274509802);
  expect_rel(r.pvalue, 0.0476703806561615, 1e-10);
}

TEST(HypothesisTests, PowerMatchesStatsmodels) {
  // TTestIndPower().power(0.25, 100, 0.05) and .solve_power(0.25, None, 0.05, 0.8)
  expect_rel(perfstats::t_test_power(5.0, 20.0, 100, 100, 0.05, Alternative::two_sided),
             0.42053825462684924, 1e-9);
  expect_rel(perfstats::required_sample_size(5.0, 20.0, 0.05, 0.8, 1.0, Alternative::two_sided),
             252.12750122682712, 1e-7);
}

TEST(HypothesisTests, BadInputThrowsWithTheValue) {
  EXPECT_THROW(perfstats::parse_alternative("both"), std::invalid_argument);
  EXPECT_THROW(perfstats::welch_t_test(summary({1}), summary({1, 2}), Alternative::less, 0.9),
               std::invalid_argument);
  EXPECT_THROW(
      perfstats::welch_t_test(summary({1, 1}), summary({2, 2}), Alternative::less, 0.9),
      std::invalid_argument);
  EXPECT_THROW(
      perfstats::welch_t_test(summary({1, 2}), summary({2, 3}), Alternative::less, 1.0),
      std::invalid_argument);
  const std::vector<double> x = {1, 1};
  EXPECT_THROW(perfstats::mann_whitney_u(x.data(), 2, x.data(), 2, Alternative::less),
               std::invalid_argument);
}

TEST(RequiredSampleSize, RatioBelowOneStartsWhereGroupBHasTwo) {
  // 2 / r * r rounds to 1.9999999999999998 for r = 9985 / 10015; the search must not
  // start below n_b = 2 (it threw before).
  const double r = 9985.0 / 10015.0;
  ASSERT_LT(r * (2.0 / r), 2.0);
  const double n = perfstats::required_sample_size(0.5, 1.0, 0.05, 0.8, r,
                                                   perfstats::Alternative::two_sided);
  EXPECT_GT(n, 2.0);
  EXPECT_NEAR(perfstats::t_test_power(0.5, 1.0, n, r * n, 0.05,
                                      perfstats::Alternative::two_sided),
              0.8, 1e-9);
}
