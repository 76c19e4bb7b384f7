// A fixed-boundary histogram with upper-inclusive buckets, as Prometheus (`le`) and
// OpenTelemetry explicit-bucket histograms define them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace perfstats {

// Bucket 0 is (-inf, b[0]], bucket i is (b[i-1], b[i]], and the last bucket,
// (b[n-1], +inf), holds the overflow: n boundaries give n + 1 buckets. Counts are
// weights (doubles); count, sum, min and max are kept alongside the buckets.
class Histogram {
 public:
  // Throws std::invalid_argument unless `boundaries` are finite and strictly increasing
  // (the message names the offending index). An empty list gives one bucket.
  explicit Histogram(std::vector<double> boundaries);

  // Adds `value` with `weight`. Throws std::invalid_argument, and changes nothing, if
  // the value is NaN or infinite or the weight is negative, NaN or infinite. A zero
  // weight is accepted and changes nothing.
  void add(double value, double weight = 1.0);
  // Adds `n` values (with `weights`, or weight 1 each when it is null). Every value and
  // weight is checked first: on bad input nothing is added and the message gives how
  // many are bad and the index of the first.
  void add(const double* values, std::size_t n, const double* weights = nullptr);
  // Adds `other`'s buckets; throws std::invalid_argument unless the boundaries match.
  void merge(const Histogram& other);

  // The bucket `value` falls in: the number of boundaries strictly below it.
  std::size_t bucket_index(double value) const noexcept;

  const std::vector<double>& boundaries() const noexcept { return boundaries_; }
  const std::vector<double>& counts() const noexcept { return counts_; }
  double count() const noexcept;  // total weight, the sum of the bucket counts
  double sum() const noexcept { return sum_; }
  // Smallest and largest value added with positive weight; NaN while empty.
  double min() const noexcept;
  double max() const noexcept;

  // Format "PSHG" version 1: boundaries, counts (varints when all are integers below
  // 2**53, doubles otherwise), sum, min, max, CRC-32 (see detail/bytes.hpp).
  std::string to_bytes() const;
  // Throws std::invalid_argument on truncated, corrupt or inconsistent input.
  static Histogram from_bytes(const std::uint8_t* data, std::size_t size);

  friend bool operator==(const Histogram& a, const Histogram& b) noexcept;
  friend bool operator!=(const Histogram& a, const Histogram& b) noexcept {
    return !(a == b);
  }

 private:
  void add_unchecked(double value, double weight) noexcept;
  void add_unweighted(const double* values, std::size_t n);

  std::vector<double> boundaries_;
  std::vector<double> counts_;
  double sum_ = 0.0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

}  // namespace perfstats
