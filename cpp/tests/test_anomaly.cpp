// Anomaly detectors and the sliding order statistics, against brute-force recomputation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "perfstats/anomaly_detectors.hpp"
#include "perfstats/rolling_order_statistics.hpp"

using perfstats::AnomalyColumns;
using perfstats::AnomalyPoint;
using perfstats::EwmaZScore;
using perfstats::RobustZScore;
using perfstats::RollingOrderStatistics;
using perfstats::RollingZScore;
using perfstats::SeasonalZScore;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

double mad_of(const std::vector<double>& v) {
  const double m = median_of(v);
  std::vector<double> d;
  for (const double x : v) d.push_back(std::fabs(x - m));
  return median_of(d);
}

}  // namespace

TEST(RollingOrderStatistics, MatchesSortingTheWindowWithTiesAndEvenSizes) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> small(0, 6);
  std::normal_distribution<double> normal;
  for (const std::size_t cap : {1U, 2U, 3U, 8U, 33U}) {
    RollingOrderStatistics stats(cap);
    std::vector<double> all;
    for (int i = 0; i < 400; ++i) {
      const double x = (i % 2 == 0) ? static_cast<double>(small(rng)) : normal(rng);
      stats.push(x);
      all.push_back(x);
      const std::size_t n = std::min(all.size(), cap);
      const std::vector<double> window(all.end() - static_cast<std::ptrdiff_t>(n),
                                       all.end());
      ASSERT_EQ(stats.size(), n);
      ASSERT_EQ(stats.median(), median_of(window)) << cap << " " << i;
      ASSERT_EQ(stats.mad(), mad_of(window)) << cap << " " << i;
    }
  }
}

// Randomised equivalence with sorting the window from scratch: many capacities (powers of
// two and their neighbours, where the fused search's halving steps change), values drawn
// from a few distributions with heavy ties, exact equality of median, MAD and the mean
// absolute deviation (same summation order: the sorted values).
TEST(RollingOrderStatistics, RandomisedAgainstSortingTheWindow) {
  std::mt19937_64 rng(2026);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<int> few(-3, 3);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::exponential_distribution<double> expo(0.01);
  struct Layout {
    std::size_t cap;
    std::size_t block;  // 0: the default layout (flat at these capacities)
  };
  const Layout layouts[] = {{1, 0},  {2, 0},  {4, 0},  {5, 0},   {7, 0},   {15, 0},
                            {16, 0}, {17, 0}, {63, 0}, {64, 0},  {100, 0}, {257, 0},
                            {1, 2},  {2, 2},  {5, 2},  {7, 4},   {16, 4},  {17, 4},
                            {37, 4}, {64, 8}, {100, 8}, {257, 16}, {300, 64}};
  for (const Layout& layout : layouts) {
    const std::size_t cap = layout.cap;
    RollingOrderStatistics stats(cap, layout.block);
    std::vector<double> all;
    const int steps = static_cast<int>(6 * cap) + 200;
    for (int i = 0; i < steps; ++i) {
      double x = 0.0;
      switch (kind(rng)) {
        case 0: x = static_cast<double>(few(rng)); break;
        case 1: x = normal(rng); break;
        case 2: x = expo(rng); break;
        default: x = all.empty() ? 0.0 : all[all.size() / 2]; break;  // repeat a value
      }
      stats.push(x);
      all.push_back(x);
      const std::size_t n = std::min(all.size(), cap);
      std::vector<double> window(all.end() - static_cast<std::ptrdiff_t>(n), all.end());
      ASSERT_EQ(stats.size(), n);
      const double m = median_of(window);
      ASSERT_EQ(stats.median(), m) << cap << " " << layout.block << " " << i;
      ASSERT_EQ(stats.mad(), mad_of(window)) << cap << " " << layout.block << " " << i;
      std::sort(window.begin(), window.end());
      double sum = 0.0;
      for (const double v : window) sum += std::fabs(v - m);
      ASSERT_EQ(stats.mean_absolute_deviation(m), sum / static_cast<double>(n)) << cap;
    }
    stats.clear();
    ASSERT_EQ(stats.size(), 0U);
    stats.push(5.0);
    ASSERT_EQ(stats.median(), 5.0);
  }
}

// Above kFlatCapacity the default layout is tiered: checked against sorting the window
// at every 61st push (a full check per push would sort 4,097 values 7,000 times).
TEST(RollingOrderStatistics, LargeWindowsUseTheTieredLayoutWithTheSameResults) {
  const std::size_t cap = RollingOrderStatistics::kFlatCapacity + 1;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(10.0, 2.0);
  RollingOrderStatistics stats(cap);
  std::vector<double> all;
  for (int i = 0; i < 7000; ++i) {
    const double x = i % 3 == 0 ? std::round(normal(rng)) : normal(rng);
    stats.push(x);
    all.push_back(x);
    if (i % 61 != 0 && i != 6999) continue;
    const std::size_t n = std::min(all.size(), cap);
    const std::vector<double> window(all.end() - static_cast<std::ptrdiff_t>(n), all.end());
    ASSERT_EQ(stats.median(), median_of(window)) << i;
    ASSERT_EQ(stats.mad(), mad_of(window)) << i;
  }
  EXPECT_THROW(RollingOrderStatistics(8, 3), std::invalid_argument);
  EXPECT_THROW(RollingOrderStatistics(8, 1), std::invalid_argument);
}

// RobustZScore against its definition evaluated by brute force on each trailing window.
TEST(RobustZScore, RandomisedAgainstBruteForceWindows) {
  std::mt19937_64 rng(7);
  std::student_t_distribution<double> heavy(2.0);
  std::uniform_int_distribution<int> few(0, 4);
  for (const std::size_t w : {3U, 32U, 33U, 128U}) {
    RobustZScore det(w, 3.0, 2);
    std::vector<double> seen;
    for (int i = 0; i < 1500; ++i) {
      const double x = (i / 300) % 2 == 0 ? heavy(rng) : static_cast<double>(few(rng));
      const AnomalyPoint p = det.update(x);
      const std::size_t n = std::min(seen.size(), w);
      if (n >= 2) {
        const std::vector<double> win(seen.end() - static_cast<std::ptrdiff_t>(n),
                                      seen.end());
        const double med = median_of(win);
        double scale = 1.482602218505602 * mad_of(win);
        if (!(scale > 0.0)) {
          std::vector<double> sorted = win;
          std::sort(sorted.begin(), sorted.end());
          double sum = 0.0;
          for (const double v : sorted) sum += std::fabs(v - med);
          scale = 1.2533141373155003 * (sum / static_cast<double>(n));
        }
        ASSERT_EQ(p.expected, med) << w << " " << i;
        if (scale > 0.0) {
          ASSERT_EQ(p.score, (x - med) / scale) << w << " " << i;
        } else {
          ASSERT_TRUE(p.score == 0.0 || std::isinf(p.score));
        }
      } else {
        ASSERT_TRUE(std::isnan(p.score));
      }
      seen.push_back(x);
    }
  }
}

TEST(RollingOrderStatistics, EmptyIsNaNAndZeroCapacityIsRejected) {
  RollingOrderStatistics stats(4);
  EXPECT_TRUE(std::isnan(stats.median()));
  EXPECT_TRUE(std::isnan(stats.mad()));
  EXPECT_THROW(RollingOrderStatistics(0), std::invalid_argument);
}

TEST(RollingZScore, MatchesTwoPassStatisticsOverTheTrailingWindow) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(1e6, 3.0);  // large offset: cancellation test
  const std::size_t w = 16;
  RollingZScore det(w);
  std::vector<double> seen;
  for (int i = 0; i < 2000; ++i) {
    const double x = normal(rng);
    const AnomalyPoint p = det.update(x);
    if (seen.size() >= w) {
      const std::vector<double> win(seen.end() - static_cast<std::ptrdiff_t>(w), seen.end());
      double mean = 0.0;
      for (const double v : win) mean += v;
      mean /= static_cast<double>(w);
      double ss = 0.0;
      for (const double v : win) ss += (v - mean) * (v - mean);
      const double sd = std::sqrt(ss / static_cast<double>(w - 1));
      // Relative to the spread (3): the update formulas lose ~1e-10 at offset 1e6.
      ASSERT_NEAR(p.expected, mean, 1e-9) << i;
      ASSERT_NEAR(p.score, (x - mean) / sd, 1e-7) << i;
      ASSERT_EQ(p.is_anomaly, std::fabs((x - mean) / sd) > 3.0);
    } else {
      ASSERT_TRUE(std::isnan(p.score));
    }
    seen.push_back(x);
  }
}

TEST(Detectors, ConstantBaselineScoresZeroOrInfinity) {
  RollingZScore rolling(4);
  RobustZScore robust(4);
  EwmaZScore ewma(2.0);
  SeasonalZScore seasonal(2, 2, 3.0, false, 2);
  for (int i = 0; i < 8; ++i) {
    rolling.update(7.0);
    robust.update(7.0);
    ewma.update(7.0);
    seasonal.update(7.0);
  }
  for (auto p : {rolling.update(7.0), robust.update(7.0), ewma.update(7.0),
                 seasonal.update(7.0)}) {
    EXPECT_EQ(p.score, 0.0);
    EXPECT_FALSE(p.is_anomaly);
    EXPECT_EQ(p.lower, 7.0);
    EXPECT_EQ(p.upper, 7.0);
  }
  for (auto p : {rolling.update(6.0), robust.update(6.0), ewma.update(6.0),
                 seasonal.update(6.0)}) {
    EXPECT_EQ(p.score, -kInf);
    EXPECT_TRUE(p.is_anomaly);
  }
}

TEST(Detectors, NaNIsAGapAndInfinityIsRejected) {
  RobustZScore a(3, 3.0, 2);
  RobustZScore b(3, 3.0, 2);
  const std::vector<double> xs{1.0, 4.0, kNaN, 2.0, kNaN, kNaN, 8.0, 3.0};
  std::vector<double> clean;
  for (const double x : xs) {
    if (!std::isnan(x)) clean.push_back(x);
  }
  std::vector<double> with_gaps;
  for (const double x : xs) {
    const AnomalyPoint p = a.update(x);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(p.score));
      EXPECT_FALSE(p.is_anomaly);
    } else {
      with_gaps.push_back(p.score);
    }
  }
  for (std::size_t i = 0; i < clean.size(); ++i) {
    const double s = b.update(clean[i]).score;
    if (std::isnan(s)) {
      EXPECT_TRUE(std::isnan(with_gaps[i]));
    } else {
      EXPECT_EQ(s, with_gaps[i]);
    }
  }
  EXPECT_THROW(a.update(kInf), std::invalid_argument);
}

TEST(EwmaZScore, FollowsTheRecursion) {
  const double h = 3.0;
  const double alpha = 1.0 - std::pow(2.0, -1.0 / h);
  EwmaZScore det(h, 3.0, 2);
  const std::vector<double> xs{5.0, 7.0, 6.0, 9.0, 4.0, 5.5, 30.0};
  double m = xs[0];
  double v = 0.0;
  det.update(xs[0]);
  for (std::size_t i = 1; i < xs.size(); ++i) {
    const AnomalyPoint p = det.update(xs[i]);
    if (i >= 2) {
      EXPECT_DOUBLE_EQ(p.expected, m);
      EXPECT_NEAR(p.score, (xs[i] - m) / std::sqrt(v), 1e-12);
    }
    const double d = xs[i] - m;
    m += alpha * d;
    v = (1.0 - alpha) * (v + alpha * d * d);
  }
}

TEST(SeasonalZScore, FlagsAnOffPhaseSpikeAndReturnsValueUnitsWithLog) {
  SeasonalZScore det(4, 3, 3.0, true, 4);
  const std::vector<double> day{10.0, 50.0, 90.0, 50.0};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> jitter(0.95, 1.05);
  AnomalyPoint last{};
  for (int d = 0; d < 6; ++d) {
    for (const double v : day) last = det.update(v * jitter(rng));
  }
  EXPECT_FALSE(last.is_anomaly);
  EXPECT_GT(last.expected, 40.0);
  EXPECT_LT(last.expected, 60.0);
  const AnomalyPoint spike = det.update(90.0);  // phase 0 expects ~10
  EXPECT_TRUE(spike.is_anomaly);
  EXPECT_LT(spike.upper, 90.0);
  EXPECT_THROW(det.update(0.0), std::invalid_argument);
}

TEST(Detectors, RejectBadSettings) {
  EXPECT_THROW((RollingZScore{1}), std::invalid_argument);
  EXPECT_THROW((RollingZScore{5, 3.0, 1}), std::invalid_argument);
  EXPECT_THROW((RollingZScore{5, 3.0, 6}), std::invalid_argument);
  EXPECT_THROW((RobustZScore{5, 0.0}), std::invalid_argument);
  EXPECT_THROW((RobustZScore{5, kNaN}), std::invalid_argument);
  EXPECT_THROW((EwmaZScore{-1.0}), std::invalid_argument);
  EXPECT_THROW((EwmaZScore{kInf}), std::invalid_argument);
  EXPECT_THROW((SeasonalZScore{1, 2}), std::invalid_argument);
  EXPECT_THROW((SeasonalZScore{2, 0}), std::invalid_argument);
}

TEST(Detectors, BatchEqualsStreaming) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  std::vector<double> xs(300);
  for (auto& x : xs) x = normal(rng);
  xs[40] = kNaN;
  std::vector<double> s(xs.size()), e(xs.size()), lo(xs.size()), hi(xs.size());
  std::vector<std::uint8_t> f(xs.size());
  const AnomalyColumns out{s.data(), e.data(), lo.data(), hi.data(), f.data()};
  RobustZScore batch(20);
  RobustZScore stream(20);
  perfstats::detect_into(batch, xs.data(), xs.size(), out);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const AnomalyPoint p = stream.update(xs[i]);
    if (std::isnan(p.score)) {
      EXPECT_TRUE(std::isnan(s[i]));
    } else {
      EXPECT_EQ(p.score, s[i]);
    }
    EXPECT_EQ(p.is_anomaly ? 1 : 0, f[i]);
  }
}
