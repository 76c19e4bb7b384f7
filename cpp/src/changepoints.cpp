// E-divisive means and PELT change points with a Welch t-test pruning pass.
#include "perfstats/changepoints.hpp"

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace perfstats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_inputs(const double* values, std::size_t n, const ChangePointOptions& o) {
  if (values == nullptr && n > 0) {
    throw std::invalid_argument("values must not be null");
  }
  if (o.min_size < 2) {
    throw std::invalid_argument("min_size must be >= 2, got " +
                                std::to_string(o.min_size));
  }
  if (!(o.pvalue > 0.0 && o.pvalue <= 1.0)) {
    throw std::invalid_argument("pvalue must be in (0, 1], got " +
                                std::to_string(o.pvalue));
  }
  if (!(o.penalty > 0.0) || !std::isfinite(o.penalty)) {
    throw std::invalid_argument("penalty must be finite and > 0, got " +
                                std::to_string(o.penalty));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      throw std::invalid_argument("values[" + std::to_string(i) +
                                  "] is not finite: " + std::to_string(values[i]));
    }
  }
}

// Fenwick tree holding a count and a sum per rank.
class RankTree {
 public:
  explicit RankTree(std::size_t n) : count_(n + 1, 0.0), sum_(n + 1, 0.0) {}
  void add(std::size_t rank, double value) {
    for (std::size_t i = rank + 1; i < count_.size(); i += i & (~i + 1)) {
      count_[i] += 1.0;
      sum_[i] += value;
    }
  }
  // Count and sum of the entries with rank < `rank`.
  std::pair<double, double> below(std::size_t rank) const {
    double c = 0.0;
    double s = 0.0;
    for (std::size_t i = rank; i > 0; i -= i & (~i + 1)) {
      c += count_[i];
      s += sum_[i];
    }
    return {c, s};
  }

 private:
  std::vector<double> count_;
  std::vector<double> sum_;
};

// within[t] = sum over pairs i < j < t of |x_i - x_j|, visiting `order` (indices into x
// in the order points are added).
void pairwise_sums(const double* x, const std::vector<std::size_t>& rank,
                   bool from_right, std::vector<double>& within) {
  const std::size_t n = rank.size();
  RankTree tree(n);
  within.assign(n + 1, 0.0);
  double total_sum = 0.0;
  double acc = 0.0;
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t i = from_right ? n - 1 - step : step;
    const double v = x[i];
    const auto [cl, sl] = tree.below(rank[i]);
    const double inserted = static_cast<double>(step);
    acc += (v * cl - sl) + ((total_sum - sl) - v * (inserted - cl));
    tree.add(rank[i], v);
    total_sum += v;
    if (from_right) {
      within[i] = acc;  // pairs inside [i, n)
    } else {
      within[i + 1] = acc;  // pairs inside [0, i + 1)
    }
  }
  if (from_right) within[n] = 0.0;
}

// Centre and scale so the sums below stay well conditioned; the argmax is unchanged.
std::vector<double> standardized(const double* values, std::size_t n) {
  std::vector<double> x(values, values + n);
  if (n == 0) return x;
  double lo = x[0];
  double hi = x[0];
  double mean = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    mean += (x[i] - mean) / static_cast<double>(i + 1);
  }
  const double scale = hi > lo ? hi - lo : 1.0;
  for (double& v : x) v = (v - mean) / scale;
  return x;
}

struct Moments {
  double n = 0.0;
  double mean = 0.0;
  double m2 = 0.0;  // sum of squared deviations
};

Moments moments(const double* x, std::size_t a, std::size_t b) {
  Moments m;
  for (std::size_t i = a; i < b; ++i) {
    m.n += 1.0;
    const double d = x[i] - m.mean;
    m.mean += d / m.n;
    m.m2 += d * (x[i] - m.mean);
  }
  return m;
}

// Welch's t-test on the means of two parts, each with `neff` effective observations.
double welch(const Moments& l, double neff_l, const Moments& r, double neff_r,
             double* statistic) {
  const double vl = l.m2 / (l.n - 1.0) / neff_l;
  const double vr = r.m2 / (r.n - 1.0) / neff_r;
  const double diff = r.mean - l.mean;
  const double se2 = vl + vr;
  if (!(se2 > 0.0)) {
    if (statistic) *statistic = diff == 0.0 ? 0.0 : std::copysign(kInf, diff);
    return diff == 0.0 ? 1.0 : 0.0;
  }
  const double t = diff / std::sqrt(se2);
  if (statistic) *statistic = t;
  const double df = se2 * se2 / (vl * vl / (neff_l - 1.0) + vr * vr / (neff_r - 1.0));
  if (!std::isfinite(t)) return 0.0;
  if (!(df > 0.0) || !std::isfinite(df)) return t == 0.0 ? 1.0 : 0.0;
  const boost::math::students_t dist(df);
  return std::min(1.0,
                  2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(t))));
}

// Two-sided p-value for a change in mean at b between x[a, b) and x[b, c), each part
// counting n (1 - rho) / (1 + rho) effective observations (at least 2): the variance
// inflation of the mean of an AR(1) series with lag-1 autocorrelation rho.
double segment_pvalue(const double* x, std::size_t a, std::size_t b, std::size_t c,
                      double rho, double* statistic) {
  const Moments l = moments(x, a, b);
  const Moments r = moments(x, b, c);
  const double shrink = (1.0 - rho) / (1.0 + rho);
  const double nl = std::max(2.0, l.n * shrink);
  const double nr = std::max(2.0, r.n * shrink);
  return welch(l, nl, r, nr, statistic);
}

// Best split of x[s, e) by the energy statistic; returns (tau, q) with tau = 0 when the
// segment cannot be split into two parts of at least min_size.
std::pair<std::size_t, double> best_energy_split(const double* x, std::size_t s,
                                                 std::size_t e, std::size_t min_size) {
  const std::size_t len = e - s;
  if (len < 2 * min_size) return {0, -kInf};
  const std::vector<double> q = energy_statistic(x + s, len);
  std::size_t best = 0;
  double best_q = -kInf;
  for (std::size_t t = min_size; t + min_size <= len; ++t) {
    if (q[t] > best_q) {
      best_q = q[t];
      best = t;
    }
  }
  return {s + best, best_q};
}

// Best split of x[s, e) for a change in mean: the largest between-part sum of squares
// m*k/(m+k) * (mean_left - mean_right)^2, from prefix sums in O(e - s).
std::pair<std::size_t, double> best_mean_split(const double* x, std::size_t s,
                                               std::size_t e, std::size_t min_size) {
  const std::size_t len = e - s;
  if (len < 2 * min_size) return {0, -kInf};
  double total = 0.0;
  for (std::size_t i = s; i < e; ++i) total += x[i];
  double left = 0.0;
  for (std::size_t i = s; i < s + min_size; ++i) left += x[i];
  std::size_t best = 0;
  double best_q = -kInf;
  for (std::size_t t = min_size; t + min_size <= len; ++t) {
    const double m = static_cast<double>(t);
    const double k = static_cast<double>(len - t);
    const double d = left / m - (total - left) / k;
    const double q = m * k / (m + k) * d * d;
    if (q > best_q) {
      best_q = q;
      best = t;
    }
    left += x[s + t];
  }
  return {s + best, best_q};
}

// Binary segmentation: split the segment whose best split scores highest, as long as
// the Welch test of its two parts is significant; each segment is scored once.
std::vector<std::size_t> binary_segmentation(const double* x, std::size_t n,
                                             const ChangePointOptions& o, double rho) {
  const auto split = o.method == ChangePointMethod::binseg ? best_mean_split
                                                           : best_energy_split;
  struct Segment {
    std::size_t start, end, tau;
    double q;
    bool done;
  };
  std::vector<Segment> segments;
  auto make = [&](std::size_t s, std::size_t e) {
    const auto [tau, q] = split(x, s, e, o.min_size);
    segments.push_back({s, e, tau, q, tau == 0});
  };
  make(0, n);
  std::vector<std::size_t> cps;
  for (;;) {
    std::size_t pick = segments.size();
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].done) continue;
      if (pick == segments.size() || segments[i].q > segments[pick].q) pick = i;
    }
    if (pick == segments.size()) break;
    const Segment seg = segments[pick];
    const double p =
        segment_pvalue(x, seg.start, seg.tau, seg.end, rho, nullptr);
    if (!(p < o.pvalue)) {
      segments[pick].done = true;
      continue;
    }
    cps.push_back(seg.tau);
    segments.erase(segments.begin() + static_cast<std::ptrdiff_t>(pick));
    make(seg.start, seg.tau);
    make(seg.tau, seg.end);
  }
  std::sort(cps.begin(), cps.end());
  return cps;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  double m = *mid;
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), mid)) / 2.0;
  return m;
}

// Robust noise scale of x: MAD of first differences, scaled to sigma.
double noise_scale(const std::vector<double>& x) {
  if (x.size() < 3) return 0.0;
  std::vector<double> d(x.size() - 1);
  for (std::size_t i = 1; i < x.size(); ++i) d[i - 1] = x[i] - x[i - 1];
  const double med = median_of(d);
  std::vector<double> dev(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) dev[i] = std::fabs(d[i] - med);
  double sigma = 1.482602218505602 * median_of(dev) / std::sqrt(2.0);
  if (!(sigma > 0.0)) {  // mostly constant steps: fall back to the standard deviation
    const Moments m = moments(d.data(), 0, d.size());
    sigma = std::sqrt(m.m2 / static_cast<double>(d.size())) / std::sqrt(2.0);
  }
  return sigma;
}

std::vector<std::size_t> pelt_candidates(const std::vector<double>& raw,
                                         const ChangePointOptions& o) {
  const std::size_t n = raw.size();
  const double sigma = noise_scale(raw);
  if (!(sigma > 0.0)) return {};
  std::vector<double> s1(n + 1, 0.0);
  std::vector<double> s2(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = raw[i] / sigma;
    s1[i + 1] = s1[i] + v;
    s2[i + 1] = s2[i] + v * v;
  }
  auto cost = [&](std::size_t a, std::size_t b) {
    const double s = s1[b] - s1[a];
    return (s2[b] - s2[a]) - s * s / static_cast<double>(b - a);
  };
  const double beta = o.penalty * std::log(static_cast<double>(n));
  std::vector<double> f(n + 1, kInf);
  std::vector<std::size_t> last(n + 1, 0);
  f[0] = -beta;
  std::vector<std::size_t> candidates;
  std::vector<double> scored;
  for (std::size_t t = o.min_size; t <= n; ++t) {
    const std::size_t fresh = t - o.min_size;
    if (std::isfinite(f[fresh])) candidates.push_back(fresh);
    double best = kInf;
    std::size_t arg = 0;
    scored.resize(candidates.size());
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const double v = f[candidates[k]] + cost(candidates[k], t);
      scored[k] = v;
      if (v < best) {
        best = v;
        arg = candidates[k];
      }
    }
    if (candidates.empty()) continue;
    f[t] = best + beta;
    last[t] = arg;
    std::size_t keep = 0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      if (scored[k] <= f[t]) candidates[keep++] = candidates[k];
    }
    candidates.resize(keep);
  }
  std::vector<std::size_t> cps;
  if (!std::isfinite(f[n])) return cps;
  for (std::size_t t = last[n]; t > 0; t = last[t]) cps.push_back(t);
  std::reverse(cps.begin(), cps.end());
  return cps;
}

}  // namespace

double noise_autocorrelation(const double* values, std::size_t n) {
  if (values == nullptr || n < 4) return 0.0;
  // corr(d_t, d_{t-1}) of the first differences d is -(1 - rho) / 2 for AR(1) noise.
  // It is estimated robustly (Gnanadesikan-Kettenring with MADs): a level shift is one
  // outlying difference, which would otherwise dominate the variance and push the
  // estimate to rho ~ 1, hiding exactly the large, clean shifts we look for.
  std::vector<double> sum(n - 2);
  std::vector<double> diff(n - 2);
  for (std::size_t i = 2; i < n; ++i) {
    const double u = values[i] - values[i - 1];
    const double v = values[i - 1] - values[i - 2];
    sum[i - 2] = u + v;
    diff[i - 2] = u - v;
  }
  auto mad = [](std::vector<double>& w) {
    const double m = median_of(w);
    for (double& z : w) z = std::fabs(z - m);
    return median_of(w);
  };
  const double a = mad(sum);
  const double b = mad(diff);
  const double r = a > 0.0 || b > 0.0 ? (a * a - b * b) / (a * a + b * b) : 0.0;
  return std::clamp(1.0 + 2.0 * r, 0.0, 0.999);
}

std::vector<double> energy_statistic(const double* values, std::size_t n) {
  std::vector<double> q(n + 1, 0.0);
  if (n < 4) return q;
  const std::vector<double> x = standardized(values, n);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<std::size_t> rank(n);
  for (std::size_t r = 0; r < n; ++r) rank[order[r]] = r;
  std::vector<double> left;
  std::vector<double> right;
  pairwise_sums(x.data(), rank, false, left);
  pairwise_sums(x.data(), rank, true, right);
  const double total = left[n];
  for (std::size_t t = 2; t + 2 <= n; ++t) {
    const double m = static_cast<double>(t);
    const double k = static_cast<double>(n - t);
    const double cross = std::max(0.0, total - left[t] - right[t]);
    const double e = 2.0 * cross / (m * k) - 2.0 * left[t] / (m * (m - 1.0)) -
                     2.0 * right[t] / (k * (k - 1.0));
    q[t] = m * k / (m + k) * e;
  }
  // Undo the scaling so q is in the units of the data.
  double lo = values[0];
  double hi = values[0];
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  if (hi > lo) {
    for (double& v : q) v *= hi - lo;
  }
  return q;
}

double change_pvalue(const double* values, std::size_t a, std::size_t b, std::size_t c,
                     double rho, double* statistic) {
  if (values == nullptr || !(a < b && b < c) || b - a < 2 || c - b < 2) {
    throw std::invalid_argument("change_pvalue needs a < b < c with >= 2 points a side, got " +
                                std::to_string(a) + ", " + std::to_string(b) + ", " +
                                std::to_string(c));
  }
  if (!(rho >= 0.0 && rho < 1.0)) {
    throw std::invalid_argument("rho must be in [0, 1), got " + std::to_string(rho));
  }
  return segment_pvalue(values, a, b, c, rho, statistic);
}

std::vector<ChangePoint> detect_changepoints(const double* values, std::size_t n,
                                             const ChangePointOptions& options) {
  check_inputs(values, n, options);
  std::vector<ChangePoint> out;
  if (n < 2 * options.min_size) return out;
  const std::vector<double> x = standardized(values, n);
  const double rho = options.autocorrelation ? noise_autocorrelation(x.data(), n) : 0.0;
  std::vector<std::size_t> cps = options.method == ChangePointMethod::pelt
                                     ? pelt_candidates(x, options)
                                     : binary_segmentation(x.data(), n, options, rho);

  // Prune: drop the least significant change while it fails the threshold (or while
  // there are more than max_changepoints), then re-test its former neighbours.
  std::vector<double> p(cps.size());
  auto test = [&](std::size_t i) {
    const std::size_t a = i == 0 ? 0 : cps[i - 1];
    const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
    p[i] = segment_pvalue(x.data(), a, cps[i], c, rho, nullptr);
  };
  for (std::size_t i = 0; i < cps.size(); ++i) test(i);
  while (!cps.empty()) {
    const auto worst = static_cast<std::size_t>(
        std::max_element(p.begin(), p.end()) - p.begin());
    const bool too_many =
        options.max_changepoints > 0 && cps.size() > options.max_changepoints;
    if (p[worst] < options.pvalue && !too_many) break;
    cps.erase(cps.begin() + static_cast<std::ptrdiff_t>(worst));
    p.erase(p.begin() + static_cast<std::ptrdiff_t>(worst));
    if (worst > 0) test(worst - 1);
    if (worst < cps.size()) test(worst);
  }

  out.reserve(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const std::size_t a = i == 0 ? 0 : cps[i - 1];
    const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
    ChangePoint cp;
    cp.index = cps[i];
    const Moments l = moments(values, a, cps[i]);
    const Moments r = moments(values, cps[i], c);
    cp.mean_before = l.mean;
    cp.mean_after = r.mean;
    cp.pvalue =
        segment_pvalue(values, a, cps[i], c, rho, &cp.statistic);
    const double diff = r.mean - l.mean;
    if (l.mean != 0.0) {
      cp.relative_change = diff / std::fabs(l.mean);
    } else {
      cp.relative_change = diff == 0.0 ? 0.0 : std::copysign(kInf, diff);
    }
    out.push_back(cp);
  }
  return out;
}

}  // namespace perfstats
