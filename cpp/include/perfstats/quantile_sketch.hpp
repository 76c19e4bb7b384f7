// QuantileSketch: a mergeable relative-error quantile sketch on the exponential grid of
// OpenTelemetry / Prometheus native histograms.
//
// Bucket i at scale s covers (base^i, base^(i+1)] with base = 2^(2^-s). A value's bucket is
// read from the bits of its double (exponent, then a table over the top mantissa bits), with
// no call to log. Scales merge exactly: bucket i at scale s lies inside bucket i >> 1 at s - 1.
//
// Guarantee: for positive data, every quantile q̂ returned satisfies |q̂ - q| <= a * q where q is
// the exact order statistic of rank floor(q * (n - 1)) (numpy.quantile(method="lower")) and
// a = (base - 1) / (base + 1) is relative_accuracy() at the sketch's current scale. Negative
// values are mirrored (same bound on |q|); zeros are counted exactly. count, sum, min and max
// are exact (sum is a compensated sum; when it overflows it is +-inf, as numpy.sum, so the
// mean of such a sketch is +-inf, never NaN).
//
// Not thread-safe: one object must not be used by two threads at once (guard it externally;
// the Python bindings lock every object). from_bytes refuses blobs whose parts disagree
// (min/max outside the extreme buckets, count unequal to the bucket counts, sum outside
// count * [min, max]), so an edited blob with a recomputed CRC is refused, not trusted.
//
// Memory is bounded by max_buckets per sign: when the index range of either store would exceed
// it, the sketch lowers its scale (halving the resolution) until it fits, so the accuracy
// degrades gracefully and no quantile is ever voided. The scale reached depends only on the
// data's range, so merging sketches equals sketching the concatenated data, bucket for bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace perfstats {

// Dense counts of consecutive bucket indices [offset, offset + counts.size()).
struct BucketStore {
  std::int64_t offset = 0;
  std::vector<double> counts;

  bool empty() const noexcept { return counts.empty(); }
  std::int64_t end() const noexcept {
    return offset + static_cast<std::int64_t>(counts.size());
  }
  double total() const noexcept;
  // Grows the dense range to cover [lo, hi] (inclusive), keeping existing counts.
  void cover(std::int64_t lo, std::int64_t hi);
  // Merges pairs of buckets `steps` times (index i -> i >> steps).
  void downscale(int steps);
  // Drops empty buckets at both ends.
  void trim();
  bool operator==(const BucketStore& other) const;
};

class GroupedSketchBuilder;

class QuantileSketch {
 public:
  static constexpr int kMinScale = -10;
  static constexpr int kMaxScale = 14;
  static constexpr std::size_t kDefaultMaxBuckets = 4096;
  static constexpr std::size_t kMinMaxBuckets = 16;
  static constexpr std::size_t kMaxMaxBuckets = std::size_t{1} << 20;

  // Picks the coarsest scale whose accuracy meets `relative_accuracy` (in (0, 1)).
  explicit QuantileSketch(double relative_accuracy = 0.01,
                          std::size_t max_buckets = kDefaultMaxBuckets);
  static QuantileSketch with_scale(int scale, std::size_t max_buckets = kDefaultMaxBuckets);

  // Bucket-level construction (OpenTelemetry, HdrHistogram, DDSketch conversions). Validates
  // everything; count/sum/min/max are taken as given when finite, else derived from buckets.
  static QuantileSketch from_buckets(int scale, BucketStore positive, BucketStore negative,
                                     double zero_count, double count, double sum, double min,
                                     double max, std::size_t max_buckets);

  // The accuracy a = (base - 1) / (base + 1) of a scale, and the coarsest scale with a <= target.
  static double accuracy_of_scale(int scale);
  static int scale_for_accuracy(double relative_accuracy);
  // Bucket index of a finite magnitude > 0 at a scale (exposed for tests and converters).
  static std::int64_t bucket_index(double magnitude, int scale) noexcept;
  // Upper boundary base^(index + 1) of a bucket.
  static double bucket_upper(std::int64_t index, int scale) noexcept;

  // Adds one value with a weight. Throws std::invalid_argument for NaN/inf values, or
  // negative/NaN/inf weights; the sketch is unchanged then.
  void add(double value, double weight = 1.0);
  // Adds n values (stride in elements), optionally weighted. All input is validated before
  // anything is added: on error nothing is added and the message names the first bad index.
  void add(const double* values, std::size_t n, std::ptrdiff_t stride = 1);
  void add(const double* values, const double* weights, std::size_t n,
           std::ptrdiff_t value_stride = 1, std::ptrdiff_t weight_stride = 1);
  void merge(const QuantileSketch& other);

  // q in [0, 1]; NaN for an empty sketch. quantile(0) == min and quantile(1) == max exactly.
  double quantile(double q) const;
  void quantiles(const double* q, double* out, std::size_t n) const;
  // Fraction of weight at or below x, counting a bucket as at-or-below x when its
  // representative value is <= x. Bound: F(x / (1 + a)) <= cdf(x) <= F(x / (1 - a)) for x > 0
  // (mirrored for x < 0), exact outside (min, max). NaN for an empty sketch.
  double cdf(double x) const;

  double count() const noexcept { return count_; }
  double sum() const noexcept { return sum_ + sum_compensation_; }
  double mean() const noexcept;
  double min() const noexcept;
  double max() const noexcept;
  double zero_count() const noexcept { return zero_count_; }
  int scale() const noexcept { return scale_; }
  int initial_scale() const noexcept { return initial_scale_; }
  double relative_accuracy() const noexcept { return accuracy_of_scale(scale_); }
  std::size_t max_buckets() const noexcept { return max_buckets_; }
  const BucketStore& positive() const noexcept { return positive_; }
  const BucketStore& negative() const noexcept { return negative_; }
  bool empty() const noexcept { return count_ == 0.0; }
  // Bytes held by the object including its bucket arrays.
  std::size_t memory_bytes() const noexcept;

  std::string to_bytes() const;
  static QuantileSketch from_bytes(const std::uint8_t* data, std::size_t size);

  // Same buckets, counts, scale, limits and exact statistics (sum compared after rounding).
  bool operator==(const QuantileSketch& other) const;
  bool operator!=(const QuantileSketch& other) const { return !(*this == other); }

 private:
  friend class GroupedSketchBuilder;  // fills the stores of many sketches in one row pass
  QuantileSketch(int scale, std::size_t max_buckets, bool);
  void downscale_to(int scale);
  void add_validated(const double* values, const double* weights, std::size_t n,
                     std::ptrdiff_t value_stride, std::ptrdiff_t weight_stride);
  void add_sum(double s) noexcept;
  std::string inconsistency() const;
  double value_of_bucket(std::int64_t index) const noexcept;

  int scale_;
  int initial_scale_;
  std::size_t max_buckets_;
  BucketStore positive_;
  BucketStore negative_;
  double zero_count_ = 0.0;
  double count_ = 0.0;
  double sum_ = 0.0;
  double sum_compensation_ = 0.0;
  double min_;
  double max_;
};

// Sketches of values split by group, plus exact counts in upper-inclusive buckets.
struct GroupedSketches {
  std::vector<QuantileSketch> sketches;   // one per group
  std::vector<double> bucket_counts;      // n_groups x (boundaries + 1), row-major
};

// Sketches of values split by group (values[i] to group codes[i]), streamed: rows arrive in
// chunks (a Parquet row group at a time, say) and only per-group state is kept, so memory does
// not grow with the rows. One pass per chunk; nothing is sorted or copied. A group's stores
// grow when a value falls outside them, coarsening the scale exactly when adding all its values
// at once would.
//
// finish() returns the sketches and bucket counts over all rows: the same buckets, scale,
// count, min and max as one QuantileSketch per group fed its values. The compensated sum is
// accumulated per group in four lanes by row number (global row mod 4, so consecutive rows of a
// group never wait on each other), which rounds differently from QuantileSketch::add in the
// last bits but depends only on the rows, never on how they were split into chunks: two
// builders fed the same rows in any chunks finish bit for bit equal. The exact bucket counts of
// positive values are read off the sketch buckets in finish() (all values of a bucket that
// holds no boundary lie between the same boundaries); only values in the few buckets straddling
// a boundary, zeros and negatives are counted one by one. Not thread-safe: one builder is fed
// by one thread at a time.
class GroupedSketchBuilder {
 public:
  GroupedSketchBuilder(std::size_t n_groups, double relative_accuracy,
                       std::size_t max_buckets = QuantileSketch::kDefaultMaxBuckets,
                       std::vector<double> boundaries = {});

  // Allows codes up to n_groups - 1 from now on (never fewer groups than before).
  void grow(std::size_t n_groups);
  std::size_t n_groups() const noexcept { return sketches_.size(); }
  const std::vector<double>& boundaries() const noexcept { return boundaries_; }

  // Adds rows values[i] to group codes[i], row i being row first_row + i of the whole input;
  // NaN values are missing and skipped. Throws std::invalid_argument naming the row of the
  // first code outside [0, n_groups) or infinite value, and then adds nothing of the chunk.
  void add(const std::int32_t* codes, const double* values, std::size_t n,
           std::size_t first_row = 0);
  void add(const std::int64_t* codes, const double* values, std::size_t n,
           std::size_t first_row = 0);

  // The sketches and bucket counts (see GroupedSketches); the builder is left empty.
  GroupedSketches finish();

 private:
  static constexpr std::size_t kLanes = 4;
  // Running compensated (Kahan) sum of one group's rows with one row number mod 4.
  struct Lane {
    double sum = 0.0, comp = 0.0;
  };
  // Where a group's positive counts live at its current scale, for the hot loop.
  struct Fill {
    double* counts = nullptr;
    std::int64_t base = 0;   // bucket index + base = position in counts
    std::uint64_t size = 0;  // positions covered
    const std::uint16_t* cells = nullptr;
    const std::uint64_t* bounds = nullptr;
    int scale = 0;
    int shift = 0;
  };
  void refill(std::size_t g) noexcept;
  void mark(std::size_t g, bool on) noexcept;
  void harvest(std::size_t g);
  bool straddles(int scale, std::int64_t index) const noexcept;
  std::size_t boundaries_below(double v) const noexcept;
  void add_slow(std::size_t g, double v);
  template <class Code>
  void add_rows(const Code* codes, const double* values, std::size_t n, std::size_t first_row);

  double relative_accuracy_;
  std::size_t max_buckets_;
  std::vector<double> boundaries_;
  // Per scale (row scale - QuantileSketch::kMinScale) and boundary: the bucket index of the
  // boundary (lowest for boundaries <= 0, which every positive value exceeds) and whether that
  // bucket also holds values above it. A positive value in any other bucket lies above exactly
  // the boundaries whose index is below its bucket's, so the exact bucket counts of the values
  // in a positive store are read from its bucket counts, except for straddling buckets.
  std::vector<std::int64_t> boundary_index_;
  std::vector<std::uint8_t> boundary_straddles_;
  std::vector<Lane> lanes_;    // n_groups x kLanes
  // n_groups x (boundaries + 1): exact bucket counts of the values that are not read from a
  // positive store's bucket counts (zeros, negatives, straddling buckets' values).
  std::vector<double> exact_;
  std::vector<double> zeros_;  // per group
  // Per group: the extremes, updated only by values in a store's edge buckets or outside the
  // stores (the store spans exactly [bucket of min, bucket of max], so no other can be one).
  std::vector<double> mins_, maxs_;
  // Outside add_slow and finish, the counts of the special buckets of each group's positive
  // store (its first and last, which may hold the extremes, and the straddling ones) are
  // marked as -count - 1, so the hot loop tells them by the sign of the count (see mark()).
  std::vector<QuantileSketch> sketches_;
  std::vector<Fill> fills_;
};

}  // namespace perfstats
