// The median and median absolute deviation of the last `capacity` values pushed.
//
// Values are kept twice: a ring buffer (arrival order, to know which value leaves) and a
// sorted buffer (for order statistics). Reading the median is O(1) and reading the MAD is
// O(log capacity) (a k-th-smallest search over the two sorted runs of distances on either
// side of the median); a push costs O(log capacity) comparisons plus one contiguous shift
// of the sorted buffer (memmove of at most `capacity` doubles).
#pragma once

#include <cstddef>
#include <vector>

namespace perfstats {

class RollingOrderStatistics {
 public:
  // Throws std::invalid_argument unless capacity >= 1.
  explicit RollingOrderStatistics(std::size_t capacity);

  // Appends a finite value, evicting the oldest one once `capacity` values are held.
  void push(double value);
  void clear() noexcept;

  std::size_t size() const noexcept { return sorted_.size(); }
  std::size_t capacity() const noexcept { return ring_.size(); }
  // Median of the held values (mean of the two middle ones for an even count); NaN if empty.
  double median() const noexcept;
  // Median of |x - median| over the held values (same even-count rule); NaN if empty.
  double mad() const noexcept;
  // Mean of |x - center| over the held values (O(size) scan); NaN if empty.
  double mean_absolute_deviation(double center) const noexcept;

 private:
  // The k-th smallest (0-based) of |x - center| over the sorted values, where `split` is
  // the first index holding a value >= center; the (k+1)-th goes to *next if asked.
  double kth_distance(std::size_t k, double center, std::size_t split,
                      double* next = nullptr) const noexcept;

  std::vector<double> ring_;
  std::size_t head_ = 0;  // index in ring_ of the oldest value once full
  std::vector<double> sorted_;
};

}  // namespace perfstats
