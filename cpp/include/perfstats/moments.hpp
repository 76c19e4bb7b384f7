// Mergeable summary of a sample: count, mean and central moments up to the fourth.
//
// State: total weight W, mean, and the centred sums M2, M3, M4 (M_k = sum w (x - mean)^k),
// plus min, max and a double-double sum. Batches are added with a two-pass algorithm
// (error-free TwoSum mean, then centred sums with a mean correction) and folded into the
// running state with the pairwise update of Chan, Golub and LeVeque (1979), extended to
// the third and fourth moments by Pebay (2008). Nothing here loses digits to a large
// common offset: sum(x^2) - sum(x)^2 / n is never formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace perfstats {

class Moments {
 public:
  Moments() = default;

  // Adds one value with weight `weight` (>= 0, finite). Throws std::invalid_argument on a
  // NaN or infinite value or a bad weight; the summary is then unchanged.
  void add(double value, double weight = 1.0);
  // Adds `n` values (and their weights when `weights` is not null). Every value and
  // weight is checked first: on the first bad one, std::invalid_argument names its index
  // and value, and nothing is added.
  void add(const double* values, std::size_t n, const double* weights = nullptr);
  // Folds another summary into this one; the result equals the summary of the union.
  void merge(const Moments& other);

  // Number of values added (those with weight 0 included).
  std::uint64_t size() const noexcept { return size_; }
  // Total weight: the number of values when unweighted.
  double count() const noexcept { return weight_; }
  // Weighted mean; NaN when empty.
  double mean() const noexcept;
  // mean - c and mean - other.mean, from the double-double mean held inside, so that the
  // digits below the rounding of mean() survive a large common offset.
  double mean_minus(double c) const noexcept;
  double mean_minus(const Moments& other) const noexcept;
  // M2 / (count - ddof); NaN when count <= ddof.
  double variance(double ddof = 1.0) const noexcept;
  double std(double ddof = 1.0) const noexcept;
  // Biased sample skewness m3 / m2^1.5 with m_k = M_k / count, as
  // scipy.stats.skew(bias=True); NaN when empty or when every value is equal.
  double skewness() const noexcept;
  // Biased excess (Fisher) kurtosis m4 / m2^2 - 3, as scipy.stats.kurtosis(fisher=True,
  // bias=True); NaN when empty or when every value is equal.
  double kurtosis() const noexcept;
  // Smallest and largest value of positive weight; NaN when there is none.
  double min() const noexcept { return min_; }
  double max() const noexcept { return max_; }
  // Weighted sum, carried in double-double so it is correctly rounded in practice.
  double sum() const noexcept { return sum_hi_ + sum_lo_; }
  // Centred sums M_k = sum w (x - mean)^k, k = 2, 3, 4.
  double m2() const noexcept { return m2_; }
  double m3() const noexcept { return m3_; }
  double m4() const noexcept { return m4_; }

  // Versioned binary form (magic "PSMO"); from_bytes validates everything it reads.
  std::string to_bytes() const;
  static Moments from_bytes(const std::uint8_t* data, std::size_t size);

  bool operator==(const Moments& other) const noexcept;
  bool operator!=(const Moments& other) const noexcept { return !(*this == other); }

 private:
  std::uint64_t size_ = 0;
  double weight_ = 0.0;
  double mean_ = 0.0;     // the mean is the double-double mean_ + mean_lo_
  double mean_lo_ = 0.0;
  double m2_ = 0.0;
  double m3_ = 0.0;
  double m4_ = 0.0;
  double min_ = kNaN;
  double max_ = kNaN;
  double sum_hi_ = 0.0;
  double sum_lo_ = 0.0;

  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
};

// Lag-1 autocorrelation as NIST StRD defines it:
// r1 = sum_{i>=1} (x_i - mean)(x_{i-1} - mean) / sum_i (x_i - mean)^2.
// Throws std::invalid_argument on fewer than 2 values, a non-finite value (naming its
// index) or a constant series.
double lag1_autocorrelation(const double* values, std::size_t n);

}  // namespace perfstats
