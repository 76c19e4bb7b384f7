// A general-purpose detector for a metric with a cycle (a day of 5-minute points, say)
// whose level also moves: it asks these questions of every point and alerts once per
// incident.
//
// - Level: the 3-sigma score of x against the last `seasons * period` values (a week of
//   a daily cycle; RollingZScore, at least `min_periods` values).
// - Season: the robust score of x against the median of the same phase over the last
//   `seasons` cycles, net of the recent level (SeasonalZScore, at least `period`
//   residuals).
//   Each of the two scores is calibrated by its rank among that component's own last
//   `history` valid |scores| (a conformal p-value, Vovk et al. 2005): with n earlier
//   scores of which k are >= the current one, p = (1 + k) / (n + 1). Scales and tails
//   then stop mattering, so one threshold suits every series.
// - Value: how rare is x itself among the last `history` finite values (m of them)?
//   With a of them >= x and b <= x, its two-sided conformal p-value is
//   v = min(1, 2 (1 + min(a, b)) / (m + 1)).
// - Novelty: a new high or low (min(a, b) = 0, m >= 1) has p = v = 2 / (m + 1) (the
//   chance that the last of m + 1 exchangeable values is the largest or the smallest);
//   any other value p = 1.
// - Known values: the level p-value is raised to at least kKnownValueFactor * v: a value
//   the history has often been beyond is no level anomaly, however far it is from this
//   week's level (a return to an earlier level, a repeated spike).
// - Usual for the time of day: a value within the range of the values at the same phase,
//   +- `tolerance` positions, over the last `seasons` cycles is not surprising to the
//   level or the season (their p-values become 1). A daily job that wanders by a few
//   points is then learnt after one cycle, where the phase median needs it on most days.
// - p = the smallest of the level, season and novelty p-values;
//   surprise = max(0, 1 - p * (m + 1)^kLengthExponent): a short history cannot rank a
//   point as far out as a long one can, and the factor (at most 1.6 at 10,000 values)
//   makes the one threshold a little stricter for long histories than for short ones.
// - score = surprise signed by the side of `expected` the value is on (NaN while neither
//   the level nor the season is scoring and at gaps). A point is flagged when
//   surprise >= threshold and it is more surprising than every point in the previous
//   `refractory` positions: one alert per incident (a burst of equally surprising points
//   alerts once) while a worsening incident alerts again.
// - expected/lower/upper are the seasonal component's band (3 robust sigmas) once it
//   scores, the level component's (3 sigmas) before that.
// NaN is a gap (not scored, not added, but it counts as a position for the phase and the
// refractory span); +-inf is rejected. Batch == streaming by construction.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

#include "perfstats/anomaly_detectors.hpp"
#include "perfstats/rolling_order_statistics.hpp"

namespace perfstats {

class SeasonalLevelDetector {
 public:
  // Answers ranked against by default: p-values resolve to 1e-4, so the default
  // threshold is reachable after about 700 scored points and well resolved after that.
  static constexpr std::size_t kDefaultHistory = 10000;
  // Exponent of the history-length factor in the surprise (chosen on NAB's series).
  static constexpr double kLengthExponent = 0.05;
  // The level p-value is at least this times the value's own p-value (chosen on NAB's
  // series).
  static constexpr double kKnownValueFactor = 0.1;
  // The default phase tolerance: 1/72 of a cycle (20 minutes of a day), rounded half up,
  // at least 1 and below the period: min(period - 1, max(1, (period + 36) / 72)).
  static constexpr std::size_t kAutoTolerance = static_cast<std::size_t>(-1);

  // period >= 2; seasons >= 1; 0 < threshold < 1; history >= 1 (0 means kDefaultHistory);
  // refractory = positions (0 means period); min_periods = level values needed, between
  // 2 and seasons * period (0 means min(100, seasons * period)); tolerance < period
  // (kAutoTolerance means the default above).
  SeasonalLevelDetector(std::size_t period, std::size_t seasons = 7, double threshold = 0.998,
                        std::size_t history = 0, std::size_t refractory = 0,
                        std::size_t min_periods = 0, std::size_t tolerance = kAutoTolerance);
  AnomalyPoint update(double value);
  void reset();
  std::size_t period() const noexcept { return seasonal_.period(); }
  std::size_t seasons() const noexcept { return seasonal_.window(); }
  std::size_t history() const noexcept { return level_history_.capacity(); }
  std::size_t refractory() const noexcept { return refractory_; }
  std::size_t min_periods() const noexcept { return level_.min_periods(); }
  std::size_t tolerance() const noexcept { return tolerance_; }
  double threshold() const noexcept { return threshold_; }

 private:
  // Is value within the range of the same phase (+- tolerance) over the last cycles?
  bool usual_for_phase(std::size_t here, double value) const;

  RollingZScore level_;
  SeasonalZScore seasonal_;
  RollingOrderStatistics level_history_;
  RollingOrderStatistics seasonal_history_;
  RollingOrderStatistics values_;  // the last `history` finite values
  double threshold_;
  std::size_t refractory_;
  std::size_t tolerance_;
  // The last seasons * period + tolerance positions' values (NaN for gaps and before
  // the start), at position % size: what the same phase took on earlier cycles.
  std::vector<double> cycles_;
  // Positions and scores of the last `refractory_` positions, scores strictly decreasing
  // from the front (the front is their maximum).
  std::deque<std::pair<std::size_t, double>> recent_;
  std::size_t position_ = 0;
};

}  // namespace perfstats
