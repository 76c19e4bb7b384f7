// Sliding-window median and MAD over a sorted buffer (see the header for the costs).
#include "perfstats/rolling_order_statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>

namespace perfstats {
namespace {

// Branch-free binary searches: the comparisons on random data are unpredictable, so a
// conditional move beats a branch (std::lower_bound mispredicts about half the steps).
std::size_t lower_index(const double* data, std::size_t n, double value) noexcept {
  const double* base = data;
  while (n > 1) {
    const std::size_t half = n / 2;
    base += (base[half - 1] < value) ? half : 0;
    n -= half;
  }
  return static_cast<std::size_t>(base - data) + ((n == 1 && *base < value) ? 1 : 0);
}

// lower_index(data, n, leaving) and upper_index(data, n, arriving) in one loop: both
// searches halve the same range, so their two independent chains of loads overlap.
// Steps are index arithmetic on a 0/1 mask rather than selects so the compiler cannot
// turn them back into (mispredicted) branches.
void both_indices(const double* data, std::size_t n, double leaving, double arriving,
                  std::size_t* lower, std::size_t* upper) noexcept {
  std::size_t lo = 0;
  std::size_t up = 0;
  while (n > 1) {
    const std::size_t half = n / 2;
    lo += static_cast<std::size_t>(data[lo + half - 1] < leaving) * half;
    up += static_cast<std::size_t>(data[up + half - 1] <= arriving) * half;
    n -= half;
  }
  if (n == 1) {
    lo += static_cast<std::size_t>(data[lo] < leaving);
    up += static_cast<std::size_t>(data[up] <= arriving);
  }
  *lower = lo;
  *upper = up;
}

}  // namespace

RollingOrderStatistics::RollingOrderStatistics(std::size_t capacity) {
  if (capacity < 1) {
    throw std::invalid_argument("window must be >= 1, got " + std::to_string(capacity));
  }
  ring_.assign(capacity, 0.0);
  sorted_.reserve(capacity);
}

void RollingOrderStatistics::clear() noexcept {
  sorted_.clear();
  head_ = 0;
}

void RollingOrderStatistics::push(double value) {
  const std::size_t cap = ring_.size();
  if (sorted_.size() == cap) {
    const double old = ring_[head_];
    // Any copy of an equal value will do: they are indistinguishable in the sorted buffer.
    std::size_t leave = 0;
    std::size_t arrive = 0;
    both_indices(sorted_.data(), cap, old, value, &leave, &arrive);
    const auto it = sorted_.begin() + static_cast<std::ptrdiff_t>(leave);
    const auto pos = sorted_.begin() + static_cast<std::ptrdiff_t>(arrive);
    // Shift only the span between the leaving and the arriving position.
    if (pos <= it) {
      std::move_backward(pos, it, std::next(it));
      *pos = value;
    } else {
      const auto dest = std::prev(pos);
      std::move(std::next(it), pos, it);
      *dest = value;
    }
    ring_[head_] = value;
    if (++head_ == cap) head_ = 0;
  } else {
    ring_[sorted_.size()] = value;  // fills in order; head_ stays 0 until full
    sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), value), value);
  }
}

double RollingOrderStatistics::median() const noexcept {
  const std::size_t n = sorted_.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t h = n / 2;
  if (n % 2 == 1) return sorted_[h];
  return 0.5 * (sorted_[h - 1] + sorted_[h]);
}

double RollingOrderStatistics::kth_distance(std::size_t k, double center, std::size_t split,
                                            double* next) const noexcept {
  // Left run: center - sorted_[split - 1 - i], right run: sorted_[split + j] - center; both
  // ascending. Find the smallest count i taken from the left such that the first k + 1
  // merged distances are left[0, i) and right[0, k + 1 - i).
  const std::size_t a = split;
  const std::size_t b = sorted_.size() - split;
  auto left = [&](std::size_t i) { return center - sorted_[split - 1 - i]; };
  auto right = [&](std::size_t j) { return sorted_[split + j] - center; };
  std::size_t lo = (k + 1 > b) ? k + 1 - b : 0;
  std::size_t hi = std::min(a, k + 1);
  while (lo < hi) {
    const std::size_t i = lo + (hi - lo) / 2;
    const std::size_t j = k + 1 - i;  // >= 1 because i < hi <= k + 1
    const bool more = left(i) < right(j - 1);
    lo = more ? i + 1 : lo;
    hi = more ? hi : i;
  }
  const std::size_t i = lo;
  const std::size_t j = k + 1 - i;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double kth = std::max(i > 0 ? left(i - 1) : -inf, j > 0 ? right(j - 1) : -inf);
  if (next != nullptr) *next = std::min(i < a ? left(i) : inf, j < b ? right(j) : inf);
  return kth;
}

double RollingOrderStatistics::mad() const noexcept {
  const std::size_t n = sorted_.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t h = n / 2;
  const double m = median();
  // First index holding a value >= m: h itself unless the value just below equals m
  // (ties at the median), which needs a search of the lower half only.
  std::size_t split = h;
  if (h > 0 && !(sorted_[h - 1] < m)) split = lower_index(sorted_.data(), h, m);
  if (n % 2 == 1) return kth_distance(h, m, split);
  double hi = 0.0;
  const double lo = kth_distance(h - 1, m, split, &hi);
  return 0.5 * (lo + hi);
}

double RollingOrderStatistics::mean_absolute_deviation(double center) const noexcept {
  if (sorted_.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (const double v : sorted_) sum += std::fabs(v - center);
  return sum / static_cast<double>(sorted_.size());
}

}  // namespace perfstats
