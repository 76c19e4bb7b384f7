// Moments: blocked two-pass batch accumulation and the Chan/Pebay pairwise merge.
#include "perfstats/moments.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "perfstats/detail/bytes.hpp"

namespace perfstats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Values per block: small enough to stay in L1 between the two passes over it.
constexpr std::size_t kBlock = 1024;

std::string format_double(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

[[noreturn]] void bad_value(const char* what, std::size_t index, double x) {
  throw std::invalid_argument(std::string(what) + "[" + std::to_string(index) +
                              "] must be finite, got " + format_double(x));
}

void check_weight(std::size_t index, double w) {
  if (!std::isfinite(w) || w < 0.0) {
    throw std::invalid_argument("weights[" + std::to_string(index) +
                                "] must be finite and >= 0, got " + format_double(w));
  }
}

// Knuth's error-free TwoSum: s + e == a + b exactly.
inline void two_sum(double a, double b, double& s, double& e) noexcept {
  s = a + b;
  const double z = s - a;
  e = (a - (s - z)) + (b - z);
}

// Adds x to the cascaded sum (hi, lo).
// When hi overflows it stays +-inf (as numpy.sum) and lo, meaningless then, is left alone:
// the error term of an infinite sum is NaN.
inline void dd_add(double& hi, double& lo, double x) noexcept {
  double e = 0.0;
  two_sum(hi, x, hi, e);
  if (std::isfinite(hi)) lo += e;
}

// One block's summary, before the merge. Centred sums are taken about `mean`.
struct Block {
  double weight = 0.0;
  double sum_hi = 0.0;
  double sum_lo = 0.0;
  double s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0;
  double min = kInf, max = -kInf;
};

// Two doubles in one SSE2/NEON register (GCC and Clang vector extension); the hot loops
// below run on kVecs of them at once, so kVecs * 2 independent lanes hide add latency.
using Vec = double __attribute__((vector_size(16)));
constexpr std::size_t kVecs = 4;
constexpr std::size_t kStep = 2 * kVecs;

inline Vec load(const double* p) noexcept {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Vec splat(double x) noexcept { return Vec{x, x}; }
inline double total(const Vec (&v)[kVecs]) noexcept {
  double t = 0.0;
  for (std::size_t j = 0; j < kVecs; ++j) t += v[j][0] + v[j][1];
  return t;
}

// Pass A over one block: the sum of x (or w x) with lane-wise TwoSum. Returns false when
// a sum is not finite (a bad value, or overflow).
bool block_sum(const double* x, const double* w, std::size_t n, Block& b) {
  double hi = 0.0;
  double lo = 0.0;
  std::size_t i = 0;
  if (w == nullptr) {
    Vec s[kVecs] = {};
    Vec c[kVecs] = {};
    for (; i + kStep <= n; i += kStep) {
      for (std::size_t j = 0; j < kVecs; ++j) {
        const Vec v = load(x + i + 2 * j);
        const Vec t = s[j] + v;
        const Vec z = t - s[j];
        c[j] += (s[j] - (t - z)) + (v - z);
        s[j] = t;
      }
    }
    for (std::size_t j = 0; j < kVecs; ++j) {
      for (int k = 0; k < 2; ++k) {
        dd_add(hi, lo, s[j][k]);
        lo += c[j][k];
      }
    }
    for (; i < n; ++i) dd_add(hi, lo, x[i]);
    b.weight = static_cast<double>(n);
  } else {
    double ws = 0.0;
    for (; i < n; ++i) {
      dd_add(hi, lo, w[i] * x[i]);
      ws += w[i];
    }
    b.weight = ws;
  }
  b.sum_hi = hi;
  b.sum_lo = lo;
  return std::isfinite(hi) && std::isfinite(lo) && std::isfinite(b.weight);
}

// Pass B over one block (still in cache): centred power sums about `mean`, min and max.
void block_centred(const double* x, const double* w, std::size_t n, double mean,
                   Block& b) {
  double s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0;
  double mn = kInf, mx = -kInf;
  std::size_t i = 0;
  if (w == nullptr) {
    Vec v1[kVecs] = {}, v2[kVecs] = {}, v3[kVecs] = {}, v4[kVecs] = {};
    Vec vmn[kVecs], vmx[kVecs];
    for (std::size_t j = 0; j < kVecs; ++j) {
      vmn[j] = splat(kInf);
      vmx[j] = splat(-kInf);
    }
    const Vec vmean = splat(mean);
    for (; i + kStep <= n; i += kStep) {
      for (std::size_t j = 0; j < kVecs; ++j) {
        const Vec v = load(x + i + 2 * j);
        const Vec d = v - vmean;
        const Vec d2 = d * d;
        v1[j] += d;
        v2[j] += d2;
        v3[j] += d2 * d;
        v4[j] += d2 * d2;
        vmn[j] = v < vmn[j] ? v : vmn[j];
        vmx[j] = v > vmx[j] ? v : vmx[j];
      }
    }
    s1 = total(v1);
    s2 = total(v2);
    s3 = total(v3);
    s4 = total(v4);
    for (std::size_t j = 0; j < kVecs; ++j) {
      mn = std::min({mn, vmn[j][0], vmn[j][1]});
      mx = std::max({mx, vmx[j][0], vmx[j][1]});
    }
    for (; i < n; ++i) {
      const double d = x[i] - mean;
      s1 += d;
      s2 += d * d;
      s3 += d * d * d;
      s4 += d * d * d * d;
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
    }
  } else {
    for (; i < n; ++i) {
      const double d = x[i] - mean;
      const double wd = w[i] * d;
      const double wd2 = wd * d;
      s1 += wd;
      s2 += wd2;
      s3 += wd2 * d;
      s4 += wd2 * d * d;
      if (w[i] > 0.0) {
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
      }
    }
  }
  b.s1 = s1;
  b.s2 = s2;
  b.s3 = s3;
  b.s4 = s4;
  b.min = mn;
  b.max = mx;
}

bool same(double a, double b) noexcept {
  return a == b || (std::isnan(a) && std::isnan(b));
}

}  // namespace

double Moments::mean() const noexcept { return weight_ > 0.0 ? mean_ + mean_lo_ : kNaN; }

double Moments::mean_minus(double c) const noexcept {
  return weight_ > 0.0 ? (mean_ - c) + mean_lo_ : kNaN;
}

double Moments::mean_minus(const Moments& other) const noexcept {
  if (!(weight_ > 0.0) || !(other.weight_ > 0.0)) return kNaN;
  return (mean_ - other.mean_) + (mean_lo_ - other.mean_lo_);
}

double Moments::variance(double ddof) const noexcept {
  const double denom = weight_ - ddof;
  if (!(denom > 0.0) || !(weight_ > 0.0)) return kNaN;
  return m2_ / denom;
}

double Moments::std(double ddof) const noexcept { return std::sqrt(variance(ddof)); }

double Moments::skewness() const noexcept {
  if (!(weight_ > 0.0) || !(m2_ > 0.0)) return kNaN;
  const double m2 = m2_ / weight_;
  return (m3_ / weight_) / (m2 * std::sqrt(m2));
}

double Moments::kurtosis() const noexcept {
  if (!(weight_ > 0.0) || !(m2_ > 0.0)) return kNaN;
  const double m2 = m2_ / weight_;
  return (m4_ / weight_) / (m2 * m2) - 3.0;
}

void Moments::add(double value, double weight) {
  if (!std::isfinite(value)) bad_value("value", 0, value);
  check_weight(0, weight);
  Moments one;
  one.size_ = 1;
  one.weight_ = weight;
  one.mean_ = value;
  one.sum_hi_ = weight * value;
  one.sum_lo_ = std::fma(weight, value, -one.sum_hi_);
  if (weight > 0.0) {
    one.min_ = value;
    one.max_ = value;
  }
  merge(one);
}

void Moments::add(const double* values, std::size_t n, const double* weights) {
  if (n == 0) return;
  Moments total;  // merged into *this only once every value has been checked
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t m = std::min(kBlock, n - start);
    const double* x = values + start;
    const double* w = weights == nullptr ? nullptr : weights + start;
    Block b;
    if (!block_sum(x, w, m, b)) {
      // A bad value, or a finite block whose sum overflows: find out which.
      for (std::size_t i = 0; i < m; ++i) {
        if (!std::isfinite(x[i])) bad_value("values", start + i, x[i]);
        if (w != nullptr) check_weight(start + i, w[i]);
      }
      for (std::size_t i = 0; i < m; ++i) total.add(x[i], w == nullptr ? 1.0 : w[i]);
      continue;
    }
    if (w != nullptr) {
      for (std::size_t i = 0; i < m; ++i) {
        if (w[i] < 0.0) check_weight(start + i, w[i]);
      }
    }
    Moments part;
    part.size_ = m;
    part.weight_ = b.weight;
    part.sum_hi_ = b.sum_hi;
    part.sum_lo_ = b.sum_lo;
    if (b.weight > 0.0) {
      const double mean0 = (b.sum_hi + b.sum_lo) / b.weight;
      block_centred(x, w, m, mean0, b);
      // Sums about mean0 -> sums about the block mean mean0 + delta (corrected two-pass).
      const double delta = b.s1 / b.weight;
      const double nd2 = b.weight * delta * delta;
      two_sum(mean0, delta, part.mean_, part.mean_lo_);
      part.m2_ = std::max(0.0, b.s2 - b.s1 * delta);
      part.m3_ = b.s3 - 3.0 * delta * b.s2 + 2.0 * nd2 * delta;
      part.m4_ = std::max(
          0.0, b.s4 - 4.0 * delta * b.s3 + 6.0 * delta * delta * b.s2 - 3.0 * nd2 * delta * delta);
      part.min_ = b.min;
      part.max_ = b.max;
      if (!std::isfinite(part.m2_) || !std::isfinite(part.m4_) || !std::isfinite(part.m3_)) {
        // Centred powers overflow (spread near 1e77 or more): no finite summary exists.
        throw std::domain_error("values: fourth central moment overflows a double near index " +
                                std::to_string(start));
      }
    }
    total.merge(part);
  }
  merge(total);
}

void Moments::merge(const Moments& other) {
  if (other.size_ == 0) return;
  if (size_ == 0) {
    *this = other;
    return;
  }
  const double na = weight_;
  const double nb = other.weight_;
  const double n = na + nb;
  if (nb > 0.0 && na > 0.0) {
    // The means are double-doubles: their difference keeps its digits under any offset.
    const double delta = (other.mean_ - mean_) + (other.mean_lo_ - mean_lo_);
    const double dn = delta / n;
    const double dn2 = dn * dn;
    const double nanb = na * nb;
    const double m2 = m2_ + other.m2_ + delta * dn * nanb;
    const double m3 = m3_ + other.m3_ + delta * dn2 * nanb * (na - nb) +
                      3.0 * dn * (na * other.m2_ - nb * m2_);
    const double m4 = m4_ + other.m4_ + delta * dn2 * dn * nanb * (na * na - nanb + nb * nb) +
                      6.0 * dn2 * (na * na * other.m2_ + nb * nb * m2_) +
                      4.0 * dn * (na * other.m3_ - nb * m3_);
    two_sum(mean_, mean_lo_ + nb * dn, mean_, mean_lo_);
    m2_ = m2;
    m3_ = m3;
    m4_ = m4;
  } else if (nb > 0.0) {
    mean_ = other.mean_;
    mean_lo_ = other.mean_lo_;
    m2_ = other.m2_;
    m3_ = other.m3_;
    m4_ = other.m4_;
  }
  weight_ = n;
  size_ += other.size_;
  dd_add(sum_hi_, sum_lo_, other.sum_hi_);
  dd_add(sum_hi_, sum_lo_, other.sum_lo_);
  if (!(min_ <= other.min_)) min_ = std::isnan(other.min_) ? min_ : other.min_;
  if (!(max_ >= other.max_)) max_ = std::isnan(other.max_) ? max_ : other.max_;
}

namespace {
constexpr const char* kMagic = "PSMO";
constexpr std::uint8_t kVersion = 1;
}  // namespace

std::string Moments::to_bytes() const {
  detail::ByteWriter w(kMagic, kVersion);
  w.varint(size_);
  w.f64(weight_);
  w.f64(mean_);
  w.f64(mean_lo_);
  w.f64(m2_);
  w.f64(m3_);
  w.f64(m4_);
  w.f64(min_);
  w.f64(max_);
  w.f64(sum_hi_);
  w.f64(sum_lo_);
  return w.finish();
}

Moments Moments::from_bytes(const std::uint8_t* data, std::size_t size) {
  detail::ByteReader r(data, size, kMagic, kVersion, "Moments");
  Moments m;
  m.size_ = r.varint();
  m.weight_ = r.f64();
  m.mean_ = r.f64();
  m.mean_lo_ = r.f64();
  m.m2_ = r.f64();
  m.m3_ = r.f64();
  m.m4_ = r.f64();
  m.min_ = r.f64();
  m.max_ = r.f64();
  m.sum_hi_ = r.f64();
  m.sum_lo_ = r.f64();
  r.expect_end();
  if (!std::isfinite(m.weight_) || m.weight_ < 0.0) r.fail("weight must be finite and >= 0");
  if (!std::isfinite(m.mean_) || !std::isfinite(m.mean_lo_) || !std::isfinite(m.m3_)) {
    r.fail("mean and M3 must be finite");
  }
  if (!std::isfinite(m.m2_) || m.m2_ < 0.0 || !std::isfinite(m.m4_) || m.m4_ < 0.0) {
    r.fail("M2 and M4 must be finite and >= 0");
  }
  if (std::isnan(m.sum_hi_) || !std::isfinite(m.sum_lo_)) r.fail("sum must not be NaN");
  if (m.size_ == 0 && (m.weight_ != 0.0 || m.m2_ != 0.0 || m.m4_ != 0.0)) {
    r.fail("an empty summary must have zero weight and moments");
  }
  if (m.weight_ > 0.0) {
    if (!(m.min_ <= m.max_) || !std::isfinite(m.min_) || !std::isfinite(m.max_)) {
      r.fail("min and max must be finite with min <= max");
    }
  } else if (!std::isnan(m.min_) || !std::isnan(m.max_)) {
    r.fail("min and max must be NaN when the weight is zero");
  }
  // Consistency of the parts (a blob that breaks one was edited and its CRC recomputed).
  if (m.weight_ > 0.0 && m.size_ == 0) r.fail("weight > 0 with no values");
  if (m.weight_ == 0.0) {
    if (m.mean_ != 0.0 || m.mean_lo_ != 0.0 || m.m2_ != 0.0 || m.m3_ != 0.0 || m.m4_ != 0.0 ||
        m.sum() != 0.0) {
      r.fail("a summary of zero weight must have zero mean, moments and sum");
    }
    return m;
  }
  const double scale = std::max(std::fabs(m.min_), std::fabs(m.max_));
  const double mean = m.mean();
  if (!(mean >= m.min_ - 1e-12 * scale && mean <= m.max_ + 1e-12 * scale)) {
    r.fail("mean " + std::to_string(mean) + " lies outside [min, max] = [" +
           std::to_string(m.min_) + ", " + std::to_string(m.max_) + "]");
  }
  // |M_k| <= W (max - min)^k, with room for rounding; an infinite bound checks nothing.
  const double range = m.max_ - m.min_;
  const auto bounded = [&](double mk, int k) {
    const double bound = m.weight_ * std::pow(range, k);
    return std::fabs(mk) <= bound * (1.0 + 1e-9) + 1e-300;
  };
  if (!bounded(m.m2_, 2) || !bounded(m.m3_, 3) || !bounded(m.m4_, 4)) {
    r.fail("central moments M2, M3, M4 exceed weight * (max - min)^k");
  }
  // weight * min <= sum <= weight * max up to rounding; an overflowed sum (+-inf) only where
  // weight * max (weight * min) overflows too.
  const double lo = m.weight_ * m.min_, hi = m.weight_ * m.max_, sum = m.sum();
  const bool above = std::isinf(lo) ? (lo < 0.0 || sum == lo) : sum >= lo - 1e-9 * std::fabs(lo);
  const bool below = std::isinf(hi) ? (hi > 0.0 || sum == hi) : sum <= hi + 1e-9 * std::fabs(hi);
  if (!above || !below) {
    r.fail("sum " + std::to_string(sum) + " is outside weight * [min, max] = [" +
           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return m;
}

bool Moments::operator==(const Moments& o) const noexcept {
  return size_ == o.size_ && same(weight_, o.weight_) && same(mean_, o.mean_) &&
         same(mean_lo_, o.mean_lo_) &&
         same(m2_, o.m2_) && same(m3_, o.m3_) && same(m4_, o.m4_) && same(min_, o.min_) &&
         same(max_, o.max_) && same(sum_hi_, o.sum_hi_) && same(sum_lo_, o.sum_lo_);
}

double lag1_autocorrelation(const double* values, std::size_t n) {
  if (n < 2) {
    throw std::invalid_argument("lag-1 autocorrelation needs at least 2 values, got " +
                                std::to_string(n));
  }
  Moments m;
  m.add(values, n);  // validates every value
  // Centre on the double-double mean: shift by its double part, then by the remainder.
  const double shift = m.mean();
  const double rest = m.mean_minus(shift);
  double num = 0.0;
  double den = 0.0;
  double num_c = 0.0;
  double den_c = 0.0;
  double prev = (values[0] - shift) - rest;
  dd_add(den, den_c, prev * prev);
  for (std::size_t i = 1; i < n; ++i) {
    const double d = (values[i] - shift) - rest;
    dd_add(num, num_c, d * prev);
    dd_add(den, den_c, d * d);
    prev = d;
  }
  const double denom = den + den_c;
  if (!(denom > 0.0)) {
    throw std::invalid_argument("lag-1 autocorrelation is undefined for a constant series");
  }
  return (num + num_c) / denom;
}

}  // namespace perfstats
