// Fixed-boundary histogram with upper-inclusive buckets (see histogram.hpp).
#include "perfstats/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "perfstats/detail/bytes.hpp"

namespace perfstats {
namespace {

constexpr char kMagic[] = "PSHG";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kVarintCounts = 0;
constexpr std::uint8_t kDoubleCounts = 1;
// Integers up to 2**53 are exact in a double, so varint counts round trip exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;
// Below this many boundaries a branch-free linear count beats a binary search.
constexpr std::size_t kLinearSearchLimit = 32;

std::string format_double(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

bool same_double(double a, double b) noexcept {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// Returns the reason `boundaries` are unusable, or an empty string when they are fine.
std::string boundaries_problem(const std::vector<double>& boundaries) {
  for (std::size_t i = 0; i < boundaries.size(); ++i) {
    if (!std::isfinite(boundaries[i])) {
      return "boundaries[" + std::to_string(i) + "] must be finite, got " +
             format_double(boundaries[i]);
    }
    if (i > 0 && !(boundaries[i - 1] < boundaries[i])) {
      return "boundaries must be strictly increasing, but boundaries[" + std::to_string(i) +
             "] = " + format_double(boundaries[i]) + " follows " +
             format_double(boundaries[i - 1]);
    }
  }
  return {};
}

bool bad_weight(double w) noexcept { return !(w >= 0.0) || std::isinf(w); }

[[noreturn]] void throw_bad_input(const char* name, const char* problem, std::size_t bad,
                                  std::size_t n, std::size_t first, double value) {
  throw std::invalid_argument(std::string(name) + ": " + std::to_string(bad) + " of " +
                              std::to_string(n) + " are " + problem +
                              "; the first is at index " + std::to_string(first) + " (" +
                              format_double(value) + "); nothing was added");
}

}  // namespace

Histogram::Histogram(std::vector<double> boundaries) : boundaries_(std::move(boundaries)) {
  const std::string problem = boundaries_problem(boundaries_);
  if (!problem.empty()) throw std::invalid_argument(problem);
  counts_.assign(boundaries_.size() + 1, 0.0);
}

std::size_t Histogram::bucket_index(double value) const noexcept {
  const std::size_t n = boundaries_.size();
  if (n <= kLinearSearchLimit) {
    std::size_t index = 0;
    for (std::size_t i = 0; i < n; ++i) index += boundaries_[i] < value ? 1U : 0U;
    return index;
  }
  return static_cast<std::size_t>(
      std::lower_bound(boundaries_.begin(), boundaries_.end(), value) - boundaries_.begin());
}

void Histogram::add_unchecked(double value, double weight) noexcept {
  if (weight == 0.0) return;
  counts_[bucket_index(value)] += weight;
  sum_ += value * weight;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::add(double value, double weight) {
  if (!std::isfinite(value)) {
    throw std::invalid_argument("value must be finite, got " + format_double(value));
  }
  if (bad_weight(weight)) {
    throw std::invalid_argument("weight must be finite and non-negative, got " +
                                format_double(weight));
  }
  add_unchecked(value, weight);
}

void Histogram::add(const double* values, std::size_t n, const double* weights) {
  if (weights == nullptr) {
    add_unweighted(values, n);
    return;
  }
  // Check everything before touching the buckets so bad input leaves them unchanged.
  std::size_t bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad > 0) {
    throw_bad_input("values", "NaN or infinite", bad, n, first, values[first]);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (bad_weight(weights[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad > 0) {
    throw_bad_input("weights", "negative, NaN or infinite", bad, n, first, weights[first]);
  }
  for (std::size_t i = 0; i < n; ++i) add_unchecked(values[i], weights[i]);
}

void Histogram::add_unweighted(const double* values, std::size_t n) {
  // One pass that fills local tallies and counts bad values on the way; *this changes
  // only after the whole array proved finite. Four independent lanes (counts, sums,
  // extremes) keep consecutive values off each other's dependency chains.
  constexpr std::size_t kLanes = 4;
  const std::size_t buckets = counts_.size();
  std::vector<std::uint64_t> tally(kLanes * buckets, 0);
  double sums[kLanes] = {0.0, 0.0, 0.0, 0.0};
  double lows[kLanes] = {min_, min_, min_, min_};
  double highs[kLanes] = {max_, max_, max_, max_};
  std::size_t bad = 0;
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t lane = 0; lane < kLanes; ++lane) {
      const double v = values[i + lane];
      bad += std::isfinite(v) ? 0U : 1U;
      ++tally[lane * buckets + bucket_index(v)];
      sums[lane] += v;
      lows[lane] = std::min(lows[lane], v);
      highs[lane] = std::max(highs[lane], v);
    }
  }
  for (; i < n; ++i) {
    const double v = values[i];
    bad += std::isfinite(v) ? 0U : 1U;
    ++tally[bucket_index(v)];
    sums[0] += v;
    lows[0] = std::min(lows[0], v);
    highs[0] = std::max(highs[0], v);
  }
  if (bad > 0) {
    const std::size_t first = static_cast<std::size_t>(
        std::find_if(values, values + n, [](double v) { return !std::isfinite(v); }) - values);
    throw_bad_input("values", "NaN or infinite", bad, n, first, values[first]);
  }
  for (std::size_t b = 0; b < buckets; ++b) {
    std::uint64_t total = 0;
    for (std::size_t lane = 0; lane < kLanes; ++lane) total += tally[lane * buckets + b];
    counts_[b] += static_cast<double>(total);
  }
  sum_ += (sums[0] + sums[1]) + (sums[2] + sums[3]);
  for (std::size_t lane = 0; lane < kLanes; ++lane) {
    min_ = std::min(min_, lows[lane]);
    max_ = std::max(max_, highs[lane]);
  }
}

void Histogram::merge(const Histogram& other) {
  if (other.boundaries_ != boundaries_) {
    throw std::invalid_argument(
        "cannot merge histograms with different boundaries (" +
        std::to_string(boundaries_.size()) + " vs " + std::to_string(other.boundaries_.size()) +
        " boundaries" + (other.boundaries_.size() == boundaries_.size() ? ", different values" : "") +
        ")");
  }
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double Histogram::count() const noexcept {
  double total = 0.0;
  for (const double c : counts_) total += c;
  return total;
}

double Histogram::min() const noexcept {
  return min_ <= max_ ? min_ : std::numeric_limits<double>::quiet_NaN();
}

double Histogram::max() const noexcept {
  return min_ <= max_ ? max_ : std::numeric_limits<double>::quiet_NaN();
}

std::string Histogram::to_bytes() const {
  detail::ByteWriter w(std::string_view(kMagic, 4), kVersion);
  w.varint(boundaries_.size());
  for (const double b : boundaries_) w.f64(b);
  const bool integral = std::all_of(counts_.begin(), counts_.end(), [](double c) {
    return c <= kMaxExactInteger && c == std::floor(c);
  });
  w.u8(integral ? kVarintCounts : kDoubleCounts);
  for (const double c : counts_) {
    if (integral) {
      w.varint(static_cast<std::uint64_t>(c));
    } else {
      w.f64(c);
    }
  }
  w.f64(sum_);
  w.f64(min_);
  w.f64(max_);
  return w.finish();
}

Histogram Histogram::from_bytes(const std::uint8_t* data, std::size_t size) {
  detail::ByteReader r(data, size, std::string_view(kMagic, 4), kVersion, "Histogram");
  const std::uint64_t n = r.varint();
  // Each boundary takes 8 bytes: a larger count is corrupt, and must not be allocated.
  if (n > r.remaining() / 8) {
    r.fail(std::to_string(n) + " boundaries cannot fit in " + std::to_string(r.remaining()) +
           " bytes");
  }
  std::vector<double> boundaries(static_cast<std::size_t>(n));
  for (double& b : boundaries) b = r.f64();
  const std::string problem = boundaries_problem(boundaries);
  if (!problem.empty()) r.fail(problem);
  Histogram h(std::move(boundaries));

  const std::uint8_t encoding = r.u8();
  if (encoding != kVarintCounts && encoding != kDoubleCounts) {
    r.fail("unknown count encoding " + std::to_string(encoding));
  }
  for (std::size_t i = 0; i < h.counts_.size(); ++i) {
    double c;
    if (encoding == kVarintCounts) {
      const std::uint64_t v = r.varint();
      if (v > static_cast<std::uint64_t>(kMaxExactInteger)) {
        r.fail("count " + std::to_string(v) + " of bucket " + std::to_string(i) +
               " exceeds 2**53");
      }
      c = static_cast<double>(v);
    } else {
      c = r.f64();
      if (!(c >= 0.0)) r.fail("count of bucket " + std::to_string(i) + " is " + format_double(c));
    }
    h.counts_[i] = c;
  }
  h.sum_ = r.f64();
  h.min_ = r.f64();
  h.max_ = r.f64();
  r.expect_end();

  // The summary must agree with the buckets: min in the first non-empty bucket, max in
  // the last, and the empty sentinels exactly when no bucket has weight.
  const auto first = std::find_if(h.counts_.begin(), h.counts_.end(),
                                  [](double c) { return c > 0.0; });
  if (first == h.counts_.end()) {
    if (!(h.min_ == std::numeric_limits<double>::infinity() &&
          h.max_ == -std::numeric_limits<double>::infinity() && h.sum_ == 0.0)) {
      r.fail("an empty histogram must have no sum, min or max");
    }
    return h;
  }
  const auto last = std::find_if(h.counts_.rbegin(), h.counts_.rend(),
                                 [](double c) { return c > 0.0; });
  const auto first_index = static_cast<std::size_t>(first - h.counts_.begin());
  const auto last_index =
      h.counts_.size() - 1 - static_cast<std::size_t>(last - h.counts_.rbegin());
  if (!std::isfinite(h.min_) || !std::isfinite(h.max_) || !(h.min_ <= h.max_) ||
      h.bucket_index(h.min_) != first_index || h.bucket_index(h.max_) != last_index) {
    r.fail("min " + format_double(h.min_) + " and max " + format_double(h.max_) +
           " disagree with the non-empty buckets " + std::to_string(first_index) + ".." +
           std::to_string(last_index));
  }
  // count * min <= sum <= count * max up to the rounding of a float sum of up to ~1e10
  // values; an overflowed sum (+-inf) only where count * max (count * min) overflows too.
  const double count = h.count();
  const double lo = count * h.min_, hi = count * h.max_;
  const bool above = std::isinf(lo) ? (lo < 0.0 || h.sum_ == lo)
                                    : h.sum_ >= lo - 1e-6 * std::fabs(lo);
  const bool below = std::isinf(hi) ? (hi > 0.0 || h.sum_ == hi)
                                    : h.sum_ <= hi + 1e-6 * std::fabs(hi);
  if (std::isnan(h.sum_) || !above || !below) {
    r.fail("sum " + format_double(h.sum_) + " is outside count * [min, max] = [" +
           format_double(lo) + ", " + format_double(hi) + "]");
  }
  return h;
}

bool operator==(const Histogram& a, const Histogram& b) noexcept {
  return a.boundaries_ == b.boundaries_ && a.counts_ == b.counts_ &&
         same_double(a.sum_, b.sum_) && a.min_ == b.min_ && a.max_ == b.max_;
}

}  // namespace perfstats
