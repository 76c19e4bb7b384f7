// Change points: the fast energy statistic against its O(n^2) definition, the Welch
// test against SciPy, detection on known steps, and clean errors on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/changepoints.hpp"

using perfstats::ChangePointMethod;
using perfstats::ChangePointOptions;
using perfstats::change_pvalue;
using perfstats::detect_changepoints;
using perfstats::energy_statistic;
using perfstats::linear_segment_cost;
using perfstats::noise_autocorrelation;
using perfstats::SegmentModel;

namespace {

double energy_naive(const std::vector<double>& x, std::size_t tau) {
  const std::size_t n = x.size();
  double cross = 0.0;
  double left = 0.0;
  double right = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double d = std::fabs(x[i] - x[j]);
      if (j < tau) {
        left += d;
      } else if (i >= tau) {
        right += d;
      } else {
        cross += d;
      }
    }
  }
  const double m = static_cast<double>(tau);
  const double k = static_cast<double>(n - tau);
  const double e =
      2.0 * cross / (m * k) - 2.0 * left / (m * (m - 1)) - 2.0 * right / (k * (k - 1));
  return m * k / (m + k) * e;
}

std::vector<double> steps(const std::vector<double>& levels, std::size_t each,
                          double sigma, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> x;
  for (double level : levels) {
    for (std::size_t i = 0; i < each; ++i) x.push_back(level + noise(rng));
  }
  return x;
}

}  // namespace

TEST(EnergyStatistic, MatchesTheQuadraticDefinition) {
  std::vector<double> x = steps({5.0, 7.0, 6.0}, 30, 1.5, 1);
  x[10] = x[3];  // a tie
  const std::vector<double> q = energy_statistic(x.data(), x.size());
  ASSERT_EQ(q.size(), x.size() + 1);
  for (std::size_t t = 2; t + 2 <= x.size(); ++t) {
    // O(n^2) direct sums against Fenwick prefix sums: rounding only.
    EXPECT_NEAR(q[t], energy_naive(x, t), 1e-9 * (1.0 + std::fabs(q[t]))) << t;
  }
  EXPECT_EQ(q[0], 0.0);
  EXPECT_EQ(q[1], 0.0);
  EXPECT_EQ(q[x.size()], 0.0);
}

TEST(EnergyStatistic, ShortSeriesAreAllZero) {
  const double x[3] = {1.0, 2.0, 3.0};
  for (double v : energy_statistic(x, 3)) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(energy_statistic(nullptr, 0).size(), 1U);
}

TEST(ChangePvalue, MatchesScipyWelch) {
  // scipy.stats.ttest_ind(b, a, equal_var=False): t = 2.970442628930023,
  // p = 0.020890722943256886.
  const double x[11] = {1, 2, 3, 4, 5, 3, 5, 7, 9, 11, 13};
  double t = 0.0;
  const double p = change_pvalue(x, 0, 5, 11, 0.0, &t);
  EXPECT_NEAR(t, 2.970442628930023, 1e-12);
  EXPECT_NEAR(p, 0.020890722943256886, 1e-12);
}

TEST(ChangePvalue, ShrinksToEffectiveSampleSizes) {
  // rho = 0.5: n (1 - rho) / (1 + rho) = 5/3 and 2, both clamped to 2. SciPy's
  // Student t with the Welch df of those sizes: t = 1.7407765595569784,
  // p = 0.2804118548360543.
  const double x[11] = {1, 2, 3, 4, 5, 3, 5, 7, 9, 11, 13};
  double t = 0.0;
  const double p = change_pvalue(x, 0, 5, 11, 0.5, &t);
  EXPECT_NEAR(t, 1.7407765595569784, 1e-12);
  EXPECT_NEAR(p, 0.2804118548360543, 1e-12);
}

TEST(ChangePvalue, ConstantPartsAndBadArguments) {
  const double x[6] = {2, 2, 2, 3, 3, 3};
  EXPECT_EQ(change_pvalue(x, 0, 3, 6, 0.0), 0.0);
  const double same[6] = {2, 2, 2, 2, 2, 2};
  EXPECT_EQ(change_pvalue(same, 0, 3, 6, 0.0), 1.0);
  EXPECT_THROW(change_pvalue(x, 0, 1, 6, 0.0), std::invalid_argument);
  EXPECT_THROW(change_pvalue(x, 0, 3, 6, 1.0), std::invalid_argument);
  EXPECT_THROW(change_pvalue(nullptr, 0, 3, 6, 0.0), std::invalid_argument);
}

TEST(NoiseAutocorrelation, WhiteNoiseIsNearZeroAndShiftsDoNotMatter) {
  const std::vector<double> white = steps({0.0}, 20000, 1.0, 2);
  EXPECT_LT(noise_autocorrelation(white.data(), white.size()), 0.05);
  const std::vector<double> shifted = steps({0.0, 50.0, -20.0}, 5000, 1.0, 3);
  EXPECT_LT(noise_autocorrelation(shifted.data(), shifted.size()), 0.05);
}

TEST(NoiseAutocorrelation, RecoversAnAr1Coefficient) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> x(50000, 0.0);
  for (std::size_t i = 1; i < x.size(); ++i) x[i] = 0.6 * x[i - 1] + noise(rng);
  // Sampling error of the MAD-based correlation at n = 50,000 is ~0.01 on rho.
  EXPECT_NEAR(noise_autocorrelation(x.data(), x.size()), 0.6, 0.05);
}

class EveryMethod : public ::testing::TestWithParam<ChangePointMethod> {};

TEST_P(EveryMethod, FindsKnownSteps) {
  ChangePointOptions o;
  o.method = GetParam();
  const std::vector<double> x = steps({0.0, 3.0, 1.0, 4.0}, 200, 1.0, 5);
  const auto cps = detect_changepoints(x.data(), x.size(), o);
  ASSERT_EQ(cps.size(), 3U);
  const std::size_t truth[3] = {200, 400, 600};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_LE(std::abs(static_cast<long>(cps[i].index) - static_cast<long>(truth[i])),
              5L);
    EXPECT_LT(cps[i].pvalue, 1e-10);
  }
  EXPECT_NEAR(cps[0].mean_before, 0.0, 0.2);
  EXPECT_NEAR(cps[0].mean_after, 3.0, 0.2);
}

TEST_P(EveryMethod, ExactStepAndConstantSeries) {
  ChangePointOptions o;
  o.method = GetParam();
  std::vector<double> x(60, 4.0);
  EXPECT_TRUE(detect_changepoints(x.data(), x.size(), o).empty());
  for (std::size_t i = 25; i < 60; ++i) x[i] = 5.0;
  const auto cps = detect_changepoints(x.data(), x.size(), o);
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_EQ(cps[0].index, 25U);
  EXPECT_EQ(cps[0].mean_before, 4.0);
  EXPECT_EQ(cps[0].mean_after, 5.0);
  EXPECT_DOUBLE_EQ(cps[0].relative_change, 0.25);
  EXPECT_EQ(cps[0].pvalue, 0.0);
}

TEST_P(EveryMethod, SegmentsRespectMinSize) {
  ChangePointOptions o;
  o.method = GetParam();
  o.min_size = 7;
  o.pvalue = 0.5;
  const std::vector<double> x = steps({0.0, 1.0, 0.0, 1.0, 0.0}, 9, 1.0, 6);
  const auto cps = detect_changepoints(x.data(), x.size(), o);
  std::size_t previous = 0;
  for (const auto& cp : cps) {
    EXPECT_GE(cp.index - previous, 7U);
    EXPECT_LT(cp.pvalue, 0.5);
    previous = cp.index;
  }
  EXPECT_GE(x.size() - previous, 7U);
}

INSTANTIATE_TEST_SUITE_P(ChangePoints, EveryMethod,
                         ::testing::Values(ChangePointMethod::edivisive,
                                           ChangePointMethod::binseg,
                                           ChangePointMethod::pelt));

TEST(ChangePoints, MaxChangepointsKeepsTheStrongest) {
  ChangePointOptions o;
  o.max_changepoints = 1;
  const std::vector<double> x = steps({0.0, 10.0, 10.5}, 100, 1.0, 7);
  const auto cps = detect_changepoints(x.data(), x.size(), o);
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_NEAR(static_cast<double>(cps[0].index), 100.0, 3.0);
}

TEST(ChangePoints, ZeroBaselineGivesInfiniteRelativeChange) {
  std::vector<double> x(40, 0.0);
  for (std::size_t i = 20; i < 40; ++i) x[i] = -1.0;
  const auto cps = detect_changepoints(x.data(), x.size(), ChangePointOptions{});
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_EQ(cps[0].relative_change, -std::numeric_limits<double>::infinity());
}

TEST(ChangePoints, RejectsBadInputNamingIt) {
  std::vector<double> x(30, 1.0);
  x[17] = std::numeric_limits<double>::quiet_NaN();
  try {
    detect_changepoints(x.data(), x.size(), ChangePointOptions{});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("values[17]"), std::string::npos);
  }
  x[17] = 1.0;
  ChangePointOptions o;
  o.min_size = 1;
  EXPECT_THROW(detect_changepoints(x.data(), x.size(), o), std::invalid_argument);
  o = ChangePointOptions{};
  o.pvalue = 0.0;
  EXPECT_THROW(detect_changepoints(x.data(), x.size(), o), std::invalid_argument);
  o = ChangePointOptions{};
  o.penalty = std::numeric_limits<double>::infinity();
  EXPECT_THROW(detect_changepoints(x.data(), x.size(), o), std::invalid_argument);
  EXPECT_THROW(detect_changepoints(nullptr, 5, ChangePointOptions{}),
               std::invalid_argument);
  EXPECT_TRUE(detect_changepoints(nullptr, 0, ChangePointOptions{}).empty());
}

TEST(ChangePoints, HundredThousandPointsWithoutOverflowOrLoss) {
  // Large offsets stress the sums of |x - y|; the answer must not move.
  std::vector<double> x = steps({0.0, 1.0}, 50000, 1.0, 8);
  for (double& v : x) v = 1e12 + v * 1e3;
  const auto cps = detect_changepoints(x.data(), x.size(), ChangePointOptions{});
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_NEAR(static_cast<double>(cps[0].index), 50000.0, 50.0);
}

namespace {

// Residual sum of squares of the least-squares line, from the normal equations in
// long double on raw positions: an independent route to the same number.
double line_rss_oracle(const std::vector<double>& x, std::size_t a, std::size_t b) {
  long double n = 0, st = 0, sx = 0, stt = 0, stx = 0;
  for (std::size_t i = a; i < b; ++i) {
    const long double t = static_cast<long double>(i);
    n += 1;
    st += t;
    sx += x[i];
    stt += t * t;
    stx += t * x[i];
  }
  const long double slope = (n * stx - st * sx) / (n * stt - st * st);
  const long double intercept = (sx - slope * st) / n;
  long double rss = 0;
  for (std::size_t i = a; i < b; ++i) {
    const long double r = x[i] - intercept - slope * static_cast<long double>(i);
    rss += r * r;
  }
  return static_cast<double>(rss);
}

// Piecewise-linear series: slope[k] per step on segment k, continuous at the kinks
// unless `jump` is added there, plus N(0, sigma) noise.
std::vector<double> ramps(const std::vector<double>& slopes, std::size_t each,
                          double jump, double sigma, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> x;
  double level = 0.0;
  for (std::size_t k = 0; k < slopes.size(); ++k) {
    if (k > 0) level += jump;
    for (std::size_t i = 0; i < each; ++i) {
      x.push_back(level + noise(rng));
      level += slopes[k];
    }
  }
  return x;
}

ChangePointOptions linear_options() {
  ChangePointOptions o;
  o.method = ChangePointMethod::binseg;
  o.model = SegmentModel::linear;
  o.penalty = 3.0;
  return o;
}

}  // namespace

TEST(LinearSegmentCost, MatchesTheNormalEquations) {
  const std::vector<double> x = ramps({0.3, -1.0}, 50, 2.0, 1.5, 11);
  for (const auto& [a, b] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 100}, {0, 50}, {37, 81}, {97, 100}, {10, 13}}) {
    const double want = line_rss_oracle(x, a, b);
    EXPECT_NEAR(linear_segment_cost(x.data(), a, b), want, 1e-10 * (1.0 + want))
        << a << ".." << b;
  }
  // A line is fitted exactly, and two points always are.
  std::vector<double> line(20);
  for (std::size_t i = 0; i < line.size(); ++i) {
    line[i] = 5.0 - 0.25 * static_cast<double>(i);
  }
  EXPECT_NEAR(linear_segment_cost(line.data(), 0, 20), 0.0, 1e-20);
  EXPECT_EQ(linear_segment_cost(x.data(), 4, 6), 0.0);
  EXPECT_THROW(linear_segment_cost(x.data(), 6, 4), std::invalid_argument);
  EXPECT_THROW(linear_segment_cost(nullptr, 0, 4), std::invalid_argument);
}

TEST(LinearModel, ExactKinksWithoutNoise) {
  // Continuous kinks: no level shift at all, only the slope changes.
  const std::vector<double> x = ramps({1.0, -2.0, 0.5}, 40, 0.0, 0.0, 0);
  const auto cps = detect_changepoints(x.data(), x.size(), linear_options());
  ASSERT_EQ(cps.size(), 2U);
  // The kink's own point lies on both lines, so either side of it is an exact fit.
  EXPECT_NEAR(static_cast<double>(cps[0].index), 40.0, 1.0);
  EXPECT_NEAR(static_cast<double>(cps[1].index), 80.0, 1.0);
  EXPECT_NEAR(cps[0].slope_before, 1.0, 1e-9);
  EXPECT_NEAR(cps[0].slope_after, -2.0, 1e-9);
  EXPECT_NEAR(cps[1].slope_after, 0.5, 1e-9);
  EXPECT_LT(cps[0].pvalue, 1e-12);
}

TEST(LinearModel, FindsSlopeChangesInNoise) {
  const std::vector<double> x = ramps({0.0, 0.2, -0.1, 0.05}, 250, 0.0, 1.0, 12);
  const auto cps = detect_changepoints(x.data(), x.size(), linear_options());
  ASSERT_EQ(cps.size(), 3U);
  const std::size_t truth[3] = {250, 500, 750};
  for (std::size_t i = 0; i < 3; ++i) {
    // A kink is located to within about (sigma / slope change)^(2/3) ~ 5-10 steps.
    EXPECT_LE(std::abs(static_cast<long>(cps[i].index) - static_cast<long>(truth[i])),
              20L);
    EXPECT_LT(cps[i].pvalue, 1e-6);
  }
  EXPECT_NEAR(cps[0].slope_after, 0.2, 0.02);
  EXPECT_NEAR(cps[1].slope_after, -0.1, 0.02);
}

TEST(LinearModel, TrendsAndNoiseAloneAreNotSplit) {
  // A straight trend is one segment: a mean-shift model would cut it into steps.
  int false_alarms = 0;
  for (unsigned seed = 20; seed < 30; ++seed) {
    const std::vector<double> x = ramps({0.05}, 500, 0.0, 1.0, seed);
    false_alarms += static_cast<int>(
        detect_changepoints(x.data(), x.size(), linear_options()).size());
  }
  // BIC at n = 500: a split needs a likelihood-ratio statistic above 3 log(500) = 18.6,
  // which noise alone exceeds (maximised over ~480 splits) only a few % of the time.
  EXPECT_LE(false_alarms, 2);
}

TEST(LinearModel, StepsAndMaxChangepoints) {
  const std::vector<double> x = steps({0.0, 3.0, 1.0}, 200, 1.0, 13);
  auto o = linear_options();
  auto cps = detect_changepoints(x.data(), x.size(), o);
  ASSERT_EQ(cps.size(), 2U);
  EXPECT_NEAR(static_cast<double>(cps[0].index), 200.0, 3.0);
  EXPECT_NEAR(static_cast<double>(cps[1].index), 400.0, 3.0);
  EXPECT_NEAR(cps[0].mean_after, 3.0, 0.2);
  o.max_changepoints = 1;
  cps = detect_changepoints(x.data(), x.size(), o);
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_NEAR(static_cast<double>(cps[0].index), 200.0, 3.0);
}

TEST(LinearModel, ConstantAndShortSeriesHaveNone) {
  std::vector<double> x(100, 7.0);
  EXPECT_TRUE(detect_changepoints(x.data(), x.size(), linear_options()).empty());
  EXPECT_TRUE(detect_changepoints(x.data(), 19, linear_options()).empty());
}

TEST(LinearModel, RejectsOptionsItCannotHonour) {
  std::vector<double> x(50, 1.0);
  auto o = linear_options();
  o.method = ChangePointMethod::edivisive;
  EXPECT_THROW(detect_changepoints(x.data(), x.size(), o), std::invalid_argument);
  o = linear_options();
  o.min_size = 2;
  EXPECT_THROW(detect_changepoints(x.data(), x.size(), o), std::invalid_argument);
}

TEST(LinearModel, HundredThousandPointsOnLargeOffsets) {
  std::vector<double> x = ramps({0.0, 0.001}, 50000, 0.0, 1.0, 14);
  for (double& v : x) v = 1e9 + v;
  const auto cps = detect_changepoints(x.data(), x.size(), linear_options());
  ASSERT_EQ(cps.size(), 1U);
  EXPECT_NEAR(static_cast<double>(cps[0].index), 50000.0, 2000.0);
  EXPECT_NEAR(cps[0].slope_after, 0.001, 1e-4);
}
