// Rolling, robust, exponentially weighted and seasonal z-score detectors.
#include "perfstats/anomaly_detectors.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace perfstats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// 1 / Phi^{-1}(3/4): makes the MAD of a normal sample estimate its standard deviation.
constexpr double kMadToSigma = 1.482602218505602;
// sqrt(pi / 2): the same for the mean absolute deviation.
constexpr double kMeanAdToSigma = 1.2533141373155003;

// Robust sigma of the held values around `center`: 1.4826 MAD, or 1.2533 times the mean
// absolute deviation when more than half the values coincide (MAD = 0); 0 only when the
// values are all equal.
double robust_scale(const RollingOrderStatistics& stats, double center) {
  const double mad = stats.mad();
  if (mad > 0.0) return kMadToSigma * mad;
  return kMeanAdToSigma * stats.mean_absolute_deviation(center);
}

std::string show(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

void check_threshold(double threshold) {
  if (!(threshold > 0.0) || !std::isfinite(threshold)) {
    throw std::invalid_argument("threshold must be finite and > 0, got " + show(threshold));
  }
}

std::size_t resolve_min_periods(std::size_t min_periods, std::size_t fallback,
                                std::size_t lowest, std::size_t highest) {
  const std::size_t m = min_periods == 0 ? fallback : min_periods;
  if (m < lowest || m > highest) {
    throw std::invalid_argument("min_periods must be in [" + std::to_string(lowest) + ", " +
                                std::to_string(highest) + "], got " + std::to_string(m));
  }
  return m;
}

[[noreturn]] void reject_infinite(double value, std::size_t position) {
  throw std::invalid_argument("value at position " + std::to_string(position) + " is " +
                              show(value) + "; values must be finite or NaN");
}

// NaN is a gap; +-inf is an error naming where it came.
inline bool is_gap(double value, std::size_t position) {
  if (std::isfinite(value)) return false;
  if (std::isnan(value)) return true;
  reject_infinite(value, position);
}

// sum(values) or, with `squares`, sum((values - center)^2), in four interleaved partial
// sums: the additions are independent, so they pipeline instead of waiting on one
// accumulator (the error bound is that of plain summation, or better).
double sum_of(const double* values, std::size_t n, double center, bool squares) noexcept {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    for (std::size_t j = 0; j < 4; ++j) {
      const double d = values[k + j] - center;
      acc[j] += squares ? d * d : values[k + j];
    }
  }
  for (; k < n; ++k) {
    const double d = values[k] - center;
    acc[0] += squares ? d * d : values[k];
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

AnomalyPoint not_scored(double expected = kNaN, double lower = kNaN, double upper = kNaN) {
  return {kNaN, expected, lower, upper, false};
}

// Scores x against center and scale (both finite, scale >= 0).
AnomalyPoint judge(double x, double center, double scale, double threshold) {
  double score = 0.0;
  if (scale > 0.0) {
    score = (x - center) / scale;
  } else if (x != center) {
    score = std::copysign(std::numeric_limits<double>::infinity(), x - center);
  }
  const double half = threshold * scale;
  return {score, center, center - half, center + half, std::fabs(score) > threshold};
}

}  // namespace

// ---- RollingZScore ---------------------------------------------------------------------

RollingZScore::RollingZScore(std::size_t window, double threshold, std::size_t min_periods)
    : threshold_(threshold) {
  if (window < 2) {
    throw std::invalid_argument("window must be >= 2, got " + std::to_string(window));
  }
  check_threshold(threshold);
  min_periods_ = resolve_min_periods(min_periods, window, 2, window);
  ring_.assign(window, 0.0);
  inv_window_ = 1.0 / static_cast<double>(window);
}

void RollingZScore::reset() noexcept {
  head_ = count_ = since_recompute_ = position_ = 0;
  mean_ = m2_ = 0.0;
}

template <class Emit>
void RollingZScore::run(const double* values, std::size_t n, Emit&& emit) {
  // The state lives in locals for the loop: stores through the output pointers could
  // alias the members, which would force a reload of every member after each store.
  double mean = mean_;
  double m2 = m2_;
  std::size_t head = head_;
  std::size_t count = count_;
  std::size_t since = since_recompute_;
  std::size_t position = position_;
  const std::size_t cap = ring_.size();
  double* ring = ring_.data();
  const double inv_window = inv_window_;
  const double inv_dof = 1.0 / static_cast<double>(cap - 1);
  const double threshold = threshold_;
  const std::size_t min_periods = min_periods_;
  auto save = [&] {
    mean_ = mean;
    m2_ = m2;
    head_ = head;
    count_ = count;
    since_recompute_ = since;
    position_ = position;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const double value = values[i];
    bool gap = false;
    try {
      gap = is_gap(value, position);
    } catch (...) {
      save();
      throw;
    }
    ++position;
    AnomalyPoint out = not_scored();
    if (count >= min_periods) {
      // Full window (nearly every point): multiply by 1 / (window - 1) instead of a third
      // long-latency division per point (sqrt and the score's division remain).
      const double var = count == cap ? std::max(m2, 0.0) * inv_dof
                                      : std::max(m2, 0.0) / static_cast<double>(count - 1);
      const double sd = std::sqrt(var);
      out = judge(value, mean, sd, threshold);
      if (gap) out = not_scored(out.expected, out.lower, out.upper);
    }
    emit(i, out);
    if (gap) continue;
    if (count == cap) {
      // Full window: replace the oldest value in one step (one loop-carried multiply).
      const double old = ring[head];
      ring[head] = value;
      if (++head == cap) head = 0;
      const double mean_old = mean;
      mean += (value - old) * inv_window;
      m2 += (value - old) * ((value - mean) + (old - mean_old));
    } else {
      ring[count] = value;  // head stays 0 until the ring is full
      ++count;
      const double d = value - mean;
      mean += d / static_cast<double>(count);
      m2 += d * (value - mean);
    }
    if (++since >= cap && count == cap) {
      // Two passes over the held values wipe out the drift of the one-step updates.
      mean = sum_of(ring, cap, 0.0, false) / static_cast<double>(cap);
      m2 = sum_of(ring, cap, mean, true);
      since = 0;
    }
  }
  save();
}

AnomalyPoint RollingZScore::update(double value) {
  AnomalyPoint out{};
  run(&value, 1, [&out](std::size_t, const AnomalyPoint& p) { out = p; });
  return out;
}

void RollingZScore::detect(const double* values, std::size_t n, const AnomalyColumns& out) {
  run(values, n, [&out](std::size_t i, const AnomalyPoint& p) {
    out.score[i] = p.score;
    out.expected[i] = p.expected;
    out.lower[i] = p.lower;
    out.upper[i] = p.upper;
    out.is_anomaly[i] = p.is_anomaly ? 1 : 0;
  });
}

// ---- RobustZScore ----------------------------------------------------------------------

RobustZScore::RobustZScore(std::size_t window, double threshold, std::size_t min_periods)
    : stats_(window), threshold_(threshold) {
  check_threshold(threshold);
  min_periods_ = resolve_min_periods(min_periods, window, 1, window);
}

void RobustZScore::reset() noexcept {
  stats_.clear();
  position_ = 0;
}

AnomalyPoint RobustZScore::update(double value) {
  const std::size_t position = position_++;
  const bool gap = is_gap(value, position);
  AnomalyPoint out = not_scored();
  if (stats_.size() >= min_periods_) {
    const double median = stats_.median();
    out = judge(value, median, robust_scale(stats_, median), threshold_);
    if (gap) out = not_scored(out.expected, out.lower, out.upper);
  }
  if (!gap) stats_.push(value);
  return out;
}

// ---- EwmaZScore ------------------------------------------------------------------------

EwmaZScore::EwmaZScore(double halflife, double threshold, std::size_t min_periods)
    : halflife_(halflife), threshold_(threshold) {
  if (!(halflife > 0.0) || !std::isfinite(halflife)) {
    throw std::invalid_argument("halflife must be finite and > 0, got " + show(halflife));
  }
  check_threshold(threshold);
  alpha_ = 1.0 - std::exp2(-1.0 / halflife);
  const auto fallback = static_cast<std::size_t>(std::max(2.0, std::ceil(halflife)));
  min_periods_ = resolve_min_periods(min_periods, fallback, 2,
                                     std::numeric_limits<std::size_t>::max());
}

void EwmaZScore::reset() noexcept {
  count_ = position_ = 0;
  mean_ = var_ = 0.0;
}

AnomalyPoint EwmaZScore::update(double value) {
  const std::size_t position = position_++;
  const bool gap = is_gap(value, position);
  AnomalyPoint out = not_scored();
  if (count_ >= min_periods_) {
    out = judge(value, mean_, std::sqrt(var_), threshold_);
    if (gap) out = not_scored(out.expected, out.lower, out.upper);
  }
  if (gap) return out;
  if (count_ == 0) {
    mean_ = value;
    var_ = 0.0;
  } else {
    const double d = value - mean_;
    mean_ += alpha_ * d;
    var_ = (1.0 - alpha_) * (var_ + alpha_ * d * d);
  }
  ++count_;
  return out;
}

// ---- SeasonalZScore --------------------------------------------------------------------

SeasonalZScore::SeasonalZScore(std::size_t period, std::size_t window, double threshold,
                               bool log, std::size_t min_periods)
    : period_(period),
      window_(window),
      threshold_(threshold),
      log_(log),
      residuals_(std::max<std::size_t>(1, period) * std::max<std::size_t>(1, window)) {
  if (period < 2) {
    throw std::invalid_argument("period must be >= 2, got " + std::to_string(period));
  }
  if (window < 1) {
    throw std::invalid_argument("window must be >= 1, got " + std::to_string(window));
  }
  check_threshold(threshold);
  min_periods_ = resolve_min_periods(min_periods, period, 1, period * window);
  phase_values_.assign(period * window, 0.0);
  phase_count_.assign(period, 0);
  phase_head_.assign(period, 0);
  scratch_.reserve(window);
}

void SeasonalZScore::reset() noexcept {
  std::fill(phase_count_.begin(), phase_count_.end(), std::size_t{0});
  std::fill(phase_head_.begin(), phase_head_.end(), std::size_t{0});
  residuals_.clear();
  position_ = 0;
}

double SeasonalZScore::profile(std::size_t phase) {
  const std::size_t n = phase_count_[phase];
  if (n == 0) return kNaN;
  const double* vals = &phase_values_[phase * window_];
  scratch_.assign(vals, vals + n);
  const std::size_t h = n / 2;
  const auto mid = scratch_.begin() + static_cast<std::ptrdiff_t>(h);
  std::nth_element(scratch_.begin(), mid, scratch_.end());
  if (n % 2 == 1) return *mid;
  const double below = *std::max_element(scratch_.begin(), mid);
  return 0.5 * (below + *mid);
}

AnomalyPoint SeasonalZScore::update(double value) {
  const std::size_t position = position_++;
  const std::size_t phase = position % period_;
  bool gap = is_gap(value, position);
  if (!gap && log_ && !(value > 0.0)) {
    throw std::invalid_argument("value at position " + std::to_string(position) + " is " +
                                show(value) + "; log=True needs values > 0");
  }
  const double y = gap ? kNaN : (log_ ? std::log(value) : value);
  const double base = profile(phase);
  AnomalyPoint out = not_scored();
  if (!std::isnan(base) && residuals_.size() >= min_periods_) {
    const double level = residuals_.median();
    const double center = base + level;
    const double scale = robust_scale(residuals_, level);
    out = judge(gap ? center : y, center, scale, threshold_);
    if (log_) {
      out.expected = std::exp(out.expected);
      out.lower = std::exp(out.lower);
      out.upper = std::exp(out.upper);
    }
    if (gap) out = not_scored(out.expected, out.lower, out.upper);
  }
  if (gap) return out;
  if (!std::isnan(base)) residuals_.push(y - base);
  std::size_t& count = phase_count_[phase];
  std::size_t& head = phase_head_[phase];
  double* vals = &phase_values_[phase * window_];
  if (count < window_) {
    vals[count++] = y;
  } else {
    vals[head] = y;
    head = (head + 1) % window_;
  }
  return out;
}

}  // namespace perfstats
