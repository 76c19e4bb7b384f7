#include "perfstats/seasonal_level_detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace perfstats {
namespace {

std::size_t level_window(std::size_t period, std::size_t seasons) {
  if (period < 2) throw std::invalid_argument("period must be >= 2");
  if (seasons < 1) throw std::invalid_argument("seasons must be >= 1");
  if (period > std::numeric_limits<std::size_t>::max() / seasons) {
    throw std::invalid_argument("seasons * period is too large");
  }
  return seasons * period;
}

double checked_threshold(double threshold) {
  if (!(threshold > 0.0 && threshold < 1.0)) {
    throw std::invalid_argument("threshold must be a probability in (0, 1), got " +
                                std::to_string(threshold));
  }
  return threshold;
}

std::size_t checked_tolerance(std::size_t tolerance, std::size_t period) {
  if (tolerance == SeasonalLevelDetector::kAutoTolerance) {
    return std::min(period - 1, std::max<std::size_t>(1, period / 72 + (period % 72 >= 36)));
  }
  if (tolerance >= period) {
    throw std::invalid_argument("tolerance must be < period = " + std::to_string(period) +
                                ", got " + std::to_string(tolerance));
  }
  return tolerance;
}

std::size_t default_history(std::size_t history) {
  return history != 0 ? history : SeasonalLevelDetector::kDefaultHistory;
}

// Conformal p-value of |score| among `history`, then adds it there; NaN stays NaN.
double calibrate(RollingOrderStatistics& history, double score) {
  if (std::isnan(score)) return score;
  // inf (a departure from a constant baseline) ranks at the top, tying with other infs.
  const double a = std::min(std::fabs(score), std::numeric_limits<double>::max());
  const auto n = static_cast<double>(history.size());
  const auto at_least = static_cast<double>(history.count_at_least(a));
  history.push(a);
  return (1.0 + at_least) / (n + 1.0);
}

}  // namespace

SeasonalLevelDetector::SeasonalLevelDetector(std::size_t period, std::size_t seasons,
                                             double threshold, std::size_t history,
                                             std::size_t refractory,
                                             std::size_t min_periods,
                                             std::size_t tolerance)
    : level_(level_window(period, seasons), 3.0,
             min_periods == 0 ? std::min<std::size_t>(100, period * seasons) : min_periods),
      seasonal_(period, seasons, 3.0, false, 0),
      level_history_(default_history(history)),
      seasonal_history_(default_history(history)),
      values_(default_history(history)),
      threshold_(checked_threshold(threshold)),
      refractory_(refractory == 0 ? period : refractory),
      tolerance_(checked_tolerance(tolerance, period)) {
  const std::size_t span = level_window(period, seasons);
  if (span > std::numeric_limits<std::size_t>::max() - tolerance_) {
    throw std::invalid_argument("seasons * period + tolerance is too large");
  }
  cycles_.assign(span + tolerance_, std::numeric_limits<double>::quiet_NaN());
}

bool SeasonalLevelDetector::usual_for_phase(std::size_t here, double value) const {
  // Positions here - k * period + j for k = 1..seasons, j = -tolerance..tolerance: all
  // in the past (tolerance < period) and at most cycles_.size() back.
  const std::size_t period = seasonal_.period();
  const std::size_t size = cycles_.size();
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (std::size_t k = 1; k <= seasonal_.window(); ++k) {
    const std::size_t back = k * period;
    if (back - tolerance_ > here) break;  // no position of this cycle exists yet
    for (std::size_t lag = back - tolerance_; lag <= back + tolerance_ && lag <= here; ++lag) {
      const double v = cycles_[(here - lag) % size];
      lo = std::fmin(lo, v);
      hi = std::fmax(hi, v);
    }
  }
  return lo <= value && value <= hi;
}

AnomalyPoint SeasonalLevelDetector::update(double value) {
  if (std::isinf(value)) {
    throw std::invalid_argument("value at position " + std::to_string(position_) +
                                " is infinite");
  }
  const std::size_t here = position_++;
  const AnomalyPoint level = level_.update(value);
  const AnomalyPoint seasonal = seasonal_.update(value);
  double level_p = calibrate(level_history_, level.score);
  double seasonal_p = calibrate(seasonal_history_, seasonal.score);
  const AnomalyPoint& band = std::isnan(seasonal.score) ? level : seasonal;
  double surprise = std::numeric_limits<double>::quiet_NaN();
  if (!std::isnan(value)) {
    // The value's own two-sided conformal p-value among the last `history` values.
    const std::size_t held = values_.size();
    const std::size_t at_least = values_.count_at_least(value);
    const double above = std::nextafter(value, std::numeric_limits<double>::infinity());
    const std::size_t at_most = held - values_.count_at_least(above);
    const std::size_t outer = std::min(at_least, at_most);
    const auto n = static_cast<double>(held);
    const double value_p = std::fmin(1.0, 2.0 * (1.0 + static_cast<double>(outer)) / (n + 1.0));
    values_.push(value);
    if (usual_for_phase(here, value)) {
      if (!std::isnan(level_p)) level_p = 1.0;
      if (!std::isnan(seasonal_p)) seasonal_p = 1.0;
    }
    // A value the history has often been beyond is no level anomaly, however far it is
    // from this week's level.
    if (!std::isnan(level_p)) level_p = std::fmax(level_p, kKnownValueFactor * value_p);
    double p = std::fmin(level_p, seasonal_p);  // NaN only if neither scores
    if (!std::isnan(p)) {
      if (held > 0 && outer == 0) p = std::fmin(p, value_p);  // a new high or low
      surprise = std::fmax(0.0, 1.0 - p * std::pow(n + 1.0, kLengthExponent));
    }
  }
  cycles_[here % cycles_.size()] = value;
  // Signed by the side of the band the value is on, so callers can tell highs from lows.
  AnomalyPoint out{std::copysign(surprise, value - band.expected), band.expected,
                   band.lower, band.upper, false};
  // Drop what has left the refractory span, compare with the rest, then join it.
  while (!recent_.empty() && here - recent_.front().first > refractory_) {
    recent_.pop_front();
  }
  if (std::isnan(surprise)) return out;
  out.is_anomaly =
      surprise >= threshold_ && (recent_.empty() || surprise > recent_.front().second);
  while (!recent_.empty() && recent_.back().second <= surprise) recent_.pop_back();
  recent_.emplace_back(here, surprise);
  return out;
}

void SeasonalLevelDetector::reset() {
  level_.reset();
  seasonal_.reset();
  level_history_.clear();
  seasonal_history_.clear();
  values_.clear();
  std::fill(cycles_.begin(), cycles_.end(), std::numeric_limits<double>::quiet_NaN());
  recent_.clear();
  position_ = 0;
}

}  // namespace perfstats
