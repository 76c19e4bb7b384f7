// QuantileSketch: bucket indexing from float bits, bounded-memory stores, merge, queries and
// the versioned byte format (see quantile_sketch.hpp for the guarantees).
#include "perfstats/quantile_sketch.hpp"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "perfstats/detail/bytes.hpp"
#include "perfstats/detail/parallel.hpp"
#include "perfstats/detail/scratch.hpp"

namespace perfstats {
namespace {

constexpr std::uint64_t kMantissaMask = (std::uint64_t{1} << 52) - 1;
constexpr std::uint64_t kMantissaEnd = std::uint64_t{1} << 52;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kBlock = 1024;  // values per partial sum in the compensated total

inline std::uint64_t bits_of(double x) noexcept {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline bool is_finite_bits(double x) noexcept {
  return ((bits_of(x) >> 52) & 0x7FFU) != 0x7FFU;
}

// Lookup tables that turn the top mantissa bits into the sub-octave bucket at scales 1..14.
// bounds[s][k] holds the mantissa bits of the double nearest 2^(k / 2^s) (bounds[s][2^s] =
// 2^52); every scale's boundaries are taken from the finest scale's, so an index at scale s-1
// is exactly the index at s shifted right by one. cells[s][c] is the largest k whose boundary
// lies at or below the start of cell c; the 2^(s+1) cells are narrower than the narrowest
// bucket (ln 2 / 2^s of an octave), so one comparison corrects the table's guess.
struct IndexTables {
  std::array<std::vector<std::uint64_t>, QuantileSketch::kMaxScale + 1> bounds;
  std::array<std::vector<std::uint16_t>, QuantileSketch::kMaxScale + 1> cells;

  IndexTables() {
    constexpr int top = QuantileSketch::kMaxScale;
    const std::size_t n_top = std::size_t{1} << top;
    std::vector<std::uint64_t> finest(n_top + 1);
    for (std::size_t k = 0; k < n_top; ++k) {
      const long double x =
          std::exp2(static_cast<long double>(k) / static_cast<long double>(n_top));
      finest[k] = bits_of(static_cast<double>(x)) & kMantissaMask;
    }
    finest[n_top] = kMantissaEnd;
    for (int s = 1; s <= top; ++s) {
      const std::size_t n = std::size_t{1} << s;
      auto& b = bounds[static_cast<std::size_t>(s)];
      b.resize(n + 1);
      for (std::size_t k = 0; k <= n; ++k) b[k] = finest[k << (top - s)];
      auto& c = cells[static_cast<std::size_t>(s)];
      c.resize(2 * n);
      std::size_t k = 0;
      for (std::size_t cell = 0; cell < 2 * n; ++cell) {
        const std::uint64_t start = static_cast<std::uint64_t>(cell) << (51 - s);
        while (b[k + 1] <= start) ++k;
        c[cell] = static_cast<std::uint16_t>(k);
      }
    }
  }
};

const IndexTables& tables() {
  static const IndexTables t;
  return t;
}

// Exponent and mantissa bits of the largest double below magnitude m (m > 0, finite). Taking
// the predecessor turns the upper-inclusive buckets (L, U] into lower-inclusive ones.
inline void split_predecessor(double m, std::int64_t& e, std::uint64_t& mant) noexcept {
  const std::uint64_t bits = bits_of(m) - 1;
  const std::uint64_t field = bits >> 52;
  mant = bits & kMantissaMask;
  if (field != 0) {
    e = static_cast<std::int64_t>(field) - 1023;
    return;
  }
  if (mant == 0) {  // m is the smallest subnormal: its bucket ends at 2^-1074
    e = -1075;
    mant = kMantissaMask;
    return;
  }
  int lz = 0;  // normalise a subnormal predecessor
  while ((mant & (std::uint64_t{1} << 52)) == 0) {
    mant <<= 1;
    ++lz;
  }
  mant &= kMantissaMask;
  e = -1022 - lz;
}

inline std::int64_t floor_shift(std::int64_t v, int steps) noexcept {
  // Arithmetic shift is floor division by 2^steps for negative v as well.
  return v >= 0 ? (v >> steps) : -((-v - 1) >> steps) - 1;
}

inline std::int64_t index_at(std::int64_t e, std::uint64_t mant, int scale) noexcept {
  if (scale <= 0) return floor_shift(e, -scale);
  const auto su = static_cast<std::size_t>(scale);
  const auto& t = tables();
  const std::uint64_t* b = t.bounds[su].data();
  std::uint64_t k = t.cells[su][mant >> (51 - scale)];
  k += mant >= b[k + 1] ? 1U : 0U;
  return e * (std::int64_t{1} << scale) + static_cast<std::int64_t>(k);
}

// The bucket index at scale > 0 of a positive normal value from `bits` = its bits minus one
// (so that a power of two falls in the bucket below it): the lookup of index_at on the raw
// exponent, for hot loops that hoisted cells, bounds and shift = 51 - scale; the caller adds
// -(1023 << scale) to unbias the exponent.
inline std::int64_t table_index(std::uint64_t bits, int scale, const std::uint16_t* cells,
                                const std::uint64_t* bounds, int shift) noexcept {
  const std::uint64_t mant = bits & kMantissaMask;
  std::uint64_t k = cells[mant >> shift];
  k += mant >= bounds[k + 1] ? 1U : 0U;
  return static_cast<std::int64_t>((bits >> 52) << scale) + static_cast<std::int64_t>(k);
}

std::string describe(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// Throws naming how many entries are NaN/inf (or, for weights, negative) and where the first is.
void validate(const double* data, std::size_t n, std::ptrdiff_t stride, bool weights) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = data[static_cast<std::ptrdiff_t>(i) * stride];
    bad += (!is_finite_bits(x) || (weights && x < 0.0)) ? 1U : 0U;
  }
  if (bad == 0) return;
  std::size_t first = 0;
  while (true) {
    const double x = data[static_cast<std::ptrdiff_t>(first) * stride];
    if (!is_finite_bits(x) || (weights && x < 0.0)) break;
    ++first;
  }
  const double x = data[static_cast<std::ptrdiff_t>(first) * stride];
  const std::string what = weights ? "weights" : "values";
  const std::string kind = weights ? "negative or non-finite" : "non-finite (NaN or inf)";
  throw std::invalid_argument(what + " contain " + std::to_string(bad) + " " + kind +
                              " entr" + (bad == 1 ? "y" : "ies") + "; the first is at index " +
                              std::to_string(first) + " (" + describe(x) +
                              "); nothing was added");
}

// Magnitude ranges and sums of one batch, gathered before anything is stored.
struct BatchSummary {
  double pos_min = kInf, pos_max = 0.0, neg_min = kInf, neg_max = 0.0;
  double zeros = 0.0, total_weight = 0.0, min = kInf, max = -kInf;
  double sum = 0.0, sum_compensation = 0.0;
  bool has_pos() const { return pos_max > 0.0; }
  bool has_neg() const { return neg_max > 0.0; }
};

// Compensated summation. When the running sum overflows, it becomes +-inf (as numpy.sum
// does) and the compensation, meaningless then, is left alone: inf - inf would turn the sum
// into NaN.
inline void neumaier(double& sum, double& comp, double x) noexcept {
  const double t = sum + x;
  if (std::isfinite(t)) {
    comp += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
  }
  sum = t;
}

}  // namespace

// ---- BucketStore ----------------------------------------------------------------------

double BucketStore::total() const noexcept {
  double t = 0.0;
  for (double c : counts) t += c;
  return t;
}

void BucketStore::cover(std::int64_t lo, std::int64_t hi) {
  if (counts.empty()) {
    offset = lo;
    counts.assign(static_cast<std::size_t>(hi - lo + 1), 0.0);
    return;
  }
  if (lo < offset) {
    counts.insert(counts.begin(), static_cast<std::size_t>(offset - lo), 0.0);
    offset = lo;
  }
  if (hi >= end()) counts.resize(static_cast<std::size_t>(hi - offset + 1), 0.0);
}

void BucketStore::downscale(int steps) {
  if (steps <= 0 || counts.empty()) return;
  const std::int64_t new_offset = floor_shift(offset, steps);
  const std::int64_t new_last = floor_shift(end() - 1, steps);
  std::vector<double> merged(static_cast<std::size_t>(new_last - new_offset + 1), 0.0);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::int64_t idx = floor_shift(offset + static_cast<std::int64_t>(i), steps);
    merged[static_cast<std::size_t>(idx - new_offset)] += counts[i];
  }
  offset = new_offset;
  counts = std::move(merged);
}

void BucketStore::trim() {
  std::size_t first = 0;
  while (first < counts.size() && counts[first] == 0.0) ++first;
  if (first == counts.size()) {
    counts.clear();
    offset = 0;
    return;
  }
  std::size_t last = counts.size();
  while (counts[last - 1] == 0.0) --last;
  counts.erase(counts.begin() + static_cast<std::ptrdiff_t>(last), counts.end());
  counts.erase(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(first));
  offset += static_cast<std::int64_t>(first);
}

bool BucketStore::operator==(const BucketStore& other) const {
  BucketStore a = *this, b = other;
  a.trim();
  b.trim();
  return a.offset == b.offset && a.counts == b.counts;
}

// ---- construction and scale arithmetic ----------------------------------------------------

QuantileSketch::QuantileSketch(int scale, std::size_t max_buckets, bool)
    : scale_(scale), initial_scale_(scale), max_buckets_(max_buckets), min_(kInf), max_(-kInf) {
  if (scale < kMinScale || scale > kMaxScale) {
    throw std::invalid_argument("scale must be in [" + std::to_string(kMinScale) + ", " +
                                std::to_string(kMaxScale) + "], got " + std::to_string(scale));
  }
  if (max_buckets < kMinMaxBuckets || max_buckets > kMaxMaxBuckets) {
    throw std::invalid_argument("max_buckets must be in [" + std::to_string(kMinMaxBuckets) +
                                ", " + std::to_string(kMaxMaxBuckets) + "], got " +
                                std::to_string(max_buckets));
  }
}

QuantileSketch::QuantileSketch(double relative_accuracy, std::size_t max_buckets)
    : QuantileSketch(scale_for_accuracy(relative_accuracy), max_buckets, true) {}

QuantileSketch QuantileSketch::with_scale(int scale, std::size_t max_buckets) {
  return QuantileSketch(scale, max_buckets, true);
}

double QuantileSketch::accuracy_of_scale(int scale) {
  // (base - 1) / (base + 1) = tanh(ln(base) / 2), finite even where base overflows.
  return std::tanh(std::ldexp(std::log(2.0), -scale) / 2.0);
}

int QuantileSketch::scale_for_accuracy(double relative_accuracy) {
  if (!(relative_accuracy > 0.0 && relative_accuracy < 1.0)) {
    throw std::invalid_argument("relative_accuracy must be in (0, 1), got " +
                                describe(relative_accuracy));
  }
  if (relative_accuracy < accuracy_of_scale(kMaxScale)) {
    throw std::invalid_argument("relative_accuracy " + describe(relative_accuracy) +
                                " is finer than the finest supported scale (" +
                                std::to_string(kMaxScale) + ", accuracy " +
                                describe(accuracy_of_scale(kMaxScale)) + ")");
  }
  int s = kMinScale;
  while (accuracy_of_scale(s) > relative_accuracy) ++s;
  return s;
}

std::int64_t QuantileSketch::bucket_index(double magnitude, int scale) noexcept {
  std::int64_t e;
  std::uint64_t mant;
  split_predecessor(magnitude, e, mant);
  return index_at(e, mant, scale);
}

double QuantileSketch::bucket_upper(std::int64_t index, int scale) noexcept {
  const std::int64_t k = index + 1;
  if (scale <= 0) {
    const std::int64_t e = k * (std::int64_t{1} << -scale);
    return std::ldexp(1.0, static_cast<int>(std::clamp<std::int64_t>(e, -2000, 2000)));
  }
  const std::int64_t n = std::int64_t{1} << scale;
  const std::int64_t q = floor_shift(k, scale);
  const std::int64_t r = k - q * n;
  const double frac = std::exp2(static_cast<double>(r) / static_cast<double>(n));
  return std::ldexp(frac, static_cast<int>(std::clamp<std::int64_t>(q, -2000, 2000)));
}

double QuantileSketch::value_of_bucket(std::int64_t index) const noexcept {
  // The representative 2LU / (L + U) of (L, U] is within a = (b-1)/(b+1) of every point in
  // it. In log2: (index + 1) / 2^s + c, with c = 1 - log2(1 + b) = 1 - 2^-s - log2(1 + 1/b).
  const double w = std::ldexp(1.0, -scale_);  // log2(base)
  const double c = 1.0 - w - std::log1p(std::exp2(-w)) / std::log(2.0);
  const std::int64_t k = index + 1;
  std::int64_t q;
  double r;
  if (scale_ <= 0) {
    q = k * (std::int64_t{1} << -scale_);
    r = 0.0;
  } else {
    q = floor_shift(k, scale_);
    r = static_cast<double>(k - q * (std::int64_t{1} << scale_)) * w;
  }
  const double v =
      std::ldexp(std::exp2(r + c), static_cast<int>(std::clamp<std::int64_t>(q, -2200, 2200)));
  return v;
}

QuantileSketch QuantileSketch::from_buckets(int scale, BucketStore positive,
                                            BucketStore negative, double zero_count,
                                            double count, double sum, double min, double max,
                                            std::size_t max_buckets) {
  QuantileSketch s(scale, std::max(max_buckets, std::max(positive.counts.size(),
                                                         negative.counts.size())),
                   true);
  const auto check_store = [&](BucketStore& store, const char* name) {
    for (std::size_t i = 0; i < store.counts.size(); ++i) {
      const double c = store.counts[i];
      if (!(std::isfinite(c) && c >= 0.0)) {
        throw std::invalid_argument(std::string(name) + " bucket count at position " +
                                    std::to_string(i) + " must be finite and >= 0, got " +
                                    describe(c));
      }
    }
    store.trim();
    if (store.empty()) return;
    const std::int64_t lo = bucket_index(std::numeric_limits<double>::denorm_min(), scale);
    const std::int64_t hi = bucket_index(DBL_MAX, scale);
    if (store.offset < lo || store.end() - 1 > hi) {
      throw std::invalid_argument(std::string(name) + " buckets [" +
                                  std::to_string(store.offset) + ", " +
                                  std::to_string(store.end() - 1) +
                                  "] lie outside the range of doubles at scale " +
                                  std::to_string(scale));
    }
  };
  check_store(positive, "positive");
  check_store(negative, "negative");
  if (!(std::isfinite(zero_count) && zero_count >= 0.0)) {
    throw std::invalid_argument("zero_count must be finite and >= 0, got " +
                                describe(zero_count));
  }
  const double total = positive.total() + negative.total() + zero_count;
  if (std::isfinite(count)) {
    if (std::fabs(count - total) > 1e-9 * std::max(1.0, total)) {
      throw std::invalid_argument("count " + describe(count) +
                                  " does not equal the sum of bucket counts " +
                                  describe(total));
    }
  } else {
    count = total;
  }
  // Bounds implied by the buckets, used where min/max are not given.
  const auto lower_edge = [&](const BucketStore& st) {
    return std::nextafter(bucket_upper(st.offset - 1, scale), kInf);
  };
  double implied_min = kInf, implied_max = -kInf;
  if (!negative.empty()) {
    implied_min = -bucket_upper(negative.end() - 1, scale);
    implied_max = -lower_edge(negative);
  }
  if (zero_count > 0.0) {
    implied_min = std::min(implied_min, 0.0);
    implied_max = 0.0;
  }
  if (!positive.empty()) {
    implied_min = std::min(implied_min, lower_edge(positive));
    implied_max = bucket_upper(positive.end() - 1, scale);
  }
  if (count > 0.0) {
    if (!std::isfinite(min)) min = implied_min;
    if (!std::isfinite(max)) max = implied_max;
    if (!(min <= max)) {
      throw std::invalid_argument("min " + describe(min) + " exceeds max " + describe(max));
    }
    if (!std::isfinite(sum)) {
      sum = 0.0;  // estimate from representative values
      s.scale_ = scale;
      s.min_ = min;
      s.max_ = max;
      for (std::size_t i = 0; i < positive.counts.size(); ++i) {
        sum += positive.counts[i] *
               std::clamp(s.value_of_bucket(positive.offset + static_cast<std::int64_t>(i)),
                          min, max);
      }
      for (std::size_t i = 0; i < negative.counts.size(); ++i) {
        sum -= negative.counts[i] *
               std::clamp(s.value_of_bucket(negative.offset + static_cast<std::int64_t>(i)),
                          -max, -min);
      }
    }
  } else {
    min = kInf;
    max = -kInf;
    sum = 0.0;
  }
  s.positive_ = std::move(positive);
  s.negative_ = std::move(negative);
  s.zero_count_ = zero_count;
  s.count_ = count;
  s.sum_ = sum;
  s.min_ = min;
  s.max_ = max;
  return s;
}

// ---- adding ----------------------------------------------------------------------------

void QuantileSketch::add_sum(double s) noexcept { neumaier(sum_, sum_compensation_, s); }

void QuantileSketch::downscale_to(int scale) {
  if (scale >= scale_) return;
  positive_.downscale(scale_ - scale);
  negative_.downscale(scale_ - scale);
  scale_ = scale;
}

namespace {

// Whether `store` grown to the batch's magnitudes [mag_min, mag_max] spans at most `limit`
// buckets at `scale`; sets [lo, hi] to that grown range.
bool fits(const BucketStore& store, double mag_min, double mag_max, int scale,
          std::size_t limit, std::int64_t& lo, std::int64_t& hi) {
  lo = std::numeric_limits<std::int64_t>::max();
  hi = std::numeric_limits<std::int64_t>::min();
  if (mag_max > 0.0) {
    lo = QuantileSketch::bucket_index(mag_min, scale);
    hi = QuantileSketch::bucket_index(mag_max, scale);
  }
  if (!store.empty()) {
    lo = std::min(lo, store.offset);
    hi = std::max(hi, store.end() - 1);
  }
  return hi < lo || static_cast<std::uint64_t>(hi - lo) < limit;
}

}  // namespace

void QuantileSketch::add(double value, double weight) {
  validate(&value, 1, 1, false);
  validate(&weight, 1, 1, true);
  add_validated(&value, &weight, 1, 1, 1);
}

void QuantileSketch::add(const double* values, std::size_t n, std::ptrdiff_t stride) {
  // validate() runs only when the fused scan inside add_validated meets NaN or inf.
  add_validated(values, nullptr, n, stride, 0);
}

void QuantileSketch::add(const double* values, const double* weights, std::size_t n,
                         std::ptrdiff_t value_stride, std::ptrdiff_t weight_stride) {
  validate(values, n, value_stride, false);
  validate(weights, n, weight_stride, true);
  add_validated(values, weights, n, value_stride, weight_stride);
}

namespace {

// Branch-free scan of unweighted values in four lanes: min, max, a block-compensated sum,
// and a NaN/inf detector (x * 0 is NaN exactly for non-finite x). Returns false on NaN/inf.
template <bool kUnitStride>
bool scan_unweighted(const double* v, std::size_t n, std::ptrdiff_t vs, BatchSummary& b) {
  constexpr std::size_t L = 4;
  double mn[L], mx[L], chk[L];
  for (std::size_t j = 0; j < L; ++j) {
    mn[j] = kInf;
    mx[j] = -kInf;
    chk[j] = 0.0;
  }
  const auto at = [&](std::size_t i) {
    return kUnitStride ? v[i] : v[static_cast<std::ptrdiff_t>(i) * vs];
  };
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t stop = std::min(n, start + kBlock);
    double sum[L] = {0.0, 0.0, 0.0, 0.0};
    std::size_t i = start;
    for (; i + L <= stop; i += L) {
      for (std::size_t j = 0; j < L; ++j) {
        const double x = at(i + j);
        mn[j] = x < mn[j] ? x : mn[j];
        mx[j] = x > mx[j] ? x : mx[j];
        sum[j] += x;
        chk[j] += x * 0.0;
      }
    }
    for (; i < stop; ++i) {
      const double x = at(i);
      mn[0] = x < mn[0] ? x : mn[0];
      mx[0] = x > mx[0] ? x : mx[0];
      sum[0] += x;
      chk[0] += x * 0.0;
    }
    neumaier(b.sum, b.sum_compensation, (sum[0] + sum[1]) + (sum[2] + sum[3]));
  }
  if (!(chk[0] + chk[1] + chk[2] + chk[3] == 0.0)) return false;
  b.min = std::min(std::min(mn[0], mn[1]), std::min(mn[2], mn[3]));
  b.max = std::max(std::max(mx[0], mx[1]), std::max(mx[2], mx[3]));
  b.total_weight = static_cast<double>(n);
  return true;
}

template <bool kWeighted>
BatchSummary summarize_batch(const double* v, const double* w, std::size_t n,
                             std::ptrdiff_t vs, std::ptrdiff_t ws) {
  BatchSummary b;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t stop = std::min(n, start + kBlock);
    double s0 = 0.0, s1 = 0.0;
    double wt = 0.0;
    for (std::size_t i = start; i < stop; ++i) {
      const double x = v[static_cast<std::ptrdiff_t>(i) * vs];
      double wi = 1.0;
      if constexpr (kWeighted) {
        wi = w[static_cast<std::ptrdiff_t>(i) * ws];
        if (wi == 0.0) continue;
        wt += wi;
      }
      const double m = std::fabs(x);
      if (x > 0.0) {
        b.pos_min = m < b.pos_min ? m : b.pos_min;
        b.pos_max = m > b.pos_max ? m : b.pos_max;
      } else if (x < 0.0) {
        b.neg_min = m < b.neg_min ? m : b.neg_min;
        b.neg_max = m > b.neg_max ? m : b.neg_max;
      } else {
        b.zeros += wi;
      }
      b.min = x < b.min ? x : b.min;
      b.max = x > b.max ? x : b.max;
      if (i & 1U) {
        s1 += kWeighted ? wi * x : x;
      } else {
        s0 += kWeighted ? wi * x : x;
      }
    }
    neumaier(b.sum, b.sum_compensation, s0 + s1);
    b.total_weight += kWeighted ? wt : static_cast<double>(stop - start);
  }
  return b;
}

// Fills one store from all-positive normal magnitudes: the hot loop, no bounds checks
// (the store already covers [index(min), index(max)]).
template <bool kWeighted>
void fill_positive(double* counts, std::int64_t offset, int scale, const double* v,
                   const double* w, std::size_t n, std::ptrdiff_t vs, std::ptrdiff_t ws) {
  if (scale > 0) {
    const auto su = static_cast<std::size_t>(scale);
    const std::uint64_t* bounds = tables().bounds[su].data();
    const std::uint16_t* cells = tables().cells[su].data();
    const int shift = 51 - scale;
    const std::int64_t base = -offset - (std::int64_t{1023} << scale);
    for (std::size_t i = 0; i < n; ++i) {
      const double wi = kWeighted ? w[static_cast<std::ptrdiff_t>(i) * ws] : 1.0;
      if (kWeighted && wi == 0.0) continue;  // zero weight: any value, left out of the ranges
      const std::uint64_t bits = bits_of(v[static_cast<std::ptrdiff_t>(i) * vs]) - 1;
      counts[table_index(bits, scale, cells, bounds, shift) + base] += wi;
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const double wi = kWeighted ? w[static_cast<std::ptrdiff_t>(i) * ws] : 1.0;
      if (kWeighted && wi == 0.0) continue;
      const std::uint64_t bits = bits_of(v[static_cast<std::ptrdiff_t>(i) * vs]) - 1;
      const std::int64_t e = static_cast<std::int64_t>(bits >> 52) - 1023;
      counts[floor_shift(e, -scale) - offset] += wi;
    }
  }
}

}  // namespace

void QuantileSketch::add_validated(const double* values, const double* weights, std::size_t n,
                                   std::ptrdiff_t vs, std::ptrdiff_t ws) {
  if (n == 0) return;
  BatchSummary b;
  bool scanned = false;
  if (!weights) {
    const bool finite = vs == 1 ? scan_unweighted<true>(values, n, 1, b)
                                : scan_unweighted<false>(values, n, vs, b);
    if (!finite) validate(values, n, vs, false);  // throws, naming the first bad value
    if (b.min > 0.0) {  // all positive: the common case for latencies, no sign split needed
      b.pos_min = b.min;
      b.pos_max = b.max;
      scanned = true;
    }
  }
  if (!scanned) {
    b = weights ? summarize_batch<true>(values, weights, n, vs, ws)
                : summarize_batch<false>(values, nullptr, n, vs, ws);
  }
  if (b.total_weight == 0.0) return;
  // Lower the scale until both stores, grown to this batch's range, fit max_buckets.
  std::int64_t plo, phi, nlo, nhi;
  while (!(fits(positive_, b.pos_min, b.pos_max, scale_, max_buckets_, plo, phi) &&
           fits(negative_, b.neg_min, b.neg_max, scale_, max_buckets_, nlo, nhi))) {
    downscale_to(scale_ - 1);
  }
  if (b.has_pos()) positive_.cover(plo, phi);
  if (b.has_neg()) negative_.cover(nlo, nhi);

  if (!b.has_neg() && b.zeros == 0.0 && b.pos_min > DBL_MIN) {
    if (weights) {
      fill_positive<true>(positive_.counts.data(), positive_.offset, scale_, values, weights,
                          n, vs, ws);
    } else {
      fill_positive<false>(positive_.counts.data(), positive_.offset, scale_, values, nullptr,
                           n, vs, 0);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const double x = values[static_cast<std::ptrdiff_t>(i) * vs];
      const double wi = weights ? weights[static_cast<std::ptrdiff_t>(i) * ws] : 1.0;
      if (wi == 0.0) continue;
      if (x > 0.0) {
        positive_.counts[static_cast<std::size_t>(bucket_index(x, scale_) - positive_.offset)] +=
            wi;
      } else if (x < 0.0) {
        negative_.counts[static_cast<std::size_t>(bucket_index(-x, scale_) - negative_.offset)] +=
            wi;
      }
    }
  }
  zero_count_ += b.zeros;
  count_ += b.total_weight;
  add_sum(b.sum);
  add_sum(b.sum_compensation);
  min_ = std::min(min_, b.min);
  max_ = std::max(max_, b.max);
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.empty()) return;
  BucketStore pos = other.positive_, neg = other.negative_;
  const int target = std::min(scale_, other.scale_);
  downscale_to(target);
  pos.downscale(other.scale_ - target);
  neg.downscale(other.scale_ - target);
  const auto span = [](const BucketStore& a, const BucketStore& b, int steps) {
    if (a.empty() && b.empty()) return std::uint64_t{0};
    std::int64_t lo = std::numeric_limits<std::int64_t>::max();
    std::int64_t hi = std::numeric_limits<std::int64_t>::min();
    for (const BucketStore* s : {&a, &b}) {
      if (s->empty()) continue;
      lo = std::min(lo, floor_shift(s->offset, steps));
      hi = std::max(hi, floor_shift(s->end() - 1, steps));
    }
    return static_cast<std::uint64_t>(hi - lo) + 1;
  };
  int steps = 0;
  while (span(positive_, pos, steps) > max_buckets_ || span(negative_, neg, steps) > max_buckets_) {
    ++steps;
  }
  downscale_to(scale_ - steps);
  pos.downscale(steps);
  neg.downscale(steps);
  const auto add_store = [](BucketStore& into, const BucketStore& from) {
    if (from.empty()) return;
    into.cover(from.offset, from.end() - 1);
    for (std::size_t i = 0; i < from.counts.size(); ++i) {
      into.counts[static_cast<std::size_t>(from.offset - into.offset) + i] += from.counts[i];
    }
  };
  add_store(positive_, pos);
  add_store(negative_, neg);
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  add_sum(other.sum_);
  add_sum(other.sum_compensation_);
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

// ---- queries ---------------------------------------------------------------------------

double QuantileSketch::mean() const noexcept { return empty() ? kNaN : sum() / count_; }
double QuantileSketch::min() const noexcept { return empty() ? kNaN : min_; }
double QuantileSketch::max() const noexcept { return empty() ? kNaN : max_; }

namespace {

void check_q(double q) {
  if (!(q >= 0.0 && q <= 1.0)) {
    throw std::invalid_argument("quantile q must be in [0, 1], got " + describe(q));
  }
}

}  // namespace

double QuantileSketch::quantile(double q) const {
  double out;
  quantiles(&q, &out, 1);
  return out;
}

void QuantileSketch::quantiles(const double* q, double* out, std::size_t n) const {
  for (std::size_t i = 0; i < n; ++i) check_q(q[i]);
  if (empty()) {
    std::fill(out, out + n, kNaN);
    return;
  }
  // Cumulative weights of the non-empty buckets in ascending value order: negatives by
  // descending magnitude, zero, positives. A bucket's representative value (exp2 and log1p)
  // is computed only for the buckets a quantile lands in.
  struct Bucket {
    double cumulative;
    std::int64_t index;
    int sign;  // -1 negative store, 0 zero bucket, +1 positive store
  };
  std::vector<Bucket> buckets;
  buckets.reserve(negative_.counts.size() + positive_.counts.size() + 1);
  double cum = 0.0;
  for (std::size_t i = negative_.counts.size(); i-- > 0;) {
    if (negative_.counts[i] == 0.0) continue;
    cum += negative_.counts[i];
    buckets.push_back({cum, negative_.offset + static_cast<std::int64_t>(i), -1});
  }
  if (zero_count_ > 0.0) {
    cum += zero_count_;
    buckets.push_back({cum, 0, 0});
  }
  for (std::size_t i = 0; i < positive_.counts.size(); ++i) {
    if (positive_.counts[i] == 0.0) continue;
    cum += positive_.counts[i];
    buckets.push_back({cum, positive_.offset + static_cast<std::int64_t>(i), 1});
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (q[i] == 0.0) {
      out[i] = min_;
      continue;
    }
    if (q[i] == 1.0) {
      out[i] = max_;
      continue;
    }
    // The element of rank floor(q (n - 1)) lies in the first bucket whose cumulative
    // weight exceeds q (n - 1).
    const double target = q[i] * (count_ - 1.0);
    auto it = std::upper_bound(buckets.begin(), buckets.end(), target,
                               [](double t, const Bucket& b) { return t < b.cumulative; });
    if (it == buckets.end()) --it;
    double v = 0.0;
    if (it->sign != 0) {
      v = it->sign > 0 ? value_of_bucket(it->index) : -value_of_bucket(it->index);
    }
    out[i] = std::clamp(v, min_, max_);
  }
}

double QuantileSketch::cdf(double x) const {
  if (std::isnan(x)) throw std::invalid_argument("cdf: x must not be NaN");
  if (empty()) return kNaN;
  if (x < min_) return 0.0;
  if (x >= max_) return 1.0;
  double below = 0.0;
  for (std::size_t i = negative_.counts.size(); i-- > 0;) {
    const double v = std::clamp(-value_of_bucket(negative_.offset + static_cast<std::int64_t>(i)),
                                min_, max_);
    if (v > x) return below / count_;
    below += negative_.counts[i];
  }
  if (x < 0.0) return below / count_;
  below += zero_count_;
  for (std::size_t i = 0; i < positive_.counts.size(); ++i) {
    const double v =
        std::clamp(value_of_bucket(positive_.offset + static_cast<std::int64_t>(i)), min_, max_);
    if (v > x) break;
    below += positive_.counts[i];
  }
  return below / count_;
}

std::size_t QuantileSketch::memory_bytes() const noexcept {
  return sizeof(*this) +
         (positive_.counts.capacity() + negative_.counts.capacity()) * sizeof(double);
}

bool QuantileSketch::operator==(const QuantileSketch& other) const {
  return scale_ == other.scale_ && initial_scale_ == other.initial_scale_ &&
         max_buckets_ == other.max_buckets_ && positive_ == other.positive_ &&
         negative_ == other.negative_ && zero_count_ == other.zero_count_ &&
         count_ == other.count_ && sum() == other.sum() &&
         (empty() || (min_ == other.min_ && max_ == other.max_));
}

// ---- serialization ---------------------------------------------------------------------
//
// "PSQS" v1: u8 flags (bit 0: every count is an integer, stored as varint; else f64),
// zigzag scale, zigzag initial scale, varint max_buckets, f64 count, sum, min, max,
// count zero_count, then per store (positive, negative): zigzag offset, varint n, n counts;
// CRC-32 trailer.

namespace {

constexpr char kMagic[] = "PSQS";
constexpr std::uint8_t kVersion = 1;
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

bool integral(double c) { return c == std::floor(c) && c <= kMaxExactInteger; }

}  // namespace

std::string QuantileSketch::to_bytes() const {
  BucketStore pos = positive_, neg = negative_;
  pos.trim();
  neg.trim();
  bool ints = integral(zero_count_);
  for (const BucketStore* s : {&pos, &neg}) {
    for (double c : s->counts) ints = ints && integral(c);
  }
  detail::ByteWriter w(std::string_view(kMagic, 4), kVersion);
  w.u8(ints ? 1 : 0);
  w.zigzag(scale_);
  w.zigzag(initial_scale_);
  w.varint(max_buckets_);
  w.f64(count_);
  w.f64(sum());
  w.f64(min_);
  w.f64(max_);
  const auto put = [&](double c) {
    if (ints) {
      w.varint(static_cast<std::uint64_t>(c));
    } else {
      w.f64(c);
    }
  };
  put(zero_count_);
  for (const BucketStore* s : {&pos, &neg}) {
    w.zigzag(s->offset);
    w.varint(s->counts.size());
    for (double c : s->counts) put(c);
  }
  return w.finish();
}

QuantileSketch QuantileSketch::from_bytes(const std::uint8_t* data, std::size_t size) {
  detail::ByteReader r(data, size, std::string_view(kMagic, 4), kVersion, "QuantileSketch");
  const std::uint8_t flags = r.u8();
  if (flags > 1) r.fail("unknown flags " + std::to_string(flags));
  const bool ints = flags == 1;
  const std::int64_t scale = r.zigzag();
  const std::int64_t initial = r.zigzag();
  if (initial < kMinScale || initial > kMaxScale || scale < kMinScale || scale > initial) {
    r.fail("invalid scales " + std::to_string(scale) + " / " + std::to_string(initial));
  }
  const std::uint64_t max_buckets = r.varint();
  if (max_buckets < kMinMaxBuckets || max_buckets > kMaxMaxBuckets) {
    r.fail("invalid max_buckets " + std::to_string(max_buckets));
  }
  const double count = r.f64();
  const double sum = r.f64();
  const double min = r.f64();
  const double max = r.f64();
  const auto get = [&]() -> double {
    if (!ints) return r.f64();
    const std::uint64_t c = r.varint();
    if (static_cast<double>(c) > kMaxExactInteger) r.fail("count exceeds 2^53");
    return static_cast<double>(c);
  };
  const double zero_count = get();
  BucketStore stores[2];
  for (BucketStore& s : stores) {
    s.offset = r.zigzag();
    const std::uint64_t n = r.varint();
    if (n > max_buckets) r.fail("store of " + std::to_string(n) + " buckets exceeds max_buckets");
    if (n > r.remaining() / (ints ? 1 : 8)) r.fail("store of " + std::to_string(n) + " buckets is longer than the data");
    if (s.offset < -(std::int64_t{1} << 40) || s.offset > (std::int64_t{1} << 40)) {
      r.fail("bucket offset out of range");
    }
    s.counts.resize(static_cast<std::size_t>(n));
    for (double& c : s.counts) c = get();
  }
  r.expect_end();
  if (!(std::isfinite(count) && count >= 0.0)) r.fail("invalid count " + describe(count));
  if (count == 0.0) {
    if (!stores[0].counts.empty() || !stores[1].counts.empty() || zero_count != 0.0) {
      r.fail("empty sketch with buckets");
    }
  } else if (!(std::isfinite(min) && std::isfinite(max) && min <= max && !std::isnan(sum))) {
    r.fail("invalid min/max/sum");
  }
  // The sum may have overflowed to +-inf (see add_sum); from_buckets would estimate it.
  QuantileSketch s(0, static_cast<std::size_t>(max_buckets), true);
  try {
    s = from_buckets(static_cast<int>(scale), std::move(stores[0]), std::move(stores[1]),
                     zero_count, count, count == 0.0 || !std::isfinite(sum) ? 0.0 : sum,
                     count == 0.0 ? kNaN : min, count == 0.0 ? kNaN : max,
                     static_cast<std::size_t>(max_buckets));
  } catch (const std::invalid_argument& err) {
    r.fail(err.what());  // with the "QuantileSketch:" prefix of every format error
  }
  if (s.max_buckets_ != max_buckets) r.fail("store wider than max_buckets");
  s.initial_scale_ = static_cast<int>(initial);
  if (count > 0.0) {
    s.sum_ = sum;
    s.sum_compensation_ = 0.0;
    if (const std::string problem = s.inconsistency(); !problem.empty()) r.fail(problem);
  }
  return s;
}

// Checks the invariants every sketch built by adding and merging satisfies (a blob that
// breaks one was edited: its CRC recomputed). Returns what is inconsistent, or "".
std::string QuantileSketch::inconsistency() const {
  // The range of values of the lowest and of the highest non-empty bucket, widened by
  // kSlack buckets on each side: for the rounding of bucket edges, and for conversions
  // (DDSketch, OpenTelemetry) whose exact min and max may sit a bucket or two off the
  // representative values. The zero bucket spans the magnitudes below every non-empty
  // bucket (an OpenTelemetry zero threshold counts small values as zeros).
  constexpr std::int64_t kSlack = 4;
  const auto edge = [&](std::int64_t index) { return bucket_upper(index, scale_); };
  double zero_span = DBL_MAX;
  if (!positive_.empty()) zero_span = std::min(zero_span, edge(positive_.offset - 1));
  if (!negative_.empty()) zero_span = std::min(zero_span, edge(negative_.offset - 1));
  double lo_min = kInf, lo_max = -kInf, hi_min = kInf, hi_max = -kInf;
  if (!negative_.empty()) {
    const std::int64_t j = negative_.end() - 1;  // largest magnitude: lowest values
    lo_min = -edge(j + kSlack);
    lo_max = -edge(j - 1 - kSlack);
  } else if (zero_count_ > 0.0) {
    lo_min = -zero_span;
    lo_max = zero_span;
  } else if (!positive_.empty()) {
    lo_min = edge(positive_.offset - 1 - kSlack);
    lo_max = edge(positive_.offset + kSlack);
  }
  if (!positive_.empty()) {
    const std::int64_t j = positive_.end() - 1;
    hi_min = edge(j - 1 - kSlack);
    hi_max = edge(j + kSlack);
  } else if (zero_count_ > 0.0) {
    hi_min = -zero_span;
    hi_max = zero_span;
  } else if (!negative_.empty()) {
    hi_min = -edge(negative_.offset + kSlack);
    hi_max = -edge(negative_.offset - 1 - kSlack);
  }
  if (!(min_ >= lo_min && min_ <= lo_max)) {
    return "min " + describe(min_) + " lies outside the lowest non-empty bucket [" +
           describe(lo_min) + ", " + describe(lo_max) + "]";
  }
  if (!(max_ >= hi_min && max_ <= hi_max)) {
    return "max " + describe(max_) + " lies outside the highest non-empty bucket [" +
           describe(hi_min) + ", " + describe(hi_max) + "]";
  }
  // count * min <= sum <= count * max, up to the rounding of a compensated sum; an
  // overflowed sum (+-inf) only where count * max (count * min) overflows too.
  const double s = sum_;
  const double lo = count_ * min_, hi = count_ * max_;
  const auto at_least = [](double x, double bound) {
    if (std::isinf(bound)) return bound < 0.0 || x == bound;
    return x >= bound - 1e-9 * std::fabs(bound);
  };
  const auto at_most = [](double x, double bound) {
    if (std::isinf(bound)) return bound > 0.0 || x == bound;
    return x <= bound + 1e-9 * std::fabs(bound);
  };
  if (std::isnan(s) || !at_least(s, lo) || !at_most(s, hi)) {
    return "sum " + describe(s) + " is outside count * [min, max] = [" + describe(lo) + ", " +
           describe(hi) + "]";
  }
  return {};
}

}  // namespace perfstats

// ---- streamed grouped fill -------------------------------------------------------------

namespace perfstats {

GroupedSketchBuilder::GroupedSketchBuilder(std::size_t n_groups, double relative_accuracy,
                                           std::size_t max_buckets,
                                           std::vector<double> boundaries)
    : relative_accuracy_(relative_accuracy),
      max_buckets_(max_buckets),
      boundaries_(std::move(boundaries)) {
  for (std::size_t j = 0; j < boundaries_.size(); ++j) {
    if (!std::isfinite(boundaries_[j]) || (j > 0 && !(boundaries_[j] > boundaries_[j - 1]))) {
      throw std::invalid_argument("boundaries must be finite and strictly increasing");
    }
  }
  (void)QuantileSketch(relative_accuracy, max_buckets);  // validates both
  const std::size_t nk = boundaries_.size();
  constexpr int n_scales = QuantileSketch::kMaxScale - QuantileSketch::kMinScale + 1;
  boundary_index_.assign(static_cast<std::size_t>(n_scales) * nk,
                         std::numeric_limits<std::int64_t>::min());
  boundary_straddles_.assign(static_cast<std::size_t>(n_scales) * nk, 0);
  for (int s = QuantileSketch::kMinScale; s <= QuantileSketch::kMaxScale; ++s) {
    const auto row = static_cast<std::size_t>(s - QuantileSketch::kMinScale) * nk;
    for (std::size_t k = 0; k < nk; ++k) {
      const double b = boundaries_[k];
      if (!(b > 0.0)) continue;
      const double above = std::nextafter(b, kInf);
      const std::int64_t i = QuantileSketch::bucket_index(b, s);
      boundary_index_[row + k] = i;
      boundary_straddles_[row + k] =
          above != kInf && QuantileSketch::bucket_index(above, s) == i ? 1 : 0;
    }
  }
  grow(n_groups);
}

void GroupedSketchBuilder::grow(std::size_t n_groups) {
  if (n_groups <= sketches_.size()) return;
  lanes_.resize(n_groups * kLanes);
  exact_.resize(n_groups * (boundaries_.size() + 1), 0.0);
  zeros_.resize(n_groups, 0.0);
  mins_.resize(n_groups, kInf);
  maxs_.resize(n_groups, -kInf);
  sketches_.resize(n_groups, QuantileSketch(relative_accuracy_, max_buckets_));
  fills_.resize(n_groups);
  for (std::size_t g = 0; g < n_groups; ++g) refill(g);  // the sketches may have moved
}

bool GroupedSketchBuilder::straddles(int scale, std::int64_t index) const noexcept {
  const std::size_t nk = boundaries_.size();
  const auto row = static_cast<std::size_t>(scale - QuantileSketch::kMinScale) * nk;
  for (std::size_t k = 0; k < nk; ++k) {
    if (boundary_index_[row + k] == index && boundary_straddles_[row + k] != 0) return true;
  }
  return false;
}

std::size_t GroupedSketchBuilder::boundaries_below(double v) const noexcept {
  return static_cast<std::size_t>(
      std::lower_bound(boundaries_.begin(), boundaries_.end(), v) - boundaries_.begin());
}

// Marks (on) or unmarks the special buckets of a group's positive store: count c <-> -c - 1,
// exact for integer counts (which are never -0), so a count's sign bit tells whether it is
// marked. Special: the first and last bucket (the only ones that can hold the group's min and
// max) and those straddling a boundary. The hot loop finds them by the sign of the count it
// increments, with no other load; they are unmarked whenever anything else reads the store.
void GroupedSketchBuilder::mark(std::size_t g, bool on) noexcept {
  BucketStore& store = sketches_[g].positive_;
  if (store.empty()) return;
  const auto flip = [&](std::int64_t at) {
    double& c = store.counts[static_cast<std::size_t>(at)];
    if (std::signbit(c) != on) c = -c - 1.0;
  };
  const auto size = static_cast<std::int64_t>(store.counts.size());
  flip(0);
  flip(size - 1);
  const std::size_t nk = boundaries_.size();
  const auto row = static_cast<std::size_t>(sketches_[g].scale_ - QuantileSketch::kMinScale) * nk;
  for (std::size_t k = 0; k < nk; ++k) {
    const std::int64_t at = boundary_index_[row + k] - store.offset;
    if (boundary_straddles_[row + k] != 0 && at >= 0 && at < size) flip(at);
  }
}

// Before a group's scale drops by one: values of buckets that did not straddle a boundary but
// will be merged into a straddling one are counted now, while their bucket still tells.
void GroupedSketchBuilder::harvest(std::size_t g) {
  const QuantileSketch& sk = sketches_[g];
  const BucketStore& store = sk.positive_;
  const std::size_t nk = boundaries_.size();
  const auto row = static_cast<std::size_t>(sk.scale_ - QuantileSketch::kMinScale) * nk;
  double* exact = exact_.data() + g * (nk + 1);
  for (std::size_t p = 0; p < store.counts.size(); ++p) {
    const double c = store.counts[p];
    const std::int64_t i = store.offset + static_cast<std::int64_t>(p);
    if (c == 0.0 || straddles(sk.scale_, i) || !straddles(sk.scale_ - 1, floor_shift(i, 1))) {
      continue;
    }
    std::size_t j = 0;
    while (j < nk && boundary_index_[row + j] < i) ++j;
    exact[j] += c;
  }
}

void GroupedSketchBuilder::refill(std::size_t g) noexcept {
  const QuantileSketch& sk = sketches_[g];
  Fill& f = fills_[g];
  f.counts = const_cast<double*>(sk.positive_.counts.data());
  f.size = sk.positive_.counts.size();
  f.scale = sk.scale_;
  f.base = -sk.positive_.offset;
  f.cells = nullptr;
  f.bounds = nullptr;
  f.shift = 0;
  if (sk.scale_ > 0) {
    const auto su = static_cast<std::size_t>(sk.scale_);
    f.cells = tables().cells[su].data();
    f.bounds = tables().bounds[su].data();
    f.shift = 51 - sk.scale_;
    f.base -= std::int64_t{1023} << sk.scale_;
  }
}

// A value the hot loop cannot count: zero, negative, subnormal, or outside its group's store.
// The store grows to cover it, coarsening the scale (both stores) while the range would exceed
// max_buckets, as QuantileSketch::add does for a batch.
void GroupedSketchBuilder::add_slow(std::size_t g, double v) {
  mins_[g] = std::min(mins_[g], v);
  maxs_[g] = std::max(maxs_[g], v);
  double& exact = exact_[g * (boundaries_.size() + 1) + boundaries_below(v)];
  if (v == 0.0) {
    zeros_[g] += 1.0;
    exact += 1.0;
    return;
  }
  QuantileSketch& sk = sketches_[g];
  BucketStore& store = v > 0.0 ? sk.positive_ : sk.negative_;
  // The positive store is read or changed by a positive value or a coarsening only; a run of
  // negative values leaves its marks alone.
  bool unmarked = v > 0.0;
  if (unmarked) mark(g, false);
  const double m = std::fabs(v);
  std::int64_t plo, phi, nlo, nhi;
  while (!(fits(sk.positive_, v > 0.0 ? m : kInf, v > 0.0 ? m : 0.0, sk.scale_,
                sk.max_buckets_, plo, phi) &&
           fits(sk.negative_, v < 0.0 ? m : kInf, v < 0.0 ? m : 0.0, sk.scale_,
                sk.max_buckets_, nlo, nhi))) {
    if (!unmarked) mark(g, false);
    unmarked = true;
    harvest(g);
    sk.downscale_to(sk.scale_ - 1);
  }
  if (v > 0.0) {
    store.cover(plo, phi);
  } else {
    store.cover(nlo, nhi);
  }
  const std::int64_t index = QuantileSketch::bucket_index(m, sk.scale_);
  store.counts[static_cast<std::size_t>(index - store.offset)] += 1.0;
  if (v < 0.0 || straddles(sk.scale_, index)) exact += 1.0;
  if (unmarked) {
    mark(g, true);
    refill(g);
  }
}

template <class Code>
void GroupedSketchBuilder::add_rows(const Code* codes, const double* values, std::size_t n,
                                    std::size_t first_row) {
  using UCode = std::make_unsigned_t<Code>;
  const std::size_t n_groups = sketches_.size();
  // Checked before anything changes, so a bad chunk adds nothing: two branch-free scans in
  // the codes' own width (signed compares vectorise with SSE2; unsigned ones do not).
  const Code limit = n_groups > static_cast<std::size_t>(std::numeric_limits<Code>::max())
                         ? std::numeric_limits<Code>::max()
                         : static_cast<Code>(n_groups);
  const bool all_fit = n_groups <= static_cast<std::size_t>(std::numeric_limits<Code>::max());
  Code low = 0, high = 0;
  for (std::size_t i = 0; i < n; ++i) {
    low = codes[i] < low ? codes[i] : low;
    high = codes[i] > high ? codes[i] : high;
  }
  bool bad = n > 0 && (low < 0 || (all_fit && high >= limit));
  double mag = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double m = std::fabs(values[i]);
    mag = m > mag ? m : mag;  // NaN never wins the comparison
  }
  bad = bad || mag == kInf;
  if (bad) {
    for (std::size_t i = 0; i < n; ++i) {
      if (static_cast<std::size_t>(static_cast<UCode>(codes[i])) >= n_groups) {
        throw std::invalid_argument("group code " + std::to_string(codes[i]) + " at row " +
                                    std::to_string(first_row + i) + " is outside [0, " +
                                    std::to_string(n_groups) + ")");
      }
      if (std::fabs(values[i]) == kInf) {
        throw std::invalid_argument("value " + describe(values[i]) + " at row " +
                                    std::to_string(first_row + i) + " is not finite");
      }
    }
  }
  const std::size_t nb = boundaries_.size() + 1;
  Lane* lanes = lanes_.data();
  const Fill* fills = fills_.data();

  // One pass per block of rows. Each row goes to its group's compensated sum in one of four
  // lanes by row number (so a run of rows of one group updates four independent sums), then,
  // if positive and normal, to the sketch bucket found by the table lookup of
  // QuantileSketch::add when its group's store covers it; the rest (and NaN) go the slow way.
  // There is no per-row work for the exact bucket counts: finish() reads them off the sketch
  // buckets, but for the rare straddling buckets.
  //
  // The sketch buckets are incremented at the end of the block (or before a slow row changes
  // a store), from the addresses gathered: incremented in place, the loads of the next rows
  // wait on each store, whose address comes at the end of a long lookup (10.2 -> 8.4 ns/row
  // from this change alone). A marked (negative) count there is a special bucket's (see
  // mark()): the value may be one of its group's extremes, and if the bucket straddles a
  // boundary, the value is counted in the exact bucket counts now.
  constexpr std::size_t kRows = 512;
  double* at_rows[kRows];
  std::uint32_t row_of[kRows];  // the row of each gathered address
  const auto increment = [&](std::size_t pending) {
    for (std::size_t k = 0; k < pending; ++k) {
      double* at = at_rows[k];
      const double c = *at;
      if (!std::signbit(c)) {
        *at = c + 1.0;
        continue;
      }
      *at = c - 1.0;  // -(c + 1) - 1: still marked
      const std::size_t i = row_of[k];
      const double v = values[i];
      const auto g = static_cast<std::size_t>(codes[i]);
      mins_[g] = std::min(mins_[g], v);
      maxs_[g] = std::max(maxs_[g], v);
      const QuantileSketch& sk = sketches_[g];
      if (straddles(sk.scale_, sk.positive_.offset + (at - fills[g].counts))) {
        exact_[g * nb + boundaries_below(v)] += 1.0;
      }
    }
  };
  for (std::size_t start = 0; start < n; start += kRows) {
    const std::size_t stop = std::min(n, start + kRows);
    std::size_t pending = 0;
    for (std::size_t i = start; i < stop; ++i) {
      const double v = values[i];
      const auto g = static_cast<std::size_t>(codes[i]);
      if (!std::isnan(v)) {
        Lane& s = lanes[g * kLanes + ((first_row + i) & (kLanes - 1))];
        const double y = v - s.comp;  // Kahan: comp holds what the last additions lost, negated
        const double t = s.sum + y;
        s.comp = (t - s.sum) - y;
        s.sum = t;
      }
      if (v > DBL_MIN) {
        const Fill& f = fills[g];
        const std::uint64_t bits = bits_of(v) - 1;
        std::int64_t idx;
        if (f.scale > 0) {
          idx = table_index(bits, f.scale, f.cells, f.bounds, f.shift);
        } else {
          idx = floor_shift(static_cast<std::int64_t>(bits >> 52) - 1023, -f.scale);
        }
        const auto at = static_cast<std::uint64_t>(idx + f.base);
        if (at < f.size) {
          at_rows[pending] = f.counts + at;
          row_of[pending++] = static_cast<std::uint32_t>(i);
          continue;
        }
      }
      if (std::isnan(v)) continue;
      increment(pending);  // before the store moves
      pending = 0;
      add_slow(g, v);
    }
    increment(pending);
  }
}

void GroupedSketchBuilder::add(const std::int32_t* codes, const double* values, std::size_t n,
                               std::size_t first_row) {
  add_rows(codes, values, n, first_row);
}

void GroupedSketchBuilder::add(const std::int64_t* codes, const double* values, std::size_t n,
                               std::size_t first_row) {
  add_rows(codes, values, n, first_row);
}

GroupedSketches GroupedSketchBuilder::finish() {
  const std::size_t n_groups = sketches_.size();
  const std::size_t nk = boundaries_.size();
  const std::size_t nb = nk + 1;
  GroupedSketches out;
  out.bucket_counts = exact_;
  for (std::size_t g = 0; g < n_groups; ++g) {
    mark(g, false);
    QuantileSketch& sk = sketches_[g];
    double* counts = out.bucket_counts.data() + g * nb;
    // The positive values outside straddling buckets, by their bucket: a value in bucket i
    // lies above exactly the boundaries whose bucket index is below i (see boundary_index_).
    const auto row = static_cast<std::size_t>(sk.scale_ - QuantileSketch::kMinScale) * nk;
    const std::int64_t* index = boundary_index_.data() + row;
    const std::uint8_t* straddle = boundary_straddles_.data() + row;
    const BucketStore& store = sk.positive_;
    std::size_t j = 0;  // boundaries below the bucket
    for (std::size_t p = 0; p < store.counts.size(); ++p) {
      const double c = store.counts[p];
      if (c == 0.0) continue;
      const std::int64_t i = store.offset + static_cast<std::int64_t>(p);
      while (j < nk && index[j] < i) ++j;
      bool mixed = false;
      for (std::size_t k = j; k < nk && index[k] == i; ++k) mixed = mixed || straddle[k] != 0;
      if (!mixed) counts[j] += c;
    }
    double count = 0.0;
    for (std::size_t k = 0; k < nb; ++k) count += counts[k];
    if (count == 0.0) continue;
    double sum = 0.0, comp = 0.0;
    for (std::size_t l = 0; l < kLanes; ++l) {
      const Lane& s = lanes_[g * kLanes + l];
      neumaier(sum, comp, s.sum);
      comp -= s.comp;
    }
    if (!std::isfinite(sum + comp)) {
      // A lane overflowed (its Kahan sum then turns NaN; checked here, not in the hot loop):
      // +-inf when all the group's values have one sign, as numpy.sum; NaN when both
      // signs could have overflowed.
      sum = mins_[g] >= 0.0 ? kInf : maxs_[g] <= 0.0 ? -kInf : kNaN;
      comp = 0.0;
    }
    sk.zero_count_ = zeros_[g];
    sk.count_ = count;
    sk.add_sum(sum);
    sk.add_sum(comp);
    sk.min_ = mins_[g];
    sk.max_ = maxs_[g];
  }
  out.sketches = std::move(sketches_);
  sketches_.clear();
  lanes_.clear();
  exact_.clear();
  zeros_.clear();
  mins_.clear();
  maxs_.clear();
  fills_.clear();
  return out;
}

}  // namespace perfstats
