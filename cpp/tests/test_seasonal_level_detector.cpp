// SeasonalLevelDetector and the rank query it calibrates with, against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "perfstats/anomaly_detectors.hpp"
#include "perfstats/rolling_order_statistics.hpp"
#include "perfstats/seasonal_level_detector.hpp"

using perfstats::AnomalyPoint;
using perfstats::RollingOrderStatistics;
using perfstats::SeasonalLevelDetector;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST(RollingOrderStatistics, CountAtLeastMatchesCountingTheWindow) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> few(0, 5);
  // flat layout, and the tiered layout forced with small blocks
  for (const std::size_t block : {std::size_t{0}, std::size_t{4}}) {
    for (const std::size_t cap : {1U, 2U, 7U, 64U}) {
      RollingOrderStatistics stats(cap, block);
      std::vector<double> all;
      for (int i = 0; i < 300; ++i) {
        const double x = static_cast<double>(few(rng));
        stats.push(x);
        all.push_back(x);
        const std::size_t n = std::min(all.size(), cap);
        for (const double q : {-1.0, 0.0, 2.0, 2.5, 5.0, 6.0}) {
          const auto expected = static_cast<std::size_t>(
              std::count_if(all.end() - static_cast<std::ptrdiff_t>(n), all.end(),
                            [q](double v) { return v >= q; }));
          ASSERT_EQ(stats.count_at_least(q), expected) << cap << " " << i << " " << q;
        }
        ASSERT_EQ(stats.count_at_least(kNaN), 0U);
      }
    }
  }
}

TEST(SeasonalLevelDetector, ConstantSeriesAlertsOnlyWhenItMoves) {
  SeasonalLevelDetector d(4, 2, 0.9, 120, 0, 0);
  std::size_t alerts = 0;
  for (int i = 0; i < 200; ++i) {
    const AnomalyPoint p = d.update(i == 150 ? 6.0 : 5.0);
    if (p.is_anomaly) {
      EXPECT_EQ(i, 150);
      // the departure outranks the last 120 scores (all 0): p = 1/121, scaled by the
      // 120 values held
      EXPECT_DOUBLE_EQ(p.score,
                       1.0 - std::pow(121.0, SeasonalLevelDetector::kLengthExponent) / 121.0);
      ++alerts;
    }
  }
  EXPECT_EQ(alerts, 1U);
}

// Brute-force p-value of |score| among the last `history` valid |scores| before it.
double brute_p(const std::vector<double>& past, double score, std::size_t history) {
  const std::size_t n = std::min(past.size(), history);
  const double a = std::fabs(score);
  const auto at_least = std::count_if(past.end() - static_cast<std::ptrdiff_t>(n),
                                      past.end(), [a](double v) { return v >= a; });
  return (1.0 + static_cast<double>(at_least)) / (static_cast<double>(n) + 1.0);
}

TEST(SeasonalLevelDetector, SurpriseIsTheSmallestPValueOfItsFourQuestions) {
  // A random walk with gaps sets new highs and lows often; a history of 200 makes
  // values leave the range they defined; every 40 steps it jumps back to where it was 20
  // steps before (far from the recent level, but a known value).
  const std::size_t period = 4;
  const std::size_t seasons = 3;
  const std::size_t history = 200;
  const std::size_t tolerance = 1;
  SeasonalLevelDetector d(period, seasons, 0.9, history, 0, 5, tolerance);
  perfstats::RollingZScore level(period * seasons, 3.0, 5);
  perfstats::SeasonalZScore season(period, seasons, 3.0, false, 0);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> step(0.0, 1.0);
  std::uniform_int_distribution<int> gap(0, 19);
  std::vector<double> level_past;
  std::vector<double> season_past;
  std::vector<double> values;    // finite values
  std::vector<double> positions;  // every position's value, NaN for gaps
  double x = 0.0;
  std::size_t scored = 0;
  std::size_t decided_by_novelty = 0;
  std::size_t usual_points = 0;
  std::size_t floored_points = 0;
  for (int i = 0; i < 600; ++i) {
    x += step(rng);
    if (i % 40 == 39 && !std::isnan(positions[static_cast<std::size_t>(i - 20)])) {
      x = positions[static_cast<std::size_t>(i - 20)];
    }
    const double v = gap(rng) == 0 ? kNaN : x;
    const double got = d.update(v).score;
    const double ls = level.update(v).score;
    const double ss = season.update(v).score;
    // usual for the phase: within the range of positions i - k * period + j
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (std::size_t k = 1; k <= seasons; ++k) {
      for (int j = -static_cast<int>(tolerance); j <= static_cast<int>(tolerance); ++j) {
        const long at = i - static_cast<long>(k * period) + j;
        if (at >= 0 && !std::isnan(positions[static_cast<std::size_t>(at)])) {
          lo = std::min(lo, positions[static_cast<std::size_t>(at)]);
          hi = std::max(hi, positions[static_cast<std::size_t>(at)]);
        }
      }
    }
    const bool usual = lo <= v && v <= hi;
    positions.push_back(v);
    // the value's own two-sided p-value among the last `history` finite values
    const std::size_t m = std::min(values.size(), history);
    const auto first = values.end() - static_cast<std::ptrdiff_t>(m);
    const auto above = static_cast<std::size_t>(
        std::count_if(first, values.end(), [v](double u) { return u >= v; }));
    const auto below = static_cast<std::size_t>(
        std::count_if(first, values.end(), [v](double u) { return u <= v; }));
    const double value_p = std::min(
        1.0, 2.0 * (1.0 + static_cast<double>(std::min(above, below))) /
                 (static_cast<double>(m) + 1.0));
    double p = kNaN;
    if (!std::isnan(ls)) {
      p = usual ? 1.0 : brute_p(level_past, ls, history);
      const double floored = std::max(p, SeasonalLevelDetector::kKnownValueFactor * value_p);
      if (floored > p && !usual) ++floored_points;
      p = floored;
      level_past.push_back(std::fabs(ls));
    }
    if (!std::isnan(ss)) {
      const double q = usual ? 1.0 : brute_p(season_past, ss, history);
      p = std::isnan(p) ? q : std::min(p, q);
      season_past.push_back(std::fabs(ss));
    }
    if (usual && !std::isnan(p)) ++usual_points;
    if (std::isnan(p)) {
      EXPECT_TRUE(std::isnan(got)) << i;
    } else {
      const bool record = m > 0 && std::min(above, below) == 0;
      if (record && value_p < p) ++decided_by_novelty;
      if (record) p = std::min(p, value_p);
      const double expected = std::max(
          0.0, 1.0 - p * std::pow(static_cast<double>(m) + 1.0,
                                  SeasonalLevelDetector::kLengthExponent));
      EXPECT_NEAR(std::fabs(got), expected, 1e-14) << i;
      ++scored;
    }
    if (!std::isnan(v)) values.push_back(v);
  }
  EXPECT_GT(scored, 500U);
  EXPECT_GT(decided_by_novelty, 5U);
  EXPECT_GT(usual_points, 50U);
  EXPECT_GT(floored_points, 5U);
}

TEST(SeasonalLevelDetector, ToleranceIsBelowThePeriodAndDefaultsToTwentyMinutesOfADay) {
  EXPECT_EQ(SeasonalLevelDetector(288).tolerance(), 4U);   // 5-minute points
  EXPECT_EQ(SeasonalLevelDetector(24).tolerance(), 1U);    // hourly: at least one
  EXPECT_EQ(SeasonalLevelDetector(2).tolerance(), 1U);     // below the period
  EXPECT_EQ(SeasonalLevelDetector(1440).tolerance(), 20U);  // minutes
  EXPECT_EQ(SeasonalLevelDetector(4, 2, 0.9, 0, 0, 0, 0).tolerance(), 0U);
  EXPECT_EQ(SeasonalLevelDetector(4, 2, 0.9, 0, 0, 0, 3).tolerance(), 3U);
  EXPECT_THROW(SeasonalLevelDetector(4, 2, 0.9, 0, 0, 0, 4), std::invalid_argument);
}

TEST(SeasonalLevelDetector, RefractorySpanSuppressesEqualAndWeakerRepeats) {
  // Period 2, constant 0 then departures of growing size: once the history is full of
  // zeros every departure scores the same top rank while it stays the largest so far.
  SeasonalLevelDetector d(2, 1, 0.5, 4, 3, 2);
  std::vector<bool> flags;
  const std::vector<double> x = {0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0};
  for (const double v : x) flags.push_back(d.update(v).is_anomaly);
  EXPECT_TRUE(flags[8]);
  for (std::size_t i = 9; i < flags.size(); ++i) EXPECT_FALSE(flags[i]) << i;
}

TEST(SeasonalLevelDetector, NaNIsAGapAndInfinityIsRejected) {
  SeasonalLevelDetector d(4, 2, 0.9, 0, 0, 2);
  EXPECT_TRUE(std::isnan(d.update(kNaN).score));
  for (int i = 0; i < 5; ++i) d.update(1.0 + i);
  EXPECT_TRUE(std::isnan(d.update(kNaN).score));
  EXPECT_THROW(d.update(std::numeric_limits<double>::infinity()), std::invalid_argument);
  EXPECT_THROW(SeasonalLevelDetector(1, 2, 0.9, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(SeasonalLevelDetector(4, 0, 0.9, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(SeasonalLevelDetector(4, 2, 1.0, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(SeasonalLevelDetector(4, 2, kNaN, 0, 0, 0), std::invalid_argument);
}

TEST(SeasonalLevelDetector, ResetStartsOver) {
  SeasonalLevelDetector d(3, 2, 0.8, 10, 2, 2);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(50.0, 5.0);
  std::vector<double> x(90);
  for (double& v : x) v = normal(rng);
  std::vector<double> first;
  for (const double v : x) first.push_back(d.update(v).score);
  d.reset();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double again = d.update(x[i]).score;
    if (std::isnan(first[i])) {
      EXPECT_TRUE(std::isnan(again));
    } else {
      EXPECT_EQ(again, first[i]);
    }
  }
}
