// Point anomaly detectors for telemetry series: each compares a value with a baseline
// built from earlier values only, and flags it when |score| > threshold.
//
// Shared rules (all four detectors):
// - `update(x)` scores x against the current baseline, then adds x to it; `detect` is
//   `update` in a loop, so batch and streaming results are identical by construction.
// - NaN is a gap: its point is not scored (score NaN, not flagged) and it does not enter
//   the baseline. +-inf is rejected with std::invalid_argument naming its position.
// - Until the baseline holds `min_periods` values, score/expected/lower/upper are NaN and
//   the point is not flagged.
// - score = (x - expected) / scale. When scale is 0 (a constant baseline) the score is 0
//   for x == expected and +-inf otherwise (so any departure from a flat line is flagged);
//   lower == upper == expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "perfstats/rolling_order_statistics.hpp"

namespace perfstats {

// One scored point. `lower`/`upper` = expected -+ threshold * scale (in value units).
struct AnomalyPoint {
  double score;
  double expected;
  double lower;
  double upper;
  bool is_anomaly;
};

// Column outputs of a batch run; every pointer must address `n` elements.
struct AnomalyColumns {
  double* score;
  double* expected;
  double* lower;
  double* upper;
  std::uint8_t* is_anomaly;
};

// The classic 3-sigma rule: mean and sample standard deviation (ddof = 1) of the last
// `window` valid values before the current one.
class RollingZScore {
 public:
  // window >= 2; 2 <= min_periods <= window (0 means window); threshold > 0.
  RollingZScore(std::size_t window, double threshold = 3.0, std::size_t min_periods = 0);
  AnomalyPoint update(double value);
  // update() over `n` values into `out`, with the state kept in registers.
  void detect(const double* values, std::size_t n, const AnomalyColumns& out);
  void reset() noexcept;
  std::size_t window() const noexcept { return ring_.size(); }
  std::size_t min_periods() const noexcept { return min_periods_; }
  double threshold() const noexcept { return threshold_; }

 private:
  template <class Emit>
  void run(const double* values, std::size_t n, Emit&& emit);

  std::vector<double> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t since_recompute_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
  double inv_window_;
  double threshold_;
  std::size_t min_periods_;
  std::size_t position_ = 0;
};

// Median and MAD (scaled by 1.4826 to estimate sigma under normality) of the last `window`
// valid values before the current one; resistant to the outliers it is looking for. When
// more than half the window is one value (MAD = 0, common in quantised telemetry) the
// scale falls back to 1.2533 times the mean absolute deviation from the median, which is
// 0 only for a constant window.
class RobustZScore {
 public:
  // window >= 1; 1 <= min_periods <= window (0 means window); threshold > 0.
  RobustZScore(std::size_t window, double threshold = 3.0, std::size_t min_periods = 0);
  AnomalyPoint update(double value);
  void reset() noexcept;
  std::size_t window() const noexcept { return stats_.capacity(); }
  std::size_t min_periods() const noexcept { return min_periods_; }
  double threshold() const noexcept { return threshold_; }

 private:
  RollingOrderStatistics stats_;
  double threshold_;
  std::size_t min_periods_;
  std::size_t position_ = 0;
};

// Exponentially weighted mean and variance with the given half-life (in valid points):
// alpha = 1 - 2^(-1/halflife); m <- m + alpha (x - m); v <- (1 - alpha)(v + alpha (x - m)^2)
// (pandas ewm(adjust=False, ignore_na=True), var(bias=True)).
class EwmaZScore {
 public:
  // halflife > 0 and finite; min_periods >= 2 (0 means max(2, ceil(halflife))).
  EwmaZScore(double halflife, double threshold = 3.0, std::size_t min_periods = 0);
  AnomalyPoint update(double value);
  void reset() noexcept;
  double halflife() const noexcept { return halflife_; }
  std::size_t min_periods() const noexcept { return min_periods_; }
  double threshold() const noexcept { return threshold_; }

 private:
  double halflife_;
  double alpha_;
  double threshold_;
  std::size_t min_periods_;
  std::size_t count_ = 0;
  double mean_ = 0.0;
  double var_ = 0.0;
  std::size_t position_ = 0;
};

// Seasonal baseline: the profile at phase (position mod period) is the median of the last
// `window` valid values at that phase (the same hour over recent days); the residual
// x - profile is then judged by a robust z-score against the last window * period
// residuals, whose median is the level (trend) correction. Positions count NaN gaps too,
// so the phase follows the clock. With `log`, everything is done on log(x) (x must be
// > 0) and expected/lower/upper are returned in value units.
class SeasonalZScore {
 public:
  // period >= 2; window >= 1; min_periods = residuals needed (0 means period), between 1
  // and window * period; threshold > 0.
  SeasonalZScore(std::size_t period, std::size_t window, double threshold = 3.0,
                 bool log = false, std::size_t min_periods = 0);
  AnomalyPoint update(double value);
  void reset() noexcept;
  std::size_t period() const noexcept { return period_; }
  std::size_t window() const noexcept { return window_; }
  bool log() const noexcept { return log_; }
  std::size_t min_periods() const noexcept { return min_periods_; }
  double threshold() const noexcept { return threshold_; }

 private:
  double profile(std::size_t phase);

  std::size_t period_;
  std::size_t window_;
  double threshold_;
  bool log_;
  std::size_t min_periods_;
  std::vector<double> phase_values_;  // period x window ring buffers
  std::vector<std::size_t> phase_count_;
  std::vector<std::size_t> phase_head_;
  std::vector<double> scratch_;
  RollingOrderStatistics residuals_;
  std::size_t position_ = 0;
};

// Runs `detector.update` over `values` into `out` (batch form of the streaming API).
template <class Detector>
void detect_into(Detector& detector, const double* values, std::size_t n,
                 const AnomalyColumns& out) {
  if constexpr (std::is_same_v<Detector, RollingZScore>) {
    detector.detect(values, n, out);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const AnomalyPoint p = detector.update(values[i]);
      out.score[i] = p.score;
      out.expected[i] = p.expected;
      out.lower[i] = p.lower;
      out.upper[i] = p.upper;
      out.is_anomaly[i] = p.is_anomaly ? 1 : 0;
    }
  }
}

}  // namespace perfstats
